/* SPDX-License-Identifier: ISC */
/*
 * reqlog: the batched writer for per-request rows (the request log now,
 * usage rows later). Rows are queued in memory on the proxy thread and a
 * uv_timer hands them, once a second, to a libuv pool thread that writes
 * them in one BEGIN IMMEDIATE transaction on its own connection. The loop
 * thread never touches SQLite. The queue is bounded: past REQLOG_MAX rows
 * the oldest are dropped and counted. Proxy thread, except reqlog_work_cb.
 *
 * The pool thread that writes lowers its own scheduling priority first:
 * the write takes milliseconds of CPU once a second, and on a busy core it
 * would otherwise delay the loop thread's requests (the benchmark showed
 * it as most of the c=1 p99 tail).
 */
#include <sys/resource.h>
#include <sys/syscall.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "store.h"
#include "provider.h"
#include "xmalloc.h"

#define REQLOG_MAX		10000
#define REQLOG_FLUSH_MS		1000
#define REQLOG_HIGH		1000	/* flush early past this many rows */

struct reqlog_row {
	int64_t		 ts_ms;
	char		*rid;
	const char	*method;	/* static */
	char		*path;
	int		 status;
	int64_t		 duration_ms;
	int64_t		 bytes_in;
	int64_t		 bytes_out;
};

struct reqlog_audit {
	char	*actor;
	char	*action;
	char	*target;
	char	*detail;
};

#define REQLOG_AUDIT_MAX	256	/* per flush; the rest are counted */
#define REQLOG_NICE		10	/* the writer's priority: background */
/* Of those, auth failures may take this many: a flood of bad keys must
 * not crowd out admin calls and logins. */
#define REQLOG_AUDIT_FAIL_MAX	192

struct reqlog {
	struct server		*srv;
	struct reqlog_audit	*audit;
	size_t			 naudit;
	size_t			 naudit_fail;	/* auth.failure among them */
	uint64_t		 audit_suppressed;
	struct reqlog_audit	*faudit;
	size_t			 fnaudit;
	uint64_t		 fsuppressed;
	char			**ftouch;	/* key ids used since the last flush */
	size_t			 fntouch;
	int64_t			 ftouch_ms;
	int64_t			 touched_ms;
	uv_timer_t		 timer;
	struct reqlog_row	*rows;
	size_t			 n;
	uint64_t		 dropped;

	uv_work_t		 work;
	int			 flushing;
	struct reqlog_row	*frows;
	size_t			 fn;
	int			 frc;
	char			*ferr;

	char			*db_path;
	struct store		*store;		/* pool-thread connection */
	char			*last_error;
	int64_t			 last_flush_ms;
	uint64_t		 written;
	int			 stopping;
};

static void	reqlog_flush(struct reqlog *);

static void
reqlog_audit_free(struct reqlog_audit *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(a[i].actor);
		free(a[i].action);
		free(a[i].target);
		free(a[i].detail);
	}
	free(a);
}

void
reqlog_audit(struct reqlog *rl, const char *actor, const char *action,
    const char *target, const char *detail)
{
	struct reqlog_audit	*a;
	int			 fail;

	if (rl == NULL)
		return;
	fail = strcmp(action, "auth.failure") == 0;
	if (rl->naudit == REQLOG_AUDIT_MAX ||
	    (fail && rl->naudit_fail == REQLOG_AUDIT_FAIL_MAX)) {
		/* A flood (say, a burst of bad keys): count, do not store. */
		rl->audit_suppressed++;
		return;
	}
	rl->naudit_fail += fail;
	if (rl->audit == NULL)
		rl->audit = xcalloc(REQLOG_AUDIT_MAX, sizeof *rl->audit);
	a = &rl->audit[rl->naudit++];
	a->actor = xstrdup(actor);
	a->action = xstrdup(action);
	a->target = xstrdup(target != NULL ? target : "");
	a->detail = xstrdup(detail != NULL ? detail : "");
}

static void
reqlog_rows_free(struct reqlog_row *rows, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(rows[i].rid);
		free(rows[i].path);
	}
	free(rows);
}

static void
reqlog_timer_cb(uv_timer_t *t)
{
	reqlog_flush(t->data);
}

