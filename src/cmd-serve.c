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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-proxy.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "store.h"
#include "xmalloc.h"

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

/*
 * First run: with auth on and no admin key, make one. On a terminal it
 * is printed once; otherwise it goes to a 0600 file in the data
 * directory whose path is printed. Never logged.
 */
static int
cmd_serve_bootstrap(struct cmd_ctx *ctx)
{
	struct store		*st;
	struct store_key	 k;
	char			 secret[KEYS_SECRET_LEN + 1];
	char			 id[KEYS_ID_LEN + 1], hash[KEYS_HASH_LEN + 1];
	char			 prefix[32], *cause = NULL, *path, *text;
	int64_t			 n;
	int			 rc = -1;

	if ((st = store_open(ctx->paths.db_file, STORE_RW | STORE_CREATE,
	    &cause)) == NULL || store_migrate(st, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		store_close(st);
		return (-1);
	}
	/*
	 * Only a first run makes one: when the operator revoked every admin
	 * key (or let them expire), a restart must not mint another into a
	 * file; keys recover-admin is the way back.
	 */
	if ((n = store_keys_count_admin(st, 0)) != 0) {
		if (n > 0 && store_keys_count_admin(st, 1) == 0)
			log_ev(LOG_LEVEL_WARN, NULL, "no admin key is valid: "
			    "the admin routes cannot be used; run 'copilot-gw "
			    "keys recover-admin' for a new one",
			    LF_INT("admin_keys", n));
		store_close(st);
		return (n < 0 ? cmd_fail("cannot read the keys table") : 0);
	}
	if (keys_generate(secret, id) != 0) {
		store_close(st);
		return (cmd_fail("cannot generate a key: no randomness"));
	}
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	memset(&k, 0, sizeof k);
	k.id = id;
	k.hash = hash;
	k.prefix = prefix;
	k.label = (char *)"first-admin";
	k.tier = (char *)"admin";
	if (store_keys_insert(st, &k, &cause) != 0 ||
	    store_audit_add(st, "system", "key.create", id, "first run admin",
	    &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		goto out;
	}
	if (isatty(STDOUT_FILENO)) {
		printf("No admin key existed, so one was created. It is shown "
		    "only now:\n\n    %s\n\nUse it as 'Authorization: Bearer "
		    "<key>' for the admin routes and to create client keys.\n",
		    secret);
		fflush(stdout);
		rc = 0;
		goto out;
	}
	path = xasprintf("%s/admin-key", ctx->paths.data_dir);
	text = xasprintf("%s\n", secret);
	if (paths_write_atomic(path, text, strlen(text), 0600, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
	} else {
		fprintf(stderr, "copilot-gw: no admin key existed; created %s "
		    "and wrote its secret to %s (mode 0600)\n", id, path);
		rc = 0;
	}
	explicit_bzero(text, strlen(text));
	free(text);
	free(path);
out:
	explicit_bzero(secret, sizeof secret);
	store_close(st);
	return (rc);
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
	char			*why;
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
	/* Before the admin key is made: a refused start leaves nothing. */
	if ((why = config_listen_refusal(&ctx->cfg,
	    ctx->cfg.listen_host)) != NULL) {
		cmd_fail("%s", why);
		free(why);
		return (CMD_EXIT_FAIL);
	}
	if (!config_host_is_loopback(ctx->cfg.listen_host))
		log_ev(LOG_LEVEL_WARN, NULL, "listening on a non-loopback "
		    "address: anyone who can reach it can use the gateway",
		    LF_STR("host", ctx->cfg.listen_host));
	if (!ctx->cfg.auth_enabled)
		log_ev(LOG_LEVEL_WARN, NULL, "auth is off: any local process "
		    "can use the gateway (set auth.enabled to true)",
		    LF_STR("host", ctx->cfg.listen_host));
	else if (cmd_serve_bootstrap(ctx) != 0)
		return (CMD_EXIT_FAIL);
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
