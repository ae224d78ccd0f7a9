/* SPDX-License-Identifier: ISC */
/*
 * upstream: the proxy's HTTP client, a libcurl multi handle driven by the
 * libuv loop (curl docs/examples/multi-uv.c, style.md section 1). struct
 * upstream owns the CURLM, a uv_timer_t for curl's timeouts, a uv_timer_t
 * used to kick curl after an unpause and one heap struct per curl socket
 * (a uv_poll_t). A connection socket keeps its struct and poll handle
 * from the moment curl opens it until curl closes it (both through our
 * callbacks), across the transfers that reuse the connection; other
 * sockets (the resolver's) live from first use to CURL_POLL_REMOVE. Each
 * struct upstream_xfer owns its easy handle, copies of
 * the request headers and body, the response header block and an idle
 * timer. Things curl forbids inside its callbacks (adding, removing or
 * unpausing a handle) are queued and run once the outermost curl call has
 * returned. Proxy thread only; the struct is freed by its last close
 * callback.
 */
#include "upstream.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#define UPSTREAM_MAX_HDR_BYTES	(256 * 1024)	/* response header block */
#define UPSTREAM_MAX_REQ_HDR_BYTES (256 * 1024)	/* request header lines */
#define UPSTREAM_MAX_HDRS	256
#define UPSTREAM_MAXCONNECTS	64		/* idle connection cache */
#define UPSTREAM_EASY_POOL	64		/* spare easy handles kept */

struct upstream_sock {
	uv_poll_t		 poll;
	curl_socket_t		 fd;
	int			 inited;	/* poll is initialised */
	int			 owned;		/* opened and closed through us */
	int			 events;	/* UV_* polled for, 0: stopped */
	int			 parked;	/* curl is not watching it */
	int			 closing;
	struct upstream		*up;
	TAILQ_ENTRY(upstream_sock) entry;
};
TAILQ_HEAD(upstream_socks, upstream_sock);

struct upstream_xfer {
	struct upstream			*up;
	CURL				*easy;
	const struct upstream_cbs	*cbs;
	void				*arg;

	char				*method;
	char				*url;
	struct buf			 req_text;	/* "Name: value\0"... */
	size_t				 nreq_hdrs;
	struct curl_slist		*req_hdrs;	/* into req_text */
	char				*body;
	size_t				 body_len;
	int				 has_body;
	struct upstream_opts		 opts;
	char				 errbuf[CURL_ERROR_SIZE];

	struct buf			 hdrs;	/* "name\0value\0" pairs */
	size_t				 nhdrs;
	int				 status;
	int				 headers_done;
	uint64_t			 bytes;

	uv_timer_t			 idle;
	uint64_t			 idle_last;	/* loop ms, last sign */

	/*
	 * in_cb counts owner callbacks running for this transfer; aborted
	 * means upstream_xfer_abort was called; failed means one of our
	 * callbacks stopped the transfer with fail_res; linked and queued
	 * say whether it is on up->xfers and on up->pending.
	 */
	int				 started;
	int				 in_multi;
	int				 paused;
	int				 in_cb;
	int				 aborted;
	int				 done;
	int				 want_start;
	int				 want_resume;
	int				 want_fail;
	int				 failed;
	enum upstream_result		 fail_res;
	const char			*fail_err;

	int				 linked;
	int				 queued;
	TAILQ_ENTRY(upstream_xfer)	 entry;
	TAILQ_ENTRY(upstream_xfer)	 pentry;
};
TAILQ_HEAD(upstream_xfers, upstream_xfer);

struct upstream {
	uv_loop_t		*loop;
	CURLM			*multi;
	uv_timer_t		 timer;		/* curl's timeout */
	uv_timer_t		 kick;		/* our own wake-up of curl */
	struct upstream_socks	 socks;		/* every struct, closing too */
	struct upstream_sock	**socktab;	/* open ones by fd */
	size_t			 nsocktab;
	struct upstream_xfers	 xfers;		/* every live transfer */
	struct upstream_xfers	 pending;	/* deferred work */
	CURL			*easy_pool[UPSTREAM_EASY_POOL];
	size_t			 neasy_pool;
	size_t			 nactive;
	unsigned int		 refs;		/* open uv handles */
	int			 curl_depth;	/* inside a curl call */
	int			 cb_depth;	/* inside on_headers/on_data */
	int			 processing;
	int			 shutdown_pending;
	int			 shutting_down;
#ifndef NDEBUG
	pthread_t		 thread;
#endif
};

#ifndef NDEBUG
#define UPSTREAM_ASSERT_THREAD(up) \
	assert(pthread_equal(pthread_self(), (up)->thread))
#else
#define UPSTREAM_ASSERT_THREAD(up) do { } while (0)
#endif

static void	upstream_process(struct upstream *);
static void	upstream_timer_cb(uv_timer_t *);
static void	upstream_xfer_free(struct upstream_xfer *);
static void	upstream_xfer_finish(struct upstream_xfer *,
		    enum upstream_result, const char *);

/* Drops a reference held by a closed handle; frees up after shutdown. */
static void
upstream_unref(struct upstream *up)
{
	assert(up->refs > 0);
	if (--up->refs == 0 && up->shutting_down)
		free(up);
}

