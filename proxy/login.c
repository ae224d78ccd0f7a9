/* SPDX-License-Identifier: ISC */
/*
 * login: the device-code login driver. A front end (the `login` command,
 * later the TUI and the admin API) posts MSG_CMD_LOGIN_START; the
 * provider runs the steps through the proxy's own curl multi, and this
 * file turns them into MSG_EV_LOGIN_CODE / _POLL / _DONE events, enforces
 * the code's lifetime, handles cancellation, and saves the account on a
 * pool thread. Proxy thread, except login_save_work_cb.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "msg.h"
#include "provider.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#include <openssl/rand.h>

static void	login_finish(struct login *, int rc, const char *err,
		    struct json_object *data);
static void	login_device_save(struct login *, const char *user_code,
		    const char *uri, int64_t expires_in);
static void	login_device_finish(struct login *, int rc, const char *err);

static const char *
login_param(struct json_object *p, const char *key)
{
	struct json_object	*v;

	if (p == NULL || !json_object_object_get_ex(p, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* Returns an owned copy of s with trailing slashes removed. */
static char *
login_base(const char *s)
{
	char	*b = xstrdup(s);
	size_t	 n = strlen(b);

	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
	return (b);
}

/* Account types name hosts: only [a-z0-9-]+ (no open proxy). */
static int
login_type_ok(const char *t)
{
	if (*t == '\0')
		return (0);
	for (; *t != '\0'; t++)
		if (!islower((unsigned char)*t) && !isdigit((unsigned char)*t) &&
		    *t != '-')
			return (0);
	return (1);
}

static void
login_close_cb(uv_handle_t *h)
{
	struct login	*l = h->data;

	store_account_release(&l->sa);
	free(l->label);
	free(l->account_type);
	free(l->github_url);
	free(l->api_url);
	if (l->given_token != NULL)
		explicit_bzero(l->given_token, strlen(l->given_token));
	free(l->given_token);
	if (l->gh_token != NULL)
		explicit_bzero(l->gh_token, strlen(l->gh_token));
	free(l->gh_token);
	free(l->device_code);
	free(l->login_name);
	free(l->save_err);
	free(l->tx_id);
	free(l);
}

void
login_start(struct server *srv, uint64_t corr, struct json_object *p)
{
	struct login		*l;
	const char		*prov, *v;

	l = xcalloc(1, sizeof *l);
	l->srv = srv;
	l->corr = corr;
	uv_timer_init(&srv->loop, &l->timer);
	l->timer.data = l;
	TAILQ_INSERT_TAIL(&srv->logins, l, entry);

	prov = login_param(p, "provider");
	if (prov == NULL || (l->ops = provider_find(prov)) == NULL) {
		login_finish(l, -1, "unknown provider: use 'github'", NULL);
		return;
	}
	v = login_param(p, "account_type");
	l->account_type = xstrdup(v != NULL ? v : "individual");
	if (!login_type_ok(l->account_type)) {
		login_finish(l, -1, "an account type must match [a-z0-9-]+ "
		    "(individual, business, enterprise)", NULL);
		return;
	}
	if ((v = login_param(p, "label")) != NULL)
		l->label = xstrdup(v);
	v = login_param(p, "github_url");
	l->github_url = login_base(v != NULL ? v : srv->cfg.github_url);
	v = login_param(p, "api_url");
	l->api_url = login_base(v != NULL ? v : srv->cfg.github_api_url);
	if ((v = login_param(p, "token")) != NULL)
		l->given_token = xstrdup(v);
	log_ev(LOG_LEVEL_INFO, NULL, "login started", LF_STR("provider", prov),
	    LF_STR("github_url", l->github_url),
	    LF_BOOL("device_flow", l->given_token == NULL));
	reqlog_audit(srv->reqlog, "login", "login.start", prov,
	    l->given_token == NULL ? "device flow" : "token");
	if (l->ops->login_start(l) != 0)
		login_finish(l, -1, "cannot start the login request", NULL);
}

