/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proxy/token.c with a fake provider: 64 concurrent waiters
 * cause one exchange (single-flight); a valid token is handed out at once;
 * a token near its wall-clock expiry, or one Copilot refused, triggers a
 * refresh; a failed exchange reaches every waiter and schedules a retry.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provider.h"
#include "server.h"
#include "test.h"

static int	token_test_refreshes;

static void
token_test_refresh(struct account *a)
{
	token_test_refreshes++;
}

static const struct provider_ops token_test_ops = {
	.name = "fake",
	.token_refresh = token_test_refresh,
};

struct token_test_waiter {
	struct token_waiter	 w;
	int			 called;
	int			 failed;
};

static void
token_test_cb(struct account *a, void *arg, const char *err, int status)
{
	struct token_test_waiter	*t = arg;

	t->called++;
	if (err != NULL)
		t->failed++;
}

static void
token_test_setup(struct server *srv, struct account *a)
{
	memset(srv, 0, sizeof *srv);
	memset(a, 0, sizeof *a);
	ASSERT_EQ(uv_loop_init(&srv->loop), 0);
	a->srv = srv;
	a->ops = &token_test_ops;
	a->sa.label = (char *)"test";
	TAILQ_INIT(&a->waiters);
	uv_timer_init(&srv->loop, &a->timer);
	a->timer.data = a;
	token_test_refreshes = 0;
}

static void
token_test_teardown(struct server *srv, struct account *a)
{
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->timer, NULL);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	ASSERT_EQ(uv_loop_close(&srv->loop), 0);
	free(a->token);
	free(a->api_base);
	free(a->last_error);
}

TEST_IMPL(token_single_flight)
{
	struct server			 srv;
	struct account			 a;
	struct token_test_waiter	 w[64], late;
	int				 i;

	token_test_setup(&srv, &a);
	for (i = 0; i < 64; i++) {
		memset(&w[i], 0, sizeof w[i]);
		token_get(&a, &w[i].w, token_test_cb, &w[i]);
	}
	ASSERT_EQ(token_test_refreshes, 1);
	ASSERT_EQ(a.state, TOKEN_REFRESHING);
	for (i = 0; i < 64; i++)
		ASSERT_EQ(w[i].called, 0);

	/* One answer wakes all 64. */
	token_exchange_done(&a, "tid=1", "http://api", time(NULL) + 1500, 1440,
	    NULL, 200);
	for (i = 0; i < 64; i++) {
		ASSERT_EQ(w[i].called, 1);
		ASSERT_EQ(w[i].failed, 0);
	}
	ASSERT_EQ(a.state, TOKEN_FRESH);
	ASSERT_STR_EQ(a.token, "tid=1");

	/* A valid token is handed out synchronously, with no exchange. */
	memset(&late, 0, sizeof late);
	token_get(&a, &late.w, token_test_cb, &late);
	ASSERT_EQ(late.called, 1);
	ASSERT_EQ(token_test_refreshes, 1);

	/* The refresh timer is armed ahead of expiry (refresh_in - 60). */
	ASSERT(uv_is_active((uv_handle_t *)&a.timer));
	ASSERT(a.refresh_at <= time(NULL) + 1380 + 1);
	token_test_teardown(&srv, &a);
}

TEST_IMPL(token_expiry_and_invalidate)
{
	struct server			 srv;
	struct account			 a;
	struct token_test_waiter	 w, w2;

	token_test_setup(&srv, &a);
	memset(&w, 0, sizeof w);
	token_get(&a, &w.w, token_test_cb, &w);
	token_exchange_done(&a, "tid=1", "http://api", time(NULL) + 1500, 0,
	    NULL, 200);
	ASSERT_EQ(w.called, 1);

	/* Copilot refused an old token: nothing happens. */
	token_invalidate(&a, "tid=0");
	ASSERT_STR_EQ(a.token, "tid=1");
	/* It refused the current one: the next get refreshes. */
	token_invalidate(&a, "tid=1");
	ASSERT_NULL(a.token);
	memset(&w2, 0, sizeof w2);
	token_get(&a, &w2.w, token_test_cb, &w2);
	ASSERT_EQ(w2.called, 0);
	ASSERT_EQ(token_test_refreshes, 2);
	token_exchange_done(&a, "tid=2", "http://api", time(NULL) + 1500, 0,
	    NULL, 200);
	ASSERT_EQ(w2.called, 1);

	/*
	 * A laptop that slept past expiry: the wall clock says the token is
	 * (nearly) expired although no timer fired. The next get refreshes.
	 */
	a.expires_at = time(NULL) + 10;
	memset(&w2, 0, sizeof w2);
	token_get(&a, &w2.w, token_test_cb, &w2);
	ASSERT_EQ(w2.called, 0);
	ASSERT_EQ(token_test_refreshes, 3);
	token_exchange_done(&a, "tid=3", "http://api", time(NULL) + 1500, 0,
	    NULL, 200);
	ASSERT_EQ(w2.called, 1);
	token_test_teardown(&srv, &a);
}

TEST_IMPL(token_failure_backoff)
{
	struct server			 srv;
	struct account			 a;
	struct token_test_waiter	 w[3];
	int				 i;

	token_test_setup(&srv, &a);
	for (i = 0; i < 3; i++) {
		memset(&w[i], 0, sizeof w[i]);
		token_get(&a, &w[i].w, token_test_cb, &w[i]);
	}
	token_exchange_done(&a, NULL, NULL, 0, 0, "HTTP 500", 500);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(w[i].called, 1);
		ASSERT_EQ(w[i].failed, 1);
	}
	ASSERT_EQ(a.state, TOKEN_FAILING);
	ASSERT_STR_EQ(a.last_error, "HTTP 500");
	ASSERT_EQ(a.failures, 1);
	/* A retry is scheduled, within the first back-off step (<= 1 s). */
	ASSERT(uv_is_active((uv_handle_t *)&a.timer));
	ASSERT_LE(uv_timer_get_due_in(&a.timer), 1000);
	uv_run(&srv.loop, UV_RUN_ONCE);
	ASSERT_EQ(token_test_refreshes, 2);

	/* Repeated failures back off further, capped at a minute. */
	token_exchange_done(&a, NULL, NULL, 0, 0, "HTTP 500", 500);
	token_exchange_done(&a, NULL, NULL, 0, 0, "HTTP 500", 500);
	token_exchange_done(&a, NULL, NULL, 0, 0, "HTTP 500", 500);
	ASSERT_EQ(a.failures, 4);
	ASSERT(uv_timer_get_due_in(&a.timer) >= 4000);
	ASSERT(uv_timer_get_due_in(&a.timer) <= 8000);

	/* Success resets the failure count. */
	token_exchange_done(&a, "tid=9", "http://api", time(NULL) + 1500, 0,
	    NULL, 200);
	ASSERT_EQ(a.failures, 0);
	ASSERT_NULL(a.last_error);
	token_test_teardown(&srv, &a);
}
