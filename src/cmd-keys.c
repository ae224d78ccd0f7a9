/* SPDX-License-Identifier: ISC */
/*
 * cmd-keys: `copilot-gw keys create|list|show|label|rotate|revoke|
 * recover-admin`. Secrets are printed exactly once, at creation or
 * rotation; the store keeps only their SHA-256 hashes. Every change is
 * written to the audit table. A running serve picks changes up within a
 * second (PRAGMA data_version). Main thread.
 */
#include <getopt.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cmd.h"
#include "admin.h"
#include "keys.h"
#include "store.h"
#include "xmalloc.h"

static const char *const cmd_keys_create_options[] = {
	"--account", "--expires", "--json", "--label", "--max-concurrent",
	"--models", "--rpm", "--tier", "--tpm", NULL
};
static const char *const cmd_keys_list_options[] = {
	"--json", "--names", NULL
};
static const char *const cmd_keys_json_options[] = { "--json", NULL };
static const char *const cmd_keys_rotate_options[] = {
	"--grace", "--json", NULL
};
static const char *const cmd_keys_no_options[] = { NULL };

/* Returns the audit actor for CLI changes: "cli:<user>". */
static const char *
cmd_keys_actor(void)
{
	static char	 actor[96];
	struct passwd	*pw;

	if (actor[0] == '\0') {
		pw = getpwuid(getuid());
		snprintf(actor, sizeof actor, "cli:%s", pw != NULL ?
		    pw->pw_name : "unknown");
	}
	return (actor);
}

static int64_t
cmd_keys_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Writes an audit entry; a failure is reported but not fatal. */
static void
cmd_keys_audit(struct cmd_ctx *ctx, const char *action, const char *target,
    const char *detail)
{
	char	*cause = NULL;

	if (store_audit_add(ctx->store, cmd_keys_actor(), action, target,
	    detail, &cause) != 0) {
		fprintf(stderr, "copilot-gw: warning: cannot write the audit "
		    "log: %s\n", cause);
		free(cause);
	}
}

static void
cmd_keys_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Prints a new secret the one time it is shown. */
static void
cmd_keys_print_secret(const struct store_key *k, const char *secret,
    const char *what)
{
	printf("%s %s (%s%s%s%s).\n"
	    "Its secret is shown only now; store it somewhere safe:\n\n"
	    "    %s\n\n", what, k->id, k->tier,
	    k->label != NULL && *k->label != '\0' ? ", label '" : "",
	    k->label != NULL ? k->label : "",
	    k->label != NULL && *k->label != '\0' ? "'" : "", secret);
}

/* Parses a non-negative count for an option. */
static int
cmd_keys_count(const char *opt, const char *s, int64_t *out)
{
	char		*end;
	long long	 v;

	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000000) {
		fprintf(stderr, "copilot-gw: %s: '%s' is not a count\n", opt, s);
		return (-1);
	}
	*out = v;
	return (0);
}

/*
 * Creates a key and prints its secret; used by create and recover-admin.
 * Returns an exit status.
 */
