/* SPDX-License-Identifier: ISC */
/*
 * http1: the request object and HTTP/1.1 response writing (relayd
 * relay_http.c). One struct req owns everything about one request:
 * its headers, body and id; it is freed once the response is complete.
 * Reason phrases come from one table; errors are rendered in the dialect
 * of the route (OpenAI for now). Proxy thread only.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"
#include "xmalloc.h"

static const struct {
	int		 status;
	const char	*reason;
} http_reasons[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 204, "No Content" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 411, "Length Required" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

const char *
http_reason(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof http_reasons / sizeof http_reasons[0]; i++)
		if (http_reasons[i].status == status)
			return (http_reasons[i].reason);
	return ("Unknown");
}

struct req *
req_new(struct server *srv, struct conn *conn)
{
	struct req	*r = xcalloc(1, sizeof *r);

	r->srv = srv;
	r->conn = conn;
	r->method = "GET";
	r->http_minor = 1;
	buf_init(&r->body, srv->cfg.max_body_bytes);
	r->t_start = uv_hrtime();
	r->wall_ms = server_wall_ms();
	return (r);
}

void
req_free(struct req *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->hdrs);
	free(r->url);
	free(r->path);
	free(r->query);
	buf_release(&r->body);
	free(r);
}

const char *
req_header(const struct req *r, const char *lname)
{
	size_t	 i;

	for (i = 0; i < r->nhdrs; i++)
		if (strcmp(r->hdrs[i].name, lname) == 0)
			return (r->hdrs[i].value);
	return (NULL);
}

void
req_generate_id(char *out, size_t len)
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned char		 b[16];
	char			 id[37];
	size_t			 i, o = 0;

	rnd_bytes(b, sizeof b);
	b[6] = (b[6] & 0x0f) | 0x40;	/* UUID version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;
	/* 8-4-4-4-12 hex digits; by hand, as it runs for every request */
	for (i = 0; i < sizeof b; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			id[o++] = '-';
		id[o++] = digits[b[i] >> 4];
		id[o++] = digits[b[i] & 15];
	}
	id[o] = '\0';
	if (len > 0)
		snprintf(out, len, "%s", id);
}

/* Returns 1 if a client-supplied request id is safe to echo and log. */
static int
req_id_sane(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++) {
		if (n >= 64)
			return (0);
		if (!isalnum((unsigned char)*s) && strchr("-_.:", *s) == NULL)
			return (0);
	}
	return (n > 0);
}

void
req_set_id(struct req *r)
{
	const char	*id = req_header(r, "x-request-id");

	if (id != NULL && req_id_sane(id))
		snprintf(r->rid, sizeof r->rid, "%s", id);
	else
		req_generate_id(r->rid, sizeof r->rid);
}

/* Formats the Date header value, cached per second. */
static const char *
http_date(void)
{
	static char	 buf[64];
	static time_t	 last;
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return (buf);
}

void
req_respond(struct req *r, int status, const char *ctype, const char *body,
    size_t len, const char *extra)
{
	struct buf	 out;
	struct iovec	 iov[2];
	int		 close_after;

	if (r->responded)
		BUG("second response to one request");
	r->responded = 1;
	r->status = status;
	if (r->conn == NULL) {
		/* The client left; account for the request and finish. */
		conn_request_done(NULL, r);
		return;
	}
	close_after = !r->keep_alive || r->srv->shutting_down;
	buf_init(&out, 4096 + (extra != NULL ? strlen(extra) : 0));
	buf_addf(&out, "HTTP/1.%d %d %s\r\n"
	    "Date: %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s%s\r\n",
	    r->http_minor == 0 ? 0 : 1, status, http_reason(status),
	    http_date(), ctype, len, r->rid,
	    close_after ? "Connection: close\r\n" :
	    (r->http_minor == 0 ? "Connection: keep-alive\r\n" : ""),
	    extra != NULL ? extra : "");
	/* head and body go straight into the connection's pending write */
	iov[0].iov_base = out.data;
	iov[0].iov_len = out.len;
	iov[1].iov_base = (void *)(uintptr_t)body;
	iov[1].iov_len = strcmp(r->method, "HEAD") != 0 ? len : 0;
	r->bytes_out += iov[0].iov_len + iov[1].iov_len;
	if (close_after)
		r->keep_alive = 0;
	conn_writev(r->conn, iov, 2);
	buf_release(&out);
	/*
	 * Answered: nothing is left to abort or resume. Writing now may
	 * find the client gone and close the connection from in here.
	 */
	r->on_abort = NULL;
	r->on_drain = NULL;
	conn_flush_now(r->conn);
	conn_request_done(r->conn, r);
}

