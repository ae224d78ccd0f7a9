/* SPDX-License-Identifier: ISC */
/*
 * cmd-version: `copilot-gw version [--json]` prints the version and the
 * versions of the libraries in use. Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <sqlite3.h>
#include <uv.h>

#include "cmd.h"
#include "version.h"

static const char *const cmd_version_options[] = { "--json", NULL };

static int
cmd_version_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct json_object	*o;
	char			 hp[32];
	int			 ch, json = 0;
	unsigned long		 v = http_parser_version();

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
	snprintf(hp, sizeof hp, "%lu.%lu.%lu", (v >> 16) & 255, (v >> 8) & 255,
	    v & 255);
	if (!json) {
		printf("%s %s (libuv %s, libcurl %s, sqlite %s, json-c %s, "
		    "http-parser %s, %s)\n", GW_NAME, GW_VERSION,
		    uv_version_string(), curl_version_info(CURLVERSION_NOW)->
		    version, sqlite3_libversion(), json_c_version(), hp,
		    OpenSSL_version(OPENSSL_VERSION));
		return (CMD_EXIT_OK);
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(
	    GW_VERSION));
	json_object_object_add(o, "libuv", json_object_new_string(
	    uv_version_string()));
	json_object_object_add(o, "libcurl", json_object_new_string(
	    curl_version_info(CURLVERSION_NOW)->version));
	json_object_object_add(o, "sqlite", json_object_new_string(
	    sqlite3_libversion()));
	json_object_object_add(o, "json-c", json_object_new_string(
	    json_c_version()));
	json_object_object_add(o, "http-parser", json_object_new_string(hp));
	json_object_object_add(o, "openssl", json_object_new_string(
	    OpenSSL_version(OPENSSL_VERSION)));
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	return (CMD_EXIT_OK);
}

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.args = "[--json]",
	.summary = "print the version of copilot-gw and its libraries",
	.options = cmd_version_options,
	.exec = cmd_version_exec,
};
