/* SPDX-License-Identifier: ISC */
/*
 * store-keys: the client keys table (hashes, never secrets) and the audit
 * table. CLI commands and the proxy's pool threads write here; the proxy
 * reloads its key cache when PRAGMA data_version moves.
 */
#include "store.h"
#include "store-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmalloc.h"

#define STORE_KEY_COLS \
	"id, hash, prefix, label, tier, coalesce(account_id, 0), models," \
	" rpm, tpm, max_concurrent, coalesce(expires_ms, 0), created_ms," \
	" coalesce(last_used_ms, 0), coalesce(rotated_ms, 0)," \
	" coalesce(revoked_ms, 0), prev_hash, coalesce(prev_expires_ms, 0)," \
	" coalesce(account_removed_ms, 0)"

static int64_t
store_keys_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static char *
store_keys_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char	*t = sqlite3_column_text(stmt, col);

	return (t != NULL ? xstrdup((const char *)t) : NULL);
}

void
store_key_release(struct store_key *k)
{
	free(k->id);
	free(k->hash);
	free(k->prefix);
	free(k->label);
	free(k->tier);
	free(k->models);
	free(k->prev_hash);
	memset(k, 0, sizeof *k);
}

void
store_keys_free(struct store_key *k, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		store_key_release(&k[i]);
	free(k);
}

static void
store_key_row(sqlite3_stmt *stmt, struct store_key *k)
{
	k->id = store_keys_text(stmt, 0);
	k->hash = store_keys_text(stmt, 1);
	k->prefix = store_keys_text(stmt, 2);
	k->label = store_keys_text(stmt, 3);
	k->tier = store_keys_text(stmt, 4);
	k->account_id = sqlite3_column_int64(stmt, 5);
	k->models = store_keys_text(stmt, 6);
	k->rpm = sqlite3_column_int64(stmt, 7);
	k->tpm = sqlite3_column_int64(stmt, 8);
	k->max_concurrent = sqlite3_column_int64(stmt, 9);
	k->expires_ms = sqlite3_column_int64(stmt, 10);
	k->created_ms = sqlite3_column_int64(stmt, 11);
	k->last_used_ms = sqlite3_column_int64(stmt, 12);
	k->rotated_ms = sqlite3_column_int64(stmt, 13);
	k->revoked_ms = sqlite3_column_int64(stmt, 14);
	k->prev_hash = store_keys_text(stmt, 15);
	k->prev_expires_ms = sqlite3_column_int64(stmt, 16);
	k->account_removed_ms = sqlite3_column_int64(stmt, 17);
}

/* Runs a one-statement write in its own transaction; returns changes. */
static int
store_keys_write(struct store *s, sqlite3_stmt *stmt, char **cause)
{
	int	 rc, changes;

	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot update keys", cause);
		store_rollback(s);
		return (-1);
	}
	changes = sqlite3_changes(store_db(s));
	if (store_commit(s, cause) != 0)
		return (-1);
	return (changes);
}

int
store_keys_insert(struct store *s, const struct store_key *k, char **cause)
{
	sqlite3_stmt	*stmt;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "INSERT INTO keys (id, hash, prefix, label,"
	    " tier, account_id, models, rpm, tpm, max_concurrent, expires_ms,"
	    " created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, k->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, k->hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, k->prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, k->label != NULL ? k->label : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, k->tier, -1, SQLITE_STATIC);
	if (k->account_id > 0)
		sqlite3_bind_int64(stmt, 6, k->account_id);
	else
		sqlite3_bind_null(stmt, 6);
	sqlite3_bind_text(stmt, 7, k->models != NULL ? k->models : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, k->rpm);
	sqlite3_bind_int64(stmt, 9, k->tpm);
	sqlite3_bind_int64(stmt, 10, k->max_concurrent);
	if (k->expires_ms > 0)
		sqlite3_bind_int64(stmt, 11, k->expires_ms);
	else
		sqlite3_bind_null(stmt, 11);
	sqlite3_bind_int64(stmt, 12, k->created_ms > 0 ? k->created_ms :
	    store_keys_now());
	return (store_keys_write(s, stmt, cause) < 0 ? -1 : 0);
}