static int
cmd_keys_make(struct cmd_ctx *ctx, struct store_key *k, int json,
    const char *action)
{
	char	 secret[KEYS_SECRET_LEN + 1], id[KEYS_ID_LEN + 1];
	char	 hash[KEYS_HASH_LEN + 1], prefix[32], *cause = NULL;

	if (keys_generate(secret, id) != 0)
		return (cmd_fail("cannot generate a key: no randomness"));
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	k->id = id;
	k->hash = hash;
	k->prefix = prefix;
	k->created_ms = cmd_keys_now();
	if (store_keys_insert(ctx->store, k, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		explicit_bzero(secret, sizeof secret);
		return (CMD_EXIT_FAIL);
	}
	cmd_keys_audit(ctx, action, id, k->tier);
	if (json)
		cmd_keys_print_json(admin_key_json(k, secret));
	else
		cmd_keys_print_secret(k, secret, "Created key");
	explicit_bzero(secret, sizeof secret);
	k->id = k->hash = k->prefix = NULL;
	return (CMD_EXIT_OK);
}

static int
cmd_keys_create_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char		*why;
	static const struct option longopts[] = {
		{ "account", required_argument, NULL, 'a' },
		{ "expires", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "label", required_argument, NULL, 'l' },
		{ "max-concurrent", required_argument, NULL, 'c' },
		{ "models", required_argument, NULL, 'm' },
		{ "rpm", required_argument, NULL, 'r' },
		{ "tier", required_argument, NULL, 't' },
		{ "tpm", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_key	 k;
	struct store_account	 acct;
	const char		*account = NULL;
	char			*cause = NULL;
	uint64_t		 ms;
	int			 ch, json = 0, rc;

	memset(&k, 0, sizeof k);
	k.tier = (char *)"client";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			account = optarg;
			break;
		case 'e':
			if (config_parse_duration(optarg, &ms) != 0 ||
			    ms == 0) {
				fprintf(stderr, "copilot-gw: --expires: '%s' is "
				    "not a duration like 30d, 12h or 90m\n",
				    optarg);
				return (CMD_EXIT_USAGE);
			}
			k.expires_ms = cmd_keys_now() + (int64_t)ms;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			if ((why = keys_label_error(optarg)) != NULL) {
				fprintf(stderr, "copilot-gw: --label: %s\n",
				    why);
				return (CMD_EXIT_USAGE);
			}
			k.label = optarg;
			break;
		case 'c':
			if (cmd_keys_count("--max-concurrent", optarg,
			    &k.max_concurrent) != 0)
				return (CMD_EXIT_USAGE);
			break;
		case 'm':
			k.models = optarg;
			break;
		case 'r':
			if (cmd_keys_count("--rpm", optarg, &k.rpm) != 0)
				return (CMD_EXIT_USAGE);
			break;
		case 't':
			if (strcmp(optarg, "admin") != 0 &&
			    strcmp(optarg, "client") != 0) {
				fprintf(stderr, "copilot-gw: --tier must be "
				    "admin or client\n");
				return (CMD_EXIT_USAGE);
			}
			k.tier = optarg;
			break;
		case 'T':
			if (cmd_keys_count("--tpm", optarg, &k.tpm) != 0)
				return (CMD_EXIT_USAGE);
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (account != NULL) {
		if ((rc = store_accounts_get(ctx->store, account, &acct,
		    &cause)) != 0) {
			if (rc == 1)
				cmd_fail("no account '%s': see 'copilot-gw "
				    "accounts list'", account);
			else
				cmd_fail("%s", cause);
			free(cause);
			return (CMD_EXIT_FAIL);
		}
		k.account_id = acct.id;
		store_account_release(&acct);
	}
	return (cmd_keys_make(ctx, &k, json, "key.create"));
}

static int
cmd_keys_list_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "names", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_key	*k;
	struct json_object	*arr;
	size_t			 n, i;
	char			*cause = NULL, t[32];
	int			 ch, json = 0, names = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch == 'j')
			json = 1;
		else if (ch == 'n')
			names = 1;
		else
			return (cmd_usage(ctx));
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (store_keys_list(ctx->store, &k, &n, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		return (CMD_EXIT_FAIL);
	}
	if (names) {
		/* For completion scripts: ids and labels of live keys. */
		for (i = 0; i < n; i++) {
			if (k[i].revoked_ms != 0)
				continue;
			printf("%s\n", k[i].id);
			if (k[i].label != NULL && *k[i].label != '\0')
				printf("%s\n", k[i].label);
		}
	} else if (json) {
		arr = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(arr, admin_key_json(&k[i], NULL));
		cmd_keys_print_json(arr);
	} else if (n == 0)
		printf("no keys: create one with 'copilot-gw keys create'\n");
	else {
		printf("%-20s %-16s %-6s %-8s %-14s %-9s %s\n", "ID", "LABEL",
		    "TIER", "ACCOUNT", "SECRET", "STATUS", "LAST USED");
		for (i = 0; i < n; i++) {
			admin_time(k[i].last_used_ms, t, sizeof t);
			printf("%-20s %-16s %-6s %-8lld %-14s %-9s %s\n",
			    k[i].id, k[i].label, k[i].tier,
			    (long long)k[i].account_id, k[i].prefix,
			    admin_key_status(&k[i]), t);
		}
	}
	store_keys_free(k, n);
	return (CMD_EXIT_OK);
}

/* Finds a key by id or label with a clear failure. */
static int
cmd_keys_find(struct cmd_ctx *ctx, const char *key, struct store_key *k)
{
	char	*cause = NULL;
	int	 rc;

	if ((rc = store_keys_get(ctx->store, key, k, &cause)) == -1) {
		cmd_fail("%s", cause);
		free(cause);
		return (-1);
	}
	if (rc == 1) {
		cmd_fail("no key '%s': see 'copilot-gw keys list'", key);
		return (-1);
	}
	return (0);
}

/* Parses just --json and nargs operands. */
static int
cmd_keys_json_opt(int argc, char **argv, int nargs)
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
	return (argc - optind == nargs ? json : -1);
}

