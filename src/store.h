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

/*
 * One upstream account (a value type; strings owned by the struct and
 * freed by store_account_release). token is the upstream credential:
 * never print or log it.
 */
struct store_account {
	int64_t	 id;
	char	*provider;	/* "github" */
	char	*label;
	char	*login;
	char	*account_type;	/* individual, business, enterprise, ... */
	char	*github_url;
	char	*api_url;
	char	*copilot_url;	/* "" = from the token's endpoints.api */
	char	*token;
	int64_t	 created_ms;
	int64_t	 updated_ms;
};

/* Frees the strings of an account. */
void		 store_account_release(struct store_account *);
/* Frees an array of n accounts. */
void		 store_accounts_free(struct store_account *, size_t n);
/*
 * Adds an account, or updates the one with the same provider, host and
 * login (a new login refreshes the token). A NULL label becomes the
 * login (then login-2, ...). Sets a->id and a->label. 0, or -1 with
 * *cause (e.g. a label taken by another account).
 */
int		 store_accounts_upsert(struct store *, struct store_account *a,
		    char **cause);
/* Lists accounts by id; *out owned. 0 or -1. */
int		 store_accounts_list(struct store *, struct store_account **out,
		    size_t *n, char **cause);
/* Finds an account by id or label: 0 found, 1 not found, -1 error. */
int		 store_accounts_get(struct store *, const char *id_or_label,
		    struct store_account *out, char **cause);
/* Removes an account by id: 0 removed, 1 not found, -1 error. */
int		 store_accounts_remove(struct store *, int64_t id, char **cause);

#endif
