/* SPDX-License-Identifier: ISC */
/*
 * auth: client keys as the proxy sees them. The key table is loaded at
 * start and reloaded by the store watcher when another process changes
 * it (a key revoked from the CLI stops working within a second). A
 * presented secret is hashed (SHA-256) and compared against every key's
 * hash with CRYPTO_memcmp, so the time taken depends on the number of
 * keys, not on the secret. Key structs live until shutdown so requests
 * can keep pointers to them. Proxy thread, except loading at start.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "keys.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

static int64_t
auth_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct auth_key *
auth_find_id(struct server *srv, const char *id)
{
	struct auth_key	*k;

	TAILQ_FOREACH(k, &srv->keys, entry)
		if (strcmp(k->id, id) == 0)
			return (k);
	return (NULL);
}

void
auth_load(struct server *srv, struct store_key *rows, size_t n)
{
	struct auth_key	*k;
	size_t		 i;

	TAILQ_FOREACH(k, &srv->keys, entry)
		k->present = 0;
	for (i = 0; i < n; i++) {
		if ((k = auth_find_id(srv, rows[i].id)) == NULL) {
			k = xcalloc(1, sizeof *k);
			k->id = xstrdup(rows[i].id);
			TAILQ_INSERT_TAIL(&srv->keys, k, entry);
		}
		k->present = 1;
		snprintf(k->hash, sizeof k->hash, "%s", rows[i].hash);
		snprintf(k->prev_hash, sizeof k->prev_hash, "%s",
		    rows[i].prev_hash != NULL ? rows[i].prev_hash : "");
		k->prev_expires_ms = rows[i].prev_expires_ms;
		k->admin = strcmp(rows[i].tier, "admin") == 0;
		k->account_id = rows[i].account_id;
		k->account_removed = rows[i].account_removed_ms != 0;
		free(k->models);
		k->models = xstrdup(rows[i].models != NULL ? rows[i].models :
		    "");
		free(k->label);
		k->label = xstrdup(rows[i].label != NULL ? rows[i].label : "");
		k->rpm = rows[i].rpm;
		k->tpm = rows[i].tpm;
		k->max_concurrent = rows[i].max_concurrent;
		k->expires_ms = rows[i].expires_ms;
		k->revoked = rows[i].revoked_ms != 0;
	}
	/* Keys deleted from the table are treated as revoked. */
	TAILQ_FOREACH(k, &srv->keys, entry)
		if (!k->present)
			k->revoked = 1;
	store_keys_free(rows, n);
}

void
auth_free_all(struct server *srv)
{
	struct auth_key	*k;

	while ((k = TAILQ_FIRST(&srv->keys)) != NULL) {
		TAILQ_REMOVE(&srv->keys, k, entry);
		free(k->id);
		free(k->models);
		free(k->label);
		free(k);
	}
}

/* Returns the presented credential (borrowed) or NULL. */
static const char *
auth_credential(struct req *r)
{
	const char	*v;

	if ((v = req_header(r, "authorization")) != NULL &&
	    strncasecmp(v, "Bearer ", 7) == 0) {
		v += 7;
		while (*v == ' ')
			v++;
		return (*v != '\0' ? v : NULL);
	}
	/*
	 * Another scheme (Basic, from a reverse proxy in front) is not
	 * ours: x-api-key may still carry the key.
	 */
	if ((v = req_header(r, "x-api-key")) != NULL && *v != '\0')
		return (v);
	return (NULL);
}

/* Answers 401 with WWW-Authenticate in the route's dialect. */
static void
auth_refuse(struct req *r, const char *code, const char *msg)
{
	r->err_tag = code;
	req_error_hdr(r, 401, code, "WWW-Authenticate: Bearer "
	    "realm=\"copilot-gw\"\r\n", "%s", msg);
}

struct auth_key *
auth_check(struct req *r, int admin_route)
{
	struct server	*srv = r->srv;
	struct auth_key	*k, *found = NULL;
	const char	*cred;
	char		 hash[KEYS_HASH_LEN + 1], detail[32];
	int64_t		 now;
	int		 prev = 0;

	if (!srv->cfg.auth_enabled) {
		/* Admin tier, default account; its counters are the server's. */
		srv->anonymous.id = (char *)"anonymous";
		srv->anonymous.admin = 1;
		return (&srv->anonymous);
	}
	if ((cred = auth_credential(r)) == NULL) {
		auth_refuse(r, "missing_api_key", "missing API key: send "
		    "'Authorization: Bearer <key>' or 'x-api-key: <key>'");
		return (NULL);
	}
	keys_hash(cred, hash);
	/* Compare with every key: timing does not depend on the secret. */
	TAILQ_FOREACH(k, &srv->keys, entry) {
		if (CRYPTO_memcmp(k->hash, hash, KEYS_HASH_LEN) == 0)
			found = k;
		if (k->prev_hash[0] != '\0' &&
		    CRYPTO_memcmp(k->prev_hash, hash, KEYS_HASH_LEN) == 0) {
			found = k;
			prev = 1;
		}
	}
	now = auth_now_ms();
	if (found == NULL || found->revoked || (prev &&
	    found->prev_expires_ms <= now) ||
	    (found->expires_ms != 0 && found->expires_ms <= now)) {
		/* Only a short hash prefix of what was presented is kept. */
		snprintf(detail, sizeof detail, "sha256:%.8s", hash);
		reqlog_audit(srv->reqlog, "anonymous", "auth.failure",
		    found != NULL ? found->id : "", detail);
		if (found != NULL && found->revoked)
			auth_refuse(r, "revoked_api_key", "this API key was "
			    "revoked");
		else if (found != NULL && prev)
			auth_refuse(r, "rotated_api_key", "this API key was "
			    "rotated: use its new secret");
		else if (found != NULL)
			auth_refuse(r, "expired_api_key", "this API key "
			    "expired");
		else
			auth_refuse(r, "invalid_api_key", "invalid API key");
		return (NULL);
	}
	if (admin_route && !found->admin) {
		r->err_tag = "admin_required";
		req_error(r, 403, "admin_required", "this route needs an admin "
		    "key; '%s' is a client key", found->id);
		return (NULL);
	}
	found->used_ms = now;
	return (found);
}
