/* SPDX-License-Identifier: ISC */
#ifndef PROVIDER_H
#define PROVIDER_H

/*
 * Upstream providers (style.md 2.1: a const ops struct per provider, as
 * tmux's window_mode): device-code login, the short-lived API token and
 * the request headers. struct account is one logged-in upstream identity
 * as the proxy holds it in memory, with its token state and model cache.
 * Proxy thread only.
 */

#include <stdint.h>
#include <sys/queue.h>

#include <json-c/json.h>
#include <uv.h>

#include "buf.h"
#include "store.h"

struct server;
struct account;
struct login;
struct upstream_xfer;
struct fetch;

/*
 * fetch.c: a small request whose whole answer (up to max bytes) is
 * handed to one callback; for login, token and model calls. The fetch
 * is freed after the callback returns.
 */
typedef void (*fetch_cb)(void *arg, int status, const char *body,
    size_t len, const char *err);
struct fetch	*fetch_new(struct server *, const char *method,
		    const char *url, size_t max, fetch_cb cb, void *arg);
void		 fetch_header(struct fetch *, const char *name,
		    const char *value);
void		 fetch_body(struct fetch *, const char *data, size_t len);
/* Starts; -1 if it could not (the callback is then not called). */
int		 fetch_start(struct fetch *);
/* Cancels a started fetch: no callback; freed. */
void		 fetch_cancel(struct fetch *);
/* Returns the fetch's transfer, to add provider headers. */
struct upstream_xfer *fetch_xfer(struct fetch *);

/* One login in progress (login.c drives it, the provider does steps). */
struct login {
	TAILQ_ENTRY(login)	 entry;
	struct server		*srv;
	const struct provider_ops *ops;
	uint64_t		 corr;
	char			*label;
	char			*account_type;
	char			*github_url;
	char			*api_url;
	char			*given_token;	/* --token-stdin */
	char			*device_code;
	int			 interval_s;
	uint64_t		 deadline;	/* uv_now ms */
	uv_timer_t		 timer;
	struct fetch		*fetch;
	char			*gh_token;
	char			*login_name;
	int			 finished;
	int			 saving;
	uv_work_t		 work;
	struct store_account	 sa;
	char			*save_err;
	char			*audit_err;
	int			 audit_failed;
	char			*tx_id;		/* started over HTTP */
	struct req		*start_req;	/* waiting for the code */
	const char		*fail_status;	/* expired, denied, failed */
};
TAILQ_HEAD(login_list, login);

/* login.c */
/* Starts a login from MSG_CMD_LOGIN_START parameters. */
void	 login_start(struct server *, uint64_t corr, struct json_object *p);
/* Cancels the login with this correlation id (0: all). */
void	 login_cancel(struct server *, uint64_t corr);
/* Provider callbacks into the driver. */
void	 login_code(struct login *, const char *user_code, const char *uri,
	    int64_t expires_in, int interval);
void	 login_poll(struct login *, const char *status);
void	 login_schedule(struct login *, uint64_t ms, uv_timer_cb cb);
void	 login_succeeded(struct login *, const char *login_name,
	    const char *gh_token);
