/* SPDX-License-Identifier: ISC */
/*
 * keys: client key secrets. 256 random bits from RAND_bytes, base64url
 * encoded behind the "sk-cgw-" prefix; SHA-256 (OpenSSL EVP) for storage
 * and lookup, so the server compares hashes, never secrets; a masked
 * prefix for listings; model allow-lists with fnmatch(3) globs. Any
 * thread.
 */
#include "keys.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char keys_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char keys_b32[] = "abcdefghijklmnopqrstuvwxyz234567";

int
keys_generate(char *secret, char *id)
{
	unsigned char	 r[33], idr[10];
	size_t		 i, o = 0;
	unsigned	 v;

	if (RAND_bytes(r, 32) != 1 || RAND_bytes(idr, sizeof idr) != 1)
		return (-1);
	r[32] = 0;
	memcpy(secret, KEYS_PREFIX, 7);
	o = 7;
	/* 32 bytes -> 43 base64url characters, no padding. */
	for (i = 0; i < 33; i += 3) {
		v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 |
		    (i + 2 < 33 ? r[i + 2] : 0);
		secret[o++] = keys_b64url[(v >> 18) & 63];
		secret[o++] = keys_b64url[(v >> 12) & 63];
		secret[o++] = keys_b64url[(v >> 6) & 63];
		secret[o++] = keys_b64url[v & 63];
	}
	secret[KEYS_SECRET_LEN] = '\0';
	memcpy(id, "key_", 4);
	for (i = 0; i < 16; i++)
		id[4 + i] = keys_b32[idr[i % 10] >> (i < 10 ? 3 : 0) & 31];
	id[KEYS_ID_LEN] = '\0';
	explicit_bzero(r, sizeof r);
	return (0);
}

static EVP_MD		*keys_sha256;
static pthread_once_t	 keys_sha256_once = PTHREAD_ONCE_INIT;

/*
 * Fetches SHA-256 once: EVP_sha256() makes every EVP_Digest look the
 * algorithm up again in OpenSSL 3, and the proxy hashes a key per request.
 */
static void
keys_sha256_init(void)
{
	keys_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
keys_hash(const char *s, char *hex)
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;

	pthread_once(&keys_sha256_once, keys_sha256_init);
	EVP_Digest(s, strlen(s), md, &n, keys_sha256 != NULL ? keys_sha256 :
	    EVP_sha256(), NULL);
	for (i = 0; i < n && i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[KEYS_HASH_LEN] = '\0';
}

void
keys_mask(const char *secret, char *out, size_t len)
{
	snprintf(out, len, "%.11s...", secret);
}

int
keys_looks_like_secret(const char *s)
{
	size_t	 i;

	if (strncmp(s, KEYS_PREFIX, 7) != 0 || strlen(s) != KEYS_SECRET_LEN)
		return (0);
	for (i = 7; i < KEYS_SECRET_LEN; i++)
		if (strchr(keys_b64url, s[i]) == NULL)
			return (0);
	return (1);
}

int
keys_model_allowed(const char *list, const char *model)
{
	char		 pat[256];
	const char	*p, *end;
	size_t		 n;

	if (list == NULL || *list == '\0')
		return (1);
	for (p = list; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof pat)
			continue;
		memcpy(pat, p, n);
		pat[n] = '\0';
		if (fnmatch(pat, model, 0) == 0)
			return (1);
	}
	return (0);
}

const char *
keys_label_error(const char *label)
{
	const unsigned char	*p;

	if (strlen(label) > KEYS_LABEL_MAX)
		return ("a label is at most 64 characters");
	for (p = (const unsigned char *)label; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return ("a label cannot hold control characters");
	if (strncmp(label, "key_", 4) == 0)
		return ("a label cannot start with 'key_', which key ids use");
	if (strncmp(label, "sk-cgw-", 7) == 0 || keys_looks_like_secret(label))
		return ("a label cannot look like a key secret (labels are "
		    "stored and shown in clear)");
	return (NULL);
}