static int
cmd_keys_show_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_key	 k;
	struct json_object	*o;
	int			 json;

	if ((json = cmd_keys_json_opt(argc, argv, 1)) == -1)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0 || cmd_keys_find(ctx, argv[optind], &k) != 0)
		return (CMD_EXIT_FAIL);
	o = admin_key_json(&k, NULL);
	if (json)
		cmd_keys_print_json(o);
	else {
		json_object_object_foreach(o, name, val)
			printf("%-28s %s\n", name, val != NULL ?
			    json_object_get_string(val) : "-");
		json_object_put(o);
	}
	store_key_release(&k);
	return (CMD_EXIT_OK);
}

/*
 * After a change: re-reads key k (released here) and prints it as JSON, or
 * prints the message.
 */
static int cmd_keys_report(struct cmd_ctx *, struct store_key *, int,
    const char *, ...) __attribute__((format(printf, 4, 5)));

static int
cmd_keys_report(struct cmd_ctx *ctx, struct store_key *k, int json,
    const char *fmt, ...)
{
	struct store_key	 now;
	va_list			 ap;
	int			 rc;

	if (!json) {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		store_key_release(k);
		return (CMD_EXIT_OK);
	}
	rc = cmd_keys_find(ctx, k->id, &now);
	store_key_release(k);
	if (rc != 0)
		return (CMD_EXIT_FAIL);
	cmd_keys_print_json(admin_key_json(&now, NULL));
	store_key_release(&now);
	return (CMD_EXIT_OK);
}

static int
cmd_keys_label_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char		*why;
	struct store_key	 k;
	char			*cause = NULL;
	int			 rc, json;

	if ((json = cmd_keys_json_opt(argc, argv, 2)) == -1)
		return (cmd_usage(ctx));
	if ((why = keys_label_error(argv[optind + 1])) != NULL)
		return (cmd_fail("%s", why));
	if (cmd_prepare(ctx) != 0 || cmd_keys_find(ctx, argv[optind], &k) != 0)
		return (CMD_EXIT_FAIL);
	if ((rc = store_keys_set_label(ctx->store, k.id, argv[optind + 1],
	    &cause)) != 0) {
		cmd_fail("%s", rc == 1 ? "the key disappeared" : cause);
		free(cause);
		store_key_release(&k);
		return (CMD_EXIT_FAIL);
	}
	cmd_keys_audit(ctx, "key.label", k.id, argv[optind + 1]);
	return (cmd_keys_report(ctx, &k, json, "%s is now labelled '%s'\n",
	    k.id, argv[optind + 1]));
}

static int
cmd_keys_rotate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_key	 k;
	char			 secret[KEYS_SECRET_LEN + 1], id[KEYS_ID_LEN + 1];
	char			 hash[KEYS_HASH_LEN + 1], prefix[32], detail[64];
	char			*cause = NULL;
	const char		*id_arg;
	uint64_t		 grace = 0;
	int			 ch, json = 0, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'g':
			if (config_parse_duration(optarg, &grace) != 0) {
				fprintf(stderr, "copilot-gw: --grace: '%s' is "
				    "not a duration like 10m or 1h\n", optarg);
				return (CMD_EXIT_USAGE);
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (argc - optind != 1)
		return (cmd_usage(ctx));
	id_arg = argv[optind];
	if (cmd_prepare(ctx) != 0 || cmd_keys_find(ctx, argv[optind], &k) != 0)
		return (CMD_EXIT_FAIL);
	if (k.revoked_ms != 0) {
		store_key_release(&k);
		return (cmd_fail("key '%s' is revoked: create a new one",
		    argv[optind]));
	}
	if (keys_generate(secret, id) != 0) {
		store_key_release(&k);
		return (cmd_fail("cannot generate a key: no randomness"));
	}
	keys_hash(secret, hash);
	keys_mask(secret, prefix, sizeof prefix);
	if ((rc = store_keys_rotate(ctx->store, k.id, hash, prefix,
	    (int64_t)grace, &cause)) != 0) {
		cmd_fail("%s", rc == 1 ? "the key disappeared" : cause);
		free(cause);
		store_key_release(&k);
		explicit_bzero(secret, sizeof secret);
		return (CMD_EXIT_FAIL);
	}
	snprintf(detail, sizeof detail, "grace %llums",
	    (unsigned long long)grace);
	cmd_keys_audit(ctx, "key.rotate", k.id, detail);
	/* Show the key as it is now, not as it was read. */
	store_key_release(&k);
	if (cmd_keys_find(ctx, id_arg, &k) != 0) {
		explicit_bzero(secret, sizeof secret);
		return (CMD_EXIT_FAIL);
	}
	if (json)
		cmd_keys_print_json(admin_key_json(&k, secret));
	else {
		cmd_keys_print_secret(&k, secret, "Rotated key");
		if (grace > 0)
			printf("The old secret keeps working for %llu s.\n",
			    (unsigned long long)(grace / 1000));
		else
			printf("The old secret no longer works.\n");
	}
	explicit_bzero(secret, sizeof secret);
	store_key_release(&k);
	return (CMD_EXIT_OK);
}

