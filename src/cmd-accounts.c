/* SPDX-License-Identifier: ISC */
/*
 * cmd-accounts: `copilot-gw accounts list|show|remove`. Reads and
 * changes the accounts table directly; a running serve notices within a
 * second (PRAGMA data_version). Tokens are never printed. Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin.h"
#include "cmd.h"
#include "store.h"
#include "xmalloc.h"

static const char *const cmd_accounts_json_options[] = { "--json", NULL };
static const char *const cmd_accounts_no_options[] = { NULL };

/* Parses the only option, --json; returns 1/0, or -1 on a usage error. */
static int
cmd_accounts_opts(int argc, char **argv, int nargs)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, json = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch != 'j')
			return (-1);
		json = 1;
	}
	if (argc - optind != nargs)
		return (-1);
	return (json);
}

static int
cmd_accounts_list_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_account	*a;
	struct json_object	*arr;
	size_t			 n, i;
	char			*cause = NULL, t[32];
	int			 json;

	if ((json = cmd_accounts_opts(argc, argv, 0)) == -1)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (store_accounts_list(ctx->store, &a, &n, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		return (CMD_EXIT_FAIL);
	}
	if (json) {
		arr = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(arr, admin_account_json(&a[i]));
		printf("%s\n", json_object_to_json_string_ext(arr,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	} else if (n == 0)
		printf("no accounts: add one with 'copilot-gw login github'\n");
	else {
		printf("%-4s %-20s %-8s %-20s %-12s %s\n", "ID", "LABEL",
		    "PROVIDER", "LOGIN", "TYPE", "CREATED");
		for (i = 0; i < n; i++)
			printf("%-4lld %-20s %-8s %-20s %-12s %s\n",
			    (long long)a[i].id, a[i].label, a[i].provider,
			    a[i].login, a[i].account_type, (admin_time(
			    a[i].created_ms, t, sizeof t), t));
	}
	store_accounts_free(a, n);
	return (CMD_EXIT_OK);
}

/* Looks an account up by id or label, with a clear failure. */
static int
cmd_accounts_find(struct cmd_ctx *ctx, const char *key,
    struct store_account *a)
{
	char	*cause = NULL;
	int	 rc;

	if ((rc = store_accounts_get(ctx->store, key, a, &cause)) == -1) {
		cmd_fail("%s", cause);
		free(cause);
		return (-1);
	}
	if (rc == 1) {
		cmd_fail("no account '%s': see 'copilot-gw accounts list'",
		    key);
		return (-1);
	}
	return (0);
}

static int
cmd_accounts_show_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_account	 a;
	struct json_object	*o;
	int			 json;

	if ((json = cmd_accounts_opts(argc, argv, 1)) == -1)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (cmd_accounts_find(ctx, argv[optind], &a) != 0)
		return (CMD_EXIT_FAIL);
	o = admin_account_json(&a);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else {
		json_object_object_foreach(o, key, val)
			printf("%-13s %s\n", key, json_object_get_string(val));
		printf("%-13s %s\n", "token", "(stored, never shown)");
	}
	json_object_put(o);
	store_account_release(&a);
	return (CMD_EXIT_OK);
}

static int
cmd_accounts_remove_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_account	 a;
	char			*cause = NULL;

	if (cmd_accounts_opts(argc, argv, 1) != 0)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (cmd_accounts_find(ctx, argv[optind], &a) != 0)
		return (CMD_EXIT_FAIL);
	if (store_accounts_remove(ctx->store, a.id, &cause) == -1) {
		cmd_fail("%s", cause);
		free(cause);
		store_account_release(&a);
		return (CMD_EXIT_FAIL);
	}
	if (store_audit_add(ctx->store, "cli", "account.remove", a.label,
	    a.login, &cause) != 0) {
		fprintf(stderr, "copilot-gw: warning: cannot write the audit "
		    "log: %s\n", cause);
		free(cause);
	}
	printf("removed account '%s' (%s, id %lld)\n", a.label, a.login,
	    (long long)a.id);
	store_account_release(&a);
	return (CMD_EXIT_OK);
}

static const struct cmd_entry cmd_accounts_list_entry = {
	.name = "list",
	.args = "[--json]",
	.summary = "list the upstream accounts",
	.options = cmd_accounts_json_options,
	.flags = CMD_CONFIG | CMD_STORE,
	.exec = cmd_accounts_list_exec,
};

static const struct cmd_entry cmd_accounts_show_entry = {
	.name = "show",
	.args = "[--json] ID|LABEL",
	.summary = "show one account (never its token)",
	.options = cmd_accounts_json_options,
	.flags = CMD_CONFIG | CMD_STORE,
	.exec = cmd_accounts_show_exec,
};

static const struct cmd_entry cmd_accounts_remove_entry = {
	.name = "remove",
	.args = "ID|LABEL",
	.summary = "remove an account and its stored token",
	.options = cmd_accounts_no_options,
	.flags = CMD_CONFIG | CMD_STORE,
	.exec = cmd_accounts_remove_exec,
};

static const struct cmd_entry *const cmd_accounts_sub[] = {
	&cmd_accounts_list_entry,
	&cmd_accounts_show_entry,
	&cmd_accounts_remove_entry,
	NULL
};

const struct cmd_entry cmd_accounts_entry = {
	.name = "accounts",
	.args = "list [--json] | show [--json] ID|LABEL | remove ID|LABEL",
	.summary = "list, show or remove upstream accounts",
	.options = cmd_accounts_no_options,
	.sub = cmd_accounts_sub,
};
