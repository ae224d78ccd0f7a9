/* SPDX-License-Identifier: ISC */
#ifndef STORE_INT_H
#define STORE_INT_H

/* Shared between src/store*.c only. */

#include <sqlite3.h>

#include "store.h"

/*
 * Returns a cached prepared statement for sql (reset, bindings cleared),
 * borrowed from the store; NULL with *cause on error. sql must be a
 * string literal: the cache keys on its address.
 */
sqlite3_stmt	*store_stmt(struct store *, const char *sql, char **cause);
/* Returns the raw connection (borrowed). */
sqlite3		*store_db(struct store *);
/* Sets *cause from the connection's last error, prefixed by what. */
void		 store_error(struct store *, const char *what, char **cause);

#endif