struct reqlog *
reqlog_new(struct server *srv, char **cause)
{
	struct reqlog	*rl = xcalloc(1, sizeof *rl);

	rl->srv = srv;
	rl->db_path = xstrdup(srv->paths.db_file);
	rl->rows = xcalloc(REQLOG_MAX, sizeof *rl->rows);
	uv_timer_init(&srv->loop, &rl->timer);
	rl->timer.data = rl;
	rl->work.data = rl;
	uv_timer_start(&rl->timer, reqlog_timer_cb, REQLOG_FLUSH_MS,
	    REQLOG_FLUSH_MS);
	return (rl);
}

void
reqlog_add(struct reqlog *rl, const struct req *r)
{
	struct reqlog_row	*row;

	if (rl == NULL)
		return;
	if (rl->n == REQLOG_MAX) {
		/* Full: drop the oldest row, keep the newest. */
		free(rl->rows[0].rid);
		free(rl->rows[0].path);
		memmove(&rl->rows[0], &rl->rows[1],
		    (REQLOG_MAX - 1) * sizeof rl->rows[0]);
		rl->n--;
		if (rl->dropped++ == 0)
			log_warnx("request log queue full: dropping rows");
	}
	row = &rl->rows[rl->n++];
	row->ts_ms = r->wall_ms;
	row->rid = xstrdup(r->rid);
	row->method = r->method;
	row->path = xstrdup(r->path != NULL ? r->path : "-");
	row->status = r->status;
	row->duration_ms = (int64_t)((uv_hrtime() - r->t_start) / 1000000);
	row->bytes_in = (int64_t)r->bytes_in;
	row->bytes_out = (int64_t)r->bytes_out;
	if (rl->n >= REQLOG_HIGH && !rl->flushing)
		reqlog_flush(rl);
}

/* Pool thread: writes the detached batch with the writer connection. */
/* Background priority for the calling pool thread, once per thread. */
static void
reqlog_lower_priority(void)
{
#ifdef SYS_gettid
	static __thread int	 lowered;

	if (lowered)
		return;
	lowered = 1;
	/* Linux: a thread's nice value is its own; failure is harmless. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    REQLOG_NICE);
#endif
}

static void
reqlog_work_cb(uv_work_t *w)
{
	struct reqlog		*rl = w->data;
	struct store_request	*rows;
	size_t			 i;

	rl->frc = 0;
	reqlog_lower_priority();
	if (rl->store == NULL &&
	    (rl->store = store_open(rl->db_path, STORE_RW, &rl->ferr)) ==
	    NULL) {
		rl->frc = -1;
		return;
	}
	/* A flush may carry only audit rows or key touches. */
	rows = rl->fn > 0 ? xcalloc(rl->fn, sizeof *rows) : NULL;
	for (i = 0; i < rl->fn; i++) {
		rows[i].ts_ms = rl->frows[i].ts_ms;
		rows[i].request_id = rl->frows[i].rid;
		rows[i].method = rl->frows[i].method;
		rows[i].path = rl->frows[i].path;
		rows[i].status = rl->frows[i].status;
		rows[i].duration_ms = rl->frows[i].duration_ms;
		rows[i].bytes_in = rl->frows[i].bytes_in;
		rows[i].bytes_out = rl->frows[i].bytes_out;
	}
	rl->frc = store_requests_insert(rl->store, rows, rl->fn, &rl->ferr);
	free(rows);
	for (i = 0; rl->frc == 0 && i < rl->fnaudit; i++)
		rl->frc = store_audit_add(rl->store, rl->faudit[i].actor,
		    rl->faudit[i].action, rl->faudit[i].target,
		    rl->faudit[i].detail, &rl->ferr);
	if (rl->frc == 0 && rl->fsuppressed > 0) {
		char	 d[64];

		snprintf(d, sizeof d, "%llu more not recorded",
		    (unsigned long long)rl->fsuppressed);
		rl->frc = store_audit_add(rl->store, "system",
		    "audit.suppressed", "", d, &rl->ferr);
	}
	if (rl->frc == 0)
		rl->frc = store_keys_touch(rl->store, rl->ftouch, rl->fntouch,
		    rl->ftouch_ms, &rl->ferr);
}

