/* SPDX-License-Identifier: ISC */
/*
 * proxy: the proxy thread and its lifecycle. proxy_new builds the server
 * on the calling thread (loop, listener, store check) so that errors
 * reach the command line; proxy_start runs the loop on a named thread
 * that has every signal blocked, so SIGINT/SIGTERM/SIGHUP/SIGWINCH reach
 * the front end. Commands arrive through a chan woken by uv_async_send;
 * events leave through the front end's chan. Shutdown stops accepting,
 * lets requests finish until timeouts.shutdown, closes everything and
 * requires uv_loop_close to return 0.
 *
 * Once the proxy has been idle for a second after some work, free memory
 * is handed back to the kernel (malloc_trim on a pool thread): glibc keeps
 * what a burst of requests freed in its arenas otherwise, and a gateway
 * spends most of its life idle.
 */
#define _GNU_SOURCE	/* pthread_setname_np */
#include "proxy.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__	/* defined by the headers above */
#include <malloc.h>
#endif

#include "chan.h"
#include "log.h"
#include "msg.h"
#include "server.h"
#include "store.h"
#include "upstream.h"
#include "xmalloc.h"

#define PROXY_TRIM_MS	1000	/* idle this long: trim the heap */

struct proxy {
	struct server	 srv;
	uv_timer_t	 trim_timer;
	uv_work_t	 trim_work;
	uint64_t	 trim_seen;	/* requests_total at the last tick */
	int		 trim_dirty;	/* work done since the last trim */
	int		 trimming;
	uv_thread_t	 thread;
	int		 started;
	int		 joined;
	int		 exit_status;
	pthread_mutex_t	 wake_mtx;
	int		 async_live;
};

/* The proxy that embeds a server (container_of). */
#define proxy_of(s) \
	((struct proxy *)(void *)((char *)(s) - offsetof(struct proxy, srv)))

static void	server_shutdown(struct server *, int now);

