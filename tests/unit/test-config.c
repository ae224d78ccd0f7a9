/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for config.c: the defaults (loopback, port 4141), secret
 * masking, environment variable names, the listen-address parser and the
 * loopback check; strict config files whose errors name the key path and
 * the reason (and the line, for broken JSON); the order of sources
 * (default < file < env < flag), flags surviving a reload and config_dup;
 * `config show`; and the size and duration parsers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "test.h"

#include "config.h"
#include "xmalloc.h"

extern char **environ;

/* Removes every COPILOT_GW_* variable so the host cannot leak in. */
static void
config_test_clean_env(void)
{
	char	**e, *name;
	size_t	  n;

	for (;;) {
		for (e = environ; *e != NULL; e++) {
			if (strncmp(*e, "COPILOT_GW_", 11) == 0)
				break;
		}
		if (*e == NULL)
			break;
		n = strcspn(*e, "=");
		name = xstrndup(*e, n);
		ASSERT_EQ(unsetenv(name), 0);
		free(name);
	}
}

/* Writes text to name in the test directory; returns the owned path. */
static char *
config_test_write(const char *name, const char *text)
{
	FILE	*f;
	char	*path;

	path = xasprintf("%s/%s", test_tmpdir(), name);
	ASSERT_NOT_NULL(f = fopen(path, "w"));
	ASSERT(fputs(text, f) >= 0);
	ASSERT_EQ(fclose(f), 0);
	return (path);
}

/* Loads a file holding text; it must fail with a cause holding want1/2. */
static void
config_test_bad(const char *text, const char *want1, const char *want2)
{
	struct config	 c;
	char		*path, *cause = NULL;

	memset(&c, 0, sizeof c);
	path = config_test_write("bad.json", text);
	if (config_load(&c, path, &cause) != -1)
		TEST_FAIL("config accepted: %s", text);
	ASSERT_NOT_NULL(cause);
	if (strstr(cause, want1) == NULL ||
	    (want2 != NULL && strstr(cause, want2) == NULL))
		TEST_FAIL("for %s: cause \"%s\" lacks \"%s\" / \"%s\"", text,
		    cause, want1, want2 != NULL ? want2 : "");
	free(cause);
	config_release(&c);
	free(path);
}

/* Parses a listen spec that must succeed. */
static void
config_test_listen(const char *spec, const char *host, const char *port)
{
	char	*h = NULL, *p = NULL, *cause = NULL;

	if (config_parse_listen(spec, &h, &p, &cause) != 0)
		TEST_FAIL("config_parse_listen(\"%s\"): %s", spec, cause);
	if (host == NULL)
		ASSERT_NULL(h);
	else
		ASSERT_STR_EQ(h, host);
	ASSERT_STR_EQ(p, port);
	free(h);
	free(p);
}

/* Parses a listen spec that must fail with a cause. */
static void
config_test_listen_bad(const char *spec)
{
	char	*h = NULL, *p = NULL, *cause = NULL;

	if (config_parse_listen(spec, &h, &p, &cause) != -1)
		TEST_FAIL("config_parse_listen(\"%s\") accepted", spec);
	ASSERT_NULL(h);
	ASSERT_NULL(p);
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, spec);
	free(cause);
}

/* Returns the line of `config show` output for key (owned). */
static char *
config_test_show_line(const char *out, const char *key)
{
	const char	*p = out, *end;
	size_t		 n = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == out || p[-1] == '\n') && p[n] == ' ') {
			end = strchr(p, '\n');
			return (xstrndup(p, end != NULL ?
			    (size_t)(end - p) : strlen(p)));
		}
		p += n;
	}
	TEST_FAIL("no line for %s in:\n%s", key, out);
}

