/* SPDX-License-Identifier: ISC */
#ifndef CMD_H
#define CMD_H

#include "config.h"
#include "paths.h"

/*
 * The command table (tmux cmd.c, git git.c): one struct cmd_entry per
 * verb, each defined in src/cmd-<name>.c, with an optional table of
 * second-level verbs. Names are exact; there is no prefix matching.
 * Main thread only.
 */

#define CMD_EXIT_OK	0
#define CMD_EXIT_FAIL	1
#define CMD_EXIT_USAGE	2

/* Preconditions, set up by cmd_prepare before the command's work. */
#define CMD_CONFIG	0x1	/* load the effective config */
#define CMD_DIRS	0x2	/* create the directories (0700) */
#define CMD_STORE	0x4	/* open and migrate the store (implies DIRS) */
#define CMD_HIDDEN	0x8	/* not listed in help */

struct store;
struct cmd_entry;

/* Everything a command may use; built by the dispatcher. */
struct cmd_ctx {
	const struct cmd_entry	*entry;
	const char		*name;	/* "config show", for messages */
	struct paths		 paths;
	struct config		 cfg;	/* flags recorded before cmd_prepare */
	struct store		*store;	/* set by CMD_STORE */
};

struct cmd_entry {
	const char		 *name;
	const char		 *alias;	/* exact alternative or NULL */
	const char		 *args;		/* usage after the name */
	const char		 *summary;	/* one line for help */
	const char *const	 *options;	/* long options, NULL-ended */
	int			  flags;
	/* Returns an exit status; argv[0] is the command word. */
	int			(*exec)(struct cmd_ctx *, int, char **);
	const struct cmd_entry *const *sub;	/* NULL-ended or NULL */
};

/* Runs the command line (after global options); returns the exit status. */
int	 cmd_dispatch(struct cmd_ctx *, int argc, char **argv);
/* Applies the entry's precondition flags; 0 or -1 (message printed). */
int	 cmd_prepare(struct cmd_ctx *);
/* Prints "usage: copilot-gw NAME ARGS" to stderr and returns 2. */
int	 cmd_usage(const struct cmd_ctx *);
/* Prints "copilot-gw: <msg>" to stderr; returns CMD_EXIT_FAIL. */
int	 cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the help for an entry (or the top level if NULL) to f. */
void	 cmd_help(FILE *f, const struct cmd_entry *parent,
	    const struct cmd_entry *e);
/* Releases what the dispatcher built. */
void	 cmd_ctx_release(struct cmd_ctx *);

/* The top-level table, NULL-ended. */
extern const struct cmd_entry *const cmd_table[];

extern const struct cmd_entry cmd_serve_entry;
extern const struct cmd_entry cmd_login_entry;
extern const struct cmd_entry cmd_accounts_entry;
extern const struct cmd_entry cmd_keys_entry;
extern const struct cmd_entry cmd_audit_entry;
extern const struct cmd_entry cmd_env_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_config_entry;
extern const struct cmd_entry cmd_doctor_entry;
extern const struct cmd_entry cmd_help_entry;

#endif
