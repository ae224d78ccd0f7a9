/* SPDX-License-Identifier: ISC */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/*
 * The upstream HTTP client: a libcurl multi handle driven by the libuv
 * loop (curl docs/examples/multi-uv.c, style.md section 1). One struct
 * upstream per loop; one struct upstream_xfer per HTTP transfer. Bytes
 * are delivered as they arrive; a consumer that cannot take more returns
 * UPSTREAM_PAUSE and later calls upstream_xfer_resume. Proxy thread only:
 * no curl call ever happens on another thread.
 */

struct upstream;
struct upstream_xfer;

enum upstream_result {
	UPSTREAM_OK = 0,	/* complete response received */
	UPSTREAM_ECONNECT,	/* DNS, refused, TLS handshake... */
	UPSTREAM_ETIMEOUT,	/* connect, idle or total timeout */
	UPSTREAM_EPROTO,	/* early close, malformed response */
	UPSTREAM_EABORT,	/* a callback asked to abort */
	UPSTREAM_ESHUTDOWN,	/* the upstream client is shutting down */
};

/* Return values of on_data. */
#define UPSTREAM_CONTINUE	0	/* all bytes consumed */
#define UPSTREAM_PAUSE		1	/* none consumed; redelivered later */
#define UPSTREAM_ABORT		2	/* stop: on_done gets EABORT */

struct upstream_header {
	const char	*name;		/* borrowed, lower-cased */
	const char	*value;		/* borrowed, trimmed */
};

struct upstream_cbs {
	/*
	 * Response status and headers are complete (final response only,
	 * not 1xx). Return 0 to go on, -1 to abort (on_done: EABORT).
	 */
	int	(*on_headers)(struct upstream_xfer *, void *arg, int status,
		    const struct upstream_header *hdrs, size_t nhdrs);
	/*
	 * Body bytes (decoded if compressed), in order, as they arrive.
	 * Returns UPSTREAM_CONTINUE, UPSTREAM_PAUSE or UPSTREAM_ABORT. May be
	 * called from inside upstream_xfer_resume.
	 */
	int	(*on_data)(struct upstream_xfer *, void *arg, const char *data,
		    size_t len);
	/*
	 * Called exactly once at the end, unless the owner aborted the
	 * transfer with upstream_xfer_abort. err is a static description
	 * (or a short-lived string) for logs and client errors. The transfer
	 * is freed right after this returns.
	 */
	void	(*on_done)(struct upstream_xfer *, void *arg,
		    enum upstream_result, int status, const char *err);
};

struct upstream_opts {
	uint64_t	connect_timeout_ms;	/* 0: curl default */
	uint64_t	idle_timeout_ms;	/* no bytes for this long: abort */
	uint64_t	total_timeout_ms;	/* 0: none */
};

/* Returns a new client for loop, or NULL with *cause. Proxy thread. */
struct upstream	*upstream_new(uv_loop_t *loop, char **cause);
/*
 * Aborts every transfer (their on_done gets ESHUTDOWN), cleans up the
 * multi handle and closes the timer; the struct is freed by its last
 * close callback, so the caller must keep running the loop.
 */
void		 upstream_shutdown(struct upstream *);
/* Number of transfers in flight. */
size_t		 upstream_active(const struct upstream *);
/* Frees the spare easy handles kept for reuse (when idle). */
void		 upstream_trim(struct upstream *);

/*
 * Creates a transfer (not started) for method and url; returns it owned
 * by the upstream client. cbs must outlive the transfer; arg is passed
 * back to every callback.
 */
struct upstream_xfer *upstream_xfer_new(struct upstream *, const char *method,
		    const char *url, const struct upstream_cbs *cbs,
		    void *arg);
/* Adds a request header "Name: value" (copied). Before start only. */
void		 upstream_xfer_header(struct upstream_xfer *, const char *name,
		    const char *value);
/* Sets the request body (copied). Before start only. */
void		 upstream_xfer_body(struct upstream_xfer *, const char *data,
		    size_t len);
/* Sets timeouts. Before start only. */
void		 upstream_xfer_opts(struct upstream_xfer *,
		    const struct upstream_opts *);
/* Starts the transfer; 0, or -1 (on_done will not be called; freed). */
int		 upstream_xfer_start(struct upstream_xfer *);
/* Resumes a transfer whose on_data returned UPSTREAM_PAUSE. */
void		 upstream_xfer_resume(struct upstream_xfer *);
/*
 * Cancels the transfer: its connection is closed, no callback runs again
 * and the transfer is freed (at once, or after the callback that called
 * this returns). Used when the client went away.
 */
void		 upstream_xfer_abort(struct upstream_xfer *);
/* Bytes received so far (body, decoded). */
uint64_t	 upstream_xfer_bytes(const struct upstream_xfer *);

#endif
