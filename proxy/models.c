/* SPDX-License-Identifier: ISC */
/*
 * models: each account's model list (GET {api}/models), cached for
 * upstreams.github.models_ttl and fetched once for all the requests that
 * need it (single-flight, like tokens). The entries carry what the relay
 * needs: supported_endpoints and capabilities (streaming, vision, limits).
 * Proxy thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provider.h"
#include "server.h"
#include "upstream.h"
#include "xmalloc.h"

#define MODELS_BODY_MAX	(8 * 1024 * 1024)
#define MODELS_RETRY_MS	30000

static void	models_token_cb(struct account *, void *, const char *, int);

/* Hands the outcome to every waiter. */
static void
models_wake(struct account *a, const char *err)
{
	struct models_waiters	 list;
	struct models_waiter	*w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &a->mwaiters, entry);
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, entry);
		w->queued = 0;
		w->cb(a, w->arg, err);
	}
}

static void
models_fetch_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct account		*a = arg;
	struct json_tokener	*tok;
	struct json_object	*o = NULL, *data;
	char			*why;

	a->mfetch = NULL;
	if (err == NULL && status == 200) {
		tok = json_tokener_new();
		o = json_tokener_parse_ex(tok, body, (int)len);
		json_tokener_free(tok);
	}
	if (o == NULL || !json_object_object_get_ex(o, "data", &data) ||
	    !json_object_is_type(data, json_type_array)) {
		json_object_put(o);
		if (err == NULL && status == 401 && !a->mretried) {
			/* A stale token: refresh once and fetch again. */
			a->mretried = 1;
			token_invalidate(a, a->token);
			token_get(a, &a->mtoken_waiter, models_token_cb, NULL);
			return;
		}
		if (err == NULL && status == 401) {
			token_invalidate(a, a->token);
			why = xstrdup("the Copilot API refused the token");
		} else
			why = err != NULL ? xasprintf("%s", err) :
			    xasprintf("HTTP %d from %s/models", status,
			    a->api_base);
		a->mretried = 0;
		log_ev(LOG_LEVEL_WARN, NULL, "cannot fetch the model list",
		    LF_STR("account", a->sa.label), LF_STR("error", why));
		/* Do not make every request wait on a failing fetch. */
		a->models_failed_at = uv_now(&a->srv->loop);
		models_wake(a, why);
		free(why);
		return;
	}
	json_object_put(a->models);
	a->models = o;
	a->models_at = uv_now(&a->srv->loop);
	a->models_failed_at = 0;
	a->mretried = 0;
	log_ev(LOG_LEVEL_DEBUG, NULL, "model list fetched",
	    LF_STR("account", a->sa.label), LF_INT("models",
	    json_object_array_length(data)));
	models_wake(a, NULL);
}

/* Starts the fetch once a token is at hand. */
static void
models_token_cb(struct account *a, void *arg, const char *err, int status)
{
	struct upstream_xfer	*x;
	char			*url;

	if (err != NULL) {
		a->models_failed_at = uv_now(&a->srv->loop);
		a->mretried = 0;
		models_wake(a, err);
		return;
	}
	url = xasprintf("%s/models", a->api_base);
	a->mfetch = fetch_new(a->srv, "GET", url, MODELS_BODY_MAX,
	    models_fetch_cb, a);
	free(url);
	x = fetch_xfer(a->mfetch);
	a->ops->api_headers(a, x, 0, 0);
	upstream_xfer_header(x, "accept", "application/json");
	if (fetch_start(a->mfetch) != 0) {
		a->mfetch = NULL;
		models_wake(a, "cannot start the model list request");
	}
}

void
models_get(struct account *a, struct models_waiter *w, models_cb cb,
    void *arg)
{
	uint64_t	 now = uv_now(&a->srv->loop);
	int		 first;

	w->cb = cb;
	w->arg = arg;
	w->queued = 0;
	if (a->models != NULL &&
	    now - a->models_at < a->srv->cfg.github_models_ttl_ms) {
		cb(a, arg, NULL);
		return;
	}
	if (a->models_failed_at != 0 &&
	    now - a->models_failed_at < MODELS_RETRY_MS) {
		/* A recent failure: go on with what we have (maybe stale). */
		cb(a, arg, a->models != NULL ? NULL : "the model list is "
		    "unavailable");
		return;
	}
	first = TAILQ_EMPTY(&a->mwaiters) && a->mfetch == NULL;
	TAILQ_INSERT_TAIL(&a->mwaiters, w, entry);
	w->queued = 1;
	if (first)
		token_get(a, &a->mtoken_waiter, models_token_cb, NULL);
}

void
models_cancel(struct account *a, struct models_waiter *w)
{
	if (!w->queued)
		return;
	TAILQ_REMOVE(&a->mwaiters, w, entry);
	w->queued = 0;
}

void
models_stop(struct account *a)
{
	token_cancel(a, &a->mtoken_waiter);
	if (a->mfetch != NULL) {
		fetch_cancel(a->mfetch);
		a->mfetch = NULL;
	}
	models_wake(a, "the account is no longer available");
}

struct json_object *
models_find(struct account *a, const char *id)
{
	struct json_object	*data, *m, *v;
	size_t			 i, n;

	if (a->models == NULL ||
	    !json_object_object_get_ex(a->models, "data", &data))
		return (NULL);
	n = json_object_array_length(data);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(data, i);
		if (json_object_object_get_ex(m, "id", &v) &&
		    strcmp(json_object_get_string(v), id) == 0)
			return (m);
	}
	return (NULL);
}

int
models_supports_endpoint(struct json_object *m, const char *ep)
{
	struct json_object	*eps, *v;
	size_t			 i, n;

	if (m == NULL || !json_object_object_get_ex(m, "supported_endpoints",
	    &eps) || !json_object_is_type(eps, json_type_array))
		return (-1);
	n = json_object_array_length(eps);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(eps, i);
		if (strcmp(json_object_get_string(v), ep) == 0)
			return (1);
	}
	return (0);
}

int
models_can_stream(struct json_object *m)
{
	struct json_object	*caps, *sup, *v;

	if (m != NULL && json_object_object_get_ex(m, "capabilities", &caps) &&
	    json_object_object_get_ex(caps, "supports", &sup) &&
	    json_object_object_get_ex(sup, "streaming", &v) &&
	    json_object_is_type(v, json_type_boolean))
		return (json_object_get_boolean(v));
	return (1);
}