/* Pool thread: returns the free memory of every arena to the kernel. */
static void
proxy_trim_work(uv_work_t *w)
{
	(void)w;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void
proxy_trim_done(uv_work_t *w, int status)
{
	struct proxy	*p = w->data;

	(void)status;
	p->trimming = 0;
}

/*
 * Every PROXY_TRIM_MS: trims once no request has started for a whole
 * period and no upstream transfer is running, if anything ran since the
 * last trim (start-up counts).
 */
static void
proxy_trim_cb(uv_timer_t *t)
{
	struct proxy	*p = t->data;
	struct server	*srv = &p->srv;

	if (srv->requests_total != p->trim_seen) {
		p->trim_seen = srv->requests_total;
		p->trim_dirty = 1;
		return;
	}
	if (!p->trim_dirty || p->trimming || srv->shutting_down ||
	    (srv->upstream != NULL && upstream_active(srv->upstream) > 0))
		return;
	p->trim_dirty = 0;
	if (srv->upstream != NULL)
		upstream_trim(srv->upstream);
	p->trim_work.data = p;
	if (uv_queue_work(&srv->loop, &p->trim_work, proxy_trim_work,
	    proxy_trim_done) == 0)
		p->trimming = 1;
}

int64_t
server_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
server_event(struct server *srv, int type, int64_t i, const char *text)
{
	if (srv->events != NULL)
		chan_post(srv->events, msg_new((enum msg_type)type, i, text));
}

void
server_event_data(struct server *srv, int type, uint64_t corr, int64_t i,
    const char *text, struct json_object *data)
{
	struct msg	*m;

	if (srv->events == NULL) {
		json_object_put(data);
		return;
	}
	m = msg_new_data((enum msg_type)type, i, text, data);
	m->corr = corr;
	chan_post(srv->events, m);
}

/* Any thread: wakes the loop if it is still there to be woken. */
static void
proxy_wake_cb(void *arg)
{
	struct proxy	*p = arg;

	pthread_mutex_lock(&p->wake_mtx);
	if (p->async_live)
		uv_async_send(&p->srv.cmd_async);
	pthread_mutex_unlock(&p->wake_mtx);
}

/* Handles the commands posted by the front end. */
static void
proxy_async_cb(uv_async_t *a)
{
	struct server	*srv = a->data;
	struct msg	*m, *next;

	for (m = chan_drain(srv->cmds); m != NULL; m = next) {
		next = m->next;
		switch (m->type) {
		case MSG_CMD_SHUTDOWN:
			server_shutdown(srv, m->i != 0);
			break;
		case MSG_CMD_RELOAD:
			log_info("reloading the config file");
			cfgwatch_reload(srv->cfgwatch);
			break;
		case MSG_CMD_LOGIN_START:
			if (srv->shutting_down)
				server_event_data(srv, MSG_EV_LOGIN_DONE,
				    m->corr, -1, "the gateway is shutting down",
				    NULL);
			else
				login_start(srv, m->corr, m->data);
			break;
		case MSG_CMD_LOGIN_CANCEL:
			login_cancel(srv, m->corr);
			break;
		default:
			log_ev(LOG_LEVEL_WARN, NULL, "unexpected message",
			    LF_STR("type", msg_type_name(m->type)));
			break;
		}
		msg_free(m);
	}
}

static void
proxy_shutdown_timer_cb(uv_timer_t *t)
{
	struct server	*srv = t->data;

	log_ev(LOG_LEVEL_WARN, NULL, "shutdown deadline reached; closing "
	    "connections", LF_INT("connections", srv->nconns));
	conn_close_all(srv);
	server_maybe_finish(srv);
}

/* Begins a graceful (or, with now, immediate) shutdown. */
static void
server_shutdown(struct server *srv, int now)
{
	if (!srv->shutting_down) {
		srv->shutting_down = 1;
		log_ev(LOG_LEVEL_INFO, NULL, "shutting down",
		    LF_INT("connections", srv->nconns),
		    LF_INT("deadline_ms", srv->cfg.shutdown_timeout_ms));
		listen_stop(srv);
		conn_drain_all(srv);
		if (srv->nconns > 0)
			uv_timer_start(&srv->shutdown_timer,
			    proxy_shutdown_timer_cb,
			    srv->cfg.shutdown_timeout_ms, 0);
	}
	if (now && srv->nconns > 0) {
		log_warnx("immediate shutdown: closing connections");
		conn_close_all(srv);
	}
	server_maybe_finish(srv);
}

void
server_maybe_finish(struct server *srv)
{
	struct proxy	*p = proxy_of(srv);

	if (!srv->shutting_down || srv->nconns > 0 || srv->stopping_done)
		return;
	srv->stopping_done = 1;
	uv_timer_stop(&srv->shutdown_timer);
	uv_close((uv_handle_t *)&srv->shutdown_timer, NULL);
	uv_close((uv_handle_t *)&p->trim_timer, NULL);
	uv_close((uv_handle_t *)&srv->flush_prepare, NULL);
	uv_close((uv_handle_t *)&srv->flush_check, NULL);
	cfgwatch_stop(srv->cfgwatch);
	login_shutdown(srv);
	accounts_shutdown(srv);
	reqlog_stop(srv->reqlog);
	if (srv->upstream != NULL)
		upstream_shutdown(srv->upstream);
	srv->upstream = NULL;
	pthread_mutex_lock(&p->wake_mtx);
	p->async_live = 0;
	pthread_mutex_unlock(&p->wake_mtx);
	uv_close((uv_handle_t *)&srv->cmd_async, NULL);
}

/* Logs a handle left open at loop close. */
static void
proxy_walk_cb(uv_handle_t *h, void *arg)
{
	log_ev(LOG_LEVEL_ERROR, NULL, "handle left open at shutdown",
	    LF_STR("type", uv_handle_type_name(h->type)),
	    LF_BOOL("closing", uv_is_closing(h)));
}

/* Runs the loop to the end and closes it; returns the exit status. */
static int
proxy_run_loop(struct proxy *p)
{
	struct server	*srv = &p->srv;
	int		 rc;

	uv_run(&srv->loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&srv->loop)) != 0) {
		uv_walk(&srv->loop, proxy_walk_cb, NULL);
		log_ev(LOG_LEVEL_ERROR, NULL, "event loop did not close "
		    "cleanly", LF_STR("error", uv_strerror(rc)));
		return (1);
	}
	return (0);
}

static void
proxy_main(void *arg)
{
	struct proxy	*p = arg;
	struct server	*srv = &p->srv;
	char		*cause = NULL;

	log_set_thread_name("proxy");
	pthread_setname_np(pthread_self(), "gw-proxy");
	/* Every curl call happens on this thread, from the first one on. */
	if ((srv->upstream = upstream_new(&srv->loop, &cause)) == NULL) {
		log_ev(LOG_LEVEL_ERROR, NULL, "cannot start the upstream "
		    "client", LF_STR("error", cause));
		free(cause);
		server_shutdown(srv, 1);
		proxy_run_loop(p);
		p->exit_status = 1;
		cfgwatch_free(srv->cfgwatch);
		srv->cfgwatch = NULL;
		accounts_watch_free(srv);
		server_event(srv, MSG_EV_STOPPED, 1, NULL);
		return;
	}
	uv_update_time(&srv->loop);
	srv->started_ms = uv_now(&srv->loop);
	if (!srv->no_listen)
		log_ev(LOG_LEVEL_INFO, NULL, "listening",
		    LF_STR("address", srv->address), LF_STR("config",
		    srv->paths.config_file), LF_STR("database",
		    srv->paths.db_file));
	accounts_watch_start(srv);
	uv_timer_start(&p->trim_timer, proxy_trim_cb, PROXY_TRIM_MS,
	    PROXY_TRIM_MS);
	if (!srv->no_listen)
		login_resume_all(srv);
	server_event(srv, MSG_EV_STARTED, 0, srv->address);
	p->exit_status = proxy_run_loop(p);
	cfgwatch_free(srv->cfgwatch);
	srv->cfgwatch = NULL;
	accounts_watch_free(srv);
	log_ev(LOG_LEVEL_INFO, NULL, "stopped",
	    LF_INT("status", p->exit_status),
	    LF_INT("requests_total", srv->requests_total));
	server_event(srv, MSG_EV_STOPPED, p->exit_status, NULL);
}

