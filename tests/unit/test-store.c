/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for store.c and store-requests.c: a new database is created
 * 0600, migrated to the latest schema once (a second run is a no-op, a
 * newer database is refused with advice to upgrade), runs in WAL mode with
 * the house pragmas, passes the integrity check and reports other
 * connections' commits through data_version; request rows go in by
 * batches that are all-or-nothing, readers are not blocked by a writer,
 * and two writer threads never fail with SQLITE_BUSY.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "test.h"

#include "store.h"
#include "store-int.h"
#include "xmalloc.h"

#define STORE_TEST_BATCH	100
#define STORE_TEST_ROUNDS	20
#define STORE_TEST_THREADS	2

/* Opens path read-write, creating it, and migrates it. */
static struct store *
store_test_open(const char *path)
{
	struct store	*s;
	char		*cause = NULL;

	if ((s = store_open(path, STORE_RW | STORE_CREATE, &cause)) == NULL)
		TEST_FAIL("store_open %s: %s", path, cause);
	if (store_migrate(s, &cause) != 0)
		TEST_FAIL("store_migrate %s: %s", path, cause);
	return (s);
}

/* Opens a raw SQLite connection to path. */
static sqlite3 *
store_test_raw(const char *path)
{
	sqlite3	*db = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		TEST_FAIL("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	return (db);
}

/* Runs sql on a raw connection; it must succeed. */
static void
store_test_exec(sqlite3 *db, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		TEST_FAIL("%s: %s", sql, err != NULL ? err : "?");
}

/* Returns the integer result of a one-value query on db. */
static int64_t
store_test_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*stmt;
	int64_t		 v;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		TEST_FAIL("%s: %s", sql, sqlite3_errmsg(db));
	ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return (v);
}

/* Returns the owned text result of a one-value query on db. */
static char *
store_test_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*stmt;
	char		*v;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		TEST_FAIL("%s: %s", sql, sqlite3_errmsg(db));
	ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
	v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return (v);
}

/* Fills one request row; ids must outlive the row. */
static void
store_test_row(struct store_request *r, const char *id, int64_t i)
{
	memset(r, 0, sizeof *r);
	r->ts_ms = 1700000000000LL + i;
	r->request_id = id;
	r->method = "POST";
	r->path = "/v1/chat/completions";
	r->status = 200;
	r->duration_ms = i % 1000;
	r->bytes_in = 100 + i;
	r->bytes_out = 2000 + i;
}

