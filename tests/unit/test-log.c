/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for log.c: secret-looking substrings (client keys, GitHub
 * tokens, bearer and token credentials) are masked while ordinary prose
 * is left alone, and a log file holds one valid JSON object per line with
 * the standard members, typed fields and no secret, filtered by level and
 * created with mode 0600.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "test.h"

#include "log.h"
#include "xmalloc.h"

/* Scrubs a copy of in and checks the result is want. */
static void
log_test_scrub(const char *in, const char *want)
{
	char	*s;

	s = xstrdup(in);
	ASSERT(log_scrub(s) == s);
	if (strcmp(s, want) != 0)
		TEST_FAIL("log_scrub(\"%s\") = \"%s\", want \"%s\"", in, s,
		    want);
	free(s);
}

TEST_IMPL(log_scrub_secrets)
{
	/* Client keys and GitHub token shapes. */
	log_test_scrub("key sk-cgw-AbCdEf0123456789xyz used",
	    "key sk-cgw-*** used");
	log_test_scrub("ghu_16C7e42F292c6912E7710c838347Ae178B4a",
	    "ghu_***");
	log_test_scrub("oauth=gho_16C7e42F292c6912E7710c838347Ae178B4a;",
	    "oauth=gho_***");
	log_test_scrub("pat ghp_abcdefghijklmnopqrstuvwxyz0123456789 end",
	    "pat ghp_*** end");
	log_test_scrub("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu",
	    "github_pat_***");
	log_test_scrub("ghs_abcdefghijklmnop and ghr_abcdefghijklmnop",
	    "ghs_*** and ghr_***");

	/* Credentials after an auth scheme. */
	log_test_scrub("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIi"
	    "OiIxIn0.c2lnbmF0dXJl", "Authorization: Bearer ***");
	log_test_scrub("authorization: bearer abcdefghijklmnop",
	    "authorization: bearer ***");
	log_test_scrub("Authorization: token 0123456789abcdef0123456789abcd",
	    "Authorization: token ***");

	/* Several secrets in one line, at both ends. */
	log_test_scrub("sk-cgw-aaaaaaaaaaaaaaaa then Bearer bbbbbbbbbbbbbbbb "
	    "then ghu_cccccccccccccccc", "sk-cgw-*** then Bearer *** then "
	    "ghu_***");
	/* A bearer token that is itself a client key stays masked. */
	log_test_scrub("Bearer sk-cgw-0123456789abcdef",
	    "Bearer sk-cgw-***");

	/* Ordinary text is left intact. */
	log_test_scrub("token expired", "token expired");
	log_test_scrub("copilot token refreshed, expires soon",
	    "copilot token refreshed, expires soon");
	log_test_scrub("token 0123456789abcdef0123", "token ***");
	log_test_scrub("use the token in a header",
	    "use the token in a header");
	log_test_scrub("ghost writer", "ghost writer");
	log_test_scrub("the ghp_ prefix marks a PAT",
	    "the ghp_ prefix marks a PAT");
	log_test_scrub("Bearer", "Bearer");
	log_test_scrub("listening on 127.0.0.1:4141",
	    "listening on 127.0.0.1:4141");
	log_test_scrub("", "");
}

/* Checks that member key of o exists with JSON type t; returns it. */
static struct json_object *
log_test_member(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v))
		TEST_FAIL("member \"%s\" missing in %s", key,
		    json_object_to_json_string(o));
	if (!json_object_is_type(v, t))
		TEST_FAIL("member \"%s\" has type %s, want %s", key,
		    json_type_to_name(json_object_get_type(v)),
		    json_type_to_name(t));
	return (v);
}

static const char *
log_test_str(struct json_object *o, const char *key)
{
	return (json_object_get_string(log_test_member(o, key,
	    json_type_string)));
}