void	 login_failed(struct login *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* login_failed with an outcome for HTTP status: expired or denied. */
void	 login_failed_as(struct login *, const char *status,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* POST /auth/device/start: a login whose code answers the request. */
void	 login_start_http(struct req *, struct json_object *params);
/* Resumes the HTTP logins still pending in the store (at start). */
void	 login_resume_all(struct server *);
/* Cancels every login at shutdown. */
void	 login_shutdown(struct server *);

enum token_state {
	TOKEN_NONE,		/* never fetched */
	TOKEN_FRESH,		/* valid until expires_at */
	TOKEN_REFRESHING,	/* an exchange is in flight */
	TOKEN_FAILING,		/* the last exchange failed; retrying */
};

/* Called when a token is ready (err NULL) or cannot be had (err set). */
typedef void (*token_cb)(struct account *, void *arg, const char *err,
    int status);

/* A request waiting for a token; embedded in the waiter's own struct. */
struct token_waiter {
	TAILQ_ENTRY(token_waiter) entry;
	token_cb	 cb;
	void		*arg;
	int		 queued;
};
TAILQ_HEAD(token_waiters, token_waiter);

/* Called when the model list is ready (models may be NULL on failure). */
typedef void (*models_cb)(struct account *, void *arg, const char *err);
struct models_waiter {
	TAILQ_ENTRY(models_waiter) entry;
	models_cb	 cb;
	void		*arg;
	int		 queued;
};
TAILQ_HEAD(models_waiters, models_waiter);

struct auth_key;

/* A request waiting for one of its account's upstream slots. */
typedef void (*slot_cb)(void *arg, const char *err);
struct slot_waiter {
	TAILQ_ENTRY(slot_waiter) entry;
	struct auth_key	*key;
	slot_cb		 cb;
	void		*arg;
	uint64_t	 since;
	int		 queued;
};
TAILQ_HEAD(slot_waiters, slot_waiter);

struct provider_ops {
	const char	*name;
	/* Starts a login (device flow, or a given token); 0 or -1. */
	int		(*login_start)(struct login *);
	/* Resumes polling a saved device code (after a restart). */
	int		(*login_resume)(struct login *);
	/* Starts a token exchange for the account. */
	void		(*token_refresh)(struct account *);
	/* Adds the provider's headers for an API call. */
	void		(*api_headers)(struct account *, struct upstream_xfer *,
			    int vision, int agent);
};

extern const struct provider_ops provider_github_ops;

/* Returns the ops for a provider name, or NULL. */
const struct provider_ops *provider_find(const char *name);

struct account {
	TAILQ_ENTRY(account)	 entry;
	struct server		*srv;
	struct store_account	 sa;		/* copy of the row */
	const struct provider_ops *ops;
	int			 refs;		/* requests using it */
	int			 removed;	/* gone from the store */

	/* Token lifecycle (token.c). */
	enum token_state	 state;
	char			*token;		/* never logged */
	char			*api_base;	/* endpoints.api or configured */
	int64_t			 expires_at;	/* unix seconds */
	int64_t			 refresh_at;	/* unix seconds */
	char			*last_error;
	int64_t			 last_refresh;	/* unix seconds */
	unsigned		 failures;
	uint64_t		 exchanges;
	uv_timer_t		 timer;		/* refresh and retries */
	struct token_waiters	 waiters;
	struct fetch		*fetch;

	/* Model list cache (models.c). */
	struct json_object	*models;	/* upstream {data: [...]} */
	uint64_t		 models_at;	/* uv_now when fetched */
	uint64_t		 models_failed_at; /* uv_now of a failure */
	int			 mretried;	/* refreshed after a 401 */
	struct models_waiters	 mwaiters;
	struct fetch		*mfetch;
	struct token_waiter	 mtoken_waiter;

	/* Upstream slots (limits.c). */
	int64_t			 active;
	uint64_t		 paused_until;	/* uv_now */
	struct slot_waiters	 queue;
	uint64_t		 nqueue;
	uint64_t		 served_seq;
	uv_timer_t		 qtimer;
	int			 closes;
};
TAILQ_HEAD(account_list, account);

/* account.c */
/* Builds the in-memory accounts from the store rows (takes them). */
void	 accounts_load(struct server *, struct store_account *, size_t n);
/* Starts watching the store for account changes (data_version). */
void	 accounts_watch_start(struct server *);
void	 accounts_watch_stop(struct server *);
/* Returns the account requests use, or NULL if none is logged in. */
struct account *accounts_default(struct server *);
/* Returns the account with this id, or NULL. */
struct account *accounts_find(struct server *, int64_t id);
void	 account_ref(struct account *);
void	 account_unref(struct account *);
/* Rereads the accounts table now (after a login). */
void	 accounts_reload(struct server *);
/* Frees the watcher once the loop has finished. */
void	 accounts_watch_free(struct server *);
/* Closes every account's handles at shutdown. */
void	 accounts_shutdown(struct server *);
/* Adds token state per account to a healthz object. */
void	 accounts_status(struct server *, struct json_object *);

/* token.c */
/*
 * Calls w->cb at once (synchronously) if the account has a valid token,
 * else queues w and makes sure one exchange is running (single-flight).
 */
void	 token_get(struct account *, struct token_waiter *w, token_cb cb,
	    void *arg);
/* Removes a queued waiter (the request went away). */
void	 token_cancel(struct account *, struct token_waiter *w);
/* The API refused tok with 401: forget it so the next get refreshes. */
void	 token_invalidate(struct account *, const char *tok);
/* Called by the provider when an exchange ends. */
void	 token_exchange_done(struct account *, const char *token,
	    const char *api_base, int64_t expires_at, int64_t refresh_in,
	    const char *err, int status);
/* Stops the account's token timer and transfer (shutdown/removal). */
void	 token_stop(struct account *);
const char *token_state_name(enum token_state);

/* limits.c */
struct req;
/* Per-key admission (rpm, tpm, concurrency); 0, or -1 after a 429. */
int	 limits_admit_key(struct req *);
/* A request of key k ended, having used tokens. */
void	 limits_release_key(struct server *, struct auth_key *k,
	    int64_t tokens);
/* Gets an upstream slot now (cb called at once) or queues for one. */
void	 limits_acquire(struct account *, struct slot_waiter *,
	    struct auth_key *, slot_cb, void *arg);
void	 limits_cancel(struct account *, struct slot_waiter *);
/* Frees a slot and starts the next waiter. */
void	 limits_release(struct account *);
/* Copilot said 429 + Retry-After: no new upstream calls for ms. */
void	 limits_pause(struct account *, uint64_t ms);
void	 limits_stop(struct account *);

/* models.c */
/*
 * Calls cb at once if the account's model list is fresh, else fetches it
 * once for all waiters (TTL upstreams.github.models_ttl).
 */
void	 models_get(struct account *, struct models_waiter *w, models_cb cb,
	    void *arg);
void	 models_cancel(struct account *, struct models_waiter *w);
/* Returns the model entry with this id (borrowed) or NULL. */
struct json_object *models_find(struct account *, const char *id);
/* Returns 1 if the model lists endpoint in supported_endpoints, 0 if it
 * does not, -1 if the model or the list is unknown. */
int	 models_supports_endpoint(struct json_object *model, const char *ep);
/* Returns 0 if the model says it cannot stream, else 1. */
int	 models_can_stream(struct json_object *model);
void	 models_stop(struct account *);

#endif