TEST_IMPL(store_migrate_pragmas)
{
	struct store_request	 row;
	struct store		*s;
	struct stat		 sb;
	sqlite3			*raw;
	int64_t			 dv1, dv2, dv3;
	char			*path, *cause = NULL, *text, *sql;

	umask(0);
	path = xasprintf("%s/gw.db", test_tmpdir());
	if ((s = store_open(path, STORE_RW | STORE_CREATE, &cause)) == NULL)
		TEST_FAIL("store_open: %s", cause);
	ASSERT_STR_EQ(store_path(s), path);
	/* Created 0600 even with umask 0. */
	ASSERT_EQ(stat(path, &sb), 0);
	ASSERT_EQ(sb.st_mode & 0777, 0600);

	/* A new database is at version 0 until migrated. */
	ASSERT_EQ(store_schema_version(s), 0);
	ASSERT(store_schema_latest() >= 1);
	if (store_migrate(s, &cause) != 0)
		TEST_FAIL("store_migrate: %s", cause);
	ASSERT_EQ(store_schema_version(s), store_schema_latest());

	/* The house pragmas on our connection. */
	ASSERT_STR_EQ(store_journal_mode(s), "wal");
	ASSERT_EQ(store_test_int(store_db(s), "PRAGMA foreign_keys"), 1);
	ASSERT_EQ(store_test_int(store_db(s), "PRAGMA synchronous"), 1);
	ASSERT_EQ(store_test_int(store_db(s), "PRAGMA busy_timeout"),
	    STORE_BUSY_TIMEOUT_MS);
	/* WAL is a property of the file: another connection sees it. */
	raw = store_test_raw(path);
	text = store_test_text(raw, "PRAGMA journal_mode");
	ASSERT_STR_EQ(text, "wal");
	free(text);
	ASSERT_EQ(store_test_int(raw, "PRAGMA user_version"),
	    store_schema_latest());
	/* The WAL side files get the database's mode. */
	text = xasprintf("%s-wal", path);
	ASSERT_EQ(stat(text, &sb), 0);
	ASSERT_EQ(sb.st_mode & 0777, 0600);
	free(text);

	/* Migrating again is a no-op that keeps the data. */
	store_test_row(&row, "req-1", 1);
	if (store_requests_insert(s, &row, 1, &cause) != 0)
		TEST_FAIL("insert: %s", cause);
	if (store_migrate(s, &cause) != 0)
		TEST_FAIL("second store_migrate: %s", cause);
	ASSERT_EQ(store_schema_version(s), store_schema_latest());
	ASSERT_EQ(store_requests_count(s), 1);
	if (store_integrity_check(s, &cause) != 0)
		TEST_FAIL("integrity check: %s", cause);

	/*
	 * data_version moves when another connection commits, not when we
	 * do.
	 */
	ASSERT_EQ(store_data_version(s, &dv1), 0);
	store_test_row(&row, "req-2", 2);
	if (store_requests_insert(s, &row, 1, &cause) != 0)
		TEST_FAIL("insert: %s", cause);
	ASSERT_EQ(store_data_version(s, &dv2), 0);
	ASSERT_EQ(dv1, dv2);
	store_test_exec(raw, "INSERT INTO requests (ts_ms, request_id, "
	    "method, path, status, duration_ms, bytes_in, bytes_out) "
	    "VALUES (1, 'raw', 'GET', '/', 200, 1, 1, 1)");
	ASSERT_EQ(store_data_version(s, &dv3), 0);
	ASSERT_NE(dv3, dv2);
	ASSERT_EQ(store_requests_count(s), 3);
	sqlite3_close(raw);
	store_close(s);

	/* A database from a newer copilot-gw is refused, untouched. */
	free(path);
	path = xasprintf("%s/newer.db", test_tmpdir());
	raw = store_test_raw(path);
	sql = xasprintf("PRAGMA user_version=%d", store_schema_latest() + 5);
	store_test_exec(raw, sql);
	free(sql);
	sqlite3_close(raw);
	if ((s = store_open(path, STORE_RW, &cause)) == NULL)
		TEST_FAIL("store_open: %s", cause);
	ASSERT_EQ(store_migrate(s, &cause), -1);
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "upgrade");
	free(cause);
	cause = NULL;
	ASSERT_EQ(store_schema_version(s), store_schema_latest() + 5);
	store_close(s);
	store_close(NULL);

	/* Opening a missing file without STORE_CREATE fails with a cause. */
	free(path);
	path = xasprintf("%s/absent.db", test_tmpdir());
	ASSERT_NULL(store_open(path, STORE_RO, &cause));
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "absent.db");
	free(cause);
	free(path);
}

struct store_writer {
	const char	*path;
	int		 id;
	int		 failed;
	char		*cause;
};

static void *
store_writer_main(void *arg)
{
	struct store_writer	*w = arg;
	struct store_request	 rows[STORE_TEST_BATCH];
	struct store		*s;
	char			 ids[STORE_TEST_BATCH][32];
	int			 r, i;

	if ((s = store_open(w->path, STORE_RW, &w->cause)) == NULL) {
		w->failed = 1;
		return (NULL);
	}
	for (r = 0; r < STORE_TEST_ROUNDS && !w->failed; r++) {
		for (i = 0; i < STORE_TEST_BATCH; i++) {
			snprintf(ids[i], sizeof ids[i], "t%d-r%d-%d", w->id, r,
			    i);
			store_test_row(&rows[i], ids[i], i);
		}
		if (store_requests_insert(s, rows, STORE_TEST_BATCH,
		    &w->cause) != 0)
			w->failed = 1;
	}
	store_close(s);
	return (NULL);
}

