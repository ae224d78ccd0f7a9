/* SPDX-License-Identifier: ISC */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The admin plane's shared shapes: keys and accounts as JSON, the same
 * for the CLI (--json) and the HTTP admin API, never with a secret hash
 * or an upstream token. Any thread.
 */

struct json_object;
struct store_account;
struct store_key;

/* Current time in unix milliseconds. */
int64_t		 admin_now_ms(void);
/* Formats unix ms as UTC ISO 8601 ("-" for 0). */
void		 admin_time(int64_t ms, char *buf, size_t len);
/* "active", "rotating", "expired" or "revoked". */
const char	*admin_key_status(const struct store_key *);
/* Returns an owned object for a key; secret (may be NULL) is shown. */
struct json_object *admin_key_json(const struct store_key *,
		    const char *secret);
/* Returns an owned object for an account, without its token. */
struct json_object *admin_account_json(const struct store_account *);

#endif