/* Close callback of the curl and kick timers. */
static void
upstream_timer_close_cb(uv_handle_t *handle)
{
	upstream_unref(handle->data);
}

/* Close callback of a socket's poll handle: frees the per-socket struct. */
static void
upstream_sock_close_cb(uv_handle_t *handle)
{
	struct upstream_sock	*s = handle->data;
	struct upstream		*up = s->up;

	TAILQ_REMOVE(&up->socks, s, entry);
	free(s);
	upstream_unref(up);
}

/* Returns the struct of open socket fd, or NULL. */
static struct upstream_sock *
upstream_sock_find(struct upstream *up, curl_socket_t fd)
{
	if (fd < 0 || (size_t)fd >= up->nsocktab)
		return (NULL);
	return (up->socktab[fd]);
}

/* Creates the struct of socket fd (poll handle not yet initialised). */
static struct upstream_sock *
upstream_sock_new(struct upstream *up, curl_socket_t fd, int owned)
{
	struct upstream_sock	*s;
	size_t			 n;

	if ((size_t)fd >= up->nsocktab) {
		n = up->nsocktab == 0 ? 64 : up->nsocktab;
		while (n <= (size_t)fd)
			n *= 2;
		up->socktab = xreallocarray(up->socktab, n,
		    sizeof *up->socktab);
		memset(up->socktab + up->nsocktab, 0,
		    (n - up->nsocktab) * sizeof *up->socktab);
		up->nsocktab = n;
	}
	s = xcalloc(1, sizeof *s);
	s->fd = fd;
	s->up = up;
	s->owned = owned;
	TAILQ_INSERT_TAIL(&up->socks, s, entry);
	up->socktab[fd] = s;
	return (s);
}

/*
 * Forgets s and closes its poll handle; s is freed by the close callback.
 * uv_close takes the fd out of epoll at once, so this must run while the
 * fd is still ours: before closing it, never after (the kernel may have
 * given the number to another socket of this loop).
 */
static void
upstream_sock_close(struct upstream_sock *s)
{
	struct upstream	*up = s->up;

	if (s->closing)
		return;
	s->closing = 1;
	if (upstream_sock_find(up, s->fd) == s)
		up->socktab[s->fd] = NULL;
	if (!s->inited) {
		TAILQ_REMOVE(&up->socks, s, entry);
		free(s);
		return;
	}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, upstream_sock_close_cb);
}

/* Maps a CURLcode to the result the owner sees. */
static enum upstream_result
upstream_map(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return (UPSTREAM_OK);
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		return (UPSTREAM_ECONNECT);
	case CURLE_OPERATION_TIMEDOUT:
		return (UPSTREAM_ETIMEOUT);
	case CURLE_WRITE_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return (UPSTREAM_EABORT);
	default:
		return (UPSTREAM_EPROTO);
	}
}

/* Queues x for work that must wait until no curl call is running. */
static void
upstream_xfer_queue(struct upstream_xfer *x)
{
	if (x->queued)
		return;
	x->queued = 1;
	TAILQ_INSERT_TAIL(&x->up->pending, x, pentry);
}

/* Takes x off every list of its client. */
static void
upstream_xfer_unlink(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;

	if (x->queued) {
		TAILQ_REMOVE(&up->pending, x, pentry);
		x->queued = 0;
	}
	if (x->linked) {
		TAILQ_REMOVE(&up->xfers, x, entry);
		x->linked = 0;
		if (x->started)
			up->nactive--;
	}
}

/* Removes the easy handle from the multi (never inside a curl callback). */
static void
upstream_xfer_detach(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;

	uv_timer_stop(&x->idle);
	if (!x->in_multi)
		return;
	x->in_multi = 0;
	up->curl_depth++;
	curl_multi_remove_handle(up->multi, x->easy);
	up->curl_depth--;
}

/*
 * Idle timer callback: no bytes for idle_timeout_ms, end with ETIMEOUT.
 * The timer runs from the first sign of life and is not restarted on each
 * one (a response calls touch once per header line and per chunk): when it
 * fires early, it is re-armed for what is left since the last sign.
 */
static void
upstream_idle_cb(uv_timer_t *handle)
{
	struct upstream_xfer	*x = handle->data;
	uint64_t		 now, quiet;

	if (x->done || x->aborted || x->paused || !x->in_multi)
		return;
	now = uv_now(x->up->loop);
	quiet = now >= x->idle_last ? now - x->idle_last : 0;
	if (quiet < x->opts.idle_timeout_ms) {
		uv_timer_start(&x->idle, upstream_idle_cb,
		    x->opts.idle_timeout_ms - quiet, 0);
		return;
	}
	upstream_xfer_detach(x);
	upstream_xfer_finish(x, UPSTREAM_ETIMEOUT, "upstream idle timeout");
}

/* Bytes arrived or the consumer resumed: the idle clock starts afresh. */
static void
upstream_xfer_touch(struct upstream_xfer *x)
{
	if (x->opts.idle_timeout_ms == 0 || x->done || x->aborted ||
	    x->paused)
		return;
	x->idle_last = uv_now(x->up->loop);
	if (!uv_is_active((uv_handle_t *)&x->idle))
		uv_timer_start(&x->idle, upstream_idle_cb,
		    x->opts.idle_timeout_ms, 0);
}