TEST_IMPL(store_requests_batch)
{
	struct store_writer	 wr[STORE_TEST_THREADS];
	struct store_request	*rows, one;
	struct store		*s, *ro;
	pthread_t		 th[STORE_TEST_THREADS];
	sqlite3			*raw;
	char			*path, *cause = NULL, (*ids)[32];
	int			 i;

	path = xasprintf("%s/req.db", test_tmpdir());
	s = store_test_open(path);
	ASSERT_EQ(store_requests_count(s), 0);

	/* 1000 rows in one call. */
	rows = xcalloc(1000, sizeof *rows);
	ids = xcalloc(1000, sizeof *ids);
	for (i = 0; i < 1000; i++) {
		snprintf(ids[i], sizeof ids[i], "req-%04d", i);
		store_test_row(&rows[i], ids[i], i);
	}
	if (store_requests_insert(s, rows, 1000, &cause) != 0)
		TEST_FAIL("insert: %s", cause);
	ASSERT_EQ(store_requests_count(s), 1000);
	/* An empty batch is fine and changes nothing. */
	ASSERT_EQ(store_requests_insert(s, rows, 0, &cause), 0);
	ASSERT_EQ(store_requests_count(s), 1000);

	/* One bad row fails the whole batch: nothing of it lands. */
	rows[7].request_id = NULL;
	ASSERT_EQ(store_requests_insert(s, rows, 10, &cause), -1);
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "request_id");
	free(cause);
	cause = NULL;
	ASSERT_EQ(store_requests_count(s), 1000);
	/* The connection is usable afterwards (no transaction left open). */
	rows[7].request_id = ids[7];
	if (store_requests_insert(s, rows, 10, &cause) != 0)
		TEST_FAIL("insert after a failed batch: %s", cause);
	ASSERT_EQ(store_requests_count(s), 1010);
	free(rows);
	free(ids);

	/* A reader sees committed rows while the writer is open. */
	if ((ro = store_open(path, STORE_RO, &cause)) == NULL)
		TEST_FAIL("store_open RO: %s", cause);
	ASSERT_EQ(store_requests_count(ro), 1010);
	/* ... and is not blocked by a write transaction in progress. */
	raw = store_test_raw(path);
	store_test_exec(raw, "BEGIN IMMEDIATE");
	store_test_exec(raw, "INSERT INTO requests (ts_ms, request_id, "
	    "method, path, status, duration_ms, bytes_in, bytes_out) "
	    "VALUES (1, 'raw', 'GET', '/', 200, 1, 1, 1)");
	ASSERT_EQ(store_requests_count(ro), 1010);
	ASSERT_EQ(store_requests_count(s), 1010);
	store_test_exec(raw, "COMMIT");
	sqlite3_close(raw);
	ASSERT_EQ(store_requests_count(ro), 1011);
	/* A read-only store refuses writes. */
	store_test_row(&one, "ro", 0);
	ASSERT_EQ(store_requests_insert(ro, &one, 1, &cause), -1);
	ASSERT_NOT_NULL(cause);
	free(cause);
	cause = NULL;
	ASSERT_EQ(store_requests_count(s), 1011);

	/* Two writer threads with their own connections: no BUSY. */
	for (i = 0; i < STORE_TEST_THREADS; i++) {
		memset(&wr[i], 0, sizeof wr[i]);
		wr[i].path = path;
		wr[i].id = i;
		ASSERT_EQ(pthread_create(&th[i], NULL, store_writer_main,
		    &wr[i]), 0);
	}
	for (i = 0; i < STORE_TEST_THREADS; i++)
		ASSERT_EQ(pthread_join(th[i], NULL), 0);
	for (i = 0; i < STORE_TEST_THREADS; i++) {
		if (wr[i].failed)
			TEST_FAIL("writer %d: %s", i, wr[i].cause);
	}
	ASSERT_EQ(store_requests_count(s), 1011 +
	    STORE_TEST_THREADS * STORE_TEST_ROUNDS * STORE_TEST_BATCH);
	ASSERT_EQ(store_requests_count(ro), 1011 +
	    STORE_TEST_THREADS * STORE_TEST_ROUNDS * STORE_TEST_BATCH);
	if (store_integrity_check(s, &cause) != 0)
		TEST_FAIL("integrity check: %s", cause);
	store_close(ro);
	store_close(s);
	free(path);
}
