/* SPDX-License-Identifier: ISC */
/*
 * relay: the engine behind every Copilot API route. A struct relay owns
 * one client request from the moment its body is parsed until the answer
 * is complete: it waits (without blocking) for the account's model list
 * and token, builds the upstream call with the provider's headers,
 * retries once when Copilot refuses a stale token (only before anything
 * reached the client), and relays the answer: streams event by event as
 * they arrive, pausing the upstream transfer while the client is slow and
 * sending keep-alive comments through long silences; whole bodies at
 * once. Errors keep the upstream status (but 401, which would blame the
 * client's credentials, becomes 502) and say which upstream failed. When
 * the client goes away, the upstream transfer is cancelled at once.
 * Proxy thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "relay.h"
#include "upstream.h"
#include "xmalloc.h"

#define RELAY_BODY_MAX		(64 * 1024 * 1024)
#define RELAY_ERRBODY_MAX	(64 * 1024)
#define RELAY_EVENT_MAX		(16 * 1024 * 1024)
#define RELAY_TOK_KEEP		(64 * 1024)	/* larger input: new tokener */

static void	relay_send(struct relay *);
static void	relay_token_cb(struct account *, void *, const char *, int);

static void
relay_close_cb(uv_handle_t *h)
{
	struct relay	*rl = h->data;

	free(rl);
}

/* Returns the tokens a request used (prompt + completion), or 0. */
static int64_t
relay_tokens(struct relay *rl)
{
	return ((rl->in_tokens > 0 ? rl->in_tokens : 0) +
	    (rl->out_tokens > 0 ? rl->out_tokens : 0));
}

/* Releases everything but the request; the relay is freed later. */
static void
relay_finish(struct relay *rl)
{
	if (rl->finished)
		return;
	rl->finished = 1;
	token_cancel(rl->acct, &rl->tw);
	models_cancel(rl->acct, &rl->mw);
	limits_cancel(rl->acct, &rl->sw);
	if (rl->has_slot) {
		rl->has_slot = 0;
		limits_release(rl->acct);
	}
	limits_release_key(rl->srv, rl->key, relay_tokens(rl));
	if (rl->xfer != NULL) {
		upstream_xfer_abort(rl->xfer);
		rl->xfer = NULL;
	}
	uv_timer_stop(&rl->keepalive);
	json_object_put(rl->body);
	json_object_put(rl->usage);
	free(rl->model);
	free(rl->used_token);
	free(rl->chunk_id);
	free(rl->chunk_model);
	free(rl->client_model);
	if (rl->dctx_free != NULL)
		rl->dctx_free(rl->dctx);
	rl->dctx = NULL;
	buf_release(&rl->ubody);
	sse_release(&rl->sse);
	account_unref(rl->acct);
	if (rl->req != NULL) {
		rl->req->ctx = NULL;
		rl->req->on_abort = NULL;
		rl->req->on_drain = NULL;
	}
	rl->req = NULL;
	uv_close((uv_handle_t *)&rl->keepalive, relay_close_cb);
}

void
relay_note_usage(struct relay *rl, struct json_object *usage)
{
	struct json_object	*v;
	int64_t			 in;

	if (usage == NULL || !json_object_is_type(usage, json_type_object))
		return;
	json_object_put(rl->usage);
	rl->usage = json_object_get(usage);
	/*
	 * Usage may come in parts (Anthropic streams: input in
	 * message_start, output in message_delta): keep what each part
	 * says. Anthropic's input_tokens leaves out the cached part.
	 */
	if (json_object_object_get_ex(usage, "prompt_tokens", &v))
		rl->in_tokens = json_object_get_int64(v);
	else if (json_object_object_get_ex(usage, "input_tokens", &v)) {
		in = json_object_get_int64(v);
		if (json_object_object_get_ex(usage, "cache_read_input_tokens",
		    &v))
			in += json_object_get_int64(v);
		if (json_object_object_get_ex(usage,
		    "cache_creation_input_tokens", &v))
			in += json_object_get_int64(v);
		rl->in_tokens = in;
	}
	if (json_object_object_get_ex(usage, "completion_tokens", &v) ||
	    json_object_object_get_ex(usage, "output_tokens", &v))
		rl->out_tokens = json_object_get_int64(v);
}

