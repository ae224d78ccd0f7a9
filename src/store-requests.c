/* SPDX-License-Identifier: ISC */
/*
 * store-requests: the request log table, one row per HTTP request the
 * listener answered. Rows arrive in batches from the proxy's writer, which
 * runs on a libuv pool thread with its own connection.
 */
#include "store.h"
#include "store-int.h"

#include <stdlib.h>

#include "xmalloc.h"

static const char store_requests_insert_sql[] =
    "INSERT INTO requests (ts_ms, request_id, method, path, status,"
    " duration_ms, bytes_in, bytes_out) VALUES (?,?,?,?,?,?,?,?)";

int
store_requests_insert(struct store *s, const struct store_request *rows,
    size_t n, char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 i;

	if (n == 0)
		return (0);
	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, store_requests_insert_sql, cause)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, rows[i].ts_ms);
		sqlite3_bind_text(stmt, 2, rows[i].request_id, -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, rows[i].method, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, rows[i].path, -1, SQLITE_STATIC);
		sqlite3_bind_int(stmt, 5, rows[i].status);
		sqlite3_bind_int64(stmt, 6, rows[i].duration_ms);
		sqlite3_bind_int64(stmt, 7, rows[i].bytes_in);
		sqlite3_bind_int64(stmt, 8, rows[i].bytes_out);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			store_error(s, "cannot insert request row", cause);
			goto fail;
		}
	}
	sqlite3_reset(stmt);
	return (store_commit(s, cause));
fail:
	if (stmt != NULL)
		sqlite3_reset(stmt);
	store_rollback(s);
	return (-1);
}

int64_t
store_requests_count(struct store *s)
{
	sqlite3_stmt	*stmt;
	char		*cause = NULL;
	int64_t		 n = -1;

	if ((stmt = store_stmt(s, "SELECT count(*) FROM requests",
	    &cause)) == NULL) {
		free(cause);
		return (-1);
	}
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return (n);
}