/*
 * Keeps a finished easy handle for the next transfer, reset to its
 * defaults: curl_easy_init and cleanup cost several allocations each,
 * among them the 16 KiB receive buffer. Connections, sessions and caches
 * belong to the multi handle, so nothing of a request carries over.
 */
static void
upstream_easy_put(struct upstream *up, CURL *easy)
{
	if (up->shutting_down || up->neasy_pool == UPSTREAM_EASY_POOL) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	up->easy_pool[up->neasy_pool++] = easy;
}

/* Returns a spare easy handle, or a new one (NULL if curl has no memory). */
static CURL *
upstream_easy_get(struct upstream *up)
{
	if (up->neasy_pool > 0)
		return (up->easy_pool[--up->neasy_pool]);
	return (curl_easy_init());
}

void
upstream_trim(struct upstream *up)
{
	UPSTREAM_ASSERT_THREAD(up);
	while (up->neasy_pool > 0)
		curl_easy_cleanup(up->easy_pool[--up->neasy_pool]);
}

/* Close callback of a transfer's idle timer: frees the transfer. */
static void
upstream_xfer_close_cb(uv_handle_t *handle)
{
	struct upstream_xfer	*x = handle->data;
	struct upstream		*up = x->up;

	free(x->req_hdrs);
	buf_release(&x->req_text);
	buf_release(&x->hdrs);
	free(x->body);
	free(x->method);
	free(x->url);
	free(x);
	upstream_unref(up);
}

/*
 * Frees a transfer that is no longer in the multi: cleans up the easy
 * handle now and the memory once the idle timer has closed.
 */
static void
upstream_xfer_free(struct upstream_xfer *x)
{
	assert(!x->in_multi);
	upstream_xfer_unlink(x);
	if (x->easy != NULL) {
		upstream_easy_put(x->up, x->easy);
		x->easy = NULL;
	}
	uv_close((uv_handle_t *)&x->idle, upstream_xfer_close_cb);
}

/*
 * Ends a transfer that left the multi: calls on_done once unless the
 * owner aborted it, then frees it.
 */
static void
upstream_xfer_finish(struct upstream_xfer *x, enum upstream_result res,
    const char *err)
{
	long	 code = 0;

	uv_timer_stop(&x->idle);
	upstream_xfer_unlink(x);
	if (x->aborted) {
		upstream_xfer_free(x);
		return;
	}
	x->done = 1;
	if (x->easy != NULL &&
	    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) ==
	    CURLE_OK && code > 0)
		x->status = (int)code;
	if (x->cbs->on_done != NULL)
		x->cbs->on_done(x, x->arg, res, x->status,
		    err != NULL ? err : "ok");
	upstream_xfer_free(x);
}

/* Calls on_headers with the collected block; 0, or -1 to stop. */
static int
upstream_xfer_deliver(struct upstream_xfer *x)
{
	struct upstream_header	*h = NULL;
	const char		*p, *end;
	size_t			 i;
	int			 rv;

	x->headers_done = 1;
	if (x->cbs->on_headers == NULL)
		return (0);
	if (x->nhdrs > 0) {
		h = xcalloc(x->nhdrs, sizeof *h);
		p = buf_str(&x->hdrs);
		end = p + x->hdrs.len;
		for (i = 0; i < x->nhdrs && p < end; i++) {
			h[i].name = p;
			p += strlen(p) + 1;
			h[i].value = p;
			p += strlen(p) + 1;
		}
	}
	x->in_cb++;
	x->up->cb_depth++;
	rv = x->cbs->on_headers(x, x->arg, x->status, h, x->nhdrs);
	x->up->cb_depth--;
	x->in_cb--;
	free(h);
	if (x->aborted)
		return (-1);
	if (rv != 0) {
		x->failed = 1;
		x->fail_res = UPSTREAM_EABORT;
		x->fail_err = "response rejected by on_headers";
		return (-1);
	}
	return (0);
}

/* Marks a transfer as failed by a protocol problem we detected. */
static size_t
upstream_xfer_fail_proto(struct upstream_xfer *x, const char *err)
{
	x->failed = 1;
	x->fail_res = UPSTREAM_EPROTO;
	x->fail_err = err;
	return (0);
}

/* Parses the status code out of "HTTP/1.1 200 OK"; 0 if there is none. */
static int
upstream_parse_status(const char *p, size_t len)
{
	size_t	 i = 5;
	int	 code = 0, n = 0;

	while (i < len && p[i] != ' ')
		i++;
	while (i < len && p[i] == ' ')
		i++;
	for (; i < len && n < 3 && isdigit((unsigned char)p[i]); i++, n++)
		code = code * 10 + (p[i] - '0');
	return (n == 3 ? code : 0);
}

/*
 * CURLOPT_HEADERFUNCTION: collects one header line. A status line starts
 * a new block (1xx and redirect blocks are dropped); the empty line ending
 * a final block delivers it. Trailers are ignored.
 */