static int
cmd_keys_revoke_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_key	 k;
	char			*cause = NULL;
	int			 rc, json;

	if ((json = cmd_keys_json_opt(argc, argv, 1)) == -1)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0 || cmd_keys_find(ctx, argv[optind], &k) != 0)
		return (CMD_EXIT_FAIL);
	if ((rc = store_keys_revoke(ctx->store, k.id, &cause)) != 0) {
		if (rc == 1)
			cmd_fail("key '%s' is already revoked", argv[optind]);
		else
			cmd_fail("%s", cause);
		free(cause);
		store_key_release(&k);
		return (CMD_EXIT_FAIL);
	}
	cmd_keys_audit(ctx, "key.revoke", k.id, "");
	return (cmd_keys_report(ctx, &k, json, "revoked %s\n", k.id));
}

static int
cmd_keys_recover_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct store_key	 k;
	int			 json;

	if ((json = cmd_keys_json_opt(argc, argv, 0)) == -1)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	memset(&k, 0, sizeof k);
	k.tier = (char *)"admin";
	k.label = (char *)"recovered-admin";
	return (cmd_keys_make(ctx, &k, json, "key.recover_admin"));
}

#define CMD_KEYS_FLAGS (CMD_CONFIG | CMD_STORE)

static const struct cmd_entry cmd_keys_create_entry = {
	.name = "create",
	.args = "[--account ID|LABEL] [--expires DURATION] [--json] "
	    "[--label NAME] [--max-concurrent N] [--models LIST] [--rpm N] "
	    "[--tier admin|client] [--tpm N]",
	.summary = "create a client key and print its secret once",
	.options = cmd_keys_create_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_create_exec,
};

static const struct cmd_entry cmd_keys_list_entry = {
	.name = "list",
	.args = "[--json | --names]",
	.summary = "list keys (public ids and masked prefixes only)",
	.options = cmd_keys_list_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_list_exec,
};

static const struct cmd_entry cmd_keys_show_entry = {
	.name = "show",
	.args = "[--json] ID|LABEL",
	.summary = "show one key",
	.options = cmd_keys_json_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_show_exec,
};

static const struct cmd_entry cmd_keys_label_entry = {
	.name = "label",
	.args = "[--json] ID|LABEL NEW-LABEL",
	.summary = "change a key's label",
	.options = cmd_keys_json_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_label_exec,
};

static const struct cmd_entry cmd_keys_rotate_entry = {
	.name = "rotate",
	.args = "[--grace DURATION] [--json] ID|LABEL",
	.summary = "give a key a new secret (the old one dies at once, or "
	    "after --grace)",
	.options = cmd_keys_rotate_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_rotate_exec,
};

static const struct cmd_entry cmd_keys_revoke_entry = {
	.name = "revoke",
	.args = "[--json] ID|LABEL",
	.summary = "revoke a key for good",
	.options = cmd_keys_json_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_revoke_exec,
};

static const struct cmd_entry cmd_keys_recover_entry = {
	.name = "recover-admin",
	.args = "[--json]",
	.summary = "issue a new admin key (needs local access to the data "
	    "directory)",
	.options = cmd_keys_json_options,
	.flags = CMD_KEYS_FLAGS,
	.exec = cmd_keys_recover_exec,
};

static const struct cmd_entry *const cmd_keys_sub[] = {
	&cmd_keys_create_entry,
	&cmd_keys_list_entry,
	&cmd_keys_show_entry,
	&cmd_keys_label_entry,
	&cmd_keys_rotate_entry,
	&cmd_keys_revoke_entry,
	&cmd_keys_recover_entry,
	NULL
};

const struct cmd_entry cmd_keys_entry = {
	.name = "keys",
	.args = "create | list | show | label | rotate | revoke | "
	    "recover-admin",
	.summary = "manage client keys",
	.options = cmd_keys_no_options,
	.sub = cmd_keys_sub,
};
