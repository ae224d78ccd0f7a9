/* SPDX-License-Identifier: ISC */
/*
 * sse: an incremental text/event-stream parser (WHATWG HTML, "Server-sent
 * events": line endings CRLF/LF/CR, field "data" joined with LF, "event",
 * comments, a leading BOM). Upstream streams arrive split at arbitrary
 * byte boundaries; the parser keeps only the current line and event, both
 * capped. Single owner, no threads.
 */
#include "sse.h"

#include <string.h>

void
sse_init(struct sse *s, size_t max, sse_event_cb cb, void *arg)
{
	memset(s, 0, sizeof *s);
	buf_init(&s->line, max);
	buf_init(&s->data, max);
	s->cb = cb;
	s->arg = arg;
}

void
sse_release(struct sse *s)
{
	buf_release(&s->line);
	buf_release(&s->data);
}

int
sse_pending(const struct sse *s)
{
	return (s->has_data || s->line.len > 0);
}

/* Dispatches the event gathered so far. */
static int
sse_dispatch(struct sse *s)
{
	int	 rc = 0;

	if (s->has_data)
		rc = s->cb(s->arg, s->event[0] != '\0' ? s->event : NULL,
		    buf_str(&s->data), s->data.len);
	buf_reset(&s->data);
	s->has_data = 0;
	s->event[0] = '\0';
	return (rc);
}

/* Handles one complete line (without its ending). */
static int
sse_line(struct sse *s, const char *l, size_t n)
{
	const char	*colon, *v;
	size_t		 flen, vlen;

	if (n == 0)
		return (sse_dispatch(s));
	if (l[0] == ':')
		return (0);
	colon = memchr(l, ':', n);
	flen = colon != NULL ? (size_t)(colon - l) : n;
	v = colon != NULL ? colon + 1 : l + n;
	vlen = colon != NULL ? n - flen - 1 : 0;
	if (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		if (s->has_data && buf_add(&s->data, "\n", 1) != 0)
			return (-1);
		if (buf_add(&s->data, v, vlen) != 0)
			return (-1);
		s->has_data = 1;
	} else if (flen == 5 && memcmp(l, "event", 5) == 0) {
		if (vlen >= sizeof s->event)
			vlen = sizeof s->event - 1;
		memcpy(s->event, v, vlen);
		s->event[vlen] = '\0';
	}
	/* "id", "retry" and unknown fields are ignored. */
	return (0);
}

int
sse_feed(struct sse *s, const char *p, size_t len)
{
	const char	*end = p + len, *nl;

	if (!s->bom_checked && len > 0) {
		/* A UTF-8 BOM may start the stream (possibly split). */
		if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
		}
		s->bom_checked = 1;
	}
	while (p < end) {
		if (s->last_cr) {
			s->last_cr = 0;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		for (nl = p; nl < end && *nl != '\n' && *nl != '\r'; nl++)
			;
		if (nl == end) {
			if (buf_add(&s->line, p, (size_t)(end - p)) != 0)
				return (-1);
			break;
		}
		if (s->line.len > 0) {
			if (buf_add(&s->line, p, (size_t)(nl - p)) != 0 ||
			    sse_line(s, s->line.data, s->line.len) != 0)
				return (-1);
			buf_reset(&s->line);
		} else if (sse_line(s, p, (size_t)(nl - p)) != 0)
			return (-1);
		if (*nl == '\r')
			s->last_cr = 1;
		p = nl + 1;
	}
	return (0);
}
