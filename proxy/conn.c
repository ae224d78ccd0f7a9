/* SPDX-License-Identifier: ISC */
/*
 * conn: one client connection on the proxy thread (libuv tcp-echo-server
 * structure, relayd's HTTP state machine). Bytes read are fed to
 * http-parser; a complete request is handed to the route table and the
 * parser pauses until its response is done, so pipelined requests are
 * answered in order. Limits on header bytes, header count and body bytes
 * answer 431/413; slow headers or bodies get 408; idle keep-alive
 * connections close quietly. The conn owns its tcp handle and timer and
 * is freed in the last close callback.
 *
 * Output is coalesced: conn_write appends to the connection's pending
 * write, and the server's prepare and check handles hand every pending
 * write to uv_write before the loop next waits for I/O, so a stream whose
 * upstream delivered several events in one read costs one write(2), yet
 * nothing waits longer than the current loop iteration.
 */
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "server.h"
#include "xmalloc.h"

enum conn_state {
	CONN_IDLE,	/* between requests */
	CONN_HEADERS,	/* reading a request line and headers */
	CONN_BODY,	/* reading a request body */
	CONN_HANDLING,	/* request complete, response not finished */
	CONN_LINGER,	/* response sent, draining input before close */
};

/* A strict check of chunked framing (http-parser is lenient). */
enum conn_ck {
	CK_NONE,
	CK_SIZE,
	CK_EXT,
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER,
	CK_TRAILER_LINE,
	CK_TRAILER_LF,
	CK_END_LF,
	CK_DONE,
};

#define CONN_READ_SIZE		65536
#define CONN_WRITE_HIGH		(4 * 1024 * 1024)
/*
 * First allocation of a pending write, at least. Small enough that a
 * typical answer stays under glibc's 1 KiB large-chunk threshold, past
 * which every malloc consolidates the fast bins.
 */
#define CONN_WRITE_MIN		512
#define CONN_LINGER_MS		2000

struct conn_wreq;

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 flush_entry;	/* on srv->flushq */
	int			 flush_queued;
	struct conn_wreq	*out;		/* being filled, not written */
	struct server		*srv;
	uint64_t		 id;
	uv_tcp_t		 tcp;
	uv_timer_t		 timer;
	uv_shutdown_t		 shutdown_req;
	int			 closes_pending;
	int			 closing;
	int			 shutting;
	int			 reading;
	int			 in_parse;
	int			 peer_eof;
	enum conn_state		 state;

	http_parser		 parser;
	struct buf		 in;		/* bytes not yet parsed */
	struct req		*req;		/* being read or handled */
	struct buf		 url;
	struct buf		 hname;
	struct buf		 hvalue;
	int			 last_was_value;
	size_t			 header_bytes;
	size_t			 raw_header_bytes;
	size_t			 nheaders;
	int			 err_status;	/* set by a parser callback */
	const char		*err_code;
	const char		*err_msg;

	size_t			 write_pending;
	uint64_t		 last_write_ms;

	enum conn_ck		 ck;
	uint64_t		 ck_left;
	int			 ck_digits;
};

struct conn_wreq {
	uv_write_t	 w;
	struct conn	*conn;
	size_t		 len;
	size_t		 size;		/* of data */
	char		 data[];
};

static void	conn_close(struct conn *);
static void	conn_parse(struct conn *);
static void	conn_shutdown(struct conn *);
static void	conn_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);
static void	conn_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);
static void	conn_timer_cb(uv_timer_t *);

static int	conn_message_begin_cb(http_parser *);
static int	conn_url_cb(http_parser *, const char *, size_t);
static int	conn_header_field_cb(http_parser *, const char *, size_t);
static int	conn_header_value_cb(http_parser *, const char *, size_t);
static int	conn_headers_complete_cb(http_parser *);
static int	conn_body_cb(http_parser *, const char *, size_t);
static int	conn_message_complete_cb(http_parser *);

static const http_parser_settings conn_parser_settings = {
	.on_message_begin = conn_message_begin_cb,
	.on_url = conn_url_cb,
	.on_header_field = conn_header_field_cb,
	.on_header_value = conn_header_value_cb,
	.on_headers_complete = conn_headers_complete_cb,
	.on_body = conn_body_cb,
	.on_message_complete = conn_message_complete_cb,
};

