/* SPDX-License-Identifier: ISC */
#ifndef PROXY_H
#define PROXY_H

/*
 * The proxy: a libuv loop on its own thread that owns the listener, every
 * connection, the upstream client and the store writer. This is the only
 * proxy/ header used outside proxy/ (by src/cmd-*.c). The front end talks
 * to it only through messages (src/msg.h): commands go in with
 * proxy_post, events come out on the chan given to proxy_new.
 */

struct chan;
struct config;
struct msg;
struct paths;
struct proxy;

/*
 * Builds a proxy: copies cfg, opens and migrates the store, and binds the
 * listener, so that configuration and address errors surface here.
 * events (borrowed, must outlive the proxy) receives MSG_EV_*. Returns an
 * owned proxy or NULL with *cause. Front-end thread, before proxy_start.
 */
#define PROXY_NO_LISTEN	0x1	/* no listener: for CLI commands (login) */

struct proxy	*proxy_new(const struct config *cfg, const struct paths *paths,
		    struct chan *events, int flags, char **cause);
/* Starts the proxy thread; 0, or -1 with *cause. Front-end thread. */
int		 proxy_start(struct proxy *, char **cause);
/* Takes m and delivers it to the proxy thread. Any thread. */
void		 proxy_post(struct proxy *, struct msg *m);
/*
 * Waits for the proxy thread to end (after MSG_EV_STOPPED) and returns
 * its exit status: 0 clean, 1 if the loop did not close cleanly.
 */
int		 proxy_join(struct proxy *);
/* Frees a joined (or never started) proxy; NULL is a no-op. */
void		 proxy_free(struct proxy *);
/* Returns the bound address as "host:port" (borrowed). */
const char	*proxy_address(const struct proxy *);

#endif
