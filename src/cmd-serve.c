/* SPDX-License-Identifier: ISC */
/*
 * cmd-serve: `copilot-gw serve`, the headless front end. It starts the
 * proxy thread and then waits in poll(2) on a self-pipe for signals and
 * on the proxy's event fd: SIGINT/SIGTERM begin a graceful shutdown (a
 * second one makes it immediate), SIGHUP rereads the config file. Logs
 * are JSON lines on stderr. Main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "cmd.h"
#include "log.h"
#include "msg.h"
#include "proxy/proxy.h"

static const char *const cmd_serve_options[] = {
	"--allow-remote", "--listen", "--log-level", NULL
};

static int	cmd_serve_sigpipe[2] = { -1, -1 };

static void
cmd_serve_signal_cb(int sig)
{
	unsigned char	 c = (unsigned char)sig;
	int		 saved = errno;

	if (write(cmd_serve_sigpipe[1], &c, 1) == -1) {
		/* Full pipe: a signal is already pending. */
	}
	errno = saved;
}

/* Installs the signal handlers that feed the self-pipe. */
static int
cmd_serve_signals(void)
{
	struct sigaction	 sa;
	int			 i;

	if (pipe(cmd_serve_sigpipe) == -1)
		return (-1);
	for (i = 0; i < 2; i++) {
		fcntl(cmd_serve_sigpipe[i], F_SETFL, O_NONBLOCK);
		fcntl(cmd_serve_sigpipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cmd_serve_signal_cb;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return (0);
}

/* Waits for signals and proxy events until the proxy stops. */
static int
cmd_serve_wait(struct proxy *p, struct chan *events, struct chan_fd *efd)
{
	struct pollfd	 pfd[2];
	struct msg	*m, *next;
	unsigned char	 sig;
	int		 stopped = 0, status = 0, nstop = 0;

	pfd[0].fd = cmd_serve_sigpipe[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = efd->fd;
	pfd[1].events = POLLIN;
	while (!stopped) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		while (read(cmd_serve_sigpipe[0], &sig, 1) == 1) {
			if (sig == SIGHUP) {
				proxy_post(p, msg_new(MSG_CMD_RELOAD, 0, NULL));
				continue;
			}
			log_ev(LOG_LEVEL_INFO, NULL, "signal received",
			    LF_STR("signal", sig == SIGINT ? "SIGINT" :
			    "SIGTERM"), LF_BOOL("immediate", nstop > 0));
			proxy_post(p, msg_new(MSG_CMD_SHUTDOWN, nstop > 0,
			    NULL));
			nstop++;
		}
		chan_fd_clear(efd);
		for (m = chan_drain(events); m != NULL; m = next) {
			next = m->next;
			if (m->type == MSG_EV_STOPPED) {
				stopped = 1;
				status = (int)m->i;
			}
			msg_free(m);
		}
	}
	return (status);
}

static int
cmd_serve_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "allow-remote", no_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct chan_fd	 efd;
	struct chan	*events;
	struct proxy	*p;
	char		*cause = NULL;
	int		 ch, status;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			config_add_flag(&ctx->cfg, "listen", optarg);
			break;
		case 'L':
			config_add_flag(&ctx->cfg, "log.level", optarg);
			break;
		case 'r':
			config_add_flag(&ctx->cfg, "listen.allow_remote",
			    "true");
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (chan_fd_init(&efd) != 0 || cmd_serve_signals() != 0)
		return (cmd_fail("cannot set up signal handling: %s",
		    strerror(errno)));
	events = chan_new(chan_fd_wake_cb, &efd);
	if (!config_host_is_loopback(ctx->cfg.listen_host))
		log_ev(LOG_LEVEL_WARN, NULL, "listening on a non-loopback "
		    "address: anyone who can reach it can use the gateway",
		    LF_STR("host", ctx->cfg.listen_host));
	if ((p = proxy_new(&ctx->cfg, &ctx->paths, events, &cause)) == NULL ||
	    proxy_start(p, &cause) != 0) {
		status = cmd_fail("%s", cause);
		free(cause);
		proxy_free(p);
		chan_free(events);
		chan_fd_release(&efd);
		return (status);
	}
	status = cmd_serve_wait(p, events, &efd);
	status = proxy_join(p) != 0 ? 1 : status;
	proxy_free(p);
	chan_free(events);
	chan_fd_release(&efd);
	return (status == 0 ? CMD_EXIT_OK : CMD_EXIT_FAIL);
}

const struct cmd_entry cmd_serve_entry = {
	.name = "serve",
	.args = "[--allow-remote] [--listen HOST:PORT] [--log-level LEVEL]",
	.summary = "run the gateway in the foreground, logging JSON lines to "
	    "standard error",
	.options = cmd_serve_options,
	.flags = CMD_CONFIG | CMD_DIRS,
	.exec = cmd_serve_exec,
};