/* One read buffer for all connections: reads are copied out at once. */
static char	conn_read_buf[CONN_READ_SIZE];

/* Arms the connection timer for ms milliseconds (0 stops it). */
static void
conn_timer(struct conn *c, uint64_t ms)
{
	if (c->closing)
		return;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
}

/* Sets a parser-time error that becomes the response status. */
static int
conn_fail(struct conn *c, int status, const char *code, const char *msg)
{
	if (c->err_status == 0) {
		c->err_status = status;
		c->err_code = code;
		c->err_msg = msg;
	}
	return (-1);
}

/* Counts header bytes against the limit. */
static int
conn_count_header(struct conn *c, size_t len)
{
	c->header_bytes += len;
	if (c->header_bytes > c->srv->cfg.max_header_bytes)
		return (conn_fail(c, 431, "header_too_large",
		    "request headers are larger than limits.max_header_bytes"));
	return (0);
}

static int
conn_message_begin_cb(http_parser *p)
{
	struct conn	*c = p->data;

	if (c->req == NULL)
		c->req = req_new(c->srv, c);
	buf_reset(&c->url);
	buf_reset(&c->hname);
	buf_reset(&c->hvalue);
	c->last_was_value = 0;
	c->header_bytes = 0;
	c->nheaders = 0;
	return (0);
}

static int
conn_url_cb(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	/* "GET /\r\n": HTTP/0.9 has no headers to wait for. */
	if (p->http_major == 0 && p->http_minor == 9)
		return (conn_fail(c, 400, "bad_version", "HTTP/0.9 requests "
		    "are not supported"));

	if (conn_count_header(c, len) != 0)
		return (-1);
	if (buf_add(&c->url, at, len) != 0)
		return (conn_fail(c, 414, "uri_too_long",
		    "request target is too long"));
	return (0);
}