void
login_code(struct login *l, const char *user_code, const char *uri,
    int64_t expires_in, int interval)
{
	struct json_object	*d;

	if (expires_in <= 0)
		expires_in = 900;
	l->deadline = uv_now(&l->srv->loop) + (uint64_t)expires_in * 1000;
	if (l->tx_id != NULL) {
		login_device_save(l, user_code, uri, expires_in);
		return;
	}
	d = json_object_new_object();
	json_object_object_add(d, "user_code", json_object_new_string(
	    user_code));
	json_object_object_add(d, "verification_uri",
	    json_object_new_string(uri));
	json_object_object_add(d, "expires_in", json_object_new_int64(
	    expires_in));
	json_object_object_add(d, "interval", json_object_new_int(interval));
	server_event_data(l->srv, MSG_EV_LOGIN_CODE, l->corr, 0, NULL, d);
}

void
login_poll(struct login *l, const char *status)
{
	server_event_data(l->srv, MSG_EV_LOGIN_POLL, l->corr, l->interval_s,
	    status, NULL);
}

void
login_schedule(struct login *l, uint64_t ms, uv_timer_cb cb)
{
	uint64_t	 now = uv_now(&l->srv->loop);

	/* Never sleep past the code's end: fail at the deadline instead. */
	if (l->deadline != 0 && now + ms > l->deadline)
		ms = l->deadline > now ? l->deadline - now : 0;
	uv_timer_start(&l->timer, cb, ms, 0);
}

/* Pool thread: saves the account. */
static void
login_save_work_cb(uv_work_t *w)
{
	struct login	*l = w->data;
	struct store	*st;

	if ((st = store_open(l->srv->paths.db_file, STORE_RW,
	    &l->save_err)) == NULL)
		return;
	if (store_accounts_upsert(st, &l->sa, &l->save_err) != 0) {
		store_close(st);
		return;
	}
	/* The account is saved; an audit failure is only logged. */
	if (store_audit_add(st, "login", "login.complete", l->ops->name,
	    l->sa.login, &l->audit_err) != 0 ||
	    store_audit_add(st, "login", "account.add", l->sa.label,
	    l->sa.login, &l->audit_err) != 0)
		l->audit_failed = 1;
	store_close(st);
}

static void
login_save_after_cb(uv_work_t *w, int status)
{
	struct login		*l = w->data;
	struct json_object	*d;

	l->saving = 0;
	if (l->audit_failed) {
		log_ev(LOG_LEVEL_WARN, NULL, "cannot write the audit log",
		    LF_STR("error", l->audit_err));
		free(l->audit_err);
		l->audit_err = NULL;
	}
	if (l->save_err != NULL) {
		login_finish(l, -1, l->save_err, NULL);
		return;
	}
	d = json_object_new_object();
	json_object_object_add(d, "account_id", json_object_new_int64(
	    l->sa.id));
	json_object_object_add(d, "label", json_object_new_string(
	    l->sa.label));
	json_object_object_add(d, "login", json_object_new_string(
	    l->sa.login));
	json_object_object_add(d, "provider", json_object_new_string(
	    l->sa.provider));
	log_ev(LOG_LEVEL_INFO, NULL, "login completed",
	    LF_STR("account", l->sa.label), LF_STR("login", l->sa.login));
	login_finish(l, 0, NULL, d);
	accounts_reload(l->srv);
}

void
login_succeeded(struct login *l, const char *login_name, const char *gh_token)
{
	memset(&l->sa, 0, sizeof l->sa);
	l->sa.provider = xstrdup(l->ops->name);
	l->sa.label = l->label != NULL ? xstrdup(l->label) : NULL;
	l->sa.login = xstrdup(login_name);
	l->sa.account_type = xstrdup(l->account_type);
	l->sa.github_url = xstrdup(l->github_url);
	l->sa.api_url = xstrdup(l->api_url);
	l->sa.copilot_url = xstrdup("");
	l->sa.token = xstrdup(gh_token);
	l->work.data = l;
	l->saving = 1;
	if (uv_queue_work(&l->srv->loop, &l->work, login_save_work_cb,
	    login_save_after_cb) != 0) {
		l->saving = 0;
		login_finish(l, -1, "cannot save the account", NULL);
	}
}