/* Logs the tokens the request used (the usage table comes later). */
static void
relay_log_usage(struct relay *rl)
{
	int64_t	 in = rl->in_tokens, out = rl->out_tokens;

	if (rl->usage == NULL || rl->req == NULL)
		return;
	if (rl->est_prompt > 0 && in > 0 && rl->model != NULL)
		tokcal_note(&rl->srv->tokcal, rl->model, in, rl->est_prompt);
	log_ev(LOG_LEVEL_INFO, rl->req->rid, "usage",
	    LF_STR("account", rl->acct->sa.label), LF_STR("model", rl->model),
	    LF_STR("endpoint", rl->upath), LF_INT("prompt_tokens", in),
	    LF_INT("completion_tokens", out),
	    LF_STR("initiator", rl->agent ? "agent" : "user"));
}

/* relay_fail with extra response headers. */
static void
relay_vfail(struct relay *rl, int status, const char *code,
    const char *extra, const char *fmt, va_list ap)
{
	struct req	*r = rl->req;
	char		*msg;

	msg = xvasprintf(fmt, ap);
	log_scrub(msg);
	relay_finish(rl);
	if (r == NULL) {
		free(msg);
		return;
	}
	r->err_tag = code;
	if (r->conn == NULL)
		req_abandon(r);
	else
		req_error_hdr(r, status, code, extra, "%s", msg);
	free(msg);
}

void
relay_fail(struct relay *rl, int status, const char *code, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	relay_vfail(rl, status, code, NULL, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 5, 6)))
relay_fail_hdr(struct relay *rl, int status, const char *code,
    const char *extra, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	relay_vfail(rl, status, code, extra, fmt, ap);
	va_end(ap);
}

void
relay_respond_json(struct relay *rl, int status, struct json_object *o)
{
	struct req	*r = rl->req;

	relay_log_usage(rl);
	relay_finish(rl);
	if (r == NULL) {
		json_object_put(o);
		return;
	}
	if (r->conn == NULL) {
		json_object_put(o);
		req_abandon(r);
		return;
	}
	req_respond_json(r, status, o);
}

void
relay_respond_upstream(struct relay *rl)
{
	struct req	*r = rl->req;
	char		*body;
	size_t		 len;

	/* Taken before relay_finish releases the buffer. */
	body = buf_detach(&rl->ubody, &len);
	relay_log_usage(rl);
	relay_finish(rl);
	if (r == NULL || r->conn == NULL) {
		free(body);
		if (r != NULL)
			req_abandon(r);
		return;
	}
	req_respond(r, 200, "application/json", body != NULL ? body : "",
	    len, NULL);
	free(body);
}

void
relay_stream_finish(struct relay *rl)
{
	struct req	*r = rl->req;

	relay_log_usage(rl);
	relay_finish(rl);
	if (r == NULL)
		return;
	if (r->conn == NULL)
		req_abandon(r);
	else
		req_stream_end(r);
}

int
relay_write(struct relay *rl, const char *data, size_t len)
{
	int	 rc;

	if (rl->req == NULL || rl->req->conn == NULL)
		return (-1);
	if (rl->aggregate)
		return (0);	/* nothing goes out before the answer */
	rl->last_write = uv_now(&rl->srv->loop);
	rc = req_stream_write(rl->req, data, len);
	if (rc == 1)
		rl->paused = 1;	/* the next on_data pauses the upstream */
	return (rc < 0 ? -1 : 0);
}

/* The client went away: cancel everything now. */
static void
relay_abort_cb(struct req *r)
{
	struct relay	*rl = r->ctx;

	log_ev(LOG_LEVEL_INFO, r->rid, "client disconnected; cancelling the "
	    "upstream request", LF_BOOL("streaming", rl->started));
	relay_finish(rl);
	req_abandon(r);
}

