/* SPDX-License-Identifier: ISC */
/*
 * cmd-serve: `copilot-gw serve`, the headless front end. It starts the
 * proxy thread and then waits in poll(2) on a self-pipe for signals and
 * on the proxy's event fd: SIGINT/SIGTERM begin a graceful shutdown (a
 * second one makes it immediate), SIGHUP rereads the config file. Logs
 * are JSON lines on stderr. Main thread.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmd-proxy.h"
#include "log.h"
#include "msg.h"

static const char *const cmd_serve_options[] = {
	"--allow-remote", "--listen", "--log-level", NULL
};

struct cmd_serve {
	struct cmd_proxy	 cp;
	int			 nstop;
};

/* SIGINT/SIGTERM stop gracefully (then at once); SIGHUP reloads. */
static int
cmd_serve_signal_cb(void *arg, int sig)
{
	struct cmd_serve	*cs = arg;

	if (sig == SIGHUP) {
		cmd_proxy_post(&cs->cp, msg_new(MSG_CMD_RELOAD, 0, NULL));
		return (0);
	}
	log_ev(LOG_LEVEL_INFO, NULL, "signal received",
	    LF_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"),
	    LF_BOOL("immediate", cs->nstop > 0));
	cmd_proxy_post(&cs->cp, msg_new(MSG_CMD_SHUTDOWN, cs->nstop > 0,
	    NULL));
	cs->nstop++;
	return (0);
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
	struct cmd_serve	 cs;
	int			 ch, status;

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
	if (!config_host_is_loopback(ctx->cfg.listen_host))
		log_ev(LOG_LEVEL_WARN, NULL, "listening on a non-loopback "
		    "address: anyone who can reach it can use the gateway",
		    LF_STR("host", ctx->cfg.listen_host));
	memset(&cs, 0, sizeof cs);
	if (cmd_proxy_start(ctx, &cs.cp, 0) != 0)
		return (CMD_EXIT_FAIL);
	cmd_proxy_wait(&cs.cp, NULL, cmd_serve_signal_cb, &cs);
	status = cmd_proxy_stop(&cs.cp);
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
