/* SPDX-License-Identifier: ISC */
/*
 * cfgwatch: hot reload of the config file. A uv_fs_event watches the
 * directory (editors and atomic writers replace the file, which a watch
 * on the file itself would lose); changes are debounced, then the file is
 * read and validated on a pool thread. A valid config replaces the one in
 * force (keys that need a restart keep their old value, with a warning);
 * an invalid one is refused with a logged error and the old config stays.
 * Proxy thread, except cfgwatch_work_cb.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "server.h"
#include "xmalloc.h"

#define CFGWATCH_DEBOUNCE_MS 150

struct cfgwatch {
	struct server	*srv;
	uv_fs_event_t	 ev;
	uv_timer_t	 debounce;
	uv_work_t	 work;
	int		 watching;
	int		 loading;
	int		 again;		/* a change arrived during a load */
	int		 stopped;
	char		*dir;
	char		*base;
	struct config	 next;		/* built on the pool thread */
	int		 rc;
	char		*cause;
};

static void	cfgwatch_start_load(struct cfgwatch *);

/* Pool thread: reads and validates the file into w->next. */
static void
cfgwatch_work_cb(uv_work_t *w)
{
	struct cfgwatch	*cw = w->data;

	cw->rc = config_load(&cw->next, cw->srv->paths.config_file,
	    &cw->cause);
}

/* Applies a validated config on the loop thread. */
static void
cfgwatch_apply(struct cfgwatch *cw)
{
	struct server	*srv = cw->srv;
	struct config	*next = &cw->next;
	char		*old_text, *new_text;
	int		 k, changed = 0;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (!config_key_differs(&srv->cfg, next, k))
			continue;
		old_text = config_value_text(&srv->cfg, k, 1);
		new_text = config_value_text(next, k, 1);
		if (config_key_flags(k) & CONFIG_F_RESTART) {
			log_ev(LOG_LEVEL_WARN, NULL, "config change needs a "
			    "restart", LF_STR("key", config_key_name(k)),
			    LF_STR("running", old_text),
			    LF_STR("new", new_text));
			/* Keep the value in force. */
			config_set(next, config_key_name(k), old_text,
			    srv->cfg.source[k], &cw->cause);
			free(cw->cause);
			cw->cause = NULL;
		} else {
			log_ev(LOG_LEVEL_INFO, NULL, "config changed",
			    LF_STR("key", config_key_name(k)),
			    LF_STR("old", old_text), LF_STR("new", new_text));
			changed++;
		}
		free(old_text);
		free(new_text);
	}
	config_release(&srv->cfg);
	memcpy(&srv->cfg, next, sizeof srv->cfg);
	memset(next, 0, sizeof *next);
	log_set_level((enum log_level)srv->cfg.log_level);
	free(srv->config_error);
	srv->config_error = NULL;
	srv->config_loaded_at = server_wall_ms() / 1000;
	log_ev(LOG_LEVEL_INFO, NULL, "config reloaded",
	    LF_INT("changed", changed));
	server_event(srv, MSG_EV_CONFIG, 0, NULL);
}

static void
cfgwatch_after_cb(uv_work_t *w, int status)
{
	struct cfgwatch	*cw = w->data;
	struct server	*srv = cw->srv;

	cw->loading = 0;
	if (cw->stopped || status == UV_ECANCELED) {
		config_release(&cw->next);
		free(cw->cause);
		cw->cause = NULL;
		return;
	}
	if (cw->rc == 0)
		cfgwatch_apply(cw);
	else {
		log_ev(LOG_LEVEL_ERROR, NULL, "config reload refused; the "
		    "running config stays in force",
		    LF_STR("error", cw->cause));
		free(srv->config_error);
		srv->config_error = cw->cause;
		server_event(srv, MSG_EV_CONFIG, -1, cw->cause);
		cw->cause = NULL;
		config_release(&cw->next);
	}
	if (cw->again) {
		cw->again = 0;
		cfgwatch_start_load(cw);
	}
}

/* Starts reading the file on the pool. */
static void
cfgwatch_start_load(struct cfgwatch *cw)
{
	struct server	*srv = cw->srv;
	size_t		 i;

	if (cw->stopped)
		return;
	if (cw->loading) {
		cw->again = 1;
		return;
	}
	memset(&cw->next, 0, sizeof cw->next);
	/* Command-line overrides still apply on top of the new file. */
	for (i = 0; i < srv->cfg.nflags; i++)
		config_add_flag(&cw->next, srv->cfg.flags[i].key,
		    srv->cfg.flags[i].value);
	cw->loading = 1;
	if (uv_queue_work(&srv->loop, &cw->work, cfgwatch_work_cb,
	    cfgwatch_after_cb) != 0) {
		cw->loading = 0;
		config_release(&cw->next);
	}
}

static void
cfgwatch_debounce_cb(uv_timer_t *t)
{
	cfgwatch_start_load(t->data);
}

static void
cfgwatch_event_cb(uv_fs_event_t *ev, const char *filename, int events,
    int status)
{
	struct cfgwatch	*cw = ev->data;

	if (status < 0 || cw->stopped)
		return;
	if (filename != NULL && strcmp(filename, cw->base) != 0)
		return;
	uv_timer_start(&cw->debounce, cfgwatch_debounce_cb,
	    CFGWATCH_DEBOUNCE_MS, 0);
}

struct cfgwatch *
cfgwatch_new(struct server *srv)
{
	struct cfgwatch	*cw = xcalloc(1, sizeof *cw);
	char		*a, *b;
	int		 rc;

	cw->srv = srv;
	a = xstrdup(srv->paths.config_file);
	b = xstrdup(srv->paths.config_file);
	cw->dir = xstrdup(dirname(a));
	cw->base = xstrdup(basename(b));
	free(a);
	free(b);
	cw->work.data = cw;
	uv_timer_init(&srv->loop, &cw->debounce);
	cw->debounce.data = cw;
	uv_fs_event_init(&srv->loop, &cw->ev);
	cw->ev.data = cw;
	if ((rc = uv_fs_event_start(&cw->ev, cfgwatch_event_cb, cw->dir,
	    0)) != 0)
		log_ev(LOG_LEVEL_WARN, NULL, "cannot watch the config file; "
		    "reload with SIGHUP", LF_STR("dir", cw->dir),
		    LF_STR("error", uv_strerror(rc)));
	else
		cw->watching = 1;
	return (cw);
}

void
cfgwatch_reload(struct cfgwatch *cw)
{
	if (cw != NULL)
		cfgwatch_start_load(cw);
}

static void
cfgwatch_close_cb(uv_handle_t *h)
{
	(void)h;
}

void
cfgwatch_stop(struct cfgwatch *cw)
{
	if (cw == NULL || cw->stopped)
		return;
	cw->stopped = 1;
	uv_close((uv_handle_t *)&cw->ev, cfgwatch_close_cb);
	uv_close((uv_handle_t *)&cw->debounce, cfgwatch_close_cb);
}

void
cfgwatch_free(struct cfgwatch *cw)
{
	if (cw == NULL)
		return;
	if (cw->loading)
		BUG("cfgwatch freed during a load");
	config_release(&cw->next);
	free(cw->dir);
	free(cw->base);
	free(cw);
}
