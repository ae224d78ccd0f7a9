/* SPDX-License-Identifier: ISC */
/*
 * store-device: device-code logins started over the HTTP admin API. The
 * row outlives a restart (a pending one is resumed); on completion the
 * client key for the new account is created when the status is first
 * read, so no secret is ever stored in clear.
 */
#include "store.h"
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define STORE_DEVICE_COLS \
	"id, provider, label, account_type, github_url, api_url," \
	" device_code, user_code, verification_uri, interval_s, expires_ms," \
	" status, error, coalesce(account_id, 0), key_id, created_ms"

static char *
store_device_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char	*t = sqlite3_column_text(stmt, col);

	return (t != NULL ? xstrdup((const char *)t) : NULL);
}

void
store_device_release(struct store_device *d)
{
	free(d->id);
	free(d->provider);
	free(d->label);
	free(d->account_type);
	free(d->github_url);
	free(d->api_url);
	free(d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->status);
	free(d->error);
	free(d->key_id);
	memset(d, 0, sizeof *d);
}

void
store_devices_free(struct store_device *d, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		store_device_release(&d[i]);
	free(d);
}

static void
store_device_row(sqlite3_stmt *stmt, struct store_device *d)
{
	d->id = store_device_text(stmt, 0);
	d->provider = store_device_text(stmt, 1);
	d->label = store_device_text(stmt, 2);
	d->account_type = store_device_text(stmt, 3);
	d->github_url = store_device_text(stmt, 4);
	d->api_url = store_device_text(stmt, 5);
	d->device_code = store_device_text(stmt, 6);
	d->user_code = store_device_text(stmt, 7);
	d->verification_uri = store_device_text(stmt, 8);
	d->interval_s = sqlite3_column_int64(stmt, 9);
	d->expires_ms = sqlite3_column_int64(stmt, 10);
	d->status = store_device_text(stmt, 11);
	d->error = store_device_text(stmt, 12);
	d->account_id = sqlite3_column_int64(stmt, 13);
	d->key_id = store_device_text(stmt, 14);
	d->created_ms = sqlite3_column_int64(stmt, 15);
}

/* Steps a write in its own transaction; returns changes or -1. */
static int
store_device_write(struct store *s, sqlite3_stmt *stmt, char **cause)
{
	int	 rc, n;

	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot update device logins", cause);
		store_rollback(s);
		return (-1);
	}
	n = sqlite3_changes(store_db(s));
	if (store_commit(s, cause) != 0)
		return (-1);
	return (n);
}

int
store_device_insert(struct store *s, const struct store_device *d,
    char **cause)
{
	sqlite3_stmt	*stmt;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "INSERT INTO device_tx (id, provider, label,"
	    " account_type, github_url, api_url, device_code, user_code,"
	    " verification_uri, interval_s, expires_ms, created_ms) VALUES"
	    " (?,?,?,?,?,?,?,?,?,?,?,?)", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, d->provider, -1, SQLITE_STATIC);
	if (d->label != NULL)
		sqlite3_bind_text(stmt, 3, d->label, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_text(stmt, 4, d->account_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, d->github_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, d->api_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, d->device_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 8, d->user_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 9, d->verification_uri, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 10, d->interval_s);
	sqlite3_bind_int64(stmt, 11, d->expires_ms);
	sqlite3_bind_int64(stmt, 12, d->created_ms);
	return (store_device_write(s, stmt, cause) < 0 ? -1 : 0);
}

int
store_device_finish(struct store *s, const char *id, const char *status,
    const char *error, int64_t account_id, char **cause)
{
	sqlite3_stmt	*stmt;

	if (store_begin(s, cause) != 0)
		return (-1);
	/* A finished login needs its device code no more. */
	if ((stmt = store_stmt(s, "UPDATE device_tx SET status = ?, error = ?,"
	    " account_id = ?, device_code = '' WHERE id = ?", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, status, -1, SQLITE_STATIC);
	if (error != NULL)
		sqlite3_bind_text(stmt, 2, error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 2);
	if (account_id > 0)
		sqlite3_bind_int64(stmt, 3, account_id);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_text(stmt, 4, id, -1, SQLITE_STATIC);
	return (store_device_write(s, stmt, cause) < 0 ? -1 : 0);
}

int
store_device_get(struct store *s, const char *id, struct store_device *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(out, 0, sizeof *out);
	if ((stmt = store_stmt(s, "SELECT " STORE_DEVICE_COLS " FROM device_tx"
	    " WHERE id = ?", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_device_row(stmt, out);
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW)
		return (0);
	if (rc == SQLITE_DONE)
		return (1);
	store_error(s, "cannot read device logins", cause);
	return (-1);
}

int
store_device_pending(struct store *s, int64_t now, struct store_device **out,
    size_t *n, char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 cap = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if ((stmt = store_stmt(s, "SELECT " STORE_DEVICE_COLS " FROM device_tx"
	    " WHERE status = 'pending' AND expires_ms > ?", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(stmt, 1, now);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		memset(&(*out)[*n], 0, sizeof **out);
		store_device_row(stmt, &(*out)[(*n)++]);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot read device logins", cause);
		store_devices_free(*out, *n);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

int
store_device_set_key(struct store *s, const char *id, const char *key_id,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE device_tx SET key_id = ? WHERE"
	    " id = ? AND key_id IS NULL", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = store_device_write(s, stmt, cause);
	return (rc < 0 ? -1 : rc == 0);
}

int
store_device_unclaim_key(struct store *s, const char *id, const char *key_id,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE device_tx SET key_id = NULL WHERE"
	    " id = ? AND key_id = ?", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key_id, -1, SQLITE_STATIC);
	rc = store_device_write(s, stmt, cause);
	return (rc < 0 ? -1 : rc == 0);
}

int
store_device_purge(struct store *s, int64_t now, char **cause)
{
	sqlite3_stmt	*stmt;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "DELETE FROM device_tx WHERE created_ms < ?",
	    cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, now - STORE_DEVICE_KEEP_MS);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		sqlite3_reset(stmt);
		store_error(s, "cannot purge device logins", cause);
		store_rollback(s);
		return (-1);
	}
	sqlite3_reset(stmt);
	if ((stmt = store_stmt(s, "UPDATE device_tx SET device_code = ''"
	    " WHERE expires_ms <= ? AND device_code != ''", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, now);
	return (store_device_write(s, stmt, cause) < 0 ? -1 : 0);
}
