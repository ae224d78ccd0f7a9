/* SPDX-License-Identifier: ISC */
/*
 * api-admin: the HTTP admin plane (admin keys only): /auth/keys for
 * listing, creating, labelling, rotating and revoking client keys, and
 * /accounts for listing and removing accounts. Keys are addressed by
 * their public id, never by a secret in a URL; a new secret is shown
 * once in the answer. Each call runs its store work on a libuv pool
 * thread with a connection of its own, is audited under the calling
 * key's id, and reloads the key cache. Proxy thread, except the work.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "keys.h"
#include "log.h"
#include "provider.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

struct admin_job;
typedef void (*admin_fn)(struct admin_job *, struct store *);

struct admin_job {
	struct req		*req;
	struct server		*srv;
	uv_work_t		 work;
	admin_fn		 fn;
	char			*db;
	char			 actor[64];
	char			*target;	/* the id in the path */
	struct json_object	*in;		/* request body or NULL */
	struct json_object	*out;		/* answer, built on the pool */
	int			 status;
	const char		*code;
	char			*err;
	int			 reload;
};

static struct json_object *
admin_get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return (NULL);
	return (v);
}

static void
admin_fail(struct admin_job *j, int status, const char *code, char *msg)
{
	j->status = status;
	j->code = code;
	free(j->err);
	j->err = msg;
}

static void
admin_audit(struct admin_job *j, struct store *st, const char *action,
    const char *target, const char *detail)
{
	char	*cause = NULL;

	if (store_audit_add(st, j->actor, action, target, detail, &cause) !=
	    0)
		free(cause);
}

static void
admin_work_cb(uv_work_t *w)
{
	struct admin_job	*j = w->data;
	struct store		*st;
	char			*cause = NULL;

	if ((st = store_open(j->db, STORE_RW, &cause)) == NULL) {
		admin_fail(j, 500, "store_error", cause);
		return;
	}
	j->fn(j, st);
	store_close(st);
}

static void
admin_after_cb(uv_work_t *w, int status)
{
	struct admin_job	*j = w->data;
	struct req		*r = j->req;

	if (j->reload)
		accounts_reload(j->srv);
	if (r->conn == NULL)
		req_abandon(r);
	else if (j->err != NULL)
		req_error(r, j->status, j->code, "%s", j->err);
	else
		req_respond_json(r, j->status, json_object_get(j->out));
	json_object_put(j->in);
	json_object_put(j->out);
	free(j->db);
	free(j->target);
	free(j->err);
	free(j);
}

/* Queues fn for the pool; the request is answered when it is done. */
static void
admin_run(struct req *r, admin_fn fn, const char *target,
    struct json_object *in)
{
	struct admin_job	*j = xcalloc(1, sizeof *j);

	j->req = r;
	j->srv = r->srv;
	j->fn = fn;
	j->db = xstrdup(r->srv->paths.db_file);
	snprintf(j->actor, sizeof j->actor, "%s", r->key != NULL ?
	    r->key->id : "anonymous");
	j->target = target != NULL ? xstrdup(target) : NULL;
	j->in = in;
	j->status = 200;
	j->work.data = j;
	reqlog_audit(r->srv->reqlog, j->actor, "admin.call", r->path,
	    r->method);
	if (uv_queue_work(&r->srv->loop, &j->work, admin_work_cb,
	    admin_after_cb) != 0) {
		json_object_put(in);
		free(j->db);
		free(j->target);
		free(j);
		req_error(r, 500, "internal", "cannot queue the request");
	}
}

static void
admin_keys_list_fn(struct admin_job *j, struct store *st)
{
	struct store_key	*k;
	size_t			 n, i;
	char			*cause = NULL;

	if (store_keys_list(st, &k, &n, &cause) != 0) {
		admin_fail(j, 500, "store_error", cause);
		return;
	}
	j->out = json_object_new_object();
	json_object_object_add(j->out, "object",
	    json_object_new_string("list"));
	json_object_object_add(j->out, "data", json_object_new_array());
	for (i = 0; i < n; i++)
		json_object_array_add(admin_get(j->out, "data",
		    json_type_array), admin_key_json(&k[i], NULL));
	store_keys_free(k, n);
}

