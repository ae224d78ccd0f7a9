/* SPDX-License-Identifier: ISC */
/*
 * main: process-wide set-up (umask, SIGPIPE, libcurl global init), the
 * global options (--home, --config, --set) and the hand-off to the
 * command table. The main thread is the front end: the TUI, or the
 * headless serve loop.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "cmd.h"
#include "config.h"
#include "log.h"
#include "paths.h"
#include "xmalloc.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "home", required_argument, NULL, 'H' },
		{ "set", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_ctx	 ctx;
	const char	*home = NULL, *config_file = NULL;
	char		*cause = NULL, *eq, *key;
	char		*v_argv[] = { (char *)"version", NULL };
	int		 ch, rc;

	memset(&ctx, 0, sizeof ctx);
	/* Every file copilot-gw creates is private to its user. */
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return (cmd_fail("cannot initialise libcurl"));

	/* "+": stop at the command word; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:hH:s:V", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_file = optarg;
			break;
		case 'h':
			cmd_help(stdout, NULL, NULL);
			curl_global_cleanup();
			return (CMD_EXIT_OK);
		case 'H':
			home = optarg;
			break;
		case 's':
			if ((eq = strchr(optarg, '=')) == NULL ||
			    eq == optarg) {
				fprintf(stderr, "copilot-gw: --set needs "
				    "KEY=VALUE, got '%s'\n", optarg);
				config_release(&ctx.cfg);
				return (CMD_EXIT_USAGE);
			}
			key = xstrndup(optarg, (size_t)(eq - optarg));
			config_add_flag(&ctx.cfg, key, eq + 1);
			free(key);
			break;
		case 'V':
			argc = 1;
			argv = v_argv;
			optind = 0;
			goto dispatch;
		default:
			cmd_help(stderr, NULL, NULL);
			config_release(&ctx.cfg);
			return (CMD_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
dispatch:
	if (paths_init(&ctx.paths, home, config_file, &cause) != 0) {
		rc = cmd_fail("%s", cause);
		free(cause);
		config_release(&ctx.cfg);
		return (rc);
	}
	rc = cmd_dispatch(&ctx, argc, argv);
	cmd_ctx_release(&ctx);
	curl_global_cleanup();
	return (rc);
}
