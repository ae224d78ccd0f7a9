/* SPDX-License-Identifier: ISC */
#ifndef KEYS_H
#define KEYS_H

#include <stddef.h>

/*
 * Client keys: the secret format, hashing and display. A secret is
 * "sk-cgw-" followed by 43 base64url characters (256 random bits from
 * OpenSSL RAND_bytes); it is shown once and stored only as its SHA-256
 * hash. A key's public id ("key_" + 16 characters) names it everywhere
 * else. Pure functions; any thread.
 */

#define KEYS_PREFIX		"sk-cgw-"
#define KEYS_SECRET_LEN		(7 + 43)	/* without the NUL */
#define KEYS_ID_LEN		(4 + 16)
#define KEYS_HASH_LEN		64		/* hex SHA-256 */

/* Fills secret (KEYS_SECRET_LEN + 1) and id (KEYS_ID_LEN + 1); 0 or -1. */
int	 keys_generate(char *secret, char *id);
/* Writes the hex SHA-256 of s into hex (KEYS_HASH_LEN + 1). */
void	 keys_hash(const char *s, char *hex);
/* Writes a display form ("sk-cgw-AbCd...") into out. */
void	 keys_mask(const char *secret, char *out, size_t len);
/* Returns 1 if s has the shape of a client key secret. */
int	 keys_looks_like_secret(const char *s);
/*
 * Returns why label cannot name a key (a static string), or NULL: at
 * most KEYS_LABEL_MAX bytes, no control characters (it is printed on
 * terminals), not shaped like a key id (which it would shadow) or a
 * secret (which would be kept in clear).
 */
#define KEYS_LABEL_MAX	64
const char *keys_label_error(const char *label);
/*
 * Returns 1 if model matches the allow-list (comma-separated exact ids
 * and '*' globs; empty = everything).
 */
int	 keys_model_allowed(const char *list, const char *model);

#endif