/* Moves the header being assembled into the request. */
static int
conn_commit_header(struct conn *c)
{
	struct req	*r = c->req;
	char		*name, *value, *s;
	size_t		 n;

	if (c->hname.len == 0)
		return (0);
	if (++c->nheaders > c->srv->cfg.max_headers)
		return (conn_fail(c, 431, "too_many_headers",
		    "request has more headers than limits.max_headers"));
	if (memchr(c->hvalue.data, '\0', c->hvalue.len) != NULL ||
	    memchr(c->hname.data, '\0', c->hname.len) != NULL)
		return (conn_fail(c, 400, "bad_header",
		    "request header contains a NUL byte"));
	name = buf_detach(&c->hname, NULL);
	for (s = name; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	value = buf_detach(&c->hvalue, &n);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		value[--n] = '\0';
	/* powers of two from 8: one allocation for most requests */
	if (r->nhdrs >= 8 && (r->nhdrs & (r->nhdrs - 1)) == 0)
		r->hdrs = xreallocarray(r->hdrs, r->nhdrs * 2,
		    sizeof *r->hdrs);
	else if (r->nhdrs == 0)
		r->hdrs = xreallocarray(r->hdrs, 8, sizeof *r->hdrs);
	r->hdrs[r->nhdrs].name = name;
	r->hdrs[r->nhdrs].value = value;
	r->nhdrs++;
	buf_init(&c->hname, c->srv->cfg.max_header_bytes);
	buf_init(&c->hvalue, c->srv->cfg.max_header_bytes);
	c->last_was_value = 0;
	return (0);
}

/* RFC 9110 tchar: what a header name may hold. */
static int
conn_tchar(unsigned char ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
conn_header_field_cb(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;
	size_t		 i;

	if (conn_count_header(c, len) != 0)
		return (-1);
	/* The parser is lenient; a smuggling-safe server is not. */
	for (i = 0; i < len; i++)
		if (at[i] == '\0' || !conn_tchar((unsigned char)at[i]))
			return (conn_fail(c, 400, "bad_header", "a request "
			    "header name holds a character that is not "
			    "allowed"));
	if (c->last_was_value && conn_commit_header(c) != 0)
		return (-1);
	if (buf_add(&c->hname, at, len) != 0)
		return (conn_fail(c, 431, "header_too_large",
		    "request header name is too long"));
	return (0);
}

static int
conn_header_value_cb(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (conn_count_header(c, len) != 0)
		return (-1);
	if (buf_add(&c->hvalue, at, len) != 0)
		return (conn_fail(c, 431, "header_too_large",
		    "request header value is too long"));
	c->last_was_value = 1;
	return (0);
}

/* Splits the request target into a decoded path and a query. */
static int
conn_parse_target(struct conn *c)
{
	struct req		*r = c->req;
	struct http_parser_url	 u;
	const char		*url = buf_str(&c->url);

	http_parser_url_init(&u);
	if (c->url.len == 0 || http_parser_parse_url(url, c->url.len,
	    c->parser.method == HTTP_CONNECT, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)))
		return (conn_fail(c, 400, "bad_request_target",
		    "request target is not a valid path"));
	r->url = xstrdup(url);
	r->path = xstrndup(url + u.field_data[UF_PATH].off,
	    u.field_data[UF_PATH].len);
	if (u.field_set & (1 << UF_QUERY))
		r->query = xstrndup(url + u.field_data[UF_QUERY].off,
		    u.field_data[UF_QUERY].len);
	return (0);
}

static int
conn_headers_complete_cb(http_parser *p)
{
	struct conn	*c = p->data;
	struct req	*r = c->req;
	const char	*expect;

	if (conn_commit_header(c) != 0)
		return (-1);
	if (p->http_major != 1)
		return (p->http_major == 0 ? conn_fail(c, 400, "bad_version",
		    "HTTP/0.9 requests are not supported") : conn_fail(c, 505,
		    "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 "
		    "are supported"));
	r->method = http_method_str((enum http_method)p->method);
	r->http_minor = p->http_major == 1 ? p->http_minor : 1;
	r->keep_alive = http_should_keep_alive(p) && !c->srv->shutting_down;
	r->bytes_in = p->nread > c->header_bytes ? p->nread : c->header_bytes;
	req_set_id(r);
	if (conn_parse_target(c) != 0)
		return (-1);
	if (p->upgrade)
		r->keep_alive = 0;
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > c->srv->cfg.max_body_bytes)
		return (conn_fail(c, 413, "body_too_large",
		    "request body is larger than limits.max_body_bytes"));
	if ((expect = req_header(r, "expect")) != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return (conn_fail(c, 417, "expectation_failed",
			    "only 'Expect: 100-continue' is supported"));
		if (r->http_minor >= 1)
			conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	c->state = CONN_BODY;
	c->ck = (p->flags & F_CHUNKED) ? CK_SIZE : CK_NONE;
	c->ck_left = 0;
	c->ck_digits = 0;
	conn_timer(c, c->srv->cfg.body_timeout_ms);
	return (0);
}

/*
 * Checks chunked framing on raw bytes before the parser sees them: sizes
 * in hex ending in CRLF, data followed by CRLF, trailers, the final CRLF.
 * Returns 0, or -1 on a framing error.
 */
static int
conn_chunk_check(struct conn *c, const char *p, size_t len)
{
	const char	*end = p + len;
	size_t		 n;
	int		 h;

	while (p < end && c->ck != CK_NONE && c->ck != CK_DONE) {
		switch (c->ck) {
		case CK_SIZE:
			h = *p >= '0' && *p <= '9' ? *p - '0' :
			    *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
			    *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
			if (h >= 0) {
				if (c->ck_left > (UINT64_MAX >> 4))
					return (-1);
				c->ck_left = c->ck_left << 4 | (uint64_t)h;
				c->ck_digits++;
			} else if (*p == ';' && c->ck_digits > 0)
				c->ck = CK_EXT;
			else if (*p == '\r' && c->ck_digits > 0)
				c->ck = CK_SIZE_LF;
			else
				return (-1);
			p++;
			break;
		case CK_EXT:
			if (*p == '\n')
				return (-1);
			if (*p == '\r')
				c->ck = CK_SIZE_LF;
			p++;
			break;
		case CK_SIZE_LF:
			if (*p++ != '\n')
				return (-1);
			c->ck = c->ck_left == 0 ? CK_TRAILER : CK_DATA;
			break;
		case CK_DATA:
			n = (size_t)(end - p);
			if ((uint64_t)n > c->ck_left)
				n = (size_t)c->ck_left;
			p += n;
			c->ck_left -= n;
			if (c->ck_left == 0)
				c->ck = CK_DATA_CR;
			break;
		case CK_DATA_CR:
			if (*p++ != '\r')
				return (-1);
			c->ck = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (*p++ != '\n')
				return (-1);
			c->ck = CK_SIZE;
			c->ck_digits = 0;
			break;
		case CK_TRAILER:
			c->ck = *p == '\r' ? CK_END_LF : CK_TRAILER_LINE;
			p++;
			break;
		case CK_TRAILER_LINE:
			if (*p == '\n')
				return (-1);
			if (*p == '\r')
				c->ck = CK_TRAILER_LF;
			p++;
			break;
		case CK_TRAILER_LF:
			if (*p++ != '\n')
				return (-1);
			c->ck = CK_TRAILER;
			break;
		case CK_END_LF:
			if (*p++ != '\n')
				return (-1);
			c->ck = CK_DONE;
			break;
		default:
			return (0);
		}
	}
	return (0);
}

static int
conn_body_cb(http_parser *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (buf_add(&c->req->body, at, len) != 0)
		return (conn_fail(c, 413, "body_too_large",
		    "request body is larger than limits.max_body_bytes"));
	c->req->bytes_in += len;
	/* The body timeout is an inactivity timeout. */
	conn_timer(c, c->srv->cfg.body_timeout_ms);
	return (0);
}

static int
conn_message_complete_cb(http_parser *p)
{
	http_parser_pause(p, 1);
	return (0);
}

/* Answers a request that could not be parsed and closes afterwards. */
static void
conn_bad_request(struct conn *c, int status, const char *code,
    const char *msg)
{
	struct req	*r;

	if (c->req == NULL)
		c->req = req_new(c->srv, c);
	r = c->req;
	if (r->rid[0] == '\0')
		req_generate_id(r->rid, sizeof r->rid);
	if (r->path == NULL)
		r->path = xstrdup(c->url.len > 0 && c->url.len < 256 &&
		    c->url.data[0] == '/' ? buf_str(&c->url) : "-");
	r->keep_alive = 0;
	c->state = CONN_HANDLING;
	route_classify(r);
	req_error(r, status, code, "%s", msg);
}

/* Hands a complete request to the route table. */
static void
conn_handle(struct conn *c)
{
	struct req	*r = c->req;

	c->state = CONN_HANDLING;
	conn_timer(c, 0);
	c->srv->requests_total++;
	route_classify(r);
	route_dispatch(r);
}

/*
 * Refuses a bare CR in the header section: the parser would take it as a
 * line end, a front proxy might not (request smuggling). A CR at the very
 * end of the input is judged when more arrives.
 */
static int
conn_bare_cr(struct conn *c)
{
	const char	*p = c->in.data, *end = c->in.data + c->in.len, *hend;

	if ((hend = memmem(p, c->in.len, "\r\n\r\n", 4)) != NULL)
		end = hend;
	while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
		if (p + 1 == c->in.data + c->in.len)
			return (0);
		if (p[1] != '\n') {
			conn_bad_request(c, 400, "bad_line_ending", "a bare CR "
			    "in the request headers");
			return (-1);
		}
		p++;
	}
	return (0);
}