TEST_IMPL(config_defaults)
{
	struct config	 c, d;
	char		*text, *cause = NULL;
	int		 k;

	memset(&c, 0, sizeof c);
	config_defaults(&c);
	ASSERT_STR_EQ(c.listen_host, "127.0.0.1");
	ASSERT_EQ(c.listen_port, 4141);
	ASSERT_EQ(c.listen_allow_remote, 0);
	ASSERT_EQ(c.log_level, LOG_LEVEL_INFO);
	ASSERT_EQ(c.max_header_bytes, 64 * 1024);
	ASSERT_EQ(c.max_body_bytes, 32 * 1024 * 1024);
	ASSERT_EQ(c.header_timeout_ms, 10000);
	ASSERT_STR_EQ(c.github_api_url, "https://api.github.com");
	ASSERT_STR_EQ(c.m365_client_secret, "");
	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (c.source[k] != CONFIG_SRC_DEFAULT)
			TEST_FAIL("%s: source %s", config_key_name(k),
			    config_source_name(c.source[k]));
	}
	ASSERT_STR_EQ(config_source_name(CONFIG_SRC_DEFAULT), "default");
	ASSERT_STR_EQ(config_source_name(CONFIG_SRC_FILE), "file");
	ASSERT_STR_EQ(config_source_name(CONFIG_SRC_ENV), "env");
	ASSERT_STR_EQ(config_source_name(CONFIG_SRC_FLAG), "flag");

	/* Values print with their units. */
	text = config_value_text(&c, CONFIG_LIMITS_MAX_BODY_BYTES, 1);
	ASSERT_STR_EQ(text, "32MiB");
	free(text);
	text = config_value_text(&c, CONFIG_TIMEOUTS_HEADER, 1);
	ASSERT_STR_EQ(text, "10s");
	free(text);
	text = config_value_text(&c, CONFIG_LISTEN_ALLOW_REMOTE, 1);
	ASSERT_STR_EQ(text, "false");
	free(text);

	/* An unset secret shows as empty; a set one is masked. */
	text = config_value_text(&c, CONFIG_UPSTREAMS_M365_CLIENT_SECRET, 1);
	ASSERT_STR_EQ(text, "");
	free(text);
	ASSERT_EQ(config_set(&c, "upstreams.m365.client_secret",
	    "s3cr3t-value", CONFIG_SRC_FILE, &cause), 0);
	ASSERT(config_key_flags(CONFIG_UPSTREAMS_M365_CLIENT_SECRET) &
	    CONFIG_F_SECRET);
	text = config_value_text(&c, CONFIG_UPSTREAMS_M365_CLIENT_SECRET, 1);
	ASSERT(strstr(text, "s3cr3t") == NULL);
	ASSERT_STR_EQ(text, "********");
	free(text);
	text = config_value_text(&c, CONFIG_UPSTREAMS_M365_CLIENT_SECRET, 0);
	ASSERT_STR_EQ(text, "s3cr3t-value");
	free(text);
	ASSERT_EQ(c.source[CONFIG_UPSTREAMS_M365_CLIENT_SECRET],
	    CONFIG_SRC_FILE);

	/* Base URLs lose a trailing slash; bad values leave the old one. */
	ASSERT_EQ(config_set(&c, "upstreams.github.api_url",
	    "http://127.0.0.1:9/", CONFIG_SRC_FLAG, &cause), 0);
	ASSERT_STR_EQ(c.github_api_url, "http://127.0.0.1:9");
	ASSERT_EQ(config_set(&c, "upstreams.github.api_url", "ftp://x",
	    CONFIG_SRC_ENV, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "'upstreams.github.api_url'");
	free(cause);
	cause = NULL;
	ASSERT_STR_EQ(c.github_api_url, "http://127.0.0.1:9");
	ASSERT_EQ(c.source[CONFIG_UPSTREAMS_GITHUB_API_URL], CONFIG_SRC_FLAG);
	ASSERT_EQ(config_set(&c, "listen.prot", "1", CONFIG_SRC_FLAG,
	    &cause), -1);
	ASSERT_STR_CONTAINS(cause, "unknown key 'listen.prot'");
	free(cause);
	cause = NULL;

	/* Keys, their names and their variables. */
	ASSERT_EQ(config_key_find("listen.port"), CONFIG_LISTEN_PORT);
	ASSERT_EQ(config_key_find("upstreams.github.api_url"),
	    CONFIG_UPSTREAMS_GITHUB_API_URL);
	ASSERT_EQ(config_key_find("listen"), -1);
	ASSERT_EQ(config_key_find("listen.port.x"), -1);
	ASSERT_STR_EQ(config_key_name(CONFIG_LIMITS_MAX_BODY_BYTES),
	    "limits.max_body_bytes");
	ASSERT_STR_EQ(config_key_env(CONFIG_UPSTREAMS_GITHUB_API_URL),
	    "COPILOT_GW_UPSTREAMS_GITHUB_API_URL");
	ASSERT_STR_EQ(config_key_env(CONFIG_LISTEN_PORT),
	    "COPILOT_GW_LISTEN_PORT");
	ASSERT_STR_EQ(config_key_env(CONFIG_UPSTREAMS_M365_CLIENT_SECRET),
	    "COPILOT_GW_UPSTREAMS_M365_CLIENT_SECRET");

	/* config_dup is deep and config_key_differs sees changes. */
	config_dup(&d, &c);
	ASSERT(d.listen_host != c.listen_host);
	ASSERT_STR_EQ(d.listen_host, c.listen_host);
	for (k = 0; k < CONFIG_NKEYS; k++)
		ASSERT(!config_key_differs(&c, &d, k));
	ASSERT_EQ(config_set(&d, "listen.port", "5000", CONFIG_SRC_FLAG,
	    &cause), 0);
	ASSERT(config_key_differs(&c, &d, CONFIG_LISTEN_PORT));
	ASSERT(!config_key_differs(&c, &d, CONFIG_LISTEN_HOST));
	ASSERT_EQ(c.listen_port, 4141);
	config_release(&d);
	config_release(&c);
	ASSERT_NULL(c.listen_host);

	/* The loopback check that guards listening on the network. */
	ASSERT(config_host_is_loopback("127.0.0.1"));
	ASSERT(config_host_is_loopback("127.1.2.3"));
	ASSERT(config_host_is_loopback("::1"));
	ASSERT(config_host_is_loopback("localhost"));
	ASSERT(!config_host_is_loopback("0.0.0.0"));
	ASSERT(!config_host_is_loopback("10.0.0.1"));
	ASSERT(!config_host_is_loopback("example.com"));
	ASSERT(!config_host_is_loopback("::"));
	ASSERT(!config_host_is_loopback("128.0.0.1"));
	ASSERT(!config_host_is_loopback("localhost.example.com"));

	/* Listen specs. */
	config_test_listen("127.0.0.1:80", "127.0.0.1", "80");
	config_test_listen("[::1]:8080", "::1", "8080");
	config_test_listen(":9000", NULL, "9000");
	config_test_listen("localhost:4141", "localhost", "4141");
	config_test_listen_bad("nohost");
	config_test_listen_bad("1.2.3.4:");
	config_test_listen_bad("[::1]");
	config_test_listen_bad("[::1]8080");

	/*
	 * A host name that merely starts with "127." is not in 127/8: it
	 * can resolve to any address, so it must not pass the check that
	 * keeps the gateway off the network without --allow-remote.
	 */
	ASSERT(!config_host_is_loopback("127.example.com"));
	ASSERT(!config_host_is_loopback("127.0.0.1.example.com"));
}