int
store_keys_list(struct store *s, struct store_key **out, size_t *n,
    char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 cap = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if ((stmt = store_stmt(s, "SELECT " STORE_KEY_COLS " FROM keys"
	    " ORDER BY created_ms, id", cause)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		memset(&(*out)[*n], 0, sizeof **out);
		store_key_row(stmt, &(*out)[(*n)++]);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot list keys", cause);
		store_keys_free(*out, *n);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

int
store_keys_get(struct store *s, const char *key, struct store_key *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(out, 0, sizeof *out);
	if ((stmt = store_stmt(s, "SELECT " STORE_KEY_COLS " FROM keys"
	    " WHERE id = ?1 OR (label = ?1 AND label != '')"
	    " ORDER BY id = ?1 DESC, revoked_ms IS NOT NULL, created_ms DESC"
	    " LIMIT 1",
	    cause)) == NULL)
		return (-1);
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_key_row(stmt, out);
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW)
		return (0);
	if (rc == SQLITE_DONE)
		return (1);
	store_error(s, "cannot read keys", cause);
	return (-1);
}

int
store_keys_set_label(struct store *s, const char *id, const char *label,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE keys SET label = ? WHERE id = ?",
	    cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, label, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = store_keys_write(s, stmt, cause);
	return (rc < 0 ? -1 : rc == 0);
}

int
store_keys_rotate(struct store *s, const char *id, const char *hash,
    const char *prefix, int64_t grace_ms, char **cause)
{
	sqlite3_stmt	*stmt;
	int64_t		 now = store_keys_now();
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE keys SET"
	    " prev_hash = hash, prev_expires_ms = ?4 + ?3,"
	    " hash = ?1, prefix = ?2, rotated_ms = ?4"
	    " WHERE id = ?5 AND revoked_ms IS NULL", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, grace_ms);
	sqlite3_bind_int64(stmt, 4, now);
	sqlite3_bind_text(stmt, 5, id, -1, SQLITE_STATIC);
	rc = store_keys_write(s, stmt, cause);
	return (rc < 0 ? -1 : rc == 0);
}

int
store_keys_revoke(struct store *s, const char *id, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE keys SET revoked_ms = ?,"
	    " prev_hash = NULL, prev_expires_ms = NULL"
	    " WHERE id = ? AND revoked_ms IS NULL", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, store_keys_now());
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	rc = store_keys_write(s, stmt, cause);
	return (rc < 0 ? -1 : rc == 0);
}

int64_t
store_keys_count_admin(struct store *s, int live_only)
{
	sqlite3_stmt	*stmt;
	char		*cause = NULL;
	int64_t		 n = -1;

	if ((stmt = store_stmt(s, "SELECT count(*) FROM keys WHERE"
	    " tier = 'admin' AND (?2 = 0 OR (revoked_ms IS NULL AND"
	    " (expires_ms IS NULL OR expires_ms > ?1)))", &cause)) == NULL) {
		free(cause);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, store_keys_now());
	sqlite3_bind_int(stmt, 2, live_only);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return (n);
}

int
store_keys_touch(struct store *s, char *const *ids, size_t n, int64_t ms,
    char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 i;

	if (n == 0)
		return (0);
	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "UPDATE keys SET last_used_ms = ?"
	    " WHERE id = ?", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, ms);
		sqlite3_bind_text(stmt, 2, ids[i], -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			sqlite3_reset(stmt);
			store_error(s, "cannot update keys", cause);
			store_rollback(s);
			return (-1);
		}
	}
	sqlite3_reset(stmt);
	return (store_commit(s, cause));
}

int
store_audit_add(struct store *s, const char *actor, const char *action,
    const char *target, const char *detail, char **cause)
{
	sqlite3_stmt	*stmt;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "INSERT INTO audit (ts_ms, actor, action,"
	    " target, detail) VALUES (?,?,?,?,?)", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, store_keys_now());
	sqlite3_bind_text(stmt, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, target != NULL ? target : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, detail != NULL ? detail : "", -1,
	    SQLITE_STATIC);
	return (store_keys_write(s, stmt, cause) < 0 ? -1 : 0);
}

void
store_audit_free(struct store_audit *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(a[i].actor);
		free(a[i].action);
		free(a[i].target);
		free(a[i].detail);
	}
	free(a);
}

int
store_audit_list(struct store *s, int64_t since_ms, struct store_audit **out,
    size_t *n, char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 cap = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if ((stmt = store_stmt(s, "SELECT ts_ms, actor, action, target, detail"
	    " FROM audit WHERE ts_ms >= ? ORDER BY ts_ms, id", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(stmt, 1, since_ms);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		(*out)[*n].ts_ms = sqlite3_column_int64(stmt, 0);
		(*out)[*n].actor = store_keys_text(stmt, 1);
		(*out)[*n].action = store_keys_text(stmt, 2);
		(*out)[*n].target = store_keys_text(stmt, 3);
		(*out)[*n].detail = store_keys_text(stmt, 4);
		(*n)++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot read the audit log", cause);
		store_audit_free(*out, *n);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}