void
login_failed_as(struct login *l, const char *status, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	l->fail_status = status;
	log_ev(LOG_LEVEL_WARN, NULL, "login failed", LF_STR("error", msg));
	reqlog_audit(l->srv->reqlog, "login", "login.fail", l->ops != NULL ?
	    l->ops->name : "", msg);
	login_finish(l, -1, msg, NULL);
	free(msg);
}

void
login_failed(struct login *l, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_ev(LOG_LEVEL_WARN, NULL, "login failed", LF_STR("error", msg));
	reqlog_audit(l->srv->reqlog, "login", "login.fail", l->ops != NULL ?
	    l->ops->name : "", msg);
	login_finish(l, -1, msg, NULL);
	free(msg);
}

/* Ends a login: posts the outcome and frees it (closing its timer). */
static void
login_finish(struct login *l, int rc, const char *err,
    struct json_object *data)
{
	if (l->finished) {
		json_object_put(data);
		return;
	}
	l->finished = 1;
	uv_timer_stop(&l->timer);
	if (l->fetch != NULL) {
		fetch_cancel(l->fetch);
		l->fetch = NULL;
	}
	if (l->tx_id != NULL) {
		/* At shutdown a pending HTTP login stays pending: resumed. */
		if (!l->srv->shutting_down || l->start_req != NULL)
			login_device_finish(l, rc, err);
		json_object_put(data);
	} else
		server_event_data(l->srv, MSG_EV_LOGIN_DONE, l->corr, rc, err,
		    data);
	TAILQ_REMOVE(&l->srv->logins, l, entry);
	uv_close((uv_handle_t *)&l->timer, login_close_cb);
}

void
login_cancel(struct server *srv, uint64_t corr)
{
	struct login	*l, *next;

	for (l = TAILQ_FIRST(&srv->logins); l != NULL; l = next) {
		next = TAILQ_NEXT(l, entry);
		if (corr != 0 && l->corr != corr)
			continue;
		if (l->saving)
			continue;	/* too late: it is being saved */
		log_ev(LOG_LEVEL_INFO, NULL, "login cancelled", LF_END);
		login_finish(l, -2, "login cancelled", NULL);
	}
}

void
login_shutdown(struct server *srv)
{
	login_cancel(srv, 0);
}

/*
 * Logins started over HTTP (POST /auth/device/start). The transaction is
 * saved in the store when the code arrives, so a restart resumes it, and
 * its outcome is saved when it ends; GET /auth/device/status reads it.
 */
struct device_job {
	struct server		*srv;
	uv_work_t		 work;
	struct store_device	 d;
	struct req		*req;		/* answered after the save */
	int			 finish;	/* 0 save, 1 outcome */
	char			*status;
	char			*error;
	int64_t			 account_id;
	char			*err;
	struct store_device	*rows;		/* resume: pending rows */
	size_t			 nrows;
};

static void
device_job_work_cb(uv_work_t *w)
{
	struct device_job	*j = w->data;
	struct store		*st;

	if ((st = store_open(j->srv->paths.db_file, STORE_RW, &j->err)) ==
	    NULL)
		return;
	if (j->finish)
		store_device_finish(st, j->d.id, j->status, j->error,
		    j->account_id, &j->err);
	else if (store_device_insert(st, &j->d, &j->err) == 0 &&
	    store_device_purge(st, j->d.created_ms, &j->err) != 0) {
		/* The login goes on; old rows wait for the next start. */
		free(j->err);
		j->err = NULL;
	}
	store_close(st);
}

