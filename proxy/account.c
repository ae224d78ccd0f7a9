/* SPDX-License-Identifier: ISC */
/*
 * account: the proxy's in-memory view of the accounts table. It is
 * loaded when the proxy starts and kept in step with the store by a
 * watcher that checks PRAGMA data_version once a second on a pool thread
 * (another process, such as `copilot-gw login` or `accounts remove`, may
 * change the table while serve runs). Removed accounts stay alive until
 * the last request using them ends. Proxy thread, except the work
 * callbacks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "provider.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

/* A change made by the CLI is in force within about this long (< 1 s). */
#define ACCOUNTS_WATCH_MS 500

struct accounts_watch {
	struct server		*srv;
	uv_timer_t		 timer;
	uv_work_t		 work;
	int			 running;
	int			 force;		/* reload even if unchanged */
	int			 work_force;	/* force, as the work sees it */
	int			 again;
	int			 stopped;
	struct store		*store;		/* pool-thread connection */
	int64_t			 data_version;
	int64_t			 changes;	/* store_changes at the last load */
	int			 changed;
	struct store_account	*rows;
	size_t			 nrows;
	struct store_key	*krows;
	size_t			 nkrows;
	char			*err;
};

static void
account_close_cb(uv_handle_t *h)
{
	struct account	*a = h->data;

	if (--a->closes > 0)
		return;

	store_account_release(&a->sa);
	if (a->token != NULL)
		explicit_bzero(a->token, strlen(a->token));
	free(a->token);
	free(a->api_base);
	free(a->last_error);
	json_object_put(a->models);
	free(a);
}

/* Frees an account that is out of the list and unused. */
static void
account_free(struct account *a)
{
	token_stop(a);
	models_stop(a);
	limits_stop(a);
	a->closes = 2;
	uv_close((uv_handle_t *)&a->timer, account_close_cb);
	uv_close((uv_handle_t *)&a->qtimer, account_close_cb);
}

/* Creates an account from a row (takes the row's strings). */
static struct account *
account_new(struct server *srv, struct store_account *row)
{
	struct account	*a = xcalloc(1, sizeof *a);

	a->srv = srv;
	a->sa = *row;
	memset(row, 0, sizeof *row);
	a->ops = provider_find(a->sa.provider);
	TAILQ_INIT(&a->waiters);
	TAILQ_INIT(&a->mwaiters);
	uv_timer_init(&srv->loop, &a->timer);
	a->timer.data = a;
	TAILQ_INIT(&a->queue);
	uv_timer_init(&srv->loop, &a->qtimer);
	a->qtimer.data = a;
	return (a);
}

/* Drops an account from the list; freed now or when its last user ends. */
static void
account_remove(struct server *srv, struct account *a, int quiet)
{
	TAILQ_REMOVE(&srv->accounts, a, entry);
	a->removed = 1;
	if (!quiet)
		log_ev(LOG_LEVEL_INFO, NULL, "account removed",
		    LF_STR("account", a->sa.label));
	token_stop(a);
	models_stop(a);
	limits_stop(a);
	if (a->refs == 0)
		account_free(a);
}

void
accounts_load(struct server *srv, struct store_account *rows, size_t n)
{
	struct account	*a, *next;
	size_t		 i;
	int		 found;

	/* Drop accounts that are gone; refresh the ones that changed. */
	for (a = TAILQ_FIRST(&srv->accounts); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		found = 0;
		for (i = 0; i < n; i++) {
			if (rows[i].id != a->sa.id || rows[i].provider == NULL)
				continue;
			found = 1;
			if (strcmp(rows[i].token, a->sa.token) != 0) {
				/* A new login: its Copilot token is stale. */
				token_invalidate(a, a->token);
			}
			store_account_release(&a->sa);
			a->sa = rows[i];
			memset(&rows[i], 0, sizeof rows[i]);
			break;
		}
		if (!found)
			account_remove(srv, a, 0);
	}
	for (i = 0; i < n; i++) {
		if (rows[i].provider == NULL)
			continue;
		if (provider_find(rows[i].provider) == NULL) {
			log_ev(LOG_LEVEL_WARN, NULL, "account with an unknown "
			    "provider ignored", LF_STR("provider",
			    rows[i].provider), LF_INT("id", rows[i].id));
			continue;
		}
		a = account_new(srv, &rows[i]);
		TAILQ_INSERT_TAIL(&srv->accounts, a, entry);
		log_ev(LOG_LEVEL_INFO, NULL, "account loaded",
		    LF_STR("account", a->sa.label), LF_STR("login",
		    a->sa.login), LF_STR("provider", a->sa.provider));
	}
	store_accounts_free(rows, n);
}

struct account *
accounts_default(struct server *srv)
{
	return (TAILQ_FIRST(&srv->accounts));
}

struct account *
accounts_find(struct server *srv, int64_t id)
{
	struct account	*a;

	TAILQ_FOREACH(a, &srv->accounts, entry)
		if (a->sa.id == id)
			return (a);
	return (NULL);
}

void
account_ref(struct account *a)
{
	a->refs++;
}

void
account_unref(struct account *a)
{
	if (--a->refs == 0 && a->removed)
		account_free(a);
}