static size_t
upstream_header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct upstream_xfer	*x = userdata;
	size_t			 len = size * nmemb, n, i, nlen, vlen;
	const char		*colon, *v;
	char			*name;

	if (x->aborted || x->failed)
		return (0);
	upstream_xfer_touch(x);
	if (x->headers_done)
		return (len);
	n = len;
	while (n > 0 && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n'))
		n--;
	if (memchr(ptr, '\0', n) != NULL)
		return (upstream_xfer_fail_proto(x,
		    "malformed response header"));
	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		buf_reset(&x->hdrs);
		x->nhdrs = 0;
		x->status = upstream_parse_status(ptr, n);
		return (len);
	}
	if (n == 0) {
		if (x->status >= 100 && x->status < 200) {
			buf_reset(&x->hdrs);
			x->nhdrs = 0;
			return (len);
		}
		return (upstream_xfer_deliver(x) == 0 ? len : 0);
	}
	if (ptr[0] == ' ' || ptr[0] == '\t') {
		/* obs-fold: continues the previous value */
		if (x->nhdrs == 0)
			return (len);
		v = ptr;
		vlen = n;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		x->hdrs.len--;		/* drop the value's NUL, re-added */
		if (buf_add(&x->hdrs, " ", 1) != 0 ||
		    buf_add(&x->hdrs, v, vlen) != 0 ||
		    buf_add(&x->hdrs, "", 1) != 0)
			return (upstream_xfer_fail_proto(x,
			    "response headers too large"));
		return (len);
	}
	if ((colon = memchr(ptr, ':', n)) == NULL)
		return (len);
	nlen = (size_t)(colon - ptr);
	while (nlen > 0 && (ptr[nlen - 1] == ' ' || ptr[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 0)
		return (len);
	v = colon + 1;
	vlen = n - (size_t)(v - ptr);
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (x->nhdrs >= UPSTREAM_MAX_HDRS)
		return (upstream_xfer_fail_proto(x,
		    "too many response headers"));
	i = x->hdrs.len;
	if (buf_add(&x->hdrs, ptr, nlen) != 0 ||
	    buf_add(&x->hdrs, "", 1) != 0 ||
	    buf_add(&x->hdrs, v, vlen) != 0 ||
	    buf_add(&x->hdrs, "", 1) != 0)
		return (upstream_xfer_fail_proto(x,
		    "response headers too large"));
	for (name = x->hdrs.data + i; *name != '\0'; name++)
		*name = (char)tolower((unsigned char)*name);
	x->nhdrs++;
	return (len);
}

/*
 * CURLOPT_WRITEFUNCTION: hands body bytes to on_data (headers first if
 * they were not delivered yet) and maps its answer for curl.
 */
static size_t
upstream_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct upstream_xfer	*x = userdata;
	size_t			 len = size * nmemb;
	long			 code = 0;
	int			 rv;

	if (x->aborted || x->failed)
		return (0);
	upstream_xfer_touch(x);
	if (!x->headers_done) {
		if (x->status == 0 && curl_easy_getinfo(x->easy,
		    CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
			x->status = (int)code;
		if (upstream_xfer_deliver(x) != 0)
			return (0);
	}
	if (len == 0)
		return (0);
	x->in_cb++;
	x->up->cb_depth++;
	rv = x->cbs->on_data(x, x->arg, ptr, len);
	x->up->cb_depth--;
	x->in_cb--;
	if (x->aborted)
		return (0);
	switch (rv) {
	case UPSTREAM_CONTINUE:
		x->bytes += len;
		return (len);
	case UPSTREAM_PAUSE:
		x->paused = 1;
		uv_timer_stop(&x->idle);
		return (CURL_WRITEFUNC_PAUSE);
	default:
		x->failed = 1;
		x->fail_res = UPSTREAM_EABORT;
		x->fail_err = "transfer aborted by on_data";
		return (0);
	}
}

/* Drains curl's messages: each finished transfer is ended once. */
static void
upstream_drain(struct upstream *up)
{
	struct upstream_xfer	*x;
	CURLMsg			*msg;
	CURL			*easy;
	CURLcode		 code;
	enum upstream_result	 res;
	const char		*err;
	char			*priv;
	int			 left;

	while (!up->shutting_down &&
	    (msg = curl_multi_info_read(up->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		code = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		if ((x = (struct upstream_xfer *)priv) == NULL)
			BUG("curl transfer without its upstream_xfer");
		/* msg is not touched after this point */
		upstream_xfer_detach(x);
		if (code == CURLE_OK && !x->failed && !x->headers_done &&
		    !x->aborted)
			upstream_xfer_deliver(x);
		if (x->failed) {
			res = x->fail_res;
			err = x->fail_err;
		} else if (code == CURLE_OK) {
			res = UPSTREAM_OK;
			err = NULL;
		} else {
			res = upstream_map(code);
			err = x->errbuf[0] != '\0' ? x->errbuf :
			    curl_easy_strerror(code);
		}
		upstream_xfer_finish(x, res, err);
	}
}

/* Adds the easy handle of a started transfer to the multi. */
static int
upstream_xfer_add(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;
	CURLMcode	 rc;

	x->want_start = 0;
	up->curl_depth++;
	rc = curl_multi_add_handle(up->multi, x->easy);
	up->curl_depth--;
	if (rc != CURLM_OK) {
		log_warnx("upstream: cannot add transfer: %s",
		    curl_multi_strerror(rc));
		return (-1);
	}
	x->in_multi = 1;
	upstream_xfer_touch(x);
	return (0);
}

/*
 * Kicks curl from our own timer, leaving curl's timer alone: in the next
 * loop iteration, once the curl call we may be inside has returned.
 */
static void
upstream_kick(struct upstream *up)
{
	if (!up->shutting_down)
		uv_timer_start(&up->kick, upstream_timer_cb, 0, 0);
}

/*
 * Unpauses a transfer. curl may call the write callback from in here,
 * which can pause again, abort, or make the owner abort the transfer.
 */
static void
upstream_xfer_unpause(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;
	CURLcode	 rc;

	x->want_resume = 0;
	x->paused = 0;
	upstream_xfer_touch(x);
	up->curl_depth++;
	rc = curl_easy_pause(x->easy, CURLPAUSE_CONT);
	up->curl_depth--;
	if (x->aborted) {
		upstream_xfer_queue(x);
		return;
	}
	if (rc != CURLE_OK) {
		/* curl will not end this transfer by itself */
		upstream_xfer_detach(x);
		if (x->failed)
			upstream_xfer_finish(x, x->fail_res, x->fail_err);
		else
			upstream_xfer_finish(x, upstream_map(rc),
			    x->errbuf[0] != '\0' ? x->errbuf :
			    curl_easy_strerror(rc));
		return;
	}
	upstream_kick(up);
}

/*
 * Runs what could not run inside curl: finished transfers, deferred
 * starts, resumes and aborts. Only the outermost caller does the work.
 */
static void
upstream_process(struct upstream *up)
{
	struct upstream_xfer	*x;

	if (up->curl_depth > 0 || up->processing)
		return;
	up->processing = 1;
	while (!up->shutting_down) {
		upstream_drain(up);
		if (up->shutting_down)
			break;
		if ((x = TAILQ_FIRST(&up->pending)) == NULL)
			break;
		TAILQ_REMOVE(&up->pending, x, pentry);
		x->queued = 0;
		if (x->aborted) {
			upstream_xfer_detach(x);
			upstream_xfer_free(x);
		} else if (x->want_start) {
			if (upstream_xfer_add(x) != 0)
				upstream_xfer_finish(x, UPSTREAM_EPROTO,
				    "cannot start transfer");
		} else if (x->want_fail) {
			upstream_xfer_detach(x);
			upstream_xfer_finish(x, x->fail_res, x->fail_err);
		} else if (x->want_resume && x->paused)
			upstream_xfer_unpause(x);
	}
	up->processing = 0;
}

/* Lets curl act on a socket (or on its timeouts), then runs queued work. */
static void
upstream_action(struct upstream *up, curl_socket_t fd, int flags)
{
	int	 running;

	if (up->shutting_down)
		return;
	up->curl_depth++;
	curl_multi_socket_action(up->multi, fd, flags, &running);
	up->curl_depth--;
	upstream_process(up);
}

/* Poll callback: hands socket readiness (or an error) to curl. */
static void
upstream_poll_cb(uv_poll_t *handle, int status, int events)
{
	struct upstream_sock	*s = handle->data;
	int			 flags = 0;

	if (s->parked) {
		/* an idle connection stirred (the server closed it, say) */
		uv_poll_stop(&s->poll);
		s->events = 0;
		return;
	}
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	upstream_action(s->up, s->fd, flags);
}

/* Timer callback: curl's timeout expired, or we kicked it. */
static void
upstream_timer_cb(uv_timer_t *handle)
{
	struct upstream	*up = handle->data;

	if (up->shutdown_pending && !up->shutting_down) {
		upstream_shutdown(up);
		return;
	}
	upstream_action(up, CURL_SOCKET_TIMEOUT, 0);
}

/*
 * Fails the transfer whose socket cannot be polled, once curl has
 * returned. Returning -1 to curl instead would fail every transfer.
 */
static void
upstream_sock_fail(CURL *easy, curl_socket_t fd, int rc)
{
	struct upstream_xfer	*x;
	char			*priv = NULL;

	log_warnx("upstream: cannot poll socket %d: %s", (int)fd,
	    uv_strerror(rc));
	if (easy == NULL || curl_easy_getinfo(easy, CURLINFO_PRIVATE,
	    &priv) != CURLE_OK || (x = (struct upstream_xfer *)priv) == NULL)
		return;
	if (x->done || x->aborted || x->failed)
		return;
	x->failed = 1;
	x->fail_res = UPSTREAM_EPROTO;
	x->fail_err = "cannot poll the upstream socket";
	x->want_fail = 1;
	upstream_xfer_queue(x);
}

/*
 * CURLMOPT_SOCKETFUNCTION: starts, changes or stops polling one socket.
 * Structs are found by fd rather than through curl_multi_assign: curl
 * forgets the assignment on CURL_POLL_REMOVE, which it sends whenever a
 * connection goes back to its cache, and a reused connection must find
 * its poll handle again instead of making a new one per request. On
 * CURL_POLL_REMOVE a connection socket's handle is parked, not stopped:
 * in libuv 1.44 each uv_poll_stop or uv_poll_start is an EPOLL_CTL_DEL
 * (and the next poll an EPOLL_CTL_ADD), and the next request on the
 * connection almost always wants the same events again. A parked handle
 * that fires is stopped then, without telling curl. The handle is closed
 * with the socket, in upstream_closesocket_cb; any other socket's is
 * closed on CURL_POLL_REMOVE.
 */
static int
upstream_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct upstream		*up = userp;
	struct upstream_sock	*s;
	int			 events = 0, rc;

	(void)socketp;
	s = upstream_sock_find(up, fd);
	if (what == CURL_POLL_REMOVE) {
		if (s == NULL)
			return (0);
		if (!s->owned)
			upstream_sock_close(s);
		else
			s->parked = 1;
		return (0);
	}
	if (up->shutting_down)
		return (0);
	if (s == NULL)
		s = upstream_sock_new(up, fd, 0);
	if (!s->inited) {
		if ((rc = uv_poll_init_socket(up->loop, &s->poll, fd)) != 0) {
			if (!s->owned)
				upstream_sock_close(s);
			upstream_sock_fail(easy, fd, rc);
			return (0);
		}
		s->poll.data = s;
		s->inited = 1;
		up->refs++;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	s->parked = 0;
	if (events == s->events)
		return (0);
	if ((rc = uv_poll_start(&s->poll, events, upstream_poll_cb)) != 0) {
		s->events = 0;
		upstream_sock_fail(easy, fd, rc);
	} else
		s->events = events;
	return (0);
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: opens a connection socket as curl would and
 * marks it as ours, so that its poll handle outlives CURL_POLL_REMOVE.
 */
static curl_socket_t
upstream_opensocket_cb(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	struct upstream		*up = clientp;
	struct upstream_sock	*s;
	curl_socket_t		 fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
	    addr->protocol);
	if (fd == CURL_SOCKET_BAD)
		return (CURL_SOCKET_BAD);
	/*
	 * A struct left for this number belongs to a socket closed behind
	 * our back: drop it (the new fd is not in epoll yet, so closing the
	 * stale handle cannot take anybody's registration away).
	 */
	if ((s = upstream_sock_find(up, fd)) != NULL)
		upstream_sock_close(s);
	upstream_sock_new(up, fd, 1);
	return (fd);
}

/*
 * CURLOPT_CLOSESOCKETFUNCTION: closes the poll handle of a connection
 * socket while the fd is still open, then the socket. May run after the
 * transfer that opened the connection is gone (closing a cached
 * connection), never after curl_multi_cleanup.
 */
static int
upstream_closesocket_cb(void *clientp, curl_socket_t fd)
{
	struct upstream		*up = clientp;
	struct upstream_sock	*s;

	if ((s = upstream_sock_find(up, fd)) != NULL)
		upstream_sock_close(s);
	return (close(fd) == 0 ? 0 : 1);
}

/*
 * CURLMOPT_TIMERFUNCTION: arms the one-shot timer (-1 stops it). A timeout
 * of 0 means "call me now"; a 0 ms uv timer runs at the start of the next
 * loop iteration, after a poll that does not block, so curl is acted on
 * promptly but never from inside one of its own calls.
 */
static int
upstream_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream	*up = userp;

	(void)multi;
	if (up->shutting_down)
		return (0);
	if (timeout_ms < 0)
		uv_timer_stop(&up->timer);
	else
		uv_timer_start(&up->timer, upstream_timer_cb,
		    (uint64_t)timeout_ms, 0);
	return (0);
}

struct upstream *
upstream_new(uv_loop_t *loop, char **cause)
{
	struct upstream	*up;

	up = xcalloc(1, sizeof *up);
	up->loop = loop;
#ifndef NDEBUG
	up->thread = pthread_self();
#endif
	TAILQ_INIT(&up->socks);
	TAILQ_INIT(&up->xfers);
	TAILQ_INIT(&up->pending);
	if ((up->multi = curl_multi_init()) == NULL) {
		if (cause != NULL)
			*cause = xstrdup("cannot create a curl multi handle");
		free(up);
		return (NULL);
	}
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION,
	    upstream_socket_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, upstream_timer_fn);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS,
	    (long)UPSTREAM_MAXCONNECTS);
	curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	uv_timer_init(loop, &up->timer);
	up->timer.data = up;
	uv_timer_init(loop, &up->kick);
	up->kick.data = up;
	up->refs = 2;
	return (up);
}

void
upstream_shutdown(struct upstream *up)
{
	struct upstream_xfer	*x;
	struct upstream_sock	*s, *next;

	if (up == NULL || up->shutting_down)
		return;
	UPSTREAM_ASSERT_THREAD(up);
	if (up->curl_depth > 0 || up->cb_depth > 0) {
		/* from on_headers or on_data: once curl has returned */
		up->shutdown_pending = 1;
		uv_timer_start(&up->kick, upstream_timer_cb, 0, 0);
		return;
	}
	up->shutting_down = 1;
	/* owner-aborted transfers first: they get no callback */
	while ((x = TAILQ_FIRST(&up->pending)) != NULL) {
		TAILQ_REMOVE(&up->pending, x, pentry);
		x->queued = 0;
		if (x->aborted) {
			upstream_xfer_detach(x);
			upstream_xfer_free(x);
		}
	}
	while ((x = TAILQ_FIRST(&up->xfers)) != NULL) {
		upstream_xfer_detach(x);
		upstream_xfer_finish(x, UPSTREAM_ESHUTDOWN,
		    "upstream client is shutting down");
	}
	uv_timer_stop(&up->timer);
	uv_timer_stop(&up->kick);
	upstream_trim(up);
	up->curl_depth++;
	curl_multi_cleanup(up->multi);
	up->curl_depth--;
	up->multi = NULL;
	/* sockets curl did not close; the list shrinks in close callbacks */
	for (s = TAILQ_FIRST(&up->socks); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		upstream_sock_close(s);
	}
	free(up->socktab);
	up->socktab = NULL;
	up->nsocktab = 0;
	uv_close((uv_handle_t *)&up->timer, upstream_timer_close_cb);
	uv_close((uv_handle_t *)&up->kick, upstream_timer_close_cb);
}

size_t
upstream_active(const struct upstream *up)
{
	return (up->nactive);
}

struct upstream_xfer *
upstream_xfer_new(struct upstream *up, const char *method, const char *url,
    const struct upstream_cbs *cbs, void *arg)
{
	struct upstream_xfer	*x;

	UPSTREAM_ASSERT_THREAD(up);
	x = xcalloc(1, sizeof *x);
	x->up = up;
	x->cbs = cbs;
	x->arg = arg;
	x->method = xstrdup(method);
	x->url = xstrdup(url);
	buf_init(&x->hdrs, UPSTREAM_MAX_HDR_BYTES);
	buf_init(&x->req_text, UPSTREAM_MAX_REQ_HDR_BYTES);
	uv_timer_init(up->loop, &x->idle);
	x->idle.data = x;
	up->refs++;
	x->linked = 1;
	TAILQ_INSERT_TAIL(&up->xfers, x, entry);
	return (x);
}

/* Returns 1 if s holds a CR or LF (header injection). */
static int
upstream_has_crlf(const char *s)
{
	return (strpbrk(s, "\r\n") != NULL);
}

void
upstream_xfer_header(struct upstream_xfer *x, const char *name,
    const char *value)
{
	size_t			 nlen, vlen;

	UPSTREAM_ASSERT_THREAD(x->up);
	if (x->started)
		BUG("upstream_xfer_header after start");
	if (*name == '\0' || strchr(name, ':') != NULL ||
	    upstream_has_crlf(name) || upstream_has_crlf(value)) {
		log_warnx("upstream: invalid request header '%s' dropped",
		    upstream_has_crlf(name) ? "?" : name);
		return;
	}
	/*
	 * "Name: value", or "Name;", which is how curl sends a header with
	 * an empty value. The lines go into one buffer and are linked into
	 * a curl_slist when the transfer starts: a dozen per request, and
	 * curl_slist_append costs two allocations each.
	 */
	nlen = strlen(name);
	vlen = strlen(value);
	if (nlen + vlen + 3 > x->req_text.max - x->req_text.len) {
		log_warnx("upstream: request headers past %zu bytes: '%s' "
		    "dropped", x->req_text.max, name);
		return;
	}
	(void)buf_add(&x->req_text, name, nlen);
	(void)buf_add(&x->req_text, vlen == 0 ? ";" : ": ", vlen == 0 ? 1 : 2);
	(void)buf_add(&x->req_text, value, vlen + 1);
	x->nreq_hdrs++;
}

void
upstream_xfer_body(struct upstream_xfer *x, const char *data, size_t len)
{
	UPSTREAM_ASSERT_THREAD(x->up);
	if (x->started)
		BUG("upstream_xfer_body after start");
	free(x->body);
	x->body = xmalloc(len + 1);
	if (len > 0)
		memcpy(x->body, data, len);
	x->body[len] = '\0';
	x->body_len = len;
	x->has_body = 1;
}

void
upstream_xfer_opts(struct upstream_xfer *x, const struct upstream_opts *o)
{
	UPSTREAM_ASSERT_THREAD(x->up);
	if (x->started)
		BUG("upstream_xfer_opts after start");
	x->opts = *o;
}

/* Returns 1 if the request headers already name this header. */
static int
upstream_xfer_has_header(const struct upstream_xfer *x, const char *name)
{
	const char	*l = x->req_text.data, *end;
	size_t		 n = strlen(name);

	if (l == NULL)
		return (0);
	for (end = l + x->req_text.len; l < end; l += strlen(l) + 1) {
		if (strncasecmp(l, name, n) == 0 &&
		    (l[n] == ':' || l[n] == ';'))
			return (1);
	}
	return (0);
}

/* Links the request header lines into the list curl reads. */
static void
upstream_xfer_link_headers(struct upstream_xfer *x)
{
	static char	 expect[] = "Expect:";
	char		*l;
	size_t		 i, n = x->nreq_hdrs;

	/* no 100-continue round trip for large bodies */
	if (!upstream_xfer_has_header(x, "Expect"))
		n++;
	x->req_hdrs = xcalloc(n, sizeof *x->req_hdrs);
	l = x->req_text.data;
	for (i = 0; i < x->nreq_hdrs; i++) {
		x->req_hdrs[i].data = l;
		x->req_hdrs[i].next = &x->req_hdrs[i + 1];
		l += strlen(l) + 1;
	}
	if (n > x->nreq_hdrs)
		x->req_hdrs[i].data = expect;	/* curl only reads it */
	x->req_hdrs[n - 1].next = NULL;
}

/* Builds the easy handle of x; 0, or -1 if curl refused an option. */
static int
upstream_xfer_setup(struct upstream_xfer *x)
{
	CURL			*e;
	CURLcode		 rc = CURLE_OK;

	if ((e = x->easy = upstream_easy_get(x->up)) == NULL)
		return (-1);
	upstream_xfer_link_headers(x);
#define SETOPT(opt, val) do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(e, (opt), (val));			\
} while (0)
	SETOPT(CURLOPT_URL, x->url);
	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, upstream_opensocket_cb);
	SETOPT(CURLOPT_OPENSOCKETDATA, (void *)x->up);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, upstream_closesocket_cb);
	SETOPT(CURLOPT_CLOSESOCKETDATA, (void *)x->up);
	SETOPT(CURLOPT_TCP_NODELAY, 1L);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/*
	 * Over TLS, wait for ALPN to say whether a connection multiplexes
	 * instead of opening one per request. Never over cleartext: curl
	 * 7.88 then parks the others until the first transfer ends.
	 */
	if (strncasecmp(x->url, "https://", 8) == 0)
		SETOPT(CURLOPT_PIPEWAIT, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	SETOPT(CURLOPT_HEADERFUNCTION, upstream_header_cb);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	SETOPT(CURLOPT_WRITEFUNCTION, upstream_write_cb);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	SETOPT(CURLOPT_HTTPHEADER, x->req_hdrs);
	if (x->opts.connect_timeout_ms > 0)
		SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
		    (long)x->opts.connect_timeout_ms);
	if (x->opts.total_timeout_ms > 0)
		SETOPT(CURLOPT_TIMEOUT_MS, (long)x->opts.total_timeout_ms);
	if (strcmp(x->method, "GET") == 0 && !x->has_body)
		SETOPT(CURLOPT_HTTPGET, 1L);
	else if (strcmp(x->method, "HEAD") == 0 && !x->has_body)
		SETOPT(CURLOPT_NOBODY, 1L);
	else {
		if (strcmp(x->method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, x->method);
		if (x->has_body || strcmp(x->method, "POST") == 0) {
			/* never let curl read a POST body from stdin */
			SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)x->body_len);
			SETOPT(CURLOPT_POSTFIELDS,
			    x->body != NULL ? x->body : "");
		}
	}
