/* SPDX-License-Identifier: ISC */
/*
 * store-accounts: the accounts table, one row per upstream identity with
 * its credential. Written by the proxy's pool thread (login) and by CLI
 * commands (accounts remove); read at proxy start and on data_version
 * changes.
 */
#include "store.h"
#include "store-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmalloc.h"

#define STORE_ACCOUNT_COLS \
	"id, provider, label, login, account_type, github_url, api_url," \
	" copilot_url, token, created_ms, updated_ms"

static int64_t
store_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
store_account_release(struct store_account *a)
{
	free(a->provider);
	free(a->label);
	free(a->login);
	free(a->account_type);
	free(a->github_url);
	free(a->api_url);
	free(a->copilot_url);
	free(a->token);
	memset(a, 0, sizeof *a);
}

void
store_accounts_free(struct store_account *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		store_account_release(&a[i]);
	free(a);
}

static char *
store_col_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char	*t = sqlite3_column_text(stmt, col);

	return (xstrdup(t != NULL ? (const char *)t : ""));
}

/* Reads one row (STORE_ACCOUNT_COLS order) into a. */
static void
store_account_row(sqlite3_stmt *stmt, struct store_account *a)
{
	a->id = sqlite3_column_int64(stmt, 0);
	a->provider = store_col_text(stmt, 1);
	a->label = store_col_text(stmt, 2);
	a->login = store_col_text(stmt, 3);
	a->account_type = store_col_text(stmt, 4);
	a->github_url = store_col_text(stmt, 5);
	a->api_url = store_col_text(stmt, 6);
	a->copilot_url = store_col_text(stmt, 7);
	a->token = store_col_text(stmt, 8);
	a->created_ms = sqlite3_column_int64(stmt, 9);
	a->updated_ms = sqlite3_column_int64(stmt, 10);
}

/* Returns 1 if label belongs to an account other than id; -1 on error. */
static int
store_label_taken(struct store *s, const char *label, int64_t id,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = store_stmt(s, "SELECT id FROM accounts WHERE label = ?",
	    cause)) == NULL)
		return (-1);
	sqlite3_bind_text(stmt, 1, label, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		rc = sqlite3_column_int64(stmt, 0) != id;
		sqlite3_reset(stmt);
		return (rc);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot read accounts", cause);
		return (-1);
	}
	return (0);
}

int
store_accounts_upsert(struct store *s, struct store_account *a, char **cause)
{
	sqlite3_stmt	*stmt;
	int64_t		 id = 0, now = store_now_ms();
	char		*label = NULL;
	int		 rc, n;

	if (store_begin(s, cause) != 0)
		return (-1);
	if ((stmt = store_stmt(s, "SELECT id FROM accounts WHERE provider = ?"
	    " AND github_url = ? AND login = ?", cause)) == NULL)
		goto fail;
	sqlite3_bind_text(stmt, 1, a->provider, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, a->github_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, a->login, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_error(s, "cannot read accounts", cause);
		goto fail;
	}
	if (a->label != NULL) {
		if ((rc = store_label_taken(s, a->label, id, cause)) == -1)
			goto fail;
		if (rc == 1) {
			*cause = xasprintf("label '%s' is taken by another "
			    "account: choose another with --label", a->label);
			goto fail;
		}
		label = xstrdup(a->label);
	} else if (id == 0) {
		for (n = 1; ; n++) {
			free(label);
			label = n == 1 ? xstrdup(a->login) :
			    xasprintf("%s-%d", a->login, n);
			if ((rc = store_label_taken(s, label, 0, cause)) == -1)
				goto fail;
			if (rc == 0)
				break;
		}
	}
	if (id != 0) {
		stmt = store_stmt(s, "UPDATE accounts SET label = coalesce(?,"
		    " label), account_type = ?, api_url = ?, copilot_url = ?,"
		    " token = ?, updated_ms = ? WHERE id = ?", cause);
		if (stmt == NULL)
			goto fail;
		sqlite3_bind_text(stmt, 1, label, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, a->account_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, a->api_url, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, a->copilot_url != NULL ?
		    a->copilot_url : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, a->token, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 6, now);
		sqlite3_bind_int64(stmt, 7, id);
	} else {
		stmt = store_stmt(s, "INSERT INTO accounts (provider, label,"
		    " login, account_type, github_url, api_url, copilot_url,"
		    " token, created_ms, updated_ms) VALUES"
		    " (?,?,?,?,?,?,?,?,?,?)", cause);
		if (stmt == NULL)
			goto fail;
		sqlite3_bind_text(stmt, 1, a->provider, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, label, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, a->login, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, a->account_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, a->github_url, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 6, a->api_url, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 7, a->copilot_url != NULL ?
		    a->copilot_url : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 8, a->token, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 9, now);
		sqlite3_bind_int64(stmt, 10, now);
	}
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot save the account", cause);
		goto fail;
	}
	if (id == 0)
		id = sqlite3_last_insert_rowid(store_db(s));
	if (store_commit(s, cause) != 0)
		goto fail_nrb;
	a->id = id;
	if (label != NULL) {
		free(a->label);
		a->label = label;
	} else if (a->label == NULL) {
		/* A re-login keeps the account's label: report it. */
		if ((stmt = store_stmt(s, "SELECT label FROM accounts WHERE"
		    " id = ?", cause)) == NULL)
			return (-1);
		sqlite3_bind_int64(stmt, 1, id);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			a->label = store_col_text(stmt, 0);
		sqlite3_reset(stmt);
		if (a->label == NULL)
			a->label = xstrdup(a->login);
	}
	return (0);