static void
admin_key_show_fn(struct admin_job *j, struct store *st)
{
	struct store_key	 k;
	char			*cause = NULL;
	int			 rc;

	if ((rc = store_keys_get(st, j->target, &k, &cause)) != 0 ||
	    strcmp(k.id, j->target) != 0) {
		if (rc == 0)
			store_key_release(&k);
		admin_fail(j, rc == -1 ? 500 : 404, rc == -1 ? "store_error" :
		    "key_not_found", rc == -1 ? cause :
		    xasprintf("no key with id '%s'", j->target));
		return;
	}
	j->out = admin_key_json(&k, NULL);
	store_key_release(&k);
}

/* Reads a non-negative integer member (default 0); -1 if it is bad. */
#define ADMIN_SECONDS_MAX	(10LL * 366 * 86400)
#define ADMIN_COUNT_MAX		1000000000000LL

static int
admin_count(struct admin_job *j, const char *name, int64_t *out)
{
	struct json_object	*v;
	/* Durations in seconds: ten years (their milliseconds fit). */
	int64_t			 max = strcmp(name, "expires_in") == 0 ||
				    strcmp(name, "grace_seconds") == 0 ?
				    ADMIN_SECONDS_MAX : ADMIN_COUNT_MAX;

	*out = 0;
	if (!json_object_object_get_ex(j->in, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return (0);
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > max) {
		admin_fail(j, 400, "invalid_field", xasprintf("'%s' must be an "
		    "integer from 0 to %lld", name, (long long)max));
		return (-1);
	}
	*out = json_object_get_int64(v);
	return (0);
}

static void
admin_key_create_fn(struct admin_job *j, struct store *st)
{
	struct store_key	 k;
	struct store_account	 a;
	struct json_object	*v;
	char			 secret[KEYS_SECRET_LEN + 1];
	char			 id[KEYS_ID_LEN + 1], hash[KEYS_HASH_LEN + 1];
	char			 prefix[32], *cause = NULL, num[32];
	const char		*why;
	int64_t			 expires_in;
	int			 rc;

	memset(&k, 0, sizeof k);
	k.tier = (char *)"client";
	if ((v = admin_get(j->in, "tier", json_type_string)) != NULL) {
		if (strcmp(json_object_get_string(v), "admin") != 0 &&
		    strcmp(json_object_get_string(v), "client") != 0) {
			admin_fail(j, 400, "invalid_field", xstrdup("'tier' "
			    "must be \"admin\" or \"client\""));
			return;
		}
		k.tier = (char *)json_object_get_string(v);
	}
	if (json_object_object_get_ex(j->in, "label", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			admin_fail(j, 400, "invalid_field", xstrdup("'label' "
			    "must be a string"));
			return;
		}
		if ((why = keys_label_error(json_object_get_string(v))) !=
		    NULL) {
			admin_fail(j, 400, "invalid_field", xasprintf("'label': "
			    "%s", why));
			return;
		}
		k.label = (char *)json_object_get_string(v);
	}
	if (json_object_object_get_ex(j->in, "models", &v) && v != NULL) {
		/* A wrong type must not widen the allow-list. */
		if (!json_object_is_type(v, json_type_string)) {
			admin_fail(j, 400, "invalid_field", xstrdup("'models' "
			    "must be a string of comma-separated ids and "
			    "globs"));
			return;
		}
		k.models = (char *)json_object_get_string(v);
	}
	if (admin_count(j, "rpm", &k.rpm) != 0 ||
	    admin_count(j, "tpm", &k.tpm) != 0 ||
	    admin_count(j, "max_concurrent", &k.max_concurrent) != 0 ||
	    admin_count(j, "expires_in", &expires_in) != 0 ||
	    admin_count(j, "account_id", &k.account_id) != 0)
		return;
	if (k.account_id > 0) {
		snprintf(num, sizeof num, "%lld", (long long)k.account_id);
		if ((rc = store_accounts_get(st, num, &a, &cause)) != 0) {
			admin_fail(j, rc == 1 ? 400 : 500, rc == 1 ?
			    "account_not_found" : "store_error", rc == 1 ?
			    xasprintf("no account with id %s", num) : cause);
			return;
		}
		store_account_release(&a);
	}
	if (expires_in > 0)
		k.expires_ms = admin_now_ms() + expires_in * 1000;
	if (keys_generate(secret, id) != 0) {
		admin_fail(j, 500, "internal", xstrdup("no randomness"));
		return;
	}
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	k.id = id;
	k.hash = hash;
	k.prefix = prefix;
	k.created_ms = admin_now_ms();
	if (store_keys_insert(st, &k, &cause) != 0) {
		admin_fail(j, 500, "store_error", cause);
		explicit_bzero(secret, sizeof secret);
		return;
	}
	admin_audit(j, st, "key.create", id, k.tier);
	j->out = admin_key_json(&k, secret);
	j->status = 201;
	j->reload = 1;
	explicit_bzero(secret, sizeof secret);
}

static void
admin_key_label_fn(struct admin_job *j, struct store *st)
{
	const char		*why;
	struct json_object	*v;
	char			*cause = NULL;
	int			 rc;

	if ((v = admin_get(j->in, "label", json_type_string)) == NULL) {
		admin_fail(j, 400, "missing_field", xstrdup("'label' must be a "
		    "string"));
		return;
	}
	if ((why = keys_label_error(json_object_get_string(v))) != NULL) {
		admin_fail(j, 400, "invalid_field", xasprintf("'label': %s",
		    why));
		return;
	}
	if ((rc = store_keys_set_label(st, j->target,
	    json_object_get_string(v), &cause)) != 0) {
		admin_fail(j, rc == 1 ? 404 : 500, rc == 1 ? "key_not_found" :
		    "store_error", rc == 1 ? xasprintf("no key with id '%s'",
		    j->target) : cause);
		return;
	}
	admin_audit(j, st, "key.label", j->target, json_object_get_string(v));
	j->reload = 1;
	admin_key_show_fn(j, st);
}

static void
admin_key_rotate_fn(struct admin_job *j, struct store *st)
{
	struct store_key	 k;
	char			 secret[KEYS_SECRET_LEN + 1];
	char			 id[KEYS_ID_LEN + 1], hash[KEYS_HASH_LEN + 1];
	char			 prefix[32], *cause = NULL, detail[48];
	int64_t			 grace;
	int			 rc;

	if (admin_count(j, "grace_seconds", &grace) != 0)
		return;
	if (keys_generate(secret, id) != 0) {
		admin_fail(j, 500, "internal", xstrdup("no randomness"));
		return;
	}
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	if ((rc = store_keys_rotate(st, j->target, hash, prefix, grace * 1000,
	    &cause)) != 0) {
		explicit_bzero(secret, sizeof secret);
		admin_fail(j, rc == 1 ? 404 : 500, rc == 1 ? "key_not_found" :
		    "store_error", rc == 1 ? xasprintf("no active key with id "
		    "'%s'", j->target) : cause);
		return;
	}
	snprintf(detail, sizeof detail, "grace %llds", (long long)grace);
	admin_audit(j, st, "key.rotate", j->target, detail);
	if (store_keys_get(st, j->target, &k, &cause) == 0) {
		j->out = admin_key_json(&k, secret);
		store_key_release(&k);
	} else
		free(cause);
	j->reload = 1;
	explicit_bzero(secret, sizeof secret);
}

static void
admin_key_revoke_fn(struct admin_job *j, struct store *st)
{
	char	*cause = NULL;
	int	 rc;

	if ((rc = store_keys_revoke(st, j->target, &cause)) != 0) {
		admin_fail(j, rc == 1 ? 404 : 500, rc == 1 ? "key_not_found" :
		    "store_error", rc == 1 ? xasprintf("no active key with id "
		    "'%s'", j->target) : cause);
		return;
	}
	admin_audit(j, st, "key.revoke", j->target, "");
	j->reload = 1;
	admin_key_show_fn(j, st);
}

static void
admin_accounts_list_fn(struct admin_job *j, struct store *st)
{
	struct store_account	*a;
	size_t			 n, i;
	char			*cause = NULL;

	if (store_accounts_list(st, &a, &n, &cause) != 0) {
		admin_fail(j, 500, "store_error", cause);
		return;
	}
	j->out = json_object_new_object();
	json_object_object_add(j->out, "object",
	    json_object_new_string("list"));
	json_object_object_add(j->out, "data", json_object_new_array());
	for (i = 0; i < n; i++)
		json_object_array_add(admin_get(j->out, "data",
		    json_type_array), admin_account_json(&a[i]));
	store_accounts_free(a, n);
}

static void
admin_account_remove_fn(struct admin_job *j, struct store *st)
{
	struct store_account	 a;
	char			*cause = NULL, *end;
	int			 rc;

	strtoll(j->target, &end, 10);
	if (*j->target == '\0' || *end != '\0') {
		admin_fail(j, 404, "account_not_found", xasprintf("no account "
		    "with id '%s'", j->target));
		return;
	}
	if ((rc = store_accounts_get(st, j->target, &a, &cause)) != 0) {
		admin_fail(j, rc == 1 ? 404 : 500, rc == 1 ?
		    "account_not_found" : "store_error", rc == 1 ?
		    xasprintf("no account with id '%s'", j->target) : cause);
		return;
	}
	if ((rc = store_accounts_remove(st, a.id, &cause)) != 0) {
		admin_fail(j, 500, "store_error", rc == 1 ?
		    xstrdup("the account disappeared") : cause);
		store_account_release(&a);
		return;
	}
	admin_audit(j, st, "account.remove", a.label, a.login);
	j->out = admin_account_json(&a);
	json_object_object_add(j->out, "deleted", json_object_new_boolean(1));
	store_account_release(&a);
	j->reload = 1;
}

/* Parses an optional JSON body for POST routes; NULL after a 400. */
static int
admin_body(struct req *r, struct json_object **out)
{
	struct json_tokener	*tok;

	*out = NULL;
	if (r->body.len == 0)
		return (0);
	tok = json_tokener_new();
	*out = json_tokener_parse_ex(tok, r->body.data, (int)r->body.len);
	json_tokener_free(tok);
	if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		req_error(r, 400, "invalid_json", "the request body must be a "
		    "JSON object");
		return (-1);
	}
	return (0);
}