/* Feeds buffered input to the parser until a request is being handled. */
static void
conn_parse(struct conn *c)
{
	enum http_errno	 err;
	size_t		 n, feed;
	const char	*hend;

	if (c->in_parse)
		return;
	c->in_parse = 1;
	while (!c->closing && !c->shutting && c->state != CONN_HANDLING &&
	    c->state != CONN_LINGER && c->in.len > 0 &&
	    c->write_pending < CONN_WRITE_HIGH) {
		if (c->state == CONN_IDLE) {
			c->state = CONN_HEADERS;
			conn_timer(c, c->srv->cfg.header_timeout_ms);
		}
		feed = c->in.len;
		if (c->state == CONN_HEADERS || c->state == CONN_IDLE) {
			if (conn_bare_cr(c) != 0)
				break;
			/* Headers alone first, so the body can be checked. */
			if ((hend = memmem(c->in.data, c->in.len, "\r\n\r\n",
			    4)) != NULL)
				feed = (size_t)(hend - c->in.data) + 4;
		} else if (c->state == CONN_BODY && c->ck != CK_NONE) {
			if (conn_chunk_check(c, c->in.data, feed) != 0) {
				conn_bad_request(c, 400, "bad_chunk",
				    "malformed chunked request body");
				break;
			}
		}
		n = http_parser_execute(&c->parser, &conn_parser_settings,
		    c->in.data, feed);
		buf_consume(&c->in, n);
		/* Raw bytes count too: the parser skips some whitespace. */
		if (c->state == CONN_HEADERS) {
			c->raw_header_bytes += n;
			if (c->raw_header_bytes > c->srv->cfg.max_header_bytes +
			    1024 && c->err_status == 0) {
				conn_bad_request(c, 431, "header_too_large",
				    "request headers are larger than "
				    "limits.max_header_bytes");
				break;
			}
		} else
			c->raw_header_bytes = 0;
		err = HTTP_PARSER_ERRNO(&c->parser);
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			conn_handle(c);
			continue;
		}
		if (err == HPE_HEADER_OVERFLOW && c->err_status == 0)
			conn_fail(c, 431, "header_too_large", "request headers "
			    "are larger than limits.max_header_bytes");
		if (err != HPE_OK) {
			if (c->err_status != 0)
				conn_bad_request(c, c->err_status, c->err_code,
				    c->err_msg);
			else
				conn_bad_request(c, 400, "malformed_request",
				    http_errno_description(err));
			break;
		}
	}
	c->in_parse = 0;
	if (c->closing || c->shutting)
		return;
	if (!c->reading && c->in.len < c->in.max / 2 &&
	    c->state != CONN_LINGER) {
		if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
		    conn_read_cb) == 0)
			c->reading = 1;
	}
	if (c->peer_eof && c->state == CONN_IDLE && c->in.len == 0) {
		if (c->write_pending > 0)
			conn_shutdown(c);
		else
			conn_close(c);
	}
}

