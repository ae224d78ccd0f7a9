/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for src/keys.c: generated secrets have the documented format
 * (sk-cgw- and 43 base64url characters) and public ids theirs (key_ and
 * 16 characters), 1000 of each are all distinct; keys_hash is SHA-256 in
 * lowercase hex (known vectors); keys_mask never shows more than 4
 * characters of the secret itself, whatever the buffer size;
 * keys_looks_like_secret accepts exactly the format; keys_model_allowed
 * with exact ids, globs, an empty list and comma-separated lists.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "keys.h"

#define KEYS_TEST_N	1000

static const char keys_test_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char keys_test_b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int
keys_test_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Fails unless the n strings of v are pairwise distinct. */
static void
keys_test_distinct(char **v, size_t n, const char *what)
{
	size_t	 i;

	qsort(v, n, sizeof *v, keys_test_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			TEST_FAIL("two %s are equal: %s", what, v[i]);
}

TEST_IMPL(keys_generate_format)
{
	char	*secrets[KEYS_TEST_N], *ids[KEYS_TEST_N];
	char	 secret[KEYS_SECRET_LEN + 1], id[KEYS_ID_LEN + 1];
	int	 seen[256];
	size_t	 i, j;

	ASSERT_EQ(strlen(KEYS_PREFIX), 7);
	ASSERT_EQ(KEYS_SECRET_LEN, 50);
	ASSERT_EQ(KEYS_ID_LEN, 20);
	memset(seen, 0, sizeof seen);
	for (i = 0; i < KEYS_TEST_N; i++) {
		/* Canaries: nothing is written past the terminating NUL. */
		memset(secret, '#', sizeof secret);
		memset(id, '#', sizeof id);
		ASSERT_EQ(keys_generate(secret, id), 0);
		ASSERT_EQ(strlen(secret), KEYS_SECRET_LEN);
		ASSERT_EQ(strncmp(secret, "sk-cgw-", 7), 0);
		for (j = 7; j < KEYS_SECRET_LEN; j++) {
			if (strchr(keys_test_b64url, secret[j]) == NULL)
				TEST_FAIL("secret %s: '%c' is not base64url",
				    secret, secret[j]);
			seen[(unsigned char)secret[j]]++;
		}
		ASSERT_EQ(keys_looks_like_secret(secret), 1);
		ASSERT_EQ(strlen(id), KEYS_ID_LEN);
		ASSERT_EQ(strncmp(id, "key_", 4), 0);
		for (j = 4; j < KEYS_ID_LEN; j++)
			if (strchr(keys_test_b32, id[j]) == NULL)
				TEST_FAIL("id %s: '%c' is not in a-z2-7", id,
				    id[j]);
		/* The public id never gives away a piece of the secret. */
		ASSERT_NULL(strstr(secret, id + 4));
		secrets[i] = strdup(secret);
		ids[i] = strdup(id);
		ASSERT_NOT_NULL(secrets[i]);
		ASSERT_NOT_NULL(ids[i]);
	}
	keys_test_distinct(secrets, KEYS_TEST_N, "secrets");
	keys_test_distinct(ids, KEYS_TEST_N, "ids");
	/* 43000 random characters use the whole alphabet. */
	for (j = 0; j < 64; j++)
		if (seen[(unsigned char)keys_test_b64url[j]] == 0)
			TEST_FAIL("'%c' never appears in 1000 secrets",
			    keys_test_b64url[j]);
	for (i = 0; i < KEYS_TEST_N; i++) {
		free(secrets[i]);
		free(ids[i]);
	}
}

TEST_IMPL(keys_hash_vectors)
{
	char	 hex[KEYS_HASH_LEN + 1], hex2[KEYS_HASH_LEN + 1];

	/* FIPS 180-2 and the empty string. */
	keys_hash("abc", hex);
	ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	keys_hash("", hex);
	ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	keys_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    hex);
	ASSERT_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	/* A secret-shaped string (printf '%s' ... | sha256sum). */
	keys_hash("sk-cgw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hex);
	ASSERT_EQ(strlen(hex), KEYS_HASH_LEN);
	ASSERT_STR_EQ(hex, "f318fb703828ad23b9fe590076d69f3f"
	    "df82c892ba975747e9fee41477ac3244");
	/* Deterministic, lowercase, and sensitive to one character. */
	keys_hash("sk-cgw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hex2);
	ASSERT_STR_EQ(hex, hex2);
	keys_hash("sk-cgw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", hex2);
	ASSERT(strcmp(hex, hex2) != 0);
	ASSERT_EQ(strspn(hex2, "0123456789abcdef"), KEYS_HASH_LEN);
}

/* Returns how many characters of the secret's body (after the prefix)
 * occur in out as one run: the longest common substring. */
static size_t
keys_test_revealed(const char *secret, const char *out)
{
	const char	*body = secret + 7;
	size_t		 best = 0, i, j, k, n = strlen(body), m = strlen(out);

	for (i = 0; i < n; i++)
		for (j = 0; j < m; j++) {
			for (k = 0; i + k < n && j + k < m &&
			    body[i + k] == out[j + k]; k++)
				;
			if (k > best)
				best = k;
		}
	return (best);
}

TEST_IMPL(keys_mask_hides)
{
	char	 secret[KEYS_SECRET_LEN + 1], id[KEYS_ID_LEN + 1];
	char	 out[128], small[6];
	size_t	 sizes[] = { 1, 2, 8, 11, 12, 15, 16, 32, 128 }, i, s;

	for (i = 0; i < 200; i++) {
		ASSERT_EQ(keys_generate(secret, id), 0);
		for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			memset(out, '#', sizeof out);
			keys_mask(secret, out, sizes[s]);
			ASSERT(memchr(out, '\0', sizes[s]) != NULL);
			if (keys_test_revealed(secret, out) > 4)
				TEST_FAIL("mask '%s' of %s shows more than 4 "
				    "characters", out, secret);
			/* The buffer is not overrun. */
			if (sizes[s] < sizeof out)
				ASSERT_EQ(out[sizes[s]], '#');
		}
		keys_mask(secret, out, sizeof out);
		/* It still says what it is: the prefix is kept. */
		ASSERT_EQ(strncmp(out, "sk-cgw-", 7), 0);
		ASSERT_EQ(strncmp(out, secret, 11), 0);
		ASSERT(strlen(out) < KEYS_SECRET_LEN);
	}
	/* A short or odd string is masked without reading past it. */
	keys_mask("sk-cgw-ab", out, sizeof out);
	ASSERT_LE(strlen(out), 16);
	keys_mask("", out, sizeof out);
	ASSERT_LE(strlen(out), 3);
	memset(small, '#', sizeof small);
	keys_mask("sk-cgw-SECRETSECRETSECRETSECRETSECRETSECRETSECRET", small,
	    5);
	ASSERT_EQ(small[5], '#');
	ASSERT_EQ(strlen(small), 4);
}

TEST_IMPL(keys_looks_like_secret)
{
	char	 secret[KEYS_SECRET_LEN + 1], id[KEYS_ID_LEN + 1];
	char	 s[KEYS_SECRET_LEN + 8];
	const char *bad[] = { "+", "/", "=", " ", ".", "\t", "~", "\xc3" };
	size_t	 i;

	ASSERT_EQ(keys_generate(secret, id), 0);
	ASSERT_EQ(keys_looks_like_secret(secret), 1);
	ASSERT_EQ(keys_looks_like_secret(
	    "sk-cgw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 1);
	ASSERT_EQ(keys_looks_like_secret(
	    "sk-cgw-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_"), 1);
	ASSERT_EQ(keys_looks_like_secret(""), 0);
	ASSERT_EQ(keys_looks_like_secret("sk-cgw-"), 0);
	ASSERT_EQ(keys_looks_like_secret(id), 0);
	/* One character short, one too many. */
	snprintf(s, sizeof s, "%.*s", KEYS_SECRET_LEN - 1, secret);
	ASSERT_EQ(keys_looks_like_secret(s), 0);
	snprintf(s, sizeof s, "%sA", secret);
	ASSERT_EQ(keys_looks_like_secret(s), 0);
	/* Another prefix: OpenAI's, GitHub's, a case change. */
	snprintf(s, sizeof s, "sk-abc-%s", secret + 7);
	ASSERT_EQ(keys_looks_like_secret(s), 0);
	snprintf(s, sizeof s, "SK-CGW-%s", secret + 7);
	ASSERT_EQ(keys_looks_like_secret(s), 0);
	ASSERT_EQ(keys_looks_like_secret(
	    "ghu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0);
	/* Characters outside base64url, anywhere in the body. */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(s, sizeof s, "%s", secret);
		s[7] = bad[i][0];
		ASSERT_EQ(keys_looks_like_secret(s), 0);
		snprintf(s, sizeof s, "%s", secret);
		s[KEYS_SECRET_LEN - 1] = bad[i][0];
		ASSERT_EQ(keys_looks_like_secret(s), 0);
		snprintf(s, sizeof s, "%s", secret);
		s[30] = bad[i][0];
		ASSERT_EQ(keys_looks_like_secret(s), 0);
	}
	/* A secret with a trailing newline (read from a file) is not one. */
	snprintf(s, sizeof s, "%s\n", secret);
	ASSERT_EQ(keys_looks_like_secret(s), 0);
}

TEST_IMPL(keys_model_allowed)
{
	char	 big[400];

	/* An empty list (or none) allows everything. */
	ASSERT_EQ(keys_model_allowed("", "gpt-4o"), 1);
	ASSERT_EQ(keys_model_allowed(NULL, "claude-sonnet-4.5"), 1);
	/* Exact ids are exact. */
	ASSERT_EQ(keys_model_allowed("gpt-4o", "gpt-4o"), 1);
	ASSERT_EQ(keys_model_allowed("gpt-4o", "gpt-4o-mini"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4o", "gpt-4"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4o", "GPT-4o"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4o", ""), 0);
	/* '.' is no wildcard. */
	ASSERT_EQ(keys_model_allowed("gpt-4.1", "gpt-4x1"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4.1", "gpt-4.1"), 1);
	/* Globs. */
	ASSERT_EQ(keys_model_allowed("claude-*", "claude-sonnet-4.5"), 1);
	ASSERT_EQ(keys_model_allowed("claude-*", "claude-"), 1);
	ASSERT_EQ(keys_model_allowed("claude-*", "claude"), 0);
	ASSERT_EQ(keys_model_allowed("claude-*", "gpt-4o"), 0);
	ASSERT_EQ(keys_model_allowed("claude-*", "my-claude-x"), 0);
	ASSERT_EQ(keys_model_allowed("*-mini", "o4-mini"), 1);
	ASSERT_EQ(keys_model_allowed("*-mini", "o4-mini-high"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-*-codex", "gpt-5.1-codex"), 1);
	ASSERT_EQ(keys_model_allowed("gpt-*-codex", "gpt-5.1"), 0);
	ASSERT_EQ(keys_model_allowed("*", "anything-at-all"), 1);
	/* Comma-separated lists: each entry is tried. */
	ASSERT_EQ(keys_model_allowed("gpt-4o,claude-*", "gpt-4o"), 1);
	ASSERT_EQ(keys_model_allowed("gpt-4o,claude-*", "claude-opus-4.1"),
	    1);
	ASSERT_EQ(keys_model_allowed("gpt-4o,claude-*", "gpt-4.1"), 0);
	ASSERT_EQ(keys_model_allowed("a,b,c,gpt-4.1", "gpt-4.1"), 1);
	/* Empty entries (leading, trailing, doubled commas) match nothing. */
	ASSERT_EQ(keys_model_allowed(",gpt-4o,", "gpt-4o"), 1);
	ASSERT_EQ(keys_model_allowed("gpt-4o,,o1", "o1"), 1);
	ASSERT_EQ(keys_model_allowed(",,,", "gpt-4o"), 0);
	ASSERT_EQ(keys_model_allowed(",", ""), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4o,", "gpt-4o,"), 0);
	/* A comma never joins two entries into one id. */
	ASSERT_EQ(keys_model_allowed("gpt-4o,o1", "gpt-4o,o1"), 0);
	ASSERT_EQ(keys_model_allowed("gpt-4o,o1", "o1"), 1);
	/* An entry too long to be a model id is skipped, safely. */
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = '\0';
	ASSERT_EQ(keys_model_allowed(big, "gpt-4o"), 0);
	big[300] = ',';
	memcpy(big + 301, "gpt-4o", 7);
	ASSERT_EQ(keys_model_allowed(big, "gpt-4o"), 1);
}

TEST_IMPL(keys_label_rules)
{
	char	 big[KEYS_LABEL_MAX + 2];

	ASSERT_NULL(keys_label_error("laptop"));
	ASSERT_NULL(keys_label_error("Ana's editor (wifi) \xc3\xa9"));
	memset(big, 'x', sizeof big);
	big[KEYS_LABEL_MAX] = '\0';
	ASSERT_NULL(keys_label_error(big));
	big[KEYS_LABEL_MAX] = 'x';
	big[KEYS_LABEL_MAX + 1] = '\0';
	ASSERT_NOT_NULL(keys_label_error(big));
	/* Printed on terminals: no control characters, escapes included. */
	ASSERT_NOT_NULL(keys_label_error("a\tb"));
	ASSERT_NOT_NULL(keys_label_error("\x1b[31mred"));
	ASSERT_NOT_NULL(keys_label_error("del\x7f"));
	/* It would shadow a key id, or keep a secret in clear. */
	ASSERT_NOT_NULL(keys_label_error("key_0123456789abcdef"));
	ASSERT_NOT_NULL(keys_label_error("key_"));
	ASSERT_NULL(keys_label_error("keyboard"));
	ASSERT_NOT_NULL(keys_label_error(
	    "sk-cgw-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	ASSERT_NOT_NULL(keys_label_error("sk-cgw-short"));
}
