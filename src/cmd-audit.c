/* SPDX-License-Identifier: ISC */
/*
 * cmd-audit: `copilot-gw audit [--since DURATION] [--json]` prints the
 * audit trail: keys created, labelled, rotated and revoked, accounts
 * added and removed, logins, admin calls and failed authentications (with
 * only a short hash prefix of what was presented). Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cmd.h"
#include "store.h"

static const char *const cmd_audit_options[] = { "--json", "--since", NULL };

static int
cmd_audit_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_audit	*a;
	struct json_object	*arr, *o;
	struct timespec		 ts;
	struct tm		 tm;
	time_t			 t;
	uint64_t		 since = 0;
	int64_t			 from = 0;
	size_t			 n, i;
	char			*cause = NULL, tb[32];
	int			 ch, json = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			if (config_parse_duration(optarg, &since) != 0) {
				fprintf(stderr, "copilot-gw: --since: '%s' is "
				    "not a duration like 1h or 7d\n", optarg);
				return (CMD_EXIT_USAGE);
			}
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (since > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		from = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 -
		    (int64_t)since;
	}
	if (store_audit_list(ctx->store, from, &a, &n, &cause) != 0) {
		cmd_fail("%s", cause);
		free(cause);
		return (CMD_EXIT_FAIL);
	}
	arr = json ? json_object_new_array() : NULL;
	for (i = 0; i < n; i++) {
		t = (time_t)(a[i].ts_ms / 1000);
		gmtime_r(&t, &tm);
		strftime(tb, sizeof tb, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (!json) {
			printf("%s %-18s %-20s %-22s %s\n", tb, a[i].actor,
			    a[i].action, a[i].target, a[i].detail);
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(tb));
		json_object_object_add(o, "actor",
		    json_object_new_string(a[i].actor));
		json_object_object_add(o, "action",
		    json_object_new_string(a[i].action));
		json_object_object_add(o, "target",
		    json_object_new_string(a[i].target));
		json_object_object_add(o, "detail",
		    json_object_new_string(a[i].detail));
		json_object_array_add(arr, o);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	store_audit_free(a, n);
	return (CMD_EXIT_OK);
}

const struct cmd_entry cmd_audit_entry = {
	.name = "audit",
	.args = "[--json] [--since DURATION]",
	.summary = "print the audit trail of keys, accounts and logins",
	.options = cmd_audit_options,
	.flags = CMD_CONFIG | CMD_STORE,
	.exec = cmd_audit_exec,
};