/* Called when the client closed its side. */
static void
conn_on_eof(struct conn *c)
{
	c->peer_eof = 1;
	switch (c->state) {
	case CONN_IDLE:
		/* Answers still queued are owed: send them, then close. */
		if (c->in.len == 0 && c->write_pending > 0)
			conn_shutdown(c);
		else if (c->in.len == 0)
			conn_close(c);
		break;
	case CONN_HEADERS:
	case CONN_BODY:
		conn_bad_request(c, 400, "incomplete_request",
		    "connection closed before the request was complete");
		break;
	case CONN_HANDLING:
		/* Pipelined requests are still owed answers; else, gone. */
		if (c->in.len == 0)
			conn_close(c);
		break;
	case CONN_LINGER:
		conn_close(c);
		break;
	}
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	buf->base = conn_read_buf;
	buf->len = sizeof conn_read_buf;
}

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn	*c = s->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			conn_on_eof(c);
		else
			conn_close(c);
		return;
	}
	if (c->state == CONN_LINGER)
		return;
	if (buf_add(&c->in, buf->base, (size_t)nread) != 0) {
		/* Cannot happen while reading is stopped at the cap. */
		conn_close(c);
		return;
	}
	if (c->in.len >= c->in.max - CONN_READ_SIZE) {
		uv_read_stop(s);
		c->reading = 0;
	}
	conn_parse(c);
}

/*
 * len bytes of c's output reached the kernel (or failed): the accounting,
 * then what waited for it. With after 0 (conn_shutdown flushing), only
 * the accounting.
 */
