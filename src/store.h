/* SPDX-License-Identifier: ISC */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The SQLite store. One struct store is one connection, used by one
 * thread at a time (the proxy thread, a worker of its pool, the TUI, or a
 * CLI command). store_open sets the pragmas before any transaction;
 * store_migrate brings the schema to STORE_SCHEMA_VERSION. Query
 * functions live in store-<family>.c; SQLite result codes never leave
 * src/store*.c, errors come back as owned *cause strings.
 */

#define STORE_RW	0x1
#define STORE_RO	0x2
#define STORE_CREATE	0x4

#define STORE_BUSY_TIMEOUT_MS	5000

struct store;

/*
 * Opens path (mode 0600 when created). Returns an owned store, or NULL
 * with *cause set. Any thread; the store then belongs to that thread.
 */
struct store	*store_open(const char *path, int flags, char **cause);
/* Finalises cached statements and closes; NULL is a no-op. */
void		 store_close(struct store *);
/* Runs pending migrations, each in one BEGIN IMMEDIATE; 0 or -1. */
int		 store_migrate(struct store *, char **cause);
/* Returns the schema version the code expects. */
int		 store_schema_latest(void);
/* Returns PRAGMA user_version, or -1. */
int		 store_schema_version(struct store *);
/* Runs PRAGMA integrity_check; 0 if "ok", else -1 with *cause. */
int		 store_integrity_check(struct store *, char **cause);
/* Reads PRAGMA data_version into *out; 0 or -1. */
int		 store_data_version(struct store *, int64_t *out);
/* Returns the journal mode in effect (static string or "unknown"). */
const char	*store_journal_mode(struct store *);
/* Returns the path the store was opened with (borrowed). */
const char	*store_path(const struct store *);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK; 0 or -1 with *cause. */
int		 store_begin(struct store *, char **cause);
int		 store_commit(struct store *, char **cause);
void		 store_rollback(struct store *);

/* One row of the request log (a value type; strings borrowed). */
struct store_request {
	int64_t		 ts_ms;		/* request start, unix ms */
	const char	*request_id;
	const char	*method;
	const char	*path;
	int		 status;
	int64_t		 duration_ms;
	int64_t		 bytes_in;
	int64_t		 bytes_out;
};

/* Inserts n rows in one transaction; 0 or -1 with *cause. */
int		 store_requests_insert(struct store *,
		    const struct store_request *rows, size_t n, char **cause);
/* Counts request-log rows; -1 on error. */
int64_t		 store_requests_count(struct store *);

#endif