/* The client caught up: let the upstream flow again. */
static void
relay_drain_cb(struct req *r)
{
	struct relay	*rl = r->ctx;

	if (rl == NULL || !rl->paused)
		return;
	rl->paused = 0;
	if (rl->xfer != NULL)
		upstream_xfer_resume(rl->xfer);
}

static void
relay_keepalive_cb(uv_timer_t *t)
{
	struct relay	*rl = t->data;
	uint64_t	 now = uv_now(&rl->srv->loop);

	if (!rl->started || rl->finished)
		return;
	if (now - rl->last_write < rl->srv->cfg.stream_keepalive_ms)
		return;
	if (rl->hooks->keepalive != NULL)
		rl->hooks->keepalive(rl);
	else
		relay_write(rl, ": keep-alive\n\n", 14);
}

static int
relay_sse_cb(void *arg, const char *event, const char *data, size_t len)
{
	struct relay	*rl = arg;

	return (rl->hooks->event(rl, event, data, len));
}

/* Returns a person-readable upstream name for messages. */
static const char *
relay_upstream_name(struct relay *rl)
{
	return (rl->acct->api_base != NULL ? rl->acct->api_base :
	    "the Copilot API");
}

static int
relay_headers_cb(struct upstream_xfer *x, void *arg, int status,
    const struct upstream_header *h, size_t n)
{
	struct relay	*rl = arg;
	size_t		 i;
	int		 is_sse = 0;

	rl->ustatus = status;
	if (status < 200 || status > 299) {
		buf_release(&rl->ubody);
		buf_init(&rl->ubody, RELAY_ERRBODY_MAX);
		for (i = 0; i < n; i++)
			if (strcmp(h[i].name, "retry-after") == 0 &&
			    strlen(h[i].value) < sizeof rl->retry_after)
				snprintf(rl->retry_after,
				    sizeof rl->retry_after, "%s", h[i].value);
		return (0);
	}
	for (i = 0; i < n; i++)
		if (strcmp(h[i].name, "content-type") == 0 &&
		    strncasecmp(h[i].value, "text/event-stream", 17) == 0)
			is_sse = 1;
	if (rl->upstream_stream && is_sse) {
		sse_init(&rl->sse, RELAY_EVENT_MAX, relay_sse_cb, rl);
		rl->started = 1;
		if (rl->aggregate)
			return (0);
		req_stream_begin(rl->req, 200, "text/event-stream; charset=utf-8",
		    NULL);
		rl->last_write = uv_now(&rl->srv->loop);
		uv_timer_start(&rl->keepalive, relay_keepalive_cb,
		    rl->srv->cfg.stream_keepalive_ms / 2 + 1,
		    rl->srv->cfg.stream_keepalive_ms / 2 + 1);
	} else {
		rl->upstream_stream = 0;
		buf_init(&rl->ubody, RELAY_BODY_MAX);
	}
	return (0);
}

static int
relay_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	struct relay	*rl = arg;

	if (rl->finished)
		return (UPSTREAM_ABORT);
	if (rl->started) {
		if (rl->paused)
			return (UPSTREAM_PAUSE);
		if (sse_feed(&rl->sse, data, len) != 0 || rl->finished)
			return (UPSTREAM_ABORT);
		return (UPSTREAM_CONTINUE);
	}
	if (buf_add(&rl->ubody, data, len) != 0) {
		/* An error body past its cap is cut, not fatal. */
		if (rl->ustatus < 200 || rl->ustatus > 299)
			return (UPSTREAM_CONTINUE);
		return (UPSTREAM_ABORT);
	}
	return (UPSTREAM_CONTINUE);
}

/*
 * One tokener, reset for each parse (proxy thread only, as all of relay):
 * json_tokener_new callocs a 1 KiB parse stack, and the proxy parses a
 * request body, an answer or every streamed event. After a large input
 * the tokener is dropped, so that the string buffer it grew is not kept.
 */
static struct json_tokener	*relay_tok;