static void
conn_wrote(struct conn *c, size_t len, int status, int after)
{
	c->write_pending -= len;
	c->last_write_ms = uv_now(&c->srv->loop);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (!after)
		return;
	if (c->write_pending == 0 && c->state == CONN_IDLE)
		conn_parse(c);
	else if (c->req != NULL && c->req->streaming &&
	    c->req->on_drain != NULL && c->write_pending <= CONN_STREAM_LOW)
		c->req->on_drain(c->req);
}

static void
conn_write_cb(uv_write_t *w, int status)
{
	struct conn_wreq	*wr = (struct conn_wreq *)w;
	struct conn		*c = wr->conn;
	size_t			 len = wr->len;

	free(wr);
	conn_wrote(c, len, status, 1);
}

size_t
conn_pending(const struct conn *c)
{
	return (c->write_pending);
}

/* Stops the flush handles once no connection has output to hand over. */
static void
conn_flush_disarm(struct server *srv)
{
	if (TAILQ_EMPTY(&srv->flushq)) {
		uv_prepare_stop(&srv->flush_prepare);
		uv_check_stop(&srv->flush_check);
	}
}

/* Takes c off the flush queue. */
static void
conn_flush_unqueue(struct conn *c)
{
	if (!c->flush_queued)
		return;
	TAILQ_REMOVE(&c->srv->flushq, c, flush_entry);
	c->flush_queued = 0;
	conn_flush_disarm(c->srv);
}

/*
 * Writes the pending output of c: write(2) at once when libuv holds
 * nothing of c's (uv_try_write), and what the socket did not take goes to
 * libuv. A write done at once skips libuv's write request, whose
 * completion costs a deferred callback and an epoll_ctl for every
 * response. after: run what waited for the output (see conn_wrote).
 */
static void
conn_flush(struct conn *c, int after)
{
	struct conn_wreq	*wr = c->out;
	uv_buf_t		 b;
	int			 n;

	conn_flush_unqueue(c);
	if (wr == NULL || c->closing)
		return;
	c->out = NULL;
	b = uv_buf_init(wr->data, (unsigned)wr->len);
	n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (n == (int)wr->len) {
		free(wr);
		conn_wrote(c, (size_t)n, 0, after);
		return;
	}
	if (n > 0) {
		/* wr->len is what the write callback accounts for */
		b = uv_buf_init(wr->data + n, (unsigned)(wr->len - (size_t)n));
		wr->len -= (size_t)n;
		c->write_pending -= (size_t)n;
		c->last_write_ms = uv_now(&c->srv->loop);
	}
	/*
	 * The rest, or all of it: an error (say, EPIPE) is left to uv_write,
	 * whose callback reports it as before, never from in here (a caller
	 * such as req_respond still holds the request).
	 */
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1,
	    conn_write_cb) != 0) {
		c->write_pending -= wr->len;
		free(wr);
		conn_close(c);
	}
}

void
conn_flush_now(struct conn *c)
{
	/* Behind bytes libuv still holds, it would only split the write. */
	if (c != NULL && c->out != NULL && !c->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
		conn_flush(c, 0);
}

/*
 * Prepare and check callback: flushes every connection with output. The
 * check handle runs right after the I/O callbacks of an iteration, the
 * prepare handle right before the loop blocks (after timers, deferred
 * callbacks and close callbacks), so output never waits for more I/O.
 */
static void
conn_flush_all(struct server *srv)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&srv->flushq)) != NULL)
		conn_flush(c, 1);
	conn_flush_disarm(srv);
}

void
conn_flush_prepare_cb(uv_prepare_t *h)
{
	conn_flush_all(h->data);
}

void
conn_flush_check_cb(uv_check_t *h)
{
	conn_flush_all(h->data);
}