static void
device_job_after_cb(uv_work_t *w, int status)
{
	struct device_job	*j = w->data;
	struct json_object	*o;
	struct req		*r = j->req;
	char			*msg;

	if (r != NULL) {
		if (r->conn == NULL)
			req_abandon(r);
		else if (j->err != NULL)
			req_error(r, 500, "store_error", "cannot save the login: "
			    "%s", j->err);
		else {
			o = json_object_new_object();
			json_object_object_add(o, "tx_id",
			    json_object_new_string(j->d.id));
			json_object_object_add(o, "user_code",
			    json_object_new_string(j->d.user_code));
			json_object_object_add(o, "verification_uri",
			    json_object_new_string(j->d.verification_uri));
			json_object_object_add(o, "expires_in",
			    json_object_new_int64((j->d.expires_ms -
			    j->d.created_ms) / 1000));
			json_object_object_add(o, "interval",
			    json_object_new_int64(j->d.interval_s));
			msg = xasprintf("Open %s and enter the code %s, then "
			    "poll GET /auth/device/status/%s",
			    j->d.verification_uri, j->d.user_code, j->d.id);
			json_object_object_add(o, "message",
			    json_object_new_string(msg));
			free(msg);
			req_respond_json(r, 201, o);
		}
	} else if (j->err != NULL)
		log_ev(LOG_LEVEL_ERROR, NULL, "cannot save a device login",
		    LF_STR("tx", j->d.id), LF_STR("error", j->err));
	store_device_release(&j->d);
	free(j->status);
	free(j->error);
	free(j->err);
	free(j);
}

static void
device_job_queue(struct device_job *j)
{
	j->work.data = j;
	if (uv_queue_work(&j->srv->loop, &j->work, device_job_work_cb,
	    device_job_after_cb) != 0) {
		j->err = xstrdup("cannot queue the store write");
		device_job_after_cb(&j->work, 0);
	}
}

static void
login_device_save(struct login *l, const char *user_code, const char *uri,
    int64_t expires_in)
{
	struct device_job	*j = xcalloc(1, sizeof *j);
	int64_t			 now = server_wall_ms();

	j->srv = l->srv;
	j->d.id = xstrdup(l->tx_id);
	j->d.provider = xstrdup(l->ops->name);
	j->d.label = l->label != NULL ? xstrdup(l->label) : NULL;
	j->d.account_type = xstrdup(l->account_type);
	j->d.github_url = xstrdup(l->github_url);
	j->d.api_url = xstrdup(l->api_url);
	j->d.device_code = xstrdup(l->device_code);
	j->d.user_code = xstrdup(user_code);
	j->d.verification_uri = xstrdup(uri);
	j->d.interval_s = l->interval_s;
	j->d.created_ms = now;
	j->d.expires_ms = now + expires_in * 1000;
	j->req = l->start_req;
	if (j->req != NULL) {
		j->req->on_abort = NULL;
		j->req->ctx = NULL;
	}
	l->start_req = NULL;
	device_job_queue(j);
}