/* Pool thread: checks data_version and reads the accounts if needed. */
static void
accounts_watch_work_cb(uv_work_t *w)
{
	struct accounts_watch	*aw = w->data;
	int64_t			 v, c;

	aw->changed = 0;
	if (aw->store == NULL && (aw->store = store_open(
	    aw->srv->paths.db_file, STORE_RO, &aw->err)) == NULL)
		return;
	if (store_data_version(aw->store, &v) != 0) {
		aw->err = xstrdup("cannot read data_version");
		return;
	}
	if (v == aw->data_version && !aw->work_force)
		return;
	/* Another write (the request log's, say): nothing to reload. */
	if (store_changes(aw->store, &c) != 0) {
		aw->err = xstrdup("cannot read the change counter");
		return;
	}
	if (c == aw->changes && !aw->work_force) {
		aw->data_version = v;
		return;
	}
	/* Only a complete read moves the version on: else, retry. */
	if (store_accounts_list(aw->store, &aw->rows, &aw->nrows,
	    &aw->err) == 0 && store_keys_list(aw->store, &aw->krows,
	    &aw->nkrows, &aw->err) == 0) {
		aw->data_version = v;
		aw->changes = c;
		aw->changed = 1;
	}
}

static void	accounts_watch_kick(struct accounts_watch *);

static void
accounts_watch_after_cb(uv_work_t *w, int status)
{
	struct accounts_watch	*aw = w->data;

	aw->running = 0;
	if (aw->err != NULL) {
		log_ev(LOG_LEVEL_WARN, NULL, "cannot reload accounts",
		    LF_STR("error", aw->err));
		free(aw->err);
		aw->err = NULL;
	}
	if (aw->changed && !aw->stopped) {
		log_ev(LOG_LEVEL_DEBUG, NULL, "accounts and keys reloaded",
		    LF_INT("accounts", aw->nrows), LF_INT("keys", aw->nkrows));
		accounts_load(aw->srv, aw->rows, aw->nrows);
		auth_load(aw->srv, aw->krows, aw->nkrows);
	} else {
		store_accounts_free(aw->rows, aw->nrows);
		store_keys_free(aw->krows, aw->nkrows);
	}
	aw->rows = NULL;
	aw->nrows = 0;
	aw->krows = NULL;
	aw->nkrows = 0;
	if (aw->again && !aw->stopped) {
		aw->again = 0;
		accounts_watch_kick(aw);
	}
}

/* Starts a check on the pool unless one is running. */
static void
accounts_watch_kick(struct accounts_watch *aw)
{
	if (aw->stopped)
		return;
	if (aw->running) {
		aw->again = 1;
		return;
	}
	aw->running = 1;
	/* The pool thread reads only work_force while the work runs. */
	aw->work_force = aw->force;
	aw->force = 0;
	if (uv_queue_work(&aw->srv->loop, &aw->work, accounts_watch_work_cb,
	    accounts_watch_after_cb) != 0)
		aw->running = 0;
}

static void
accounts_watch_timer_cb(uv_timer_t *t)
{
	accounts_watch_kick(t->data);
}

void
accounts_watch_start(struct server *srv)
{
	struct accounts_watch	*aw = xcalloc(1, sizeof *aw);

	aw->srv = srv;
	aw->data_version = -1;
	aw->changes = -1;
	aw->work.data = aw;
	uv_timer_init(&srv->loop, &aw->timer);
	aw->timer.data = aw;
	uv_timer_start(&aw->timer, accounts_watch_timer_cb, ACCOUNTS_WATCH_MS,
	    ACCOUNTS_WATCH_MS);
	srv->accounts_watch = aw;
}

void
accounts_reload(struct server *srv)
{
	struct accounts_watch	*aw = srv->accounts_watch;

	if (aw == NULL)
		return;
	aw->force = 1;
	accounts_watch_kick(aw);
}

static void
accounts_watch_close_cb(uv_handle_t *h)
{
	(void)h;
}

void
accounts_watch_stop(struct server *srv)
{
	struct accounts_watch	*aw = srv->accounts_watch;

	if (aw == NULL || aw->stopped)
		return;
	aw->stopped = 1;
	uv_timer_stop(&aw->timer);
	uv_close((uv_handle_t *)&aw->timer, accounts_watch_close_cb);
}

void
accounts_watch_free(struct server *srv)
{
	struct accounts_watch	*aw = srv->accounts_watch;

	if (aw == NULL)
		return;
	store_close(aw->store);
	store_accounts_free(aw->rows, aw->nrows);
	store_keys_free(aw->krows, aw->nkrows);
	free(aw->err);
	free(aw);
	srv->accounts_watch = NULL;
}

void
accounts_shutdown(struct server *srv)
{
	struct account	*a;

	accounts_watch_stop(srv);
	while ((a = TAILQ_FIRST(&srv->accounts)) != NULL)
		account_remove(srv, a, 1);
}

void
accounts_status(struct server *srv, struct json_object *o)
{
	struct json_object	*arr, *e;
	struct account		*a;
	int64_t			 now = time(NULL);

	arr = json_object_new_array();
	TAILQ_FOREACH(a, &srv->accounts, entry) {
		e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_int64(a->sa.id));
		json_object_object_add(e, "label",
		    json_object_new_string(a->sa.label));
		json_object_object_add(e, "provider",
		    json_object_new_string(a->sa.provider));
		json_object_object_add(e, "login",
		    json_object_new_string(a->sa.login));
		json_object_object_add(e, "token", json_object_new_string(
		    token_state_name(a->state)));
		if (a->token != NULL)
			json_object_object_add(e, "token_expires_in",
			    json_object_new_int64(a->expires_at - now));
		json_object_object_add(e, "token_exchanges",
		    json_object_new_int64((int64_t)a->exchanges));
		if (a->last_error != NULL)
			json_object_object_add(e, "last_error",
			    json_object_new_string(a->last_error));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "accounts", arr);
}