int
conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct server		*srv;
	struct conn_wreq	*wr;
	size_t			 len = 0, size, have;
	int			 i;

	if (c == NULL || c->closing || c->shutting)
		return (-1);
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len == 0)
		return (0);
	srv = c->srv;
	wr = c->out;
	have = wr == NULL ? 0 : wr->len;
	if (wr == NULL || wr->size - wr->len < len) {
		size = wr == NULL ? CONN_WRITE_MIN : wr->size * 2;
		while (size - have < len)
			size *= 2;
		wr = xreallocarray(wr, 1, sizeof *wr + size);
		if (c->out == NULL) {
			wr->conn = c;
			wr->len = 0;
		}
		wr->size = size;
		c->out = wr;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		memcpy(wr->data + wr->len, iov[i].iov_base, iov[i].iov_len);
		wr->len += iov[i].iov_len;
	}
	if (!c->flush_queued) {
		if (TAILQ_EMPTY(&srv->flushq)) {
			uv_prepare_start(&srv->flush_prepare,
			    conn_flush_prepare_cb);
			uv_check_start(&srv->flush_check, conn_flush_check_cb);
		}
		TAILQ_INSERT_TAIL(&srv->flushq, c, flush_entry);
		c->flush_queued = 1;
	}
	if (c->write_pending == 0) {
		c->last_write_ms = uv_now(&srv->loop);
		/* While handling, the timer watches the client's reading. */
		if (c->state == CONN_HANDLING &&
		    !uv_is_active((uv_handle_t *)&c->timer))
			conn_timer(c, srv->cfg.write_timeout_ms);
	}
	c->write_pending += len;
	return (0);
}

int
conn_write(struct conn *c, const char *data, size_t len)
{
	struct iovec	 iov;

	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	return (conn_writev(c, &iov, 1));
}

/* Logs a finished request and queues its request-log row. */
static void
conn_log_request(struct req *r)
{
	uint64_t	 ms = (uv_hrtime() - r->t_start) / 1000000;

	log_ev(LOG_LEVEL_INFO, r->rid, "request",
	    LF_STR("method", r->method), LF_STR("path", r->path),
	    LF_INT("status", r->status), LF_INT("duration_ms", ms),
	    LF_INT("bytes_in", r->bytes_in), LF_INT("bytes_out",
	    r->bytes_out), LF_BOOL("client_gone", r->conn == NULL),
	    LF_STR("error", r->err_tag));
	if (r->route == NULL || !(r->route->flags & ROUTE_NOLOG))
		reqlog_add(r->srv->reqlog, r);
}

void
conn_request_done(struct conn *c, struct req *r)
{
	int	 keep_alive = r->keep_alive;

	conn_log_request(r);
	if (c == NULL) {
		req_free(r);
		return;
	}
	if (c->req == r)
		c->req = NULL;
	req_free(r);
	if (c->closing)
		return;
	if (!keep_alive || c->srv->shutting_down) {
		conn_shutdown(c);
		return;
	}
	c->state = CONN_IDLE;
	c->err_status = 0;
	conn_timer(c, c->srv->cfg.idle_timeout_ms);
	if (!c->in_parse)
		conn_parse(c);
}

static void
conn_timer_cb(uv_timer_t *t)
{
	struct conn	*c = t->data;
	uint64_t	 now = uv_now(&c->srv->loop);

	switch (c->state) {
	case CONN_IDLE:
		if (c->write_pending > 0 && now - c->last_write_ms <
		    c->srv->cfg.write_timeout_ms) {
			conn_timer(c, c->srv->cfg.write_timeout_ms);
			break;
		}
		conn_close(c);
		break;
	case CONN_HEADERS:
		conn_bad_request(c, 408, "request_timeout",
		    "timed out reading the request headers");
		break;
	case CONN_BODY:
		conn_bad_request(c, 408, "request_timeout",
		    "timed out reading the request body");
		break;
	case CONN_HANDLING:
		/* A client that stopped reading what it asked for. */
		if (c->write_pending > 0 && now - c->last_write_ms >=
		    c->srv->cfg.write_timeout_ms) {
			log_ev(LOG_LEVEL_INFO, NULL, "client stopped reading; "
			    "closing", LF_INT("pending_bytes",
			    c->write_pending));
			conn_close(c);
		} else if (c->write_pending > 0)
			conn_timer(c, c->srv->cfg.write_timeout_ms -
			    (now - c->last_write_ms));
		break;
	case CONN_LINGER:
		conn_close(c);
		break;
	}
}

static void
conn_close_cb(uv_handle_t *h)
{
	struct conn	*c = h->data;
	struct server	*srv = c->srv;

	if (--c->closes_pending > 0)
		return;
	buf_release(&c->in);
	buf_release(&c->url);
	buf_release(&c->hname);
	buf_release(&c->hvalue);
	free(c);
	server_maybe_finish(srv);
}

