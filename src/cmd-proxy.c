/* SPDX-License-Identifier: ISC */
/*
 * cmd-proxy: the part of a headless front end shared by serve and login.
 * The proxy runs on its own thread; this thread waits in poll(2) on a
 * self-pipe fed by signal handlers and on the eventfd that the proxy's
 * event chan wakes, and hands both to the command's callbacks. Main
 * thread only.
 */
#include "cmd-proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "cmd.h"
#include "log.h"
#include "msg.h"
#include "proxy/proxy.h"
#include "xmalloc.h"

static int		 cmd_proxy_sigpipe[2] = { -1, -1 };
static struct chan_fd	 cmd_proxy_efd = { -1 };

static void
cmd_proxy_signal_handler(int sig)
{
	unsigned char	 c = (unsigned char)sig;
	int		 saved = errno;

	if (write(cmd_proxy_sigpipe[1], &c, 1) == -1) {
		/* Full pipe: a signal is already pending. */
	}
	errno = saved;
}

/* Installs the handlers that feed the self-pipe (once). */
static int
cmd_proxy_signals(void)
{
	struct sigaction	 sa;
	int			 i;

	if (cmd_proxy_sigpipe[0] != -1)
		return (0);
	if (pipe(cmd_proxy_sigpipe) == -1)
		return (-1);
	for (i = 0; i < 2; i++) {
		fcntl(cmd_proxy_sigpipe[i], F_SETFL, O_NONBLOCK);
		fcntl(cmd_proxy_sigpipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cmd_proxy_signal_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return (0);
}

int
cmd_proxy_start(struct cmd_ctx *ctx, struct cmd_proxy *cp, int flags)
{
	char	*cause = NULL;

	memset(cp, 0, sizeof *cp);
	if (cmd_proxy_signals() != 0 || (cmd_proxy_efd.fd == -1 &&
	    chan_fd_init(&cmd_proxy_efd) != 0)) {
		cmd_fail("cannot set up signal handling: %s", strerror(errno));
		return (-1);
	}
	cp->efd = cmd_proxy_efd.fd;
	cp->events = chan_new(chan_fd_wake_cb, &cmd_proxy_efd);
	if ((cp->proxy = proxy_new(&ctx->cfg, &ctx->paths, cp->events, flags,
	    &cause)) == NULL || proxy_start(cp->proxy, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		proxy_free(cp->proxy);
		chan_free(cp->events);
		cp->proxy = NULL;
		cp->events = NULL;
		return (-1);
	}
	return (0);
}

void
cmd_proxy_post(struct cmd_proxy *cp, struct msg *m)
{
	proxy_post(cp->proxy, m);
}

int
cmd_proxy_wait(struct cmd_proxy *cp, cmd_proxy_event_cb on_event,
    cmd_proxy_signal_cb on_signal, void *arg)
{
	struct pollfd	 pfd[2];
	struct msg	*m, *next;
	unsigned char	 sig;
	int		 done = 0;

	pfd[0].fd = cmd_proxy_sigpipe[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = cp->efd;
	pfd[1].events = POLLIN;
	while (!done && !cp->stopped) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		while (read(cmd_proxy_sigpipe[0], &sig, 1) == 1) {
			if (on_signal != NULL && on_signal(arg, sig))
				done = 1;
		}
		chan_fd_clear(&cmd_proxy_efd);
		for (m = chan_drain(cp->events); m != NULL; m = next) {
			next = m->next;
			if (m->type == MSG_EV_STOPPED) {
				cp->stopped = 1;
				cp->status = (int)m->i;
			} else if (on_event != NULL && on_event(arg, m))
				done = 1;
			msg_free(m);
		}
	}
	return (0);
}

int
cmd_proxy_stop(struct cmd_proxy *cp)
{
	int	 status;

	if (cp->proxy == NULL)
		return (1);
	if (!cp->stopped) {
		proxy_post(cp->proxy, msg_new(MSG_CMD_SHUTDOWN, 0, NULL));
		cmd_proxy_wait(cp, NULL, NULL, NULL);
	}
	status = proxy_join(cp->proxy) != 0 || cp->status != 0;
	proxy_free(cp->proxy);
	chan_free(cp->events);
	cp->proxy = NULL;
	cp->events = NULL;
	return (status);
}