void
api_admin_keys(struct req *r)
{
	struct json_object	*in;

	if (strcmp(r->method, "GET") == 0) {
		admin_run(r, admin_keys_list_fn, NULL, NULL);
		return;
	}
	if (admin_body(r, &in) != 0)
		return;
	admin_run(r, admin_key_create_fn, NULL, in);
}

/* /auth/keys/{id}, /auth/keys/{id}/label, /auth/keys/{id}/rotate. */
void
api_admin_key(struct req *r)
{
	struct json_object	*in;
	const char		*rest = r->path + strlen("/auth/keys/");
	const char		*slash = strchr(rest, '/');
	char			*id;

	id = slash != NULL ? xstrndup(rest, (size_t)(slash - rest)) :
	    xstrdup(rest);
	if (*id == '\0' || strncmp(id, "key_", 4) != 0) {
		req_error(r, 404, "key_not_found", "keys are addressed by "
		    "their public id (key_...)");
		goto out;
	}
	if (slash == NULL && strcmp(r->method, "GET") == 0)
		admin_run(r, admin_key_show_fn, id, NULL);
	else if (slash == NULL && strcmp(r->method, "DELETE") == 0)
		admin_run(r, admin_key_revoke_fn, id, NULL);
	else if (slash != NULL && strcmp(r->method, "POST") == 0 &&
	    (strcmp(slash, "/label") == 0 || strcmp(slash, "/rotate") == 0)) {
		if (admin_body(r, &in) != 0)
			goto out;
		admin_run(r, strcmp(slash, "/label") == 0 ?
		    admin_key_label_fn : admin_key_rotate_fn, id, in);
	} else
		req_error(r, 404, "not_found", "no route for %s %s",
		    r->method, r->path);
out:
	free(id);
}

