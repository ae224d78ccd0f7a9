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
/* Reads the counter of changes to accounts and keys; 0 or -1. */
int		 store_changes(struct store *, int64_t *out);
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

/*
 * One client key (a value type; strings owned, freed by
 * store_key_release). Only the hash of the secret is ever stored.
 */
struct store_key {
	char	*id;		/* key_... */
	char	*hash;		/* hex SHA-256 of the secret */
	char	*prefix;	/* masked display form */
	char	*label;
	char	*tier;		/* "admin" or "client" */
	int64_t	 account_id;	/* 0: the default account */
	char	*models;	/* allow-list, "" = all */
	int64_t	 rpm;		/* 0 = unlimited */
	int64_t	 tpm;
	int64_t	 max_concurrent;
	int64_t	 expires_ms;	/* 0 = never */
	int64_t	 created_ms;
	int64_t	 last_used_ms;
	int64_t	 rotated_ms;
	int64_t	 revoked_ms;	/* 0 = active */
	char	*prev_hash;	/* the old secret during a rotation grace */
	int64_t	 prev_expires_ms;
	int64_t	 account_removed_ms; /* the bound account was removed */
};

void		 store_key_release(struct store_key *);
void		 store_keys_free(struct store_key *, size_t n);
/* Inserts a new key (id, hash, prefix, tier set by the caller). */
int		 store_keys_insert(struct store *, const struct store_key *,
		    char **cause);
/* Lists every key (revoked too), oldest first. */
int		 store_keys_list(struct store *, struct store_key **out,
		    size_t *n, char **cause);
/* Finds a key by id or label: 0 found, 1 not found, -1 error. */
int		 store_keys_get(struct store *, const char *id_or_label,
		    struct store_key *out, char **cause);
/* Sets a key's label; 0, 1 not found, -1 error. */
int		 store_keys_set_label(struct store *, const char *id,
		    const char *label, char **cause);
/*
 * Gives a key a new secret hash; the old one stays valid until
 * now + grace_ms (no grace: it dies at once). 0, 1 not found, -1 error.
 */
int		 store_keys_rotate(struct store *, const char *id,
		    const char *hash, const char *prefix, int64_t grace_ms,
		    char **cause);
/* Revokes a key; 0, 1 not found (or already revoked), -1 error. */
int		 store_keys_revoke(struct store *, const char *id,
		    char **cause);
/* Counts active (unrevoked, unexpired) admin keys; -1 on error. */
/* Counts admin keys: the usable ones, or (live_only 0) all ever made. */
int64_t		 store_keys_count_admin(struct store *, int live_only);
/* Records last use for a batch of key ids at time ms. */
int		 store_keys_touch(struct store *, char *const *ids, size_t n,
		    int64_t ms, char **cause);

/* A device-code login started over HTTP (strings owned when read). */
struct store_device {
	char	*id;		/* tx_... */
	char	*provider;
	char	*label;		/* may be NULL */
	char	*account_type;
	char	*github_url;
	char	*api_url;
	char	*device_code;
	char	*user_code;
	char	*verification_uri;
	int64_t	 interval_s;
	int64_t	 expires_ms;
	char	*status;	/* pending, complete, expired, denied, failed */
	char	*error;
	int64_t	 account_id;
	char	*key_id;	/* the key handed out on completion */
	int64_t	 created_ms;
};

void		 store_device_release(struct store_device *);
void		 store_devices_free(struct store_device *, size_t n);
int		 store_device_insert(struct store *, const struct store_device *,
		    char **cause);
/* Sets the outcome of a transaction. */
int		 store_device_finish(struct store *, const char *id,
		    const char *status, const char *error, int64_t account_id,
		    char **cause);
/* 0 found, 1 not found, -1 error. */
int		 store_device_get(struct store *, const char *id,
		    struct store_device *out, char **cause);
/* Lists pending transactions that have not expired. */
int		 store_device_pending(struct store *, int64_t now_ms,
		    struct store_device **out, size_t *n, char **cause);
/* Records the key handed out: 0 done, 1 already handed out, -1 error. */
int		 store_device_set_key(struct store *, const char *id,
		    const char *key_id, char **cause);
/*
 * Forgets transactions older than STORE_DEVICE_KEEP_MS and the device
 * codes of expired ones (a code is a short-lived secret).
 */
#define STORE_DEVICE_KEEP_MS	(7LL * 86400 * 1000)
int		 store_device_purge(struct store *, int64_t now_ms,
		    char **cause);
/* Undoes store_device_set_key when the key could not be made. */
int		 store_device_unclaim_key(struct store *, const char *id,
		    const char *key_id, char **cause);

/* One audit entry (strings borrowed on insert, owned when listed). */
struct store_audit {
	int64_t	 ts_ms;
	char	*actor;		/* "cli", "key_...", "system" */
	char	*action;	/* key.create, key.rotate, login.complete... */
	char	*target;
	char	*detail;
};

/* Appends an audit entry in its own transaction. */
int		 store_audit_add(struct store *, const char *actor,
		    const char *action, const char *target, const char *detail,
		    char **cause);
/* Lists entries at or after since_ms, oldest first. */
int		 store_audit_list(struct store *, int64_t since_ms,
		    struct store_audit **out, size_t *n, char **cause);
void		 store_audit_free(struct store_audit *, size_t n);

#endif