TEST_IMPL(config_file_errors)
{
	struct config	 c;
	char		*path, *cause = NULL;
	int		 k;

	config_test_clean_env();

	/* Unknown keys, at the top and nested. */
	config_test_bad("{\"lisen\": {}}", "unknown key 'lisen'", NULL);
	config_test_bad("{\"limits\": {\"max_bdy\": 1}}",
	    "unknown key 'limits.max_bdy'", NULL);
	config_test_bad("{\"upstreams\": {\"github\": {\"api_ur\": \"x\"}}}",
	    "unknown key 'upstreams.github.api_ur'", NULL);
	/* A section that is not an object. */
	config_test_bad("{\"listen\": 4141}", "'listen'", "must be an object");
	config_test_bad("{\"upstreams\": {\"github\": []}}",
	    "'upstreams.github'", "must be an object");
	/* Wrong types. */
	config_test_bad("{\"listen\": {\"port\": \"5000\"}}",
	    "'listen.port'", "integer");
	config_test_bad("{\"listen\": {\"port\": 50.5}}", "'listen.port'",
	    "integer");
	config_test_bad("{\"listen\": {\"allow_remote\": \"yes\"}}",
	    "'listen.allow_remote'", "must be true or false");
	config_test_bad("{\"listen\": {\"host\": 127}}", "'listen.host'",
	    "must be a string");
	config_test_bad("{\"log\": {\"level\": \"loud\"}}", "'log.level'",
	    "must be one of");
	/* Out of range and malformed values. */
	config_test_bad("{\"listen\": {\"port\": 70000}}", "'listen.port'",
	    "from 0 to 65535");
	config_test_bad("{\"listen\": {\"port\": -1}}", "'listen.port'",
	    "integer");
	config_test_bad("{\"upstreams\": {\"github\": {\"api_url\": "
	    "\"ftp://x\"}}}", "'upstreams.github.api_url'",
	    "is not an http:// or https:// URL");
	config_test_bad("{\"limits\": {\"max_body_bytes\": \"12XB\"}}",
	    "'limits.max_body_bytes'", "must be a size");
	config_test_bad("{\"limits\": {\"max_body_bytes\": 10}}",
	    "'limits.max_body_bytes'", "must be a size from 1024");
	config_test_bad("{\"timeouts\": {\"idle\": \"5 parsecs\"}}",
	    "'timeouts.idle'", "must be a duration");
	config_test_bad("{\"timeouts\": {\"idle\": -2}}",
	    "'timeouts.idle'", "seconds");
	/* Broken JSON names the line; other top levels are refused. */
	config_test_bad("{\n  \"listen\": {\n    \"port\": 1,,\n  }\n}\n",
	    "line 3", "invalid JSON");
	config_test_bad("{\n\"a\": 1,\n\"b\": 2,\n\n\"c\": tru\n}\n",
	    "line 5", "invalid JSON");
	config_test_bad("{\"listen\": {\"port\": 1}\n", "invalid JSON",
	    NULL);
	config_test_bad("[1, 2]", "must hold a JSON object", NULL);
	config_test_bad("\"listen\"", "must hold a JSON object", NULL);

	/* A valid file with every kind of value. */
	path = config_test_write("good.json",
	    "{\n"
	    "  \"listen\": { \"host\": \"127.0.0.2\", \"port\": 5000,\n"
	    "    \"allow_remote\": true },\n"
	    "  \"log\": { \"level\": \"debug\" },\n"
	    "  \"limits\": { \"max_body_bytes\": \"1MiB\",\n"
	    "    \"max_header_bytes\": 2048, \"max_connections\": 10 },\n"
	    "  \"timeouts\": { \"header\": \"250ms\", \"body\": 1.5,\n"
	    "    \"idle\": 30, \"write\": \"2m\" },\n"
	    "  \"upstreams\": {\n"
	    "    \"github\": { \"api_url\": \"http://127.0.0.1:9/\" },\n"
	    "    \"m365\": { \"client_secret\": \"abc\" }\n"
	    "  }\n"
	    "}\n");
	memset(&c, 0, sizeof c);
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_EQ(c.file_found, 1);
	ASSERT_STR_EQ(c.file, path);
	ASSERT_STR_EQ(c.listen_host, "127.0.0.2");
	ASSERT_EQ(c.listen_port, 5000);
	ASSERT_EQ(c.listen_allow_remote, 1);
	ASSERT_EQ(c.log_level, LOG_LEVEL_DEBUG);
	ASSERT_EQ(c.max_body_bytes, 1024 * 1024);
	ASSERT_EQ(c.max_header_bytes, 2048);
	ASSERT_EQ(c.max_connections, 10);
	ASSERT_EQ(c.header_timeout_ms, 250);
	ASSERT_EQ(c.body_timeout_ms, 1500);
	ASSERT_EQ(c.idle_timeout_ms, 30000);
	ASSERT_EQ(c.write_timeout_ms, 120000);
	ASSERT_STR_EQ(c.github_api_url, "http://127.0.0.1:9");
	ASSERT_STR_EQ(c.m365_client_secret, "abc");
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FILE);
	ASSERT_EQ(c.source[CONFIG_TIMEOUTS_BODY], CONFIG_SRC_FILE);
	ASSERT_EQ(c.source[CONFIG_UPSTREAMS_M365_CLIENT_SECRET],
	    CONFIG_SRC_FILE);
	/* Keys the file does not mention keep their defaults. */
	ASSERT_EQ(c.source[CONFIG_TIMEOUTS_SHUTDOWN], CONFIG_SRC_DEFAULT);
	ASSERT_EQ(c.shutdown_timeout_ms, 10000);
	ASSERT_STR_EQ(c.github_url, "https://github.com");
	config_release(&c);
	free(path);

	/* An empty object is a valid file that changes nothing. */
	path = config_test_write("empty.json", "{}\n");
	memset(&c, 0, sizeof c);
	ASSERT_EQ(config_load(&c, path, &cause), 0);
	ASSERT_EQ(c.file_found, 1);
	ASSERT_EQ(c.listen_port, 4141);
	config_release(&c);
	free(path);

	/* A missing file is not an error: defaults apply. */
	path = xasprintf("%s/absent.json", test_tmpdir());
	memset(&c, 0, sizeof c);
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_EQ(c.file_found, 0);
	ASSERT_STR_EQ(c.file, path);
	ASSERT_STR_EQ(c.listen_host, "127.0.0.1");
	ASSERT_EQ(c.listen_port, 4141);
	for (k = 0; k < CONFIG_NKEYS; k++)
		ASSERT_EQ(c.source[k], CONFIG_SRC_DEFAULT);
	config_release(&c);
	free(path);

	/*
	 * Text after the top-level object is broken JSON too, not something
	 * to ignore: a second object appended by mistake must not be
	 * silently dropped.
	 */
	config_test_bad("{\"listen\": {\"port\": 5000}} xyz", "invalid JSON",
	    NULL);
	config_test_bad("{\"listen\": {\"port\": 5000}}\n"
	    "{\"listen\": {\"port\": 6000}}\n", "invalid JSON", NULL);
}