void
api_admin_accounts(struct req *r)
{
	admin_run(r, admin_accounts_list_fn, NULL, NULL);
}

void
api_admin_account(struct req *r)
{
	const char	*id = r->path + strlen("/accounts/");

	if (strcmp(r->method, "DELETE") != 0 || *id == '\0' ||
	    strchr(id, '/') != NULL) {
		req_error(r, 404, "not_found", "no route for %s %s",
		    r->method, r->path);
		return;
	}
	admin_run(r, admin_account_remove_fn, id, NULL);
}

/*
 * GET /auth/device/status/{tx}: pending, expired, denied, failed, or
 * complete. The first read of a complete login creates a client key
 * bound to the new account and shows its secret, once.
 */
static void
admin_device_status_fn(struct admin_job *j, struct store *st)
{
	struct store_device	 d;
	struct store_account	 a;
	struct store_key	 k;
	char			 secret[KEYS_SECRET_LEN + 1];
	char			 id[KEYS_ID_LEN + 1], hash[KEYS_HASH_LEN + 1];
	char			 prefix[32], num[32], *cause = NULL;
	const char		*status;
	int			 rc;

	if ((rc = store_device_get(st, j->target, &d, &cause)) != 0) {
		admin_fail(j, rc == 1 ? 404 : 500, rc == 1 ? "tx_not_found" :
		    "store_error", rc == 1 ? xasprintf("no device login '%s'",
		    j->target) : cause);
		return;
	}
	status = d.status;
	if (strcmp(status, "pending") == 0 && d.expires_ms <= admin_now_ms())
		status = "expired";
	j->out = json_object_new_object();
	json_object_object_add(j->out, "tx_id", json_object_new_string(d.id));
	json_object_object_add(j->out, "status",
	    json_object_new_string(status));
	if (d.error != NULL && strcmp(status, "complete") != 0)
		json_object_object_add(j->out, "error",
		    json_object_new_string(d.error));
	if (strcmp(status, "complete") != 0 || d.account_id == 0) {
		store_device_release(&d);
		return;
	}
	snprintf(num, sizeof num, "%lld", (long long)d.account_id);
	if (store_accounts_get(st, num, &a, &cause) == 0) {
		json_object_object_add(j->out, "account",
		    admin_account_json(&a));
		store_account_release(&a);
	} else
		free(cause);
	cause = NULL;
	if (d.key_id != NULL) {
		/* Already handed out: never shown again. */
		json_object_object_add(j->out, "key_id",
		    json_object_new_string(d.key_id));
		store_device_release(&d);
		return;
	}
	if (keys_generate(secret, id) != 0) {
		admin_fail(j, 500, "internal", xstrdup("no randomness"));
		store_device_release(&d);
		return;
	}
	/* Claim first, so two readers cannot both get a key. */
	if ((rc = store_device_set_key(st, d.id, id, &cause)) != 0) {
		explicit_bzero(secret, sizeof secret);
		if (rc == -1)
			admin_fail(j, 500, "store_error", cause);
		store_device_release(&d);
		return;
	}
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	memset(&k, 0, sizeof k);
	k.id = id;
	k.hash = hash;
	k.prefix = prefix;
	k.label = d.label != NULL ? d.label : (char *)"device-login";
	k.tier = (char *)"client";
	k.account_id = d.account_id;
	k.created_ms = admin_now_ms();
	if (store_keys_insert(st, &k, &cause) != 0) {
		explicit_bzero(secret, sizeof secret);
		admin_fail(j, 500, "store_error", cause);
		/* Give the claim back: the next status call makes the key. */
		cause = NULL;
		if (store_device_unclaim_key(st, d.id, id, &cause) == -1)
			free(cause);
		store_device_release(&d);
		return;
	}
	admin_audit(j, st, "key.create", id, "device login");
	json_object_object_add(j->out, "key", admin_key_json(&k, secret));
	explicit_bzero(secret, sizeof secret);
	j->reload = 1;
	store_device_release(&d);
}

void
api_admin_device_start(struct req *r)
{
	struct json_object	*in;

	if (admin_body(r, &in) != 0)
		return;
	if (in == NULL) {
		req_error(r, 400, "missing_field", "the body needs "
		    "{\"provider\": \"github\"}");
		return;
	}
	reqlog_audit(r->srv->reqlog, r->key != NULL ? r->key->id :
	    "anonymous", "login.start", "", "http");
	login_start_http(r, in);
	json_object_put(in);
}

void
api_admin_device_status(struct req *r)
{
	const char	*tx = r->path + strlen("/auth/device/status/");

	if (strncmp(tx, "tx_", 3) != 0 || strchr(tx, '/') != NULL) {
		req_error(r, 404, "tx_not_found", "no device login '%s'", tx);
		return;
	}
	admin_run(r, admin_device_status_fn, tx, NULL);
}