struct proxy *
proxy_new(const struct config *cfg, const struct paths *paths,
    struct chan *events, int flags, char **cause)
{
	struct proxy		*p = xcalloc(1, sizeof *p);
	struct server		*srv = &p->srv;
	struct store		*st;
	struct store_account	*rows;
	struct store_key	*krows;
	size_t			 nrows, nkrows;
	int			 rc;

	pthread_mutex_init(&p->wake_mtx, NULL);
	if ((rc = uv_loop_init(&srv->loop)) != 0) {
		*cause = xasprintf("cannot create event loop: %s",
		    uv_strerror(rc));
		pthread_mutex_destroy(&p->wake_mtx);
		free(p);
		return (NULL);
	}
	config_dup(&srv->cfg, cfg);
	paths_copy(&srv->paths, paths);
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->accounts);
	TAILQ_INIT(&srv->logins);
	TAILQ_INIT(&srv->keys);
	srv->no_listen = (flags & PROXY_NO_LISTEN) != 0;
	srv->events = events;
	srv->cmds = chan_new(proxy_wake_cb, p);
	srv->started_wall = server_wall_ms() / 1000;
	srv->config_loaded_at = srv->started_wall;
	uv_async_init(&srv->loop, &srv->cmd_async, proxy_async_cb);
	srv->cmd_async.data = srv;
	p->async_live = 1;
	uv_timer_init(&srv->loop, &srv->shutdown_timer);
	srv->shutdown_timer.data = srv;
	uv_timer_init(&srv->loop, &p->trim_timer);
	p->trim_timer.data = p;
	uv_unref((uv_handle_t *)&p->trim_timer);
	p->trim_dirty = 1;
	TAILQ_INIT(&srv->flushq);
	uv_prepare_init(&srv->loop, &srv->flush_prepare);
	srv->flush_prepare.data = srv;
	uv_check_init(&srv->loop, &srv->flush_check);
	srv->flush_check.data = srv;

	/* Check the store now: the writer reopens it on a pool thread. */
	if ((st = store_open(paths->db_file, STORE_RW | STORE_CREATE,
	    cause)) == NULL || store_migrate(st, cause) != 0 ||
	    store_accounts_list(st, &rows, &nrows, cause) != 0) {
		store_close(st);
		goto fail;
	}
	if (store_keys_list(st, &krows, &nkrows, cause) != 0) {
		store_accounts_free(rows, nrows);
		store_close(st);
		goto fail;
	}
	store_close(st);
	accounts_load(srv, rows, nrows);
	auth_load(srv, krows, nkrows);
	if (!srv->no_listen && listen_start(srv, cause) != 0)
		goto fail;
	srv->reqlog = reqlog_new(srv, cause);
	srv->cfgwatch = cfgwatch_new(srv);
	return (p);
fail:
	proxy_free(p);
	return (NULL);
}

int
proxy_start(struct proxy *p, char **cause)
{
	sigset_t	 all, old;
	int		 rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = uv_thread_create(&p->thread, proxy_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		*cause = xasprintf("cannot start the proxy thread: %s",
		    uv_strerror(rc));
		return (-1);
	}
	p->started = 1;
	return (0);
}

void
proxy_post(struct proxy *p, struct msg *m)
{
	chan_post(p->srv.cmds, m);
}

int
proxy_join(struct proxy *p)
{
	if (p->started && !p->joined) {
		uv_thread_join(&p->thread);
		p->joined = 1;
	}
	return (p->exit_status);
}

const char *
proxy_address(const struct proxy *p)
{
	return (p->srv.address);
}

void
proxy_free(struct proxy *p)
{
	struct server	*srv;

	if (p == NULL)
		return;
	srv = &p->srv;
	if (!p->started) {
		/* Never ran: close what proxy_new opened, on this thread. */
		server_shutdown(srv, 1);
		proxy_run_loop(p);
		cfgwatch_free(srv->cfgwatch);
	} else
		proxy_join(p);
	reqlog_free(srv->reqlog);
	auth_free_all(srv);
	chan_free(srv->cmds);
	config_release(&srv->cfg);
	paths_release(&srv->paths);
	free(srv->config_error);
	pthread_mutex_destroy(&p->wake_mtx);
	free(p);
}
