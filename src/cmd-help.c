/* SPDX-License-Identifier: ISC */
/*
 * cmd-help: `copilot-gw help [COMMAND [SUBCOMMAND]]`, and
 * `copilot-gw help --list-commands`, which prints every command path with
 * its options, one per line, for completion scripts and the drift test
 * (git --list-cmds). Main thread.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const char *const cmd_help_options[] = { "--list-commands", NULL };

/* Prints one "words<TAB>options" line. */
static void
cmd_help_list_one(const char *prefix, const struct cmd_entry *e)
{
	const char *const	*o;

	printf("%s%s%s\t", prefix != NULL ? prefix : "",
	    prefix != NULL ? " " : "", e->name);
	for (o = e->options; o != NULL && *o != NULL; o++)
		printf("%s%s", o == e->options ? "" : " ", *o);
	putchar('\n');
}

/* Prints the whole table: global options first, then each command. */
static void
cmd_help_list(void)
{
	const struct cmd_entry *const	*t, *const *s;

	printf("\t--config --help --home --set --version\n");
	for (t = cmd_table; *t != NULL; t++) {
		if ((*t)->flags & CMD_HIDDEN)
			continue;
		cmd_help_list_one(NULL, *t);
		for (s = (*t)->sub; s != NULL && *s != NULL; s++)
			cmd_help_list_one((*t)->name, *s);
	}
}

static int
cmd_help_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd_entry *const	*t, *const *s;

	if (argc == 2 && strcmp(argv[1], "--list-commands") == 0) {
		cmd_help_list();
		return (CMD_EXIT_OK);
	}
	if (argc == 1) {
		cmd_help(stdout, NULL, NULL);
		return (CMD_EXIT_OK);
	}
	if (argc > 3 || argv[1][0] == '-')
		return (cmd_usage(ctx));
	for (t = cmd_table; *t != NULL; t++) {
		if (strcmp((*t)->name, argv[1]) != 0)
			continue;
		if (argc == 2) {
			cmd_help(stdout, NULL, *t);
			return (CMD_EXIT_OK);
		}
		for (s = (*t)->sub; s != NULL && *s != NULL; s++) {
			if (strcmp((*s)->name, argv[2]) == 0) {
				cmd_help(stdout, *t, *s);
				return (CMD_EXIT_OK);
			}
		}
		return (cmd_fail("no help for '%s %s': unknown subcommand",
		    argv[1], argv[2]));
	}
	fprintf(stderr, "copilot-gw: no help for '%s': unknown command\n"
	    "valid commands:", argv[1]);
	for (t = cmd_table; *t != NULL; t++)
		fprintf(stderr, " %s", (*t)->name);
	fputc('\n', stderr);
	return (CMD_EXIT_USAGE);
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.args = "[COMMAND [SUBCOMMAND]]",
	.summary = "show help for copilot-gw or one of its commands",
	.options = cmd_help_options,
	.exec = cmd_help_exec,
};
