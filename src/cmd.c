/* SPDX-License-Identifier: ISC */
/*
 * cmd: the command table and its dispatcher (tmux cmd.c, git git.c,
 * relayctl parser.c). Words are matched exactly (and explicit aliases);
 * an unknown word prints the valid words at that point and exits 2.
 * `--help` anywhere after a command word prints that command's help.
 * Main thread only.
 */
#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "xmalloc.h"

const struct cmd_entry *const cmd_table[] = {
	&cmd_serve_entry,
	&cmd_login_entry,
	&cmd_accounts_entry,
	&cmd_keys_entry,
	&cmd_audit_entry,
	&cmd_env_entry,
	&cmd_config_entry,
	&cmd_doctor_entry,
	&cmd_version_entry,
	&cmd_help_entry,
	NULL
};

int
cmd_fail(const char *fmt, ...)
{
	va_list	 ap;

	fputs("copilot-gw: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return (CMD_EXIT_FAIL);
}

int
cmd_usage(const struct cmd_ctx *ctx)
{
	fprintf(stderr, "usage: copilot-gw %s%s%s\n", ctx->name,
	    ctx->entry->args[0] != '\0' ? " " : "", ctx->entry->args);
	return (CMD_EXIT_USAGE);
}

/* Finds word in a NULL-ended table by exact name or alias. */
static const struct cmd_entry *
cmd_find(const struct cmd_entry *const *table, const char *word)
{
	for (; *table != NULL; table++) {
		if (strcmp((*table)->name, word) == 0 ||
		    ((*table)->alias != NULL &&
		    strcmp((*table)->alias, word) == 0))
			return (*table);
	}
	return (NULL);
}

/* Prints the valid words of a table on one line. */
static void
cmd_valid_words(FILE *f, const struct cmd_entry *const *table)
{
	const char	*sep = "";

	for (; *table != NULL; table++) {
		if ((*table)->flags & CMD_HIDDEN)
			continue;
		fprintf(f, "%s%s", sep, (*table)->name);
		sep = ", ";
	}
	fputc('\n', f);
}

void
cmd_help(FILE *f, const struct cmd_entry *parent, const struct cmd_entry *e)
{
	const struct cmd_entry *const	*t;
	const char			*prefix = parent != NULL ?
					    parent->name : NULL;

	if (e == NULL) {
		fprintf(f, "usage: copilot-gw [--home DIR] [--config FILE] "
		    "[--set KEY=VALUE] COMMAND [ARGS]\n\ncommands:\n");
		for (t = cmd_table; *t != NULL; t++) {
			if ((*t)->flags & CMD_HIDDEN)
				continue;
			fprintf(f, "  %-10s %s\n", (*t)->name, (*t)->summary);
		}
		fprintf(f, "\nRun 'copilot-gw help COMMAND' or 'copilot-gw "
		    "COMMAND --help' for details; see copilot-gw(1).\n");
		return;
	}
	fprintf(f, "usage: copilot-gw %s%s%s%s%s\n", prefix != NULL ? prefix :
	    "", prefix != NULL ? " " : "", e->name, e->args[0] != '\0' ?
	    " " : "", e->args);
	fprintf(f, "\n%s\n", e->summary);
	if (e->sub != NULL) {
		fprintf(f, "\nsubcommands:\n");
		for (t = e->sub; *t != NULL; t++)
			fprintf(f, "  %-10s %s\n", (*t)->name, (*t)->summary);
	}
}

/* Returns 1 if argv holds --help or -h before any "--". */
static int
cmd_wants_help(int argc, char **argv)
{
	int	 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return (0);
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return (1);
	}
	return (0);
}

int
cmd_dispatch(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd_entry	*e, *parent = NULL;
	static char		 name[128];

	if (argc < 1) {
		cmd_help(stderr, NULL, NULL);
		return (CMD_EXIT_USAGE);
	}
	if ((e = cmd_find(cmd_table, argv[0])) == NULL) {
		fprintf(stderr, "copilot-gw: unknown command '%s'\n"
		    "valid commands: ", argv[0]);
		cmd_valid_words(stderr, cmd_table);
		return (CMD_EXIT_USAGE);
	}
	if (e->sub != NULL) {
		parent = e;
		if (argc < 2 || argv[1][0] == '-') {
			if (argc >= 2 && cmd_wants_help(argc, argv)) {
				cmd_help(stdout, NULL, e);
				return (CMD_EXIT_OK);
			}
			fprintf(stderr, "copilot-gw: '%s' needs a subcommand\n"
			    "valid subcommands: ", e->name);
			cmd_valid_words(stderr, e->sub);
			return (CMD_EXIT_USAGE);
		}
		if ((e = cmd_find(parent->sub, argv[1])) == NULL) {
			fprintf(stderr, "copilot-gw: unknown subcommand "
			    "'%s %s'\nvalid subcommands: ", parent->name,
			    argv[1]);
			cmd_valid_words(stderr, parent->sub);
			return (CMD_EXIT_USAGE);
		}
		argc--;
		argv++;
		snprintf(name, sizeof name, "%s %s", parent->name, e->name);
	} else
		snprintf(name, sizeof name, "%s", e->name);
	ctx->entry = e;
	ctx->name = name;
	if (cmd_wants_help(argc, argv)) {
		cmd_help(stdout, parent, e);
		return (CMD_EXIT_OK);
	}
	return (e->exec(ctx, argc, argv));
}

int
cmd_prepare(struct cmd_ctx *ctx)
{
	int	 flags = ctx->entry->flags;
	char	*cause = NULL;

	if (flags & CMD_CONFIG) {
		if (config_load(&ctx->cfg, ctx->paths.config_file,
		    &cause) != 0) {
			cmd_fail("%s", cause);
			fprintf(stderr, "fix the value, or see 'copilot-gw "
			    "config show' and copilot-gw.conf(5)\n");
			free(cause);
			return (-1);
		}
		log_set_level((enum log_level)ctx->cfg.log_level);
	}
	if (flags & (CMD_DIRS | CMD_STORE)) {
		if (paths_ensure(&ctx->paths, &cause) != 0) {
			cmd_fail("%s", cause);
			free(cause);
			return (-1);
		}
	}
	if (flags & CMD_STORE) {
		ctx->store = store_open(ctx->paths.db_file,
		    STORE_RW | STORE_CREATE, &cause);
		if (ctx->store == NULL ||
		    store_migrate(ctx->store, &cause) != 0) {
			cmd_fail("%s", cause);
			free(cause);
			return (-1);
		}
	}
	return (0);
}

void
cmd_ctx_release(struct cmd_ctx *ctx)
{
	store_close(ctx->store);
	ctx->store = NULL;
	config_release(&ctx->cfg);
	paths_release(&ctx->paths);
}
