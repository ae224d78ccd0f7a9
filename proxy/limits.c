/* SPDX-License-Identifier: ISC */
/*
 * limits: what protects the upstream identity. Per key: requests per
 * minute and tokens per minute (token buckets; tokens are debited after
 * the fact from upstream usage) and a cap on concurrent requests, all
 * answered with 429 and Retry-After. Per account: a cap on concurrent
 * upstream requests; requests beyond it wait in a bounded queue served
 * round-robin across keys (the key served longest ago goes first), and
 * when Copilot answers 429 with Retry-After the account pauses instead of
 * hammering (repeated 429s are a known suspension trigger). All state
 * lives in the key and account structs. Proxy thread only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provider.h"
#include "server.h"

#define LIMITS_TICK_MS	250

/* Refills a bucket of capacity cap per minute; returns the level. */
static double
limits_refill(double *level, uint64_t *at, int64_t cap, uint64_t now)
{
	double	 rate = (double)cap / 60000.0;

	if (*at == 0) {
		*level = (double)cap;
		*at = now;
	}
	*level += (double)(now - *at) * rate;
	if (*level > (double)cap)
		*level = (double)cap;
	*at = now;
	return (*level);
}

/* Seconds until a bucket holds `need`, at cap per minute (at least 1). */
static int64_t
limits_wait_s(double level, double need, int64_t cap)
{
	double	 s = (need - level) * 60.0 / (double)cap;

	return (s < 1 ? 1 : (int64_t)ceil(s));
}

static void
limits_refuse(struct req *r, int64_t retry_s, const char *code,
    const char *msg)
{
	char	 hdr[48];

	snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n",
	    (long long)retry_s);
	r->err_tag = code;
	req_error_hdr(r, 429, code, hdr, "%s", msg);
}

int
limits_admit_key(struct req *r)
{
	struct auth_key	*k = r->key;
	uint64_t	 now = uv_now(&r->srv->loop);
	double		 level;
	char		 msg[160];

	if (k == NULL)
		return (0);
	if (k->max_concurrent > 0 && k->active >= k->max_concurrent) {
		snprintf(msg, sizeof msg, "key '%s' already has %lld requests "
		    "in flight (its limit)", k->id, (long long)k->active);
		limits_refuse(r, 1, "concurrency_limit", msg);
		return (-1);
	}
	if (k->rpm > 0) {
		level = limits_refill(&k->req_tokens, &k->req_at, k->rpm, now);
		if (level < 1.0) {
			snprintf(msg, sizeof msg, "key '%s' is over its limit "
			    "of %lld requests per minute", k->id,
			    (long long)k->rpm);
			limits_refuse(r, limits_wait_s(level, 1.0, k->rpm),
			    "rate_limit", msg);
			return (-1);
		}
	}
	if (k->tpm > 0) {
		level = limits_refill(&k->tok_tokens, &k->tok_at, k->tpm, now);
		if (level <= 0.0) {
			snprintf(msg, sizeof msg, "key '%s' is over its limit "
			    "of %lld tokens per minute", k->id,
			    (long long)k->tpm);
			limits_refuse(r, limits_wait_s(level, 1.0, k->tpm),
			    "token_rate_limit", msg);
			return (-1);
		}
	}
	/* Debited only once admitted: a refused request costs nothing. */
	if (k->rpm > 0)
		k->req_tokens -= 1.0;
	k->active++;
	return (0);
}

void
limits_release_key(struct server *srv, struct auth_key *k, int64_t tokens)
{
	uint64_t	 now = uv_now(&srv->loop);

	if (k == NULL)
		return;
	if (k->active > 0)
		k->active--;
	if (k->tpm > 0 && tokens > 0) {
		limits_refill(&k->tok_tokens, &k->tok_at, k->tpm, now);
		k->tok_tokens -= (double)tokens;
	}
}

/* Returns 1 if the account may start another upstream request now. */
static int
limits_slot_free(struct account *a)
{
	return (a->active < (int64_t)a->srv->cfg.account_concurrency &&
	    uv_now(&a->srv->loop) >= a->paused_until);
}