static void
login_device_finish(struct login *l, int rc, const char *err)
{
	struct device_job	*j;
	struct req		*r = l->start_req;

	if (r != NULL) {
		/* It failed before a code was had: answer the start call. */
		l->start_req = NULL;
		r->on_abort = NULL;
		r->ctx = NULL;
		if (r->conn == NULL)
			req_abandon(r);
		else
			req_error(r, 502, "login_failed", "%s", err != NULL ?
			    err : "the login failed");
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->srv = l->srv;
	j->finish = 1;
	j->d.id = xstrdup(l->tx_id);
	j->status = xstrdup(rc == 0 ? "complete" : l->fail_status != NULL ?
	    l->fail_status : "failed");
	j->error = err != NULL ? xstrdup(err) : NULL;
	j->account_id = rc == 0 ? l->sa.id : 0;
	device_job_queue(j);
}

static void
login_http_abort_cb(struct req *r)
{
	struct login	*l = r->ctx;

	/* The caller left before seeing the code: drop the login. */
	l->start_req = NULL;
	req_abandon(r);
	login_finish(l, -2, "the caller went away", NULL);
}

void
login_start_http(struct req *r, struct json_object *p)
{
	struct login	*l;
	const char	*v;
	unsigned char	 rnd[9];
	char		 id[32];
	size_t		 i;

	if ((v = login_param(p, "provider")) == NULL ||
	    strcmp(v, "github") != 0) {
		req_error(r, 400, "invalid_field", "'provider' must be "
		    "\"github\"");
		return;
	}
	v = login_param(p, "account_type");
	if (v != NULL && !login_type_ok(v)) {
		req_error(r, 400, "invalid_field", "'account_type' must match "
		    "[a-z0-9-]+");
		return;
	}
	if ((v = login_param(p, "label")) != NULL &&
	    (*v == '\0' || keys_label_error(v) != NULL)) {
		/* It labels the account and the key made at the end. */
		req_error(r, 400, "invalid_field", "'label': %s", *v == '\0' ?
		    "it cannot be empty" : keys_label_error(v));
		return;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		req_error(r, 500, "internal", "no randomness");
		return;
	}
	memcpy(id, "tx_", 3);
	for (i = 0; i < sizeof rnd; i++)
		snprintf(id + 3 + 2 * i, 3, "%02x", rnd[i]);
	l = xcalloc(1, sizeof *l);
	l->srv = r->srv;
	l->ops = &provider_github_ops;
	l->tx_id = xstrdup(id);
	l->start_req = r;
	uv_timer_init(&r->srv->loop, &l->timer);
	l->timer.data = l;
	TAILQ_INSERT_TAIL(&r->srv->logins, l, entry);
	v = login_param(p, "account_type");
	l->account_type = xstrdup(v != NULL ? v : "individual");
	if ((v = login_param(p, "label")) != NULL)
		l->label = xstrdup(v);
	l->github_url = login_base(r->srv->cfg.github_url);
	l->api_url = login_base(r->srv->cfg.github_api_url);
	r->ctx = l;
	r->on_abort = login_http_abort_cb;
	log_ev(LOG_LEVEL_INFO, r->rid, "login started over HTTP",
	    LF_STR("tx", l->tx_id), LF_STR("github_url", l->github_url));
	if (l->ops->login_start(l) != 0)
		login_finish(l, -1, "cannot start the login request", NULL);
}

static void
login_resume_work_cb(uv_work_t *w)
{
	struct device_job	*j = w->data;
	struct store		*st;
	struct store_device	*rows = NULL;
	size_t			 n = 0;

	if ((st = store_open(j->srv->paths.db_file, STORE_RO, &j->err)) ==
	    NULL)
		return;
	if (store_device_pending(st, server_wall_ms(), &rows, &n, &j->err) ==
	    0) {
		j->rows = rows;
		j->nrows = n;
	}
	store_close(st);
}

static void
login_resume_after_cb(uv_work_t *w, int status)
{
	struct device_job	*j = w->data;
	struct store_device	*rows = j->rows;
	size_t			 n = j->nrows, i;
	struct login		*l;
	int64_t			 now = server_wall_ms();

	if (j->err != NULL)
		log_ev(LOG_LEVEL_WARN, NULL, "cannot resume device logins",
		    LF_STR("error", j->err));
	for (i = 0; i < n && !j->srv->shutting_down; i++) {
		l = xcalloc(1, sizeof *l);
		l->srv = j->srv;
		l->ops = provider_find(rows[i].provider);
		if (l->ops == NULL || l->ops->login_resume == NULL) {
			free(l);
			continue;
		}
		l->tx_id = xstrdup(rows[i].id);
		uv_timer_init(&j->srv->loop, &l->timer);
		l->timer.data = l;
		TAILQ_INSERT_TAIL(&j->srv->logins, l, entry);
		l->account_type = xstrdup(rows[i].account_type);
		l->label = rows[i].label != NULL ? xstrdup(rows[i].label) :
		    NULL;
		l->github_url = xstrdup(rows[i].github_url);
		l->api_url = xstrdup(rows[i].api_url);
		l->device_code = xstrdup(rows[i].device_code);
		l->interval_s = (int)rows[i].interval_s;
		l->deadline = uv_now(&j->srv->loop) +
		    (uint64_t)(rows[i].expires_ms - now);
		log_ev(LOG_LEVEL_INFO, NULL, "resuming a device login",
		    LF_STR("tx", l->tx_id));
		l->ops->login_resume(l);
	}
	store_devices_free(rows, n);
	free(j->err);
	free(j);
}

void
login_resume_all(struct server *srv)
{
	struct device_job	*j = xcalloc(1, sizeof *j);

	j->srv = srv;
	j->work.data = j;
	if (uv_queue_work(&srv->loop, &j->work, login_resume_work_cb,
	    login_resume_after_cb) != 0)
		free(j);
}