struct json_object *
relay_json_parse(const char *data, size_t len, enum json_tokener_error *errp,
    size_t *endp)
{
	struct json_object	*o;

	if (relay_tok == NULL)
		relay_tok = json_tokener_new();
	else
		json_tokener_reset(relay_tok);
	o = json_tokener_parse_ex(relay_tok, data, (int)len);
	if (errp != NULL)
		*errp = json_tokener_get_error(relay_tok);
	if (endp != NULL)
		*endp = json_tokener_get_parse_end(relay_tok);
	if (len > RELAY_TOK_KEEP) {
		json_tokener_free(relay_tok);
		relay_tok = NULL;
	}
	return (o);
}

/* Answers an upstream HTTP error in the client's dialect. */
static void
relay_upstream_error(struct relay *rl)
{
	struct json_object	*o, *e = NULL, *v;
	const char		*msg = NULL, *code = NULL;
	char			*text, hdr[96];
	int			 status = rl->ustatus;

	o = relay_json_parse(buf_str(&rl->ubody), rl->ubody.len, NULL, NULL);
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "error", &e) &&
		    json_object_is_type(e, json_type_object)) {
			if (json_object_object_get_ex(e, "message", &v))
				msg = json_object_get_string(v);
			if (json_object_object_get_ex(e, "code", &v) &&
			    !json_object_is_type(v, json_type_null))
				code = json_object_get_string(v);
		} else if (json_object_object_get_ex(o, "message", &v))
			msg = json_object_get_string(v);
	}
	if (msg != NULL)
		text = xstrdup(msg);
	else {
		text = xstrndup(buf_str(&rl->ubody), 512);
		text[strcspn(text, "\r\n")] = '\0';
	}
	log_ev(LOG_LEVEL_WARN, rl->req->rid, "upstream error",
	    LF_INT("status", status), LF_STR("code", code),
	    LF_STR("account", rl->acct->sa.label));
	if (status == 401)
		relay_fail(rl, 502, "upstream_unauthorized", "Copilot refused "
		    "the token of account '%s' (HTTP 401: %s); run 'copilot-gw "
		    "login github' again if this persists", rl->acct->sa.label,
		    text);
	else if (rl->retry_after[0] != '\0' &&
	    strspn(rl->retry_after, "0123456789") == strlen(rl->retry_after)) {
		if (status == 429)
			limits_pause(rl->acct, (uint64_t)strtoull(
			    rl->retry_after, NULL, 10) * 1000);
		/* Pass Copilot's back-off on: hammering risks the account. */
		snprintf(hdr, sizeof hdr, "Retry-After: %s\r\n",
		    rl->retry_after);
		relay_fail_hdr(rl, status, code != NULL ? code :
		    "upstream_error", hdr, "%s%s", *text != '\0' ? text :
		    "upstream error", msg == NULL ? " (from the Copilot API)" :
		    "");
	} else
		relay_fail(rl, status, code != NULL ? code : "upstream_error",
		    "%s%s", *text != '\0' ? text : "upstream error",
		    msg == NULL ? " (from the Copilot API)" : "");
	free(text);
	json_object_put(o);
}

