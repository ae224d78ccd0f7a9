/* SPDX-License-Identifier: ISC */
/*
 * store: one SQLite connection with the house pragmas (WAL,
 * synchronous=NORMAL, foreign_keys=ON, busy_timeout), schema migrations
 * keyed on PRAGMA user_version, and a small cache of prepared statements
 * keyed by SQL literal. The thread that opens a store owns it. Writers use
 * BEGIN IMMEDIATE so that busy_timeout applies (taskchampion#412).
 */
#include "store.h"
#include "store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

#define STORE_STMT_CACHE 32

struct store_cached {
	const char	*sql;
	sqlite3_stmt	*stmt;
};

struct store {
	sqlite3			*db;
	char			*path;
	int			 flags;
	struct store_cached	 cache[STORE_STMT_CACHE];
	size_t			 ncache;
};

/*
 * Migrations: index i brings user_version from i to i + 1. Never edit a
 * released entry; append a new one.
 */
static const char *const store_migrations[] = {
	/* 1: the request log, one row per HTTP request. */
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY,"
	"  ts_ms INTEGER NOT NULL,"
	"  request_id TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL"
	");"
	"CREATE INDEX requests_ts ON requests(ts_ms);",
	/* 2: upstream accounts, with their upstream credential. */
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY,"
	"  provider TEXT NOT NULL,"
	"  label TEXT NOT NULL UNIQUE,"
	"  login TEXT NOT NULL,"
	"  account_type TEXT NOT NULL,"
	"  github_url TEXT NOT NULL,"
	"  api_url TEXT NOT NULL,"
	"  copilot_url TEXT NOT NULL DEFAULT '',"
	"  token TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL,"
	"  UNIQUE (provider, github_url, login)"
	");",
	/* 3: client keys (hashes only) and the audit trail. */
	"CREATE TABLE keys ("
	"  id TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  prefix TEXT NOT NULL,"
	"  label TEXT NOT NULL DEFAULT '',"
	"  tier TEXT NOT NULL CHECK (tier IN ('admin', 'client')),"
	"  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,"
	"  models TEXT NOT NULL DEFAULT '',"
	"  rpm INTEGER NOT NULL DEFAULT 0,"
	"  tpm INTEGER NOT NULL DEFAULT 0,"
	"  max_concurrent INTEGER NOT NULL DEFAULT 0,"
	"  expires_ms INTEGER,"
	"  created_ms INTEGER NOT NULL,"
	"  last_used_ms INTEGER,"
	"  rotated_ms INTEGER,"
	"  revoked_ms INTEGER,"
	"  prev_hash TEXT UNIQUE,"
	"  prev_expires_ms INTEGER"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  ts_ms INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL DEFAULT '',"
	"  detail TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX audit_ts ON audit(ts_ms);",
	/* 4: device-code logins started over HTTP (survive a restart). */
	"CREATE TABLE device_tx ("
	"  id TEXT PRIMARY KEY,"
	"  provider TEXT NOT NULL,"
	"  label TEXT,"
	"  account_type TEXT NOT NULL,"
	"  github_url TEXT NOT NULL,"
	"  api_url TEXT NOT NULL,"
	"  device_code TEXT NOT NULL,"
	"  user_code TEXT NOT NULL,"
	"  verification_uri TEXT NOT NULL,"
	"  interval_s INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending',"
	"  error TEXT,"
	"  account_id INTEGER,"
	"  key_id TEXT,"
	"  created_ms INTEGER NOT NULL"
	");",
	/*
	 * 5: when a key's account is removed, account_id goes NULL (which
	 * would mean "the default account"); this remembers that the key was
	 * bound, so that it is refused instead of spending another account.
	 */
	"ALTER TABLE keys ADD COLUMN account_removed_ms INTEGER;",
	/*
	 * 6: a counter of changes to accounts and keys. PRAGMA data_version
	 * also moves for the request log's writes (and keys.last_used_ms),
	 * once a second under traffic; a running serve reloads its accounts
	 * and keys only when this counter moved.
	 */
	"CREATE TABLE changes ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  n INTEGER NOT NULL"
	");"
	"INSERT INTO changes VALUES (1, 0);"
	"CREATE TRIGGER accounts_ins AFTER INSERT ON accounts"
	"  BEGIN UPDATE changes SET n = n + 1; END;"
	"CREATE TRIGGER accounts_upd AFTER UPDATE ON accounts"
	"  BEGIN UPDATE changes SET n = n + 1; END;"
	"CREATE TRIGGER accounts_del AFTER DELETE ON accounts"
	"  BEGIN UPDATE changes SET n = n + 1; END;"
	"CREATE TRIGGER keys_ins AFTER INSERT ON keys"
	"  BEGIN UPDATE changes SET n = n + 1; END;"
	"CREATE TRIGGER keys_upd AFTER UPDATE OF hash, prefix, label, tier,"
	"  account_id, models, rpm, tpm, max_concurrent, expires_ms,"
	"  rotated_ms, revoked_ms, prev_hash, prev_expires_ms,"
	"  account_removed_ms ON keys"
	"  BEGIN UPDATE changes SET n = n + 1; END;"
	"CREATE TRIGGER keys_del AFTER DELETE ON keys"
	"  BEGIN UPDATE changes SET n = n + 1; END;",
};

