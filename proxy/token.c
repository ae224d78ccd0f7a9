/* SPDX-License-Identifier: ISC */
/*
 * token: the life of an account's short-lived API token. A valid token is
 * handed out at once; otherwise the request waits while exactly one
 * exchange runs (single-flight), whatever the number of waiters. Tokens
 * are refreshed ahead of expiry by a timer, and validity is judged by the
 * wall clock, so a laptop that wakes past expiry refreshes before its
 * next request. Failed exchanges are retried with exponential back-off
 * and jitter. Proxy thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "log.h"
#include "provider.h"
#include "server.h"
#include "xmalloc.h"

/* A token this close to expiry is treated as expired. */
#define TOKEN_MARGIN_S		30
#define TOKEN_RETRY_MIN_MS	1000
#define TOKEN_RETRY_MAX_MS	60000

const char *
token_state_name(enum token_state s)
{
	switch (s) {
	case TOKEN_NONE:
		return ("none");
	case TOKEN_FRESH:
		return ("fresh");
	case TOKEN_REFRESHING:
		return ("refreshing");
	case TOKEN_FAILING:
		return ("failing");
	}
	return ("unknown");
}

/* Returns 1 if the account holds a token usable right now. */
static int
token_valid(const struct account *a)
{
	return (a->token != NULL &&
	    (int64_t)time(NULL) < a->expires_at - TOKEN_MARGIN_S);
}

/* Starts an exchange unless one is running. */
static void
token_start_exchange(struct account *a)
{
	if (a->state == TOKEN_REFRESHING || a->srv->shutting_down)
		return;
	a->state = TOKEN_REFRESHING;
	a->exchanges++;
	uv_timer_stop(&a->timer);
	log_ev(LOG_LEVEL_DEBUG, NULL, "token exchange",
	    LF_STR("account", a->sa.label));
	a->ops->token_refresh(a);
}

static void
token_timer_cb(uv_timer_t *t)
{
	token_start_exchange(t->data);
}

void
token_get(struct account *a, struct token_waiter *w, token_cb cb, void *arg)
{
	w->cb = cb;
	w->arg = arg;
	w->queued = 0;
	if (token_valid(a)) {
		cb(a, arg, NULL, 0);
		return;
	}
	if (a->state == TOKEN_FAILING && uv_is_active((uv_handle_t *)&a->timer)) {
		/* Backing off after a failure: do not hammer GitHub. */
		cb(a, arg, a->last_error != NULL ? a->last_error :
		    "the last token exchange failed", 502);
		return;
	}
	TAILQ_INSERT_TAIL(&a->waiters, w, entry);
	w->queued = 1;
	token_start_exchange(a);
}

void
token_cancel(struct account *a, struct token_waiter *w)
{
	if (!w->queued)
		return;
	TAILQ_REMOVE(&a->waiters, w, entry);
	w->queued = 0;
}

void
token_invalidate(struct account *a, const char *tok)
{
	if (a->token == NULL || tok == NULL || strcmp(a->token, tok) != 0)
		return;
	log_ev(LOG_LEVEL_INFO, NULL, "token refused by the API; refreshing",
	    LF_STR("account", a->sa.label));
	free(a->token);
	a->token = NULL;
	a->expires_at = 0;
	if (a->state == TOKEN_FRESH)
		a->state = TOKEN_NONE;
}

/* Returns the retry delay after n failures: exponential, with jitter. */
static uint64_t
token_backoff_ms(unsigned n)
{
	uint64_t	 ms = TOKEN_RETRY_MIN_MS;
	unsigned char	 r[2];

	while (n-- > 1 && ms < TOKEN_RETRY_MAX_MS)
		ms *= 2;
	if (ms > TOKEN_RETRY_MAX_MS)
		ms = TOKEN_RETRY_MAX_MS;
	if (RAND_bytes(r, sizeof r) == 1)
		ms = ms / 2 + (ms / 2) * ((unsigned)r[0] << 8 | r[1]) / 65535;
	return (ms);
}

/* Hands the outcome to every waiter; waiters may queue again. */
static void
token_wake(struct account *a, const char *err, int status)
{
	struct token_waiters	 list;
	struct token_waiter	*w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &a->waiters, entry);
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, entry);
		w->queued = 0;
		w->cb(a, w->arg, err, status);
	}
}

void
token_exchange_done(struct account *a, const char *token,
    const char *api_base, int64_t expires_at, int64_t refresh_in,
    const char *err, int status)
{
	int64_t		 now = time(NULL), delay;
	uint64_t	 ms;

	a->fetch = NULL;
	if (err != NULL) {
		a->failures++;
		free(a->last_error);
		a->last_error = xstrdup(err);
		a->state = token_valid(a) ? TOKEN_FRESH : TOKEN_FAILING;
		ms = token_backoff_ms(a->failures);
		log_ev(LOG_LEVEL_WARN, NULL, "token exchange failed",
		    LF_STR("account", a->sa.label), LF_STR("error", err),
		    LF_INT("status", status), LF_INT("retry_ms", ms));
		if (!a->srv->shutting_down && !a->removed)
			uv_timer_start(&a->timer, token_timer_cb, ms, 0);
		token_wake(a, err, status);
		return;
	}
	free(a->token);
	a->token = xstrdup(token);
	free(a->api_base);
	a->api_base = xstrdup(api_base);
	a->expires_at = expires_at;
	/* Refresh a minute before the server says, never after expiry. */
	delay = refresh_in > 0 ? refresh_in - 60 : expires_at - now - 120;
	if (delay > expires_at - now - TOKEN_MARGIN_S - 5)
		delay = expires_at - now - TOKEN_MARGIN_S - 5;
	if (delay < 1)
		delay = 1;
	a->refresh_at = now + delay;
	a->last_refresh = now;
	a->failures = 0;
	free(a->last_error);
	a->last_error = NULL;
	a->state = TOKEN_FRESH;
	log_ev(LOG_LEVEL_INFO, NULL, "token refreshed",
	    LF_STR("account", a->sa.label), LF_INT("expires_in",
	    expires_at - now), LF_INT("next_refresh_s", delay));
	if (!a->srv->shutting_down && !a->removed)
		uv_timer_start(&a->timer, token_timer_cb, (uint64_t)delay * 1000,
		    0);
	token_wake(a, NULL, 0);
}

void
token_stop(struct account *a)
{
	uv_timer_stop(&a->timer);
	if (a->fetch != NULL) {
		fetch_cancel(a->fetch);
		a->fetch = NULL;
		a->state = token_valid(a) ? TOKEN_FRESH : TOKEN_NONE;
	}
	token_wake(a, "the gateway is shutting down", 503);
}