static void
relay_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct relay	*rl = arg;
	const char	*what;

	rl->xfer = NULL;
	if (rl->finished)
		return;
	if (res == UPSTREAM_OK && rl->ustatus == 401 && !rl->started &&
	    rl->attempts < 2) {
		/* A stale token: refresh once and retry once. */
		token_invalidate(rl->acct, rl->used_token);
		buf_release(&rl->ubody);
		token_get(rl->acct, &rl->tw, relay_token_cb, rl);
		return;
	}
	if (res == UPSTREAM_OK && (rl->ustatus < 200 || rl->ustatus > 299)) {
		if (!rl->started && rl->hooks->retry != NULL &&
		    rl->hooks->retry(rl, rl->ustatus, buf_str(&rl->ubody),
		    rl->ubody.len)) {
			buf_release(&rl->ubody);
			rl->attempts = 0;
			relay_send(rl);
			return;
		}
		if (rl->finished)
			return;	/* the retry hook answered (an error) */
		relay_upstream_error(rl);
		return;
	}
	if (res != UPSTREAM_OK) {
		what = res == UPSTREAM_ETIMEOUT ? "timed out" :
		    res == UPSTREAM_ECONNECT ? "could not be reached" :
		    "closed the connection early";
		log_ev(LOG_LEVEL_WARN, rl->req->rid, "upstream failure",
		    LF_STR("error", err), LF_STR("upstream",
		    relay_upstream_name(rl)), LF_BOOL("streaming",
		    rl->started));
		if (rl->started) {
			rl->req->err_tag = "upstream_stream_error";
			rl->hooks->stream_error(rl, res == UPSTREAM_ETIMEOUT ?
			    "upstream_timeout" : "upstream_error", err);
			relay_stream_finish(rl);
			return;
		}
		relay_fail(rl, res == UPSTREAM_ETIMEOUT ? 504 : 502,
		    res == UPSTREAM_ETIMEOUT ? "upstream_timeout" :
		    "upstream_unreachable", "%s %s: %s", relay_upstream_name(rl),
		    what, err);
		return;
	}
	if (rl->started) {
		if (sse_pending(&rl->sse))
			sse_feed(&rl->sse, "\n\n", 2);
		if (!rl->finished) {
			rl->hooks->stream_end(rl);
			relay_stream_finish(rl);
		}
		return;
	}
	rl->hooks->complete(rl, buf_str(&rl->ubody), rl->ubody.len);
}

static const struct upstream_cbs relay_cbs = {
	.on_headers = relay_headers_cb,
	.on_data = relay_data_cb,
	.on_done = relay_done_cb,
};

/* Builds and starts the upstream call. */
static void
relay_send(struct relay *rl)
{
	struct account		*a = rl->acct;
	struct upstream_opts	 o;
	const char		*payload;
	char			*url;
	size_t			 len;

	rl->attempts++;
	free(rl->used_token);
	rl->used_token = xstrdup(a->token);
	rl->ustatus = 0;
	url = xasprintf("%s%s", a->api_base, rl->upath);
	rl->xfer = upstream_xfer_new(rl->srv->upstream, "POST", url,
	    &relay_cbs, rl);
	free(url);
	a->ops->api_headers(a, rl->xfer, rl->vision, rl->agent);
	upstream_xfer_header(rl->xfer, "content-type", "application/json");
	upstream_xfer_header(rl->xfer, "accept", rl->upstream_stream ?
	    "text/event-stream" : "application/json");
	if (rl->hooks->headers != NULL)
		rl->hooks->headers(rl, rl->xfer);
	payload = json_object_to_json_string_length(rl->body,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	upstream_xfer_body(rl->xfer, payload, len);
	memset(&o, 0, sizeof o);
	o.connect_timeout_ms = rl->srv->cfg.upstream_connect_timeout_ms;
	o.idle_timeout_ms = rl->srv->cfg.upstream_idle_timeout_ms;
	upstream_xfer_opts(rl->xfer, &o);
	if (upstream_xfer_start(rl->xfer) != 0) {
		rl->xfer = NULL;
		relay_fail(rl, 502, "upstream_error", "cannot start a request "
		    "to %s", relay_upstream_name(rl));
	}
}

static void
relay_token_cb(struct account *a, void *arg, const char *err, int status)
{
	struct relay	*rl = arg;

	if (err != NULL) {
		relay_fail(rl, status == 0 ? 502 : 502, "token_unavailable",
		    "cannot get a Copilot token for account '%s': %s",
		    a->sa.label, err);
		return;
	}
	relay_send(rl);
}

static void	relay_slot_cb(void *, const char *);

/*
 * The model list is known (or unavailable): map and check the model,
 * then wait for an upstream slot. A request refused here (unknown or
 * disallowed model, bad body) never takes a slot.
 */
static void
relay_models_cb(struct account *a, void *arg, const char *err)
{
	struct relay	*rl = arg;

	/* Without a model list the request still goes out, unchecked. */
	if (err != NULL)
		log_ev(LOG_LEVEL_DEBUG, rl->req->rid, "going on without the "
		    "model list", LF_STR("error", err));
	if (rl->hooks->prepare(rl) != 0)
		return;
	limits_acquire(a, &rl->sw, rl->key, relay_slot_cb, rl);
}

/* An upstream slot is free (or the wait failed). */
static void
relay_slot_cb(void *arg, const char *err)
{
	struct relay	*rl = arg;
	char		 hdr[48];
	uint64_t	 now;

	if (err != NULL) {
		now = uv_now(&rl->srv->loop);
		snprintf(hdr, sizeof hdr, "Retry-After: %llu\r\n",
		    (unsigned long long)(rl->acct->paused_until > now ?
		    (rl->acct->paused_until - now + 999) / 1000 : 1));
		relay_fail_hdr(rl, 429, "account_busy", hdr, "account '%s' "
		    "is busy: %s", rl->acct->sa.label, err);
		return;
	}
	rl->has_slot = 1;
	token_get(rl->acct, &rl->tw, relay_token_cb, rl);
}

struct json_object *
relay_parse_body(struct req *r)
{
	struct json_object	*o;
	enum json_tokener_error	 jerr;
	size_t			 off;

	if (r->body.len == 0) {
		req_error(r, 400, "invalid_json", "the request needs a JSON "
		    "body");
		return (NULL);
	}
	o = relay_json_parse(r->body.data, r->body.len, &jerr, &off);
	if (o == NULL || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_continue || jerr == json_tokener_success)
			req_error(r, 400, "invalid_json", "invalid JSON in the "
			    "request body: it ends early, at byte %zu",
			    r->body.len);
		else
			req_error(r, 400, "invalid_json", "invalid JSON in the "
			    "request body at byte %zu: %s", off,
			    json_tokener_error_desc(jerr));
		return (NULL);
	}
	if (off < r->body.len && strspn(r->body.data + off, " \t\r\n") !=
	    r->body.len - off) {
		json_object_put(o);
		req_error(r, 400, "invalid_json", "invalid JSON in the request "
		    "body at byte %zu: unexpected data after the object", off);
		return (NULL);
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		req_error(r, 400, "invalid_json", "the request body must be a "
		    "JSON object");
		return (NULL);
	}
	return (o);
}