void
req_stream_begin(struct req *r, int status, const char *ctype,
    const char *extra)
{
	struct buf	 out;

	if (r->responded)
		BUG("stream after a response");
	r->responded = 1;
	r->streaming = 1;
	r->status = status;
	if (r->conn == NULL)
		return;
	r->chunked = r->http_minor >= 1;
	if (!r->chunked)
		r->keep_alive = 0;
	buf_init(&out, 4096);
	buf_addf(&out, "HTTP/1.%d %d %s\r\n"
	    "Date: %s\r\n"
	    "Content-Type: %s\r\n"
	    "%s"
	    "X-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s%s\r\n",
	    r->http_minor == 0 ? 0 : 1, status, http_reason(status),
	    http_date(), ctype,
	    r->chunked ? "Transfer-Encoding: chunked\r\n" : "",
	    r->rid,
	    !r->keep_alive || r->srv->shutting_down ? "Connection: close\r\n" :
	    "", extra != NULL ? extra : "");
	r->bytes_out += out.len;
	conn_write(r->conn, out.data, out.len);
	buf_release(&out);
}

int
req_stream_write(struct req *r, const char *data, size_t len)
{
	static const char	 digits[] = "0123456789abcdef";
	struct iovec		 iov[3];
	char			 hdr[32];
	size_t			 hl, n;
	int			 rc;

	if (r->conn == NULL)
		return (-1);
	if (len == 0)
		return (conn_pending(r->conn) > CONN_STREAM_HIGH);
	if (r->chunked) {
		/* "<hex size>\r\n", by hand: this runs for every event */
		hl = sizeof hdr;
		hdr[--hl] = '\n';
		hdr[--hl] = '\r';
		for (n = len; n > 0 || hl == sizeof hdr - 2; n >>= 4)
			hdr[--hl] = digits[n & 15];
		iov[0].iov_base = hdr + hl;
		iov[0].iov_len = sizeof hdr - hl;
		iov[1].iov_base = (void *)(uintptr_t)data;
		iov[1].iov_len = len;
		iov[2].iov_base = (void *)(uintptr_t)"\r\n";
		iov[2].iov_len = 2;
		r->bytes_out += iov[0].iov_len + len + 2;
		rc = conn_writev(r->conn, iov, 3);
	} else {
		r->bytes_out += len;
		rc = conn_write(r->conn, data, len);
	}
	if (rc != 0 || r->conn == NULL)
		return (-1);
	return (conn_pending(r->conn) > CONN_STREAM_HIGH);
}

void
req_stream_end(struct req *r)
{
	if (r->conn != NULL && r->chunked) {
		r->bytes_out += 5;
		conn_write(r->conn, "0\r\n\r\n", 5);
	}
	conn_request_done(r->conn, r);
}

void
req_abandon(struct req *r)
{
	if (!r->responded)
		r->status = 499;
	r->err_tag = r->err_tag != NULL ? r->err_tag : "client_gone";
	conn_request_done(r->conn, r);
}

void
req_respond_json(struct req *r, int status, struct json_object *o)
{
	const char	*s;
	size_t		 len;

	s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	req_respond(r, status, "application/json", s, len, NULL);
	json_object_put(o);
}

/* Formats and sends an error response. */
static void
req_verror(struct req *r, int status, const char *code, const char *extra,
    const char *fmt, va_list ap)
{
	struct json_object	*o;
	char			*msg;
	const char		*s;
	size_t			 len;

	msg = xvasprintf(fmt, ap);
	switch (r->dialect) {
	case API_OPENAI:
		o = api_openai_error(status, code, msg);
		break;
	case API_ANTHROPIC:
		o = api_anthropic_error(status, msg);
		break;
	default:
		BUG("dialect");
	}
	log_ev(status >= 500 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, r->rid,
	    "error response", LF_INT("status", status), LF_STR("code", code),
	    LF_STR("error", msg));
	free(msg);
	s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	req_respond(r, status, "application/json", s, len, extra);
	json_object_put(o);
}

void
req_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	req_verror(r, status, code, NULL, fmt, ap);
	va_end(ap);
}

void
req_error_hdr(struct req *r, int status, const char *code,
    const char *extra, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	req_verror(r, status, code, extra, fmt, ap);
	va_end(ap);
}