/* Loop thread: the batch is written (or failed); maybe start another. */
static void
reqlog_after_cb(uv_work_t *w, int status)
{
	struct reqlog	*rl = w->data;
	size_t		 i;

	rl->flushing = 0;
	if (rl->frc == 0) {
		rl->written += rl->fn;
		rl->last_flush_ms = server_wall_ms();
		free(rl->last_error);
		rl->last_error = NULL;
	} else {
		log_ev(LOG_LEVEL_ERROR, NULL, "request log write failed",
		    LF_STR("error", rl->ferr != NULL ? rl->ferr : "unknown"),
		    LF_INT("rows_lost", rl->fn));
		free(rl->last_error);
		rl->last_error = rl->ferr;
		rl->ferr = NULL;
		rl->dropped += rl->fn;
	}
	free(rl->ferr);
	rl->ferr = NULL;
	reqlog_rows_free(rl->frows, rl->fn);
	rl->frows = NULL;
	rl->fn = 0;
	reqlog_audit_free(rl->faudit, rl->fnaudit);
	rl->faudit = NULL;
	rl->fnaudit = 0;
	rl->fsuppressed = 0;
	for (i = 0; i < rl->fntouch; i++)
		free(rl->ftouch[i]);
	free(rl->ftouch);
	rl->ftouch = NULL;
	rl->fntouch = 0;
	if ((rl->n > 0 || rl->naudit > 0) && (rl->stopping ||
	    rl->n >= REQLOG_HIGH))
		reqlog_flush(rl);
}

/* Hands the queued rows to the pool, unless a flush is running. */
static void
reqlog_flush(struct reqlog *rl)
{
	struct auth_key	*k;
	size_t		 nt = 0;
	int64_t		 newest = rl->touched_ms;

	if (rl->flushing)
		return;
	TAILQ_FOREACH(k, &rl->srv->keys, entry)
		if (k->used_ms > rl->touched_ms)
			nt++;
	if (rl->n == 0 && rl->naudit == 0 && rl->audit_suppressed == 0 &&
	    nt == 0)
		return;
	/* Last use of keys: one UPDATE per key per flush, not per request. */
	if (nt > 0) {
		rl->ftouch = xcalloc(nt, sizeof *rl->ftouch);
		TAILQ_FOREACH(k, &rl->srv->keys, entry) {
			if (k->used_ms <= rl->touched_ms ||
			    rl->fntouch == nt)
				continue;
			rl->ftouch[rl->fntouch++] = xstrdup(k->id);
			if (k->used_ms > newest)
				newest = k->used_ms;
		}
		rl->ftouch_ms = newest;
		rl->touched_ms = newest;
	}
	rl->faudit = rl->audit;
	rl->fnaudit = rl->naudit;
	rl->fsuppressed = rl->audit_suppressed;
	rl->audit = NULL;
	rl->naudit = 0;
	rl->naudit_fail = 0;
	rl->audit_suppressed = 0;
	rl->frows = rl->rows;
	rl->fn = rl->n;
	rl->rows = xcalloc(REQLOG_MAX, sizeof *rl->rows);
	rl->n = 0;
	rl->flushing = 1;
	if (uv_queue_work(&rl->srv->loop, &rl->work, reqlog_work_cb,
	    reqlog_after_cb) != 0) {
		rl->flushing = 0;
		log_warnx("cannot queue the request log flush");
	}
}

void
reqlog_stop(struct reqlog *rl)
{
	if (rl == NULL || rl->stopping)
		return;
	rl->stopping = 1;
	uv_timer_stop(&rl->timer);
	uv_close((uv_handle_t *)&rl->timer, NULL);
	reqlog_flush(rl);
}

void
reqlog_free(struct reqlog *rl)
{
	if (rl == NULL)
		return;
	if (rl->flushing)
		BUG("reqlog freed during a flush");
	store_close(rl->store);
	reqlog_rows_free(rl->rows, rl->n);
	reqlog_audit_free(rl->audit, rl->naudit);
	free(rl->db_path);
	free(rl->last_error);
	free(rl);
}

void
reqlog_status(const struct reqlog *rl, struct json_object *o)
{
	json_object_object_add(o, "status", json_object_new_string(
	    rl->last_error != NULL ? "error" : "ok"));
	json_object_object_add(o, "pending_rows", json_object_new_int64(
	    (int64_t)(rl->n + rl->fn)));
	json_object_object_add(o, "written_rows", json_object_new_int64(
	    (int64_t)rl->written));
	json_object_object_add(o, "dropped_rows", json_object_new_int64(
	    (int64_t)rl->dropped));
	json_object_object_add(o, "last_flush_ms", json_object_new_int64(
	    rl->last_flush_ms));
	if (rl->last_error != NULL)
		json_object_object_add(o, "error",
		    json_object_new_string(rl->last_error));
}
