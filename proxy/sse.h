/* SPDX-License-Identifier: ISC */
#ifndef SSE_H
#define SSE_H

#include <stddef.h>

#include "buf.h"

/*
 * An incremental parser for text/event-stream (the WHATWG rules): bytes
 * arrive split anywhere; lines end in CRLF, LF or CR; "data:" lines of one
 * event are joined with LF; comments (":") are skipped; an event ends at a
 * blank line. Memory is capped per event. Proxy thread (any single owner).
 */

/* Returns 0 to go on, -1 to stop parsing (sse_feed then returns -1). */
typedef int (*sse_event_cb)(void *arg, const char *event, const char *data,
    size_t len);

struct sse {
	struct buf	 line;		/* the current line */
	struct buf	 data;		/* data lines of the current event */
	char		 event[64];	/* event field, "" if none */
	int		 has_data;
	int		 last_cr;	/* the previous chunk ended in CR */
	int		 bom_checked;
	sse_event_cb	 cb;
	void		*arg;
};

/* Initialises a parser whose events may hold at most max bytes. */
void	 sse_init(struct sse *, size_t max, sse_event_cb cb, void *arg);
void	 sse_release(struct sse *);
/*
 * Feeds bytes; calls cb for each complete event. Returns 0, or -1 if an
 * event was too large or the callback stopped.
 */
int	 sse_feed(struct sse *, const char *p, size_t len);
/* Returns 1 if a partial event is pending (a stream cut short). */
int	 sse_pending(const struct sse *);

#endif