/* Closes the connection now; a request being handled is detached. */
static void
conn_close(struct conn *c)
{
	struct server	*srv = c->srv;
	struct req	*r;

	if (c->closing)
		return;
	c->closing = 1;
	conn_flush_unqueue(c);
	if (c->out != NULL) {
		c->write_pending -= c->out->len;
		free(c->out);
		c->out = NULL;
	}
	r = c->req;
	c->req = NULL;
	if (r != NULL && c->state == CONN_HANDLING) {
		/*
		 * The handler still owns the request and must finish it
		 * (req_abandon); tell it the client is gone.
		 */
		r->conn = NULL;
	} else if (r != NULL) {
		req_free(r);
		r = NULL;
	}
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	c->closes_pending = 2;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
	if (r != NULL && r->on_abort != NULL)
		r->on_abort(r);
}

static void
conn_shutdown_cb(uv_shutdown_t *sr, int status)
{
	struct conn	*c = sr->data;

	if (c->closing)
		return;
	if (status < 0 || c->peer_eof) {
		conn_close(c);
		return;
	}
	/*
	 * Linger: read and discard what the client still sends, so that
	 * closing with unread data does not reset the connection before the
	 * client has read our answer.
	 */
	c->state = CONN_LINGER;
	buf_reset(&c->in);
	if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp,
	    conn_alloc_cb, conn_read_cb) == 0)
		c->reading = 1;
	conn_timer(c, CONN_LINGER_MS);
}

/* Sends FIN after pending writes, then lingers and closes. */
static void
conn_shutdown(struct conn *c)
{
	if (c->closing || c->shutting)
		return;
	/* uv_shutdown waits for what libuv holds, not for c->out */
	conn_flush(c, 0);
	if (c->closing)
		return;
	c->shutting = 1;
	c->shutdown_req.data = c;
	conn_timer(c, c->srv->cfg.write_timeout_ms);
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp,
	    conn_shutdown_cb) != 0)
		conn_close(c);
}

void
conn_accept(struct server *srv)
{
	struct conn	*c;
	static const char busy_body[] =
	    "{\"error\":{\"message\":\"too many connections\","
	    "\"type\":\"api_error\",\"code\":\"too_many_connections\","
	    "\"param\":null}}";
	char		 busy[512];
	int		 nbusy;

	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->id = ++srv->next_conn_id;
	uv_tcp_init(&srv->loop, &c->tcp);
	uv_timer_init(&srv->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	buf_init(&c->in, srv->cfg.max_header_bytes + 2 * CONN_READ_SIZE);
	buf_init(&c->url, srv->cfg.max_header_bytes);
	buf_init(&c->hname, srv->cfg.max_header_bytes);
	buf_init(&c->hvalue, srv->cfg.max_header_bytes);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	if (uv_accept((uv_stream_t *)&srv->listener,
	    (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (srv->nconns > srv->cfg.max_connections || srv->shutting_down) {
		log_ev(LOG_LEVEL_WARN, NULL, "connection refused",
		    LF_STR("reason", srv->shutting_down ? "shutting down" :
		    "limits.max_connections reached"),
		    LF_INT("connections", srv->nconns));
		nbusy = snprintf(busy, sizeof busy, "HTTP/1.1 503 Service "
		    "Unavailable\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n"
		    "Retry-After: 1\r\n\r\n%s", sizeof busy_body - 1,
		    busy_body);
		conn_write(c, busy, (size_t)nbusy);
		conn_shutdown(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
	    conn_read_cb) != 0) {
		conn_close(c);
		return;
	}
	c->reading = 1;
	c->state = CONN_IDLE;
	conn_timer(c, srv->cfg.idle_timeout_ms);
}

void
conn_drain_all(struct server *srv)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_IDLE && c->write_pending == 0)
			conn_close(c);
		else if (c->state == CONN_IDLE)
			conn_shutdown(c);
	}
}

void
conn_close_all(struct server *srv)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_close(c);
}