/* Picks the waiter of the key served longest ago (oldest on a tie). */
static struct slot_waiter *
limits_next(struct account *a)
{
	struct slot_waiter	*w, *best = NULL;

	TAILQ_FOREACH(w, &a->queue, entry) {
		if (best == NULL || (w->key != NULL ? w->key->served : 0) <
		    (best->key != NULL ? best->key->served : 0))
			best = w;
	}
	return (best);
}

/* Starts queued requests while slots are free. */
static void
limits_dispatch(struct account *a)
{
	struct slot_waiter	*w;

	while (!TAILQ_EMPTY(&a->queue) && limits_slot_free(a)) {
		if ((w = limits_next(a)) == NULL)
			break;		/* not reached: the queue is not empty */
		TAILQ_REMOVE(&a->queue, w, entry);
		a->nqueue--;
		w->queued = 0;
		a->active++;
		if (w->key != NULL)
			w->key->served = ++a->served_seq;
		w->cb(w->arg, NULL);
	}
	if (TAILQ_EMPTY(&a->queue))
		uv_timer_stop(&a->qtimer);
}

/* Expires waiters that waited too long, and resumes after a pause. */
static void
limits_tick_cb(uv_timer_t *t)
{
	struct account		*a = t->data;
	struct slot_waiter	*w, *next;
	uint64_t		 now = uv_now(&a->srv->loop);

	for (w = TAILQ_FIRST(&a->queue); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (now - w->since < a->srv->cfg.account_queue_wait_ms)
			continue;
		TAILQ_REMOVE(&a->queue, w, entry);
		a->nqueue--;
		w->queued = 0;
		w->cb(w->arg, "waited too long for a free upstream slot");
	}
	limits_dispatch(a);
}

void
limits_acquire(struct account *a, struct slot_waiter *w, struct auth_key *k,
    slot_cb cb, void *arg)
{
	w->key = k;
	w->cb = cb;
	w->arg = arg;
	w->queued = 0;
	if (TAILQ_EMPTY(&a->queue) && limits_slot_free(a)) {
		a->active++;
		if (k != NULL)
			k->served = ++a->served_seq;
		cb(arg, NULL);
		return;
	}
	if (a->nqueue >= a->srv->cfg.account_queue) {
		cb(arg, "the account's request queue is full");
		return;
	}
	w->since = uv_now(&a->srv->loop);
	TAILQ_INSERT_TAIL(&a->queue, w, entry);
	a->nqueue++;
	w->queued = 1;
	if (!uv_is_active((uv_handle_t *)&a->qtimer))
		uv_timer_start(&a->qtimer, limits_tick_cb, LIMITS_TICK_MS,
		    LIMITS_TICK_MS);
}

void
limits_cancel(struct account *a, struct slot_waiter *w)
{
	if (!w->queued)
		return;
	TAILQ_REMOVE(&a->queue, w, entry);
	a->nqueue--;
	w->queued = 0;
}

void
limits_release(struct account *a)
{
	if (a->active > 0)
		a->active--;
	limits_dispatch(a);
}

void
limits_pause(struct account *a, uint64_t ms)
{
	uint64_t	 until = uv_now(&a->srv->loop) + ms;

	if (until <= a->paused_until)
		return;
	a->paused_until = until;
	log_ev(LOG_LEVEL_WARN, NULL, "Copilot asked to slow down; pausing "
	    "the account", LF_STR("account", a->sa.label),
	    LF_INT("pause_ms", ms));
	if (!uv_is_active((uv_handle_t *)&a->qtimer))
		uv_timer_start(&a->qtimer, limits_tick_cb, LIMITS_TICK_MS,
		    LIMITS_TICK_MS);
}

void
limits_stop(struct account *a)
{
	struct slot_waiter	*w;

	uv_timer_stop(&a->qtimer);
	while ((w = TAILQ_FIRST(&a->queue)) != NULL) {
		TAILQ_REMOVE(&a->queue, w, entry);
		a->nqueue--;
		w->queued = 0;
		w->cb(w->arg, "the account is no longer available");
	}
}
