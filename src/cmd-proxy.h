/* SPDX-License-Identifier: ISC */
#ifndef CMD_PROXY_H
#define CMD_PROXY_H

/*
 * For commands that run the proxy thread (serve, login): start it, wait
 * on signals (SIGINT, SIGTERM, SIGHUP through a self-pipe) and its
 * events, and stop it. Main thread only.
 */

struct cmd_ctx;
struct msg;
struct proxy;
struct chan;

struct cmd_proxy {
	struct proxy	*proxy;
	struct chan	*events;
	int		 efd;
	int		 status;	/* from MSG_EV_STOPPED */
	int		 stopped;
};

/* Returns 1 to end the wait, 0 to go on. */
typedef int (*cmd_proxy_event_cb)(void *arg, struct msg *);
typedef int (*cmd_proxy_signal_cb)(void *arg, int sig);

/* Starts the proxy (flags: PROXY_*); 0, or -1 with a message printed. */
int	 cmd_proxy_start(struct cmd_ctx *, struct cmd_proxy *, int flags);
/*
 * Waits until a callback returns 1 or the proxy stops; event messages
 * are freed after the callback. Returns 0.
 */
int	 cmd_proxy_wait(struct cmd_proxy *, cmd_proxy_event_cb,
	    cmd_proxy_signal_cb, void *arg);
/* Posts a message to the proxy (taken). */
void	 cmd_proxy_post(struct cmd_proxy *, struct msg *);
/*
 * Asks the proxy to stop (if it has not), waits, joins and frees;
 * returns 0 if it stopped cleanly, else 1.
 */
int	 cmd_proxy_stop(struct cmd_proxy *);

#endif