TEST_IMPL(config_sources)
{
	struct config	 c, d;
	struct json_object *root, *e, *v;
	FILE		*f;
	char		*path, *cause = NULL, *out = NULL, *line;
	size_t		 outlen = 0;

	config_test_clean_env();
	path = config_test_write("config.json",
	    "{ \"listen\": { \"port\": 5000 },\n"
	    "  \"timeouts\": { \"idle\": \"30s\" },\n"
	    "  \"upstreams\": { \"m365\": { \"client_secret\": "
	    "\"s3cr3t-value-never-shown\" } } }\n");
	memset(&c, 0, sizeof c);

	/* The file over the defaults. */
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_EQ(c.listen_port, 5000);
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FILE);

	/* The environment over the file. */
	ASSERT_EQ(setenv("COPILOT_GW_LISTEN_PORT", "6000", 1), 0);
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_EQ(c.listen_port, 6000);
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_ENV);
	ASSERT_EQ(c.source[CONFIG_TIMEOUTS_IDLE], CONFIG_SRC_FILE);

	/* A flag over the environment. */
	config_add_flag(&c, "listen.port", "7000");
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_EQ(c.listen_port, 7000);
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FLAG);
	ASSERT_EQ(c.nflags, 1);

	/* The flag survives a reload... */
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("reload: %s", cause);
	ASSERT_EQ(c.listen_port, 7000);
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FLAG);
	ASSERT_EQ(c.nflags, 1);

	/* ... and config_dup, whose copy reloads the same way. */
	config_dup(&d, &c);
	ASSERT_EQ(d.nflags, 1);
	ASSERT(d.flags != c.flags);
	ASSERT_STR_EQ(d.flags[0].key, "listen.port");
	ASSERT_STR_EQ(d.flags[0].value, "7000");
	ASSERT_EQ(d.listen_port, 7000);
	ASSERT_EQ(d.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FLAG);
	ASSERT_STR_EQ(d.file, path);
	ASSERT(d.file != c.file);
	ASSERT(d.m365_client_secret != c.m365_client_secret);
	if (config_load(&d, path, &cause) != 0)
		TEST_FAIL("reload of the copy: %s", cause);
	ASSERT_EQ(d.listen_port, 7000);
	ASSERT_EQ(d.source[CONFIG_LISTEN_PORT], CONFIG_SRC_FLAG);
	config_release(&d);

	/* `config show` masks the secret and names the sources. */
	ASSERT_NOT_NULL(f = open_memstream(&out, &outlen));
	config_show(&c, f, 0);
	ASSERT_EQ(fclose(f), 0);
	ASSERT(strstr(out, "s3cr3t") == NULL);
	ASSERT_STR_CONTAINS(out, path);
	line = config_test_show_line(out, "listen.port");
	ASSERT_STR_CONTAINS(line, "7000");
	ASSERT_STR_CONTAINS(line, "flag");
	free(line);
	line = config_test_show_line(out, "timeouts.idle");
	ASSERT_STR_CONTAINS(line, "30s");
	ASSERT_STR_CONTAINS(line, "file");
	free(line);
	line = config_test_show_line(out, "listen.host");
	ASSERT_STR_CONTAINS(line, "127.0.0.1");
	ASSERT_STR_CONTAINS(line, "default");
	free(line);
	line = config_test_show_line(out, "upstreams.m365.client_secret");
	ASSERT_STR_CONTAINS(line, "********");
	ASSERT_STR_CONTAINS(line, "file");
	free(line);
	free(out);
	out = NULL;

	/* The JSON form too. */
	ASSERT_NOT_NULL(f = open_memstream(&out, &outlen));
	config_show(&c, f, 1);
	ASSERT_EQ(fclose(f), 0);
	ASSERT(strstr(out, "s3cr3t") == NULL);
	ASSERT_NOT_NULL(root = json_tokener_parse(out));
	ASSERT(json_object_object_get_ex(root, "listen.port", &e));
	ASSERT(json_object_object_get_ex(e, "source", &v));
	ASSERT_STR_EQ(json_object_get_string(v), "flag");
	ASSERT(json_object_object_get_ex(e, "value", &v));
	ASSERT_STR_EQ(json_object_get_string(v), "7000");
	ASSERT(json_object_object_get_ex(e, "env", &v));
	ASSERT_STR_EQ(json_object_get_string(v), "COPILOT_GW_LISTEN_PORT");
	ASSERT(json_object_object_get_ex(root, "upstreams.m365.client_secret",
	    &e));
	ASSERT(json_object_object_get_ex(e, "value", &v));
	ASSERT_STR_EQ(json_object_get_string(v), "********");
	json_object_put(root);
	free(out);
	out = NULL;
	config_release(&c);

	/* COPILOT_GW_LISTEN sets host and port together. */
	ASSERT_EQ(unsetenv("COPILOT_GW_LISTEN_PORT"), 0);
	ASSERT_EQ(setenv("COPILOT_GW_LISTEN", "127.0.0.2:8123", 1), 0);
	memset(&c, 0, sizeof c);
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_STR_EQ(c.listen_host, "127.0.0.2");
	ASSERT_EQ(c.listen_port, 8123);
	ASSERT_EQ(c.source[CONFIG_LISTEN_HOST], CONFIG_SRC_ENV);
	ASSERT_EQ(c.source[CONFIG_LISTEN_PORT], CONFIG_SRC_ENV);
	/* A "listen" flag beats it. */
	config_add_flag(&c, "listen", "[::1]:9001");
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("config_load: %s", cause);
	ASSERT_STR_EQ(c.listen_host, "::1");
	ASSERT_EQ(c.listen_port, 9001);
	ASSERT_EQ(c.source[CONFIG_LISTEN_HOST], CONFIG_SRC_FLAG);
	config_release(&c);
	ASSERT_EQ(setenv("COPILOT_GW_LISTEN", "127.0.0.2", 1), 0);
	memset(&c, 0, sizeof c);
	ASSERT_EQ(config_load(&c, path, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "COPILOT_GW_LISTEN");
	free(cause);
	cause = NULL;
	config_release(&c);
	ASSERT_EQ(unsetenv("COPILOT_GW_LISTEN"), 0);

	/* Reserved variables are not config keys and are ignored. */
	ASSERT_EQ(setenv("COPILOT_GW_HOME", test_tmpdir(), 1), 0);
	ASSERT_EQ(setenv("COPILOT_GW_CONFIG", path, 1), 0);
	memset(&c, 0, sizeof c);
	if (config_load(&c, path, &cause) != 0)
		TEST_FAIL("reserved variables rejected: %s", cause);
	ASSERT_EQ(c.listen_port, 5000);
	config_release(&c);

	/* An unknown COPILOT_GW_ variable is an error that names it. */
	ASSERT_EQ(setenv("COPILOT_GW_FOO", "1", 1), 0);
	memset(&c, 0, sizeof c);
	ASSERT_EQ(config_load(&c, path, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "COPILOT_GW_FOO");
	free(cause);
	cause = NULL;
	config_release(&c);
	ASSERT_EQ(unsetenv("COPILOT_GW_FOO"), 0);

	/* A bad environment value names the variable and the key. */
	ASSERT_EQ(setenv("COPILOT_GW_LISTEN_PORT", "http", 1), 0);
	memset(&c, 0, sizeof c);
	ASSERT_EQ(config_load(&c, path, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "COPILOT_GW_LISTEN_PORT");
	ASSERT_STR_CONTAINS(cause, "'listen.port'");
	free(cause);
	cause = NULL;
	config_release(&c);
	ASSERT_EQ(unsetenv("COPILOT_GW_LISTEN_PORT"), 0);

	/* An unknown or bad flag is an error from the command line. */
	memset(&c, 0, sizeof c);
	config_add_flag(&c, "limits.max_bdy", "1");
	ASSERT_EQ(config_load(&c, path, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "unknown key 'limits.max_bdy'");
	free(cause);
	cause = NULL;
	config_release(&c);
	memset(&c, 0, sizeof c);
	config_add_flag(&c, "listen.port", "65536");
	ASSERT_EQ(config_load(&c, path, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "'listen.port'");
	free(cause);
	config_release(&c);
	free(path);
}

TEST_IMPL(config_parse_units)
{
	uint64_t	 v;

	/* Sizes. */
	v = 1;
	ASSERT_EQ(config_parse_size("0", &v), 0);
	ASSERT_EQ(v, 0);
	ASSERT_EQ(config_parse_size("65536", &v), 0);
	ASSERT_EQ(v, 65536);
	ASSERT_EQ(config_parse_size("64KiB", &v), 0);
	ASSERT_EQ(v, 65536);
	ASSERT_EQ(config_parse_size("64k", &v), 0);
	ASSERT_EQ(v, 65536);
	ASSERT_EQ(config_parse_size("64 KB", &v), 0);
	ASSERT_EQ(v, 65536);
	ASSERT_EQ(config_parse_size("32MiB", &v), 0);
	ASSERT_EQ(v, 32ULL * 1024 * 1024);
	ASSERT_EQ(config_parse_size("32m", &v), 0);
	ASSERT_EQ(v, 32ULL * 1024 * 1024);
	ASSERT_EQ(config_parse_size("1G", &v), 0);
	ASSERT_EQ(v, 1024ULL * 1024 * 1024);
	ASSERT_EQ(config_parse_size("4GiB", &v), 0);
	ASSERT_EQ(v, 4ULL * 1024 * 1024 * 1024);
	ASSERT_EQ(config_parse_size("100B", &v), 0);
	ASSERT_EQ(v, 100);
	v = 12345;
	ASSERT_EQ(config_parse_size("", &v), -1);
	ASSERT_EQ(config_parse_size("abc", &v), -1);
	ASSERT_EQ(config_parse_size("-1", &v), -1);
	ASSERT_EQ(config_parse_size(" 1", &v), -1);
	ASSERT_EQ(config_parse_size("1.5M", &v), -1);
	ASSERT_EQ(config_parse_size("12XB", &v), -1);
	ASSERT_EQ(config_parse_size("1T", &v), -1);
	ASSERT_EQ(config_parse_size("1KiBx", &v), -1);
	ASSERT_EQ(config_parse_size("99999999999999999999G", &v), -1);
	ASSERT_EQ(config_parse_size("99999999999999999999", &v), -1);
	/* 2^34 GiB is 2^64 bytes: one past the largest value. */
	ASSERT_EQ(config_parse_size("17179869184G", &v), -1);
	ASSERT_EQ(v, 12345);
	ASSERT_EQ(config_parse_size("17179869183G", &v), 0);
	ASSERT_EQ(v, 17179869183ULL * 1024 * 1024 * 1024);

	/* Durations, in milliseconds. */
	ASSERT_EQ(config_parse_duration("10s", &v), 0);
	ASSERT_EQ(v, 10000);
	ASSERT_EQ(config_parse_duration("250ms", &v), 0);
	ASSERT_EQ(v, 250);
	ASSERT_EQ(config_parse_duration("2m", &v), 0);
	ASSERT_EQ(v, 120000);
	ASSERT_EQ(config_parse_duration("1h", &v), 0);
	ASSERT_EQ(v, 3600000);
	ASSERT_EQ(config_parse_duration("1.5", &v), 0);
	ASSERT_EQ(v, 1500);
	ASSERT_EQ(config_parse_duration("30", &v), 0);
	ASSERT_EQ(v, 30000);
	ASSERT_EQ(config_parse_duration("0.25s", &v), 0);
	ASSERT_EQ(v, 250);
	ASSERT_EQ(config_parse_duration("0", &v), 0);
	ASSERT_EQ(v, 0);
	v = 12345;
	ASSERT_EQ(config_parse_duration("", &v), -1);
	ASSERT_EQ(config_parse_duration("-1s", &v), -1);
	ASSERT_EQ(config_parse_duration("10x", &v), -1);
	ASSERT_EQ(config_parse_duration("0x10", &v), -1);
	ASSERT_EQ(config_parse_duration("1e3", &v), -1);
	ASSERT_EQ(config_parse_duration("inf", &v), -1);
	ASSERT_EQ(config_parse_duration("5 parsecs", &v), -1);
	ASSERT_EQ(config_parse_duration("s", &v), -1);
	ASSERT_EQ(config_parse_duration("ms", &v), -1);
	ASSERT_EQ(config_parse_duration("1.5.5s", &v), -1);
	ASSERT_EQ(config_parse_duration("1e400", &v), -1);
	ASSERT_EQ(v, 12345);
}