#define STORE_NMIGRATIONS \
	((int)(sizeof store_migrations / sizeof store_migrations[0]))

int
store_schema_latest(void)
{
	return (STORE_NMIGRATIONS);
}

void
store_error(struct store *s, const char *what, char **cause)
{
	*cause = xasprintf("%s: %s", what, sqlite3_errmsg(s->db));
}

sqlite3 *
store_db(struct store *s)
{
	return (s->db);
}

const char *
store_path(const struct store *s)
{
	return (s->path);
}

/* Runs SQL with no results; 0 or -1 with *cause. */
static int
store_exec(struct store *s, const char *sql, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		*cause = xasprintf("%s", err != NULL ? err :
		    sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

/* Creates the database file with mode 0600 before SQLite opens it. */
static int
store_create_file(const char *path, char **cause)
{
	int	 fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		*cause = xasprintf("cannot create database '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	close(fd);
	return (0);
}

struct store *
store_open(const char *path, int flags, char **cause)
{
	struct store	*s;
	struct stat	 sb;
	int		 oflags, rc;
	char		*why = NULL, *sql;

	if ((flags & STORE_CREATE) && stat(path, &sb) == -1 &&
	    errno == ENOENT && store_create_file(path, cause) != 0)
		return (NULL);
	s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->flags = flags;
	oflags = (flags & STORE_RO) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE;
	if (flags & STORE_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOFOLLOW |
	    SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		*cause = xasprintf("cannot open database '%s': %s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) :
		    sqlite3_errstr(rc));
		store_close(s);
		return (NULL);
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	sql = xasprintf("%s"
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;",
	    (flags & STORE_RO) ? "" : "PRAGMA journal_mode=WAL;");
	rc = store_exec(s, sql, &why);
	free(sql);
	if (rc != 0) {
		*cause = xasprintf("cannot set up database '%s': %s", path,
		    why);
		free(why);
		store_close(s);
		return (NULL);
	}
	return (s);
}

void
store_close(struct store *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncache; i++)
		sqlite3_finalize(s->cache[i].stmt);
	if (s->db != NULL)
		sqlite3_close(s->db);
	free(s->path);
	free(s);
}

sqlite3_stmt *
store_stmt(struct store *s, const char *sql, char **cause)
{
	sqlite3_stmt	*stmt;
	size_t		 i;

	for (i = 0; i < s->ncache; i++) {
		if (s->cache[i].sql == sql) {
			sqlite3_reset(s->cache[i].stmt);
			sqlite3_clear_bindings(s->cache[i].stmt);
			return (s->cache[i].stmt);
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &stmt, NULL) != SQLITE_OK) {
		store_error(s, "cannot prepare statement", cause);
		return (NULL);
	}
	if (s->ncache == STORE_STMT_CACHE) {
		/* Full: evict the oldest entry. */
		sqlite3_finalize(s->cache[0].stmt);
		memmove(&s->cache[0], &s->cache[1],
		    (STORE_STMT_CACHE - 1) * sizeof s->cache[0]);
		s->ncache--;
	}
	s->cache[s->ncache].sql = sql;
	s->cache[s->ncache].stmt = stmt;
	s->ncache++;
	return (stmt);
}

int
store_begin(struct store *s, char **cause)
{
	if (store_exec(s, "BEGIN IMMEDIATE", cause) != 0)
		return (-1);
	return (0);
}

int
store_commit(struct store *s, char **cause)
{
	if (store_exec(s, "COMMIT", cause) != 0) {
		store_rollback(s);
		return (-1);
	}
	return (0);
}

void
store_rollback(struct store *s)
{
	char	*why = NULL;

	if (!sqlite3_get_autocommit(s->db) &&
	    store_exec(s, "ROLLBACK", &why) != 0)
		free(why);
}

/* Reads an integer pragma; -1 on error. */
static int64_t
store_pragma_int(struct store *s, const char *sql)
{
	sqlite3_stmt	*stmt;
	int64_t		 v = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return (v);
}

int
store_schema_version(struct store *s)
{
	return ((int)store_pragma_int(s, "PRAGMA user_version"));
}

int
store_data_version(struct store *s, int64_t *out)
{
	*out = store_pragma_int(s, "PRAGMA data_version");
	return (*out < 0 ? -1 : 0);
}

int
store_changes(struct store *s, int64_t *out)
{
	sqlite3_stmt	*stmt;
	char		*cause = NULL;
	int		 rc;

	*out = -1;
	if ((stmt = store_stmt(s, "SELECT n FROM changes WHERE id = 1",
	    &cause)) == NULL) {
		free(cause);
		return (-1);
	}
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return (rc == SQLITE_ROW ? 0 : -1);
}

const char *
store_journal_mode(struct store *s)
{
	sqlite3_stmt	*stmt;
	const char	*mode = "unknown";
	const unsigned char *t;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &stmt,
	    NULL) != SQLITE_OK)
		return (mode);
	if (sqlite3_step(stmt) == SQLITE_ROW &&
	    (t = sqlite3_column_text(stmt, 0)) != NULL) {
		if (strcmp((const char *)t, "wal") == 0)
			mode = "wal";
		else if (strcmp((const char *)t, "delete") == 0)
			mode = "delete";
	}
	sqlite3_finalize(stmt);
	return (mode);
}

int
store_migrate(struct store *s, char **cause)
{
	char	*why = NULL, *sql;
	int	 v;

	if ((v = store_schema_version(s)) < 0) {
		store_error(s, "cannot read schema version", cause);
		return (-1);
	}
	if (v > STORE_NMIGRATIONS) {
		*cause = xasprintf("database '%s' has schema version %d, newer "
		    "than this copilot-gw (%d): upgrade copilot-gw", s->path, v,
		    STORE_NMIGRATIONS);
		return (-1);
	}
	while (v < STORE_NMIGRATIONS) {
		if (store_begin(s, &why) != 0)
			goto fail;
		/* Re-read inside the lock: another process may have won. */
		if ((v = store_schema_version(s)) >= STORE_NMIGRATIONS) {
			store_rollback(s);
			break;
		}
		sql = xasprintf("%s; PRAGMA user_version=%d;",
		    store_migrations[v], v + 1);
		if (store_exec(s, sql, &why) != 0) {
			free(sql);
			store_rollback(s);
			goto fail;
		}
		free(sql);
		if (store_commit(s, &why) != 0)
			goto fail;
		v++;
	}
	return (0);
fail:
	*cause = xasprintf("cannot migrate database '%s' to version %d: %s",
	    s->path, v + 1, why);
	free(why);
	return (-1);
}

int
store_integrity_check(struct store *s, char **cause)
{
	sqlite3_stmt		*stmt;
	const unsigned char	*t;
	int			 rc = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &stmt,
	    NULL) != SQLITE_OK) {
		store_error(s, "integrity check failed", cause);
		return (-1);
	}
	if (sqlite3_step(stmt) == SQLITE_ROW &&
	    (t = sqlite3_column_text(stmt, 0)) != NULL) {
		if (strcmp((const char *)t, "ok") == 0)
			rc = 0;
		else
			*cause = xasprintf("integrity check: %s", t);
	} else
		store_error(s, "integrity check failed", cause);
	sqlite3_finalize(stmt);
	return (rc);
}
