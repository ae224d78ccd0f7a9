/* SPDX-License-Identifier: ISC */
/*
 * cmd-config: `copilot-gw config show [--json]` prints the effective
 * configuration with secrets masked and where each value came from;
 * `copilot-gw config path` prints the config file's path. Main thread.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"

static const char *const cmd_config_show_options[] = { "--json", NULL };
static const char *const cmd_config_no_options[] = { NULL };

static int
cmd_config_show_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, json = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	config_show(&ctx->cfg, stdout, json);
	return (CMD_EXIT_OK);
}

static int
cmd_config_path_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc != 1)
		return (cmd_usage(ctx));
	printf("%s\n", ctx->paths.config_file);
	return (CMD_EXIT_OK);
}

static const struct cmd_entry cmd_config_show_entry = {
	.name = "show",
	.args = "[--json]",
	.summary = "print the effective configuration and where each value "
	    "comes from",
	.options = cmd_config_show_options,
	.flags = CMD_CONFIG,
	.exec = cmd_config_show_exec,
};

static const struct cmd_entry cmd_config_path_entry = {
	.name = "path",
	.args = "",
	.summary = "print the path of the configuration file",
	.options = cmd_config_no_options,
	.exec = cmd_config_path_exec,
};

static const struct cmd_entry *const cmd_config_sub[] = {
	&cmd_config_show_entry,
	&cmd_config_path_entry,
	NULL
};

const struct cmd_entry cmd_config_entry = {
	.name = "config",
	.args = "show [--json] | path",
	.summary = "show the effective configuration or the config file path",
	.options = cmd_config_no_options,
	.sub = cmd_config_sub,
};