#undef SETOPT
	if (rc != CURLE_OK) {
		log_warnx("upstream: cannot set up transfer: %s",
		    curl_easy_strerror(rc));
		return (-1);
	}
	return (0);
}

int
upstream_xfer_start(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;

	UPSTREAM_ASSERT_THREAD(up);
	if (x->started)
		BUG("upstream_xfer_start called twice");
	if (up->shutting_down || upstream_xfer_setup(x) != 0) {
		upstream_xfer_free(x);
		return (-1);
	}
	x->started = 1;
	up->nactive++;
	if (up->curl_depth > 0) {
		/* curl refuses new handles from inside its callbacks */
		x->want_start = 1;
		upstream_xfer_queue(x);
		return (0);
	}
	if (upstream_xfer_add(x) != 0) {
		upstream_xfer_free(x);
		return (-1);
	}
	return (0);
}

void
upstream_xfer_resume(struct upstream_xfer *x)
{
	struct upstream	*up = x->up;

	UPSTREAM_ASSERT_THREAD(up);
	if (x->done || x->aborted || !x->paused || !x->in_multi ||
	    up->shutting_down)
		return;
	if (up->curl_depth > 0) {
		x->want_resume = 1;
		upstream_xfer_queue(x);
		return;
	}
	upstream_xfer_unpause(x);
	upstream_process(up);
}

void
upstream_xfer_abort(struct upstream_xfer *x)
{
	struct upstream	*up;

	if (x == NULL)
		return;
	up = x->up;
	UPSTREAM_ASSERT_THREAD(up);
	if (x->done || x->aborted)
		return;
	x->aborted = 1;
	uv_timer_stop(&x->idle);
	if (x->in_cb > 0 || up->curl_depth > 0) {
		/* freed once curl has returned */
		upstream_xfer_queue(x);
		return;
	}
	upstream_xfer_detach(x);
	upstream_xfer_free(x);
}

uint64_t
upstream_xfer_bytes(const struct upstream_xfer *x)
{
	return (x->bytes);
}
