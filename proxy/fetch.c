/* SPDX-License-Identifier: ISC */
/*
 * fetch: one upstream request whose whole answer is collected (up to a
 * cap) and handed to a single callback: the login steps, token exchanges
 * and model lists use it. Built on upstream.c; proxy thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "server.h"
#include "upstream.h"
#include "xmalloc.h"

struct fetch {
	struct upstream_xfer	*xfer;
	struct buf		 body;
	int			 status;
	int			 too_big;
	fetch_cb		 cb;
	void			*arg;
};

static int
fetch_headers_cb(struct upstream_xfer *x, void *arg, int status,
    const struct upstream_header *h, size_t n)
{
	struct fetch	*f = arg;

	f->status = status;
	return (0);
}

static int
fetch_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	struct fetch	*f = arg;

	if (buf_add(&f->body, data, len) != 0) {
		f->too_big = 1;
		return (UPSTREAM_ABORT);
	}
	return (UPSTREAM_CONTINUE);
}

static void
fetch_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct fetch	*f = arg;

	if (f->too_big)
		f->cb(f->arg, status, NULL, 0, "the answer is too large");
	else if (res != UPSTREAM_OK)
		f->cb(f->arg, status, NULL, 0, err != NULL ? err :
		    "transfer failed");
	else
		f->cb(f->arg, status, buf_str(&f->body), f->body.len, NULL);
	buf_release(&f->body);
	free(f);
}

static const struct upstream_cbs fetch_cbs = {
	.on_headers = fetch_headers_cb,
	.on_data = fetch_data_cb,
	.on_done = fetch_done_cb,
};

struct fetch *
fetch_new(struct server *srv, const char *method, const char *url,
    size_t max, fetch_cb cb, void *arg)
{
	struct fetch		*f = xcalloc(1, sizeof *f);
	struct upstream_opts	 o;

	buf_init(&f->body, max);
	f->cb = cb;
	f->arg = arg;
	f->xfer = upstream_xfer_new(srv->upstream, method, url, &fetch_cbs, f);
	memset(&o, 0, sizeof o);
	o.connect_timeout_ms = srv->cfg.upstream_connect_timeout_ms;
	o.idle_timeout_ms = srv->cfg.upstream_idle_timeout_ms;
	o.total_timeout_ms = srv->cfg.upstream_idle_timeout_ms;
	upstream_xfer_opts(f->xfer, &o);
	return (f);
}

void
fetch_header(struct fetch *f, const char *name, const char *value)
{
	upstream_xfer_header(f->xfer, name, value);
}

void
fetch_body(struct fetch *f, const char *data, size_t len)
{
	upstream_xfer_body(f->xfer, data, len);
}

struct upstream_xfer *
fetch_xfer(struct fetch *f)
{
	return (f->xfer);
}

int
fetch_start(struct fetch *f)
{
	if (upstream_xfer_start(f->xfer) != 0) {
		buf_release(&f->body);
		free(f);
		return (-1);
	}
	return (0);
}

void
fetch_cancel(struct fetch *f)
{
	if (f == NULL)
		return;
	upstream_xfer_abort(f->xfer);
	buf_release(&f->body);
	free(f);
}