TEST_IMPL(log_json_lines)
{
	struct json_object	*lines[16], *o;
	struct stat		 sb;
	FILE			*f;
	char			*path, *cause = NULL, *line = NULL, *want;
	const char		*t;
	size_t			 cap = 0;
	ssize_t			 n;
	int			 nlines = 0, i;

	path = xasprintf("%s/gw.log", test_tmpdir());
	umask(0);
	if (log_open_file(path, &cause) != 0)
		TEST_FAIL("log_open_file: %s", cause);
	umask(077);
	log_set_level(LOG_LEVEL_INFO);
	ASSERT_EQ(log_get_level(), LOG_LEVEL_INFO);
	ASSERT(!log_enabled(LOG_LEVEL_DEBUG));
	ASSERT(log_enabled(LOG_LEVEL_WARN));
	log_set_thread_name("tester");

	/* 0: a structured event with typed fields and a request id. */
	log_ev(LOG_LEVEL_INFO, "req-0001", "request done",
	    LF_STR("model", "gpt-4o"), LF_INT("status", 200),
	    LF_INT("bytes", 1234567890123LL), LF_BOOL("stream", 1),
	    LF_BOOL("cached", 0), LF_DBL("ratio", 0.5),
	    LF_STR("quote", "say \"hi\"\n"));
	/* Below the level: must not appear. */
	log_debug("debug line %d", 1);
	log_ev(LOG_LEVEL_DEBUG, "req-0002", "debug event", LF_INT("x", 1));
	/* 1, 2: plain lines. */
	log_info("listening on %s:%d", "127.0.0.1", 4141);
	log_warnx("slow upstream: %dms", 2500);
	/* 3: a secret passed by mistake, in msg and in a field. */
	log_ev(LOG_LEVEL_ERROR, "req-0003", "auth header Bearer "
	    "abcdefghijklmnop", LF_STR("hdr", "token ghp_SECRETSECRETSECRET1"));
	/* 4: log_warn appends strerror(errno). */
	errno = ENOENT;
	log_warn("cannot open %s", "x.json");
	log_close();

	ASSERT_EQ(stat(path, &sb), 0);
	ASSERT_EQ(sb.st_mode & 0777, 0600);

	ASSERT_NOT_NULL(f = fopen(path, "r"));
	while ((n = getline(&line, &cap, f)) != -1) {
		ASSERT(nlines < 16);
		ASSERT(n > 0 && line[n - 1] == '\n');
		ASSERT(strstr(line, "abcdefghijklmnop") == NULL);
		ASSERT(strstr(line, "SECRETSECRET") == NULL);
		ASSERT(strstr(line, "debug") == NULL);
		if ((o = json_tokener_parse(line)) == NULL)
			TEST_FAIL("line %d is not JSON: %s", nlines, line);
		ASSERT(json_object_is_type(o, json_type_object));
		lines[nlines++] = o;
	}
	free(line);
	fclose(f);
	ASSERT_EQ(nlines, 5);

	for (i = 0; i < nlines; i++) {
		o = lines[i];
		/* 2024-01-02T03:04:05.678Z */
		t = log_test_str(o, "time");
		ASSERT_EQ(strlen(t), 24);
		ASSERT(t[4] == '-' && t[10] == 'T' && t[19] == '.' &&
		    t[23] == 'Z');
		ASSERT_STR_EQ(log_test_str(o, "thread"), "tester");
		log_test_str(o, "level");
		log_test_str(o, "msg");
	}

	o = lines[0];
	ASSERT_STR_EQ(log_test_str(o, "level"), "info");
	ASSERT_STR_EQ(log_test_str(o, "msg"), "request done");
	ASSERT_STR_EQ(log_test_str(o, "request_id"), "req-0001");
	ASSERT_STR_EQ(log_test_str(o, "model"), "gpt-4o");
	ASSERT_EQ(json_object_get_int64(log_test_member(o, "status",
	    json_type_int)), 200);
	ASSERT_EQ(json_object_get_int64(log_test_member(o, "bytes",
	    json_type_int)), 1234567890123LL);
	ASSERT_EQ(json_object_get_boolean(log_test_member(o, "stream",
	    json_type_boolean)), 1);
	ASSERT_EQ(json_object_get_boolean(log_test_member(o, "cached",
	    json_type_boolean)), 0);
	ASSERT(json_object_get_double(log_test_member(o, "ratio",
	    json_type_double)) == 0.5);
	ASSERT_STR_EQ(log_test_str(o, "quote"), "say \"hi\"\n");

	o = lines[1];
	ASSERT_STR_EQ(log_test_str(o, "level"), "info");
	ASSERT_STR_EQ(log_test_str(o, "msg"), "listening on 127.0.0.1:4141");
	ASSERT(!json_object_object_get_ex(o, "request_id", NULL));

	o = lines[2];
	ASSERT_STR_EQ(log_test_str(o, "level"), "warn");
	ASSERT_STR_EQ(log_test_str(o, "msg"), "slow upstream: 2500ms");

	o = lines[3];
	ASSERT_STR_EQ(log_test_str(o, "level"), "error");
	ASSERT_STR_EQ(log_test_str(o, "request_id"), "req-0003");
	ASSERT_STR_EQ(log_test_str(o, "msg"), "auth header Bearer ***");
	ASSERT_STR_EQ(log_test_str(o, "hdr"), "token ghp_***");

	o = lines[4];
	ASSERT_STR_EQ(log_test_str(o, "level"), "warn");
	want = xasprintf("cannot open x.json: %s", strerror(ENOENT));
	ASSERT_STR_EQ(log_test_str(o, "msg"), want);
	free(want);

	for (i = 0; i < nlines; i++)
		json_object_put(lines[i]);
	free(path);
}
