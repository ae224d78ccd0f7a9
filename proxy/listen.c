/* SPDX-License-Identifier: ISC */
/*
 * listen: the one listening socket. Resolves and binds the configured
 * address when the proxy is built (on the front-end thread, before the
 * loop runs, so that errors reach the command line), then accepts on the
 * proxy thread. A non-loopback address is refused unless
 * listen.allow_remote is set.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "xmalloc.h"

static void
listen_cb(uv_stream_t *s, int status)
{
	struct server	*srv = s->data;

	if (status < 0) {
		log_ev(LOG_LEVEL_WARN, NULL, "accept failed",
		    LF_STR("error", uv_strerror(status)));
		return;
	}
	conn_accept(srv);
}

/* Formats a socket address as host:port ([v6]:port). */
static void
listen_format(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];
	int	 port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		uv_ip6_name(s6, host, sizeof host);
		port = ntohs(s6->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		uv_ip4_name(s4, host, sizeof host);
		port = ntohs(s4->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	}
}

int
listen_start(struct server *srv, char **cause)
{
	uv_getaddrinfo_t	 gai;
	struct addrinfo		 hints;
	struct sockaddr_storage	 ss;
	const char		*host = srv->cfg.listen_host;
	char			 port[16];
	int			 rc, namelen;

	/*
	 * http-parser has a compiled-in header cap (80 KiB); lift it so that
	 * limits.max_header_bytes (at most 1 MiB) is the one in force.
	 */
	http_parser_set_max_header_size(1024 * 1024 + 65536);
	if ((*cause = config_listen_refusal(&srv->cfg, host)) != NULL)
		return (-1);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%llu",
	    (unsigned long long)srv->cfg.listen_port);
	/* A NULL callback makes this synchronous; the loop is not running. */
	if ((rc = uv_getaddrinfo(&srv->loop, &gai, NULL, host, port,
	    &hints)) != 0) {
		*cause = xasprintf("cannot resolve listen address '%s': %s",
		    host, uv_strerror(rc));
		return (-1);
	}
	uv_tcp_init(&srv->loop, &srv->listener);
	srv->listener.data = srv;
	srv->listening = 1;
	rc = uv_tcp_bind(&srv->listener, gai.addrinfo->ai_addr, 0);
	uv_freeaddrinfo(gai.addrinfo);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, 511, listen_cb);
	if (rc != 0) {
		*cause = xasprintf("cannot listen on %s:%s: %s%s", host, port,
		    uv_strerror(rc), rc == UV_EADDRINUSE ? " (is another "
		    "copilot-gw running? choose a port with --listen)" : "");
		return (-1);
	}
	namelen = sizeof ss;
	uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &namelen);
	listen_format(&ss, srv->address, sizeof srv->address);
	return (0);
}

void
listen_stop(struct server *srv)
{
	if (!srv->listening)
		return;
	srv->listening = 0;
	uv_close((uv_handle_t *)&srv->listener, NULL);
}