struct account *
relay_account(struct req *r)
{
	struct account	*a;

	/* A key spends the account it is bound to; else the default. */
	if (r->key != NULL && r->key->account_removed) {
		req_error(r, 503, "account_unavailable", "the account key '%s' "
		    "was bound to has been removed: create a key for another "
		    "account with 'copilot-gw keys create --account'",
		    r->key->id);
		return (NULL);
	}
	if (r->key != NULL && r->key->account_id > 0) {
		if ((a = accounts_find(r->srv, r->key->account_id)) == NULL)
			req_error(r, 503, "account_unavailable", "the account "
			    "of key '%s' (id %lld) is not logged in: run "
			    "'copilot-gw login github'", r->key->id,
			    (long long)r->key->account_id);
		return (a);
	}
	if ((a = accounts_default(r->srv)) == NULL)
		req_error(r, 503, "no_account", "no GitHub account is logged "
		    "in: run 'copilot-gw login github'");
	return (a);
}

void
relay_start(struct req *r, struct json_object *body,
    const struct relay_hooks *hooks)
{
	struct relay	*rl;
	struct account	*a;

	if ((a = relay_account(r)) == NULL || limits_admit_key(r) != 0) {
		json_object_put(body);
		return;
	}
	rl = xcalloc(1, sizeof *rl);
	rl->req = r;
	rl->srv = r->srv;
	rl->acct = a;
	rl->hooks = hooks;
	rl->upath = hooks->upath;
	rl->body = body;
	rl->seq = -1;
	rl->in_tokens = -1;
	rl->out_tokens = -1;
	account_ref(a);
	uv_timer_init(&r->srv->loop, &rl->keepalive);
	rl->keepalive.data = rl;
	buf_init(&rl->ubody, RELAY_BODY_MAX);
	sse_init(&rl->sse, RELAY_EVENT_MAX, relay_sse_cb, rl);
	rl->key = r->key;
	r->ctx = rl;
	r->on_abort = relay_abort_cb;
	r->on_drain = relay_drain_cb;
	models_get(a, &rl->mw, relay_models_cb, rl);
}