fail:
	store_rollback(s);
fail_nrb:
	free(label);
	return (-1);
}

int
store_accounts_list(struct store *s, struct store_account **out, size_t *n,
    char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 cap = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if ((stmt = store_stmt(s, "SELECT " STORE_ACCOUNT_COLS
	    " FROM accounts ORDER BY id", cause)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		memset(&(*out)[*n], 0, sizeof **out);
		store_account_row(stmt, &(*out)[(*n)++]);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot list accounts", cause);
		store_accounts_free(*out, *n);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

int
store_accounts_get(struct store *s, const char *key, struct store_account *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	char		*end;
	long long	 id;
	int		 rc;

	memset(out, 0, sizeof *out);
	errno = 0;
	id = strtoll(key, &end, 10);
	if (*key != '\0' && *end == '\0' && errno == 0) {
		stmt = store_stmt(s, "SELECT " STORE_ACCOUNT_COLS
		    " FROM accounts WHERE id = ?", cause);
		if (stmt == NULL)
			return (-1);
		sqlite3_bind_int64(stmt, 1, id);
	} else {
		stmt = store_stmt(s, "SELECT " STORE_ACCOUNT_COLS
		    " FROM accounts WHERE label = ?", cause);
		if (stmt == NULL)
			return (-1);
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_account_row(stmt, out);
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE && *key != '\0' && *end == '\0') {
		/* Not an id: an all-digit label, then. */
		if ((stmt = store_stmt(s, "SELECT " STORE_ACCOUNT_COLS
		    " FROM accounts WHERE label = ?", cause)) == NULL)
			return (-1);
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			store_account_row(stmt, out);
		sqlite3_reset(stmt);
	}
	if (rc == SQLITE_ROW)
		return (0);
	if (rc == SQLITE_DONE)
		return (1);
	store_error(s, "cannot read accounts", cause);
	return (-1);
}

int
store_accounts_remove(struct store *s, int64_t id, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (store_begin(s, cause) != 0)
		return (-1);
	/* Keys bound to it are refused from now on, not moved elsewhere. */
	if ((stmt = store_stmt(s, "UPDATE keys SET account_removed_ms = ?"
	    " WHERE account_id = ?", cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, store_now_ms());
	sqlite3_bind_int64(stmt, 2, id);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot mark the account's keys", cause);
		store_rollback(s);
		return (-1);
	}
	if ((stmt = store_stmt(s, "DELETE FROM accounts WHERE id = ?",
	    cause)) == NULL) {
		store_rollback(s);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		store_error(s, "cannot remove the account", cause);
		store_rollback(s);
		return (-1);
	}
	rc = sqlite3_changes(store_db(s)) > 0 ? 0 : 1;
	if (store_commit(s, cause) != 0)
		return (-1);
	return (rc);
}
