/* SPDX-License-Identifier: ISC */
#ifndef SERVER_H
#define SERVER_H

/*
 * Internal to proxy/: the state of the proxy thread (struct server), one
 * client connection (struct conn) and one request (struct req). Everything
 * declared here runs on the proxy thread only.
 */

#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <http_parser.h>
#include <json-c/json.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "paths.h"

struct chan;
struct conn;
struct reqlog;
struct cfgwatch;
struct upstream;
struct route;
struct accounts_watch;
struct store_key;

TAILQ_HEAD(conn_list, conn);

/* A client key as the proxy holds it (auth.c); freed at shutdown. */
struct auth_key {
	TAILQ_ENTRY(auth_key)	 entry;
	char			*id;
	char			*label;
	char			 hash[65];
	char			 prev_hash[65];	/* "" if none */
	int64_t			 prev_expires_ms;
	int			 admin;
	int64_t			 account_id;	/* 0: default account */
	int			 account_removed; /* its bound account is gone */
	char			*models;	/* allow-list, "" = all */
	int64_t			 rpm;
	int64_t			 tpm;
	int64_t			 max_concurrent;
	int64_t			 expires_ms;
	int			 revoked;
	int			 present;
	int64_t			 used_ms;	/* last use, for the store */
	/* Limiter state (limits.c). */
	double			 req_tokens;
	double			 tok_tokens;
	uint64_t		 req_at;
	uint64_t		 tok_at;
	int64_t			 active;
	uint64_t		 served;	/* fair-queue stamp */
};
TAILQ_HEAD(auth_key_list, auth_key);
#include "provider.h"
#include "tokcal.h"


struct server {
	uv_loop_t		 loop;
	struct config		 cfg;		/* in force, owned */
	struct paths		 paths;		/* owned copy */
	uv_tcp_t		 listener;
	int			 listening;
	char			 address[128];	/* "host:port" bound */
	struct conn_list	 conns;
	size_t			 nconns;
	struct conn_list	 flushq;	/* conns with output to hand over */
	uv_prepare_t		 flush_prepare;
	uv_check_t		 flush_check;
	uint64_t		 next_conn_id;
	uint64_t		 requests_total;

	struct chan		*events;	/* to the front end, borrowed */
	struct chan		*cmds;		/* to us, owned by proxy.c */
	uv_async_t		 cmd_async;
	uv_timer_t		 shutdown_timer;
	int			 shutting_down;
	int			 stopping_done;

	struct upstream		*upstream;
	struct reqlog		*reqlog;
	struct cfgwatch		*cfgwatch;
	struct account_list	 accounts;
	struct accounts_watch	*accounts_watch;
	struct login_list	 logins;
	struct auth_key_list	 keys;
	struct auth_key		 anonymous;	/* all requests, auth off */
	struct tokcal		 tokcal;	/* count_tokens calibration */
	int			 no_listen;

	uint64_t		 started_ms;	/* uv_now at start */
	int64_t			 started_wall;	/* unix seconds */
	char			*config_error;	/* last refused reload */
	int64_t			 config_loaded_at;
};

/* One request header; the name is lower-cased. */
struct http_header {
	char	*name;
	char	*value;
};

/* Who answers errors in which dialect. */
enum api_dialect {
	API_OPENAI,
	API_ANTHROPIC,
};

struct req {
	struct server		*srv;
	struct conn		*conn;		/* NULL once the client left */
	char			 rid[80];	/* X-Request-Id */
	const char		*method;	/* static */
	char			*url;
	char			*path;		/* decoded path, no query */
	char			*query;		/* or NULL */
	struct http_header	*hdrs;
	size_t			 nhdrs;
	struct buf		 body;
	int			 keep_alive;
	int			 http_minor;
	enum api_dialect	 dialect;
	uint64_t		 t_start;	/* uv_hrtime, ns */
	int64_t			 wall_ms;
	int			 status;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	int			 responded;
	int			 streaming;	/* chunked body in progress */
	int			 chunked;	/* HTTP/1.1 chunked framing */
	const struct route	*route;
	/* Set by an async handler: the client drained its backlog. */
	void			(*on_drain)(struct req *);
	/* Set by an async handler: the client went away (conn is NULL). */
	void			(*on_abort)(struct req *);
	void			*ctx;		/* the handler's state */
	const char		*err_tag;	/* short error class for logs */
	struct auth_key		*key;		/* who is calling, or NULL */
};

/* listen.c */
int	 listen_start(struct server *, char **cause);
void	 listen_stop(struct server *);

/* conn.c */
void	 conn_accept(struct server *);
/* Queues len bytes (copied) for the client; 0, or -1 if it is gone. */
int	 conn_write(struct conn *, const char *data, size_t len);
/* Queues the bytes of iov (copied, in order); as conn_write. */
int	 conn_writev(struct conn *, const struct iovec *iov, int iovcnt);
/*
 * Writes what is queued for the client now instead of at the end of the
 * loop iteration: for a whole response, so that the client has it before
 * the request is torn down and logged.
 */
void	 conn_flush_now(struct conn *);
/* Called by http1.c when the response to req is complete. */
void	 conn_request_done(struct conn *, struct req *);
/* Bytes queued for the client and not yet written. */
size_t	 conn_pending(const struct conn *);
/* Flush handles of srv (data = srv): pending output goes to uv_write. */
void	 conn_flush_prepare_cb(uv_prepare_t *);
void	 conn_flush_check_cb(uv_check_t *);
/* Write backlog above which a streaming producer should pause. */
#define CONN_STREAM_HIGH	(256 * 1024)
#define CONN_STREAM_LOW		(64 * 1024)
/* Closes every connection now (shutdown deadline). */
void	 conn_close_all(struct server *);
/* Asks idle connections to close and busy ones to close when done. */
void	 conn_drain_all(struct server *);

/* http1.c */
struct req *req_new(struct server *, struct conn *);
void	 req_free(struct req *);
const char *req_header(const struct req *, const char *lname);
/* Sends a complete response; takes nothing, copies body. */
void	 req_respond(struct req *, int status, const char *ctype,
	    const char *body, size_t len, const char *extra_headers);
/* Sends a JSON response and drops the reference to o. */
void	 req_respond_json(struct req *, int status, struct json_object *o);
/* Sends an error in the request's dialect (api-*.c formats the body). */
void	 req_error(struct req *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same, with extra headers ("Name: value\r\n..."). */
void	 req_error_hdr(struct req *, int status, const char *code,
	    const char *extra_headers, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/*
 * Streaming: begins a response whose body follows in pieces (chunked for
 * HTTP/1.1, close-delimited for 1.0). extra holds "Name: value\r\n"
 * lines or NULL.
 */
void	 req_stream_begin(struct req *, int status, const char *ctype,
	    const char *extra);
/*
 * Sends a piece; returns 0, 1 if the client is slow (stop feeding until
 * on_drain), or -1 if the client is gone.
 */
int	 req_stream_write(struct req *, const char *data, size_t len);
/* Ends the body and completes the request. */
void	 req_stream_end(struct req *);
/* Completes a request whose client left (logged with status 499). */
void	 req_abandon(struct req *);
/* Reason phrase for a status (from one table). */
const char *http_reason(int status);
/* Fills rid with the client's X-Request-Id if sane, else a new one. */
void	 req_set_id(struct req *);
/* Sets up the request id before the request is known (errors). */
void	 req_generate_id(char *out, size_t len);

/* rnd.c */
/* Fills out with len cryptographically random bytes (fatal on failure). */
void	 rnd_bytes(void *out, size_t len);

/* auth.c */
/* Replaces the key table with rows (taken); keeps limiter state. */
void	 auth_load(struct server *, struct store_key *rows, size_t n);
void	 auth_free_all(struct server *);
/*
 * Checks the request's credentials; returns the key (borrowed), or NULL
 * after answering 401 (or 403 for a client key on an admin route).
 */
struct auth_key *auth_check(struct req *, int admin_route);

/* route.c */
#define ROUTE_NOLOG	0x1	/* not written to the request log */
#define ROUTE_PUBLIC	0x2	/* no key needed */
#define ROUTE_ADMIN	0x4	/* admin keys only */
#define ROUTE_PREFIX	0x8	/* path is a prefix ("/v1/models/") */
struct route {
	const char	*method;
	const char	*path;
	void		(*handler)(struct req *);
	int		 flags;
	enum api_dialect dialect;
};
/* Picks the route for req and runs it, or answers 404/405. */
void	 route_dispatch(struct req *);
/* Sets req->dialect from the path before the route runs (for errors). */
void	 route_classify(struct req *);

/* api-openai.c */
struct json_object *api_openai_error(int status, const char *code,
	    const char *message);
void	 api_openai_chat(struct req *);
void	 api_openai_responses(struct req *);
void	 api_openai_embeddings(struct req *);
void	 api_openai_models(struct req *);
void	 api_openai_model(struct req *);
/* api-anthropic.c */
struct json_object *api_anthropic_error(int status, const char *message);
void	 api_anthropic_messages(struct req *);
void	 api_anthropic_count_tokens(struct req *);

/* api-admin.c */
void	 api_admin_keys(struct req *);
void	 api_admin_key(struct req *);
void	 api_admin_accounts(struct req *);
void	 api_admin_account(struct req *);
void	 api_admin_device_start(struct req *);
void	 api_admin_device_status(struct req *);

/* api-ops.c */
void	 api_ops_healthz(struct req *);

/* reqlog.c */
struct reqlog *reqlog_new(struct server *, char **cause);
void	 reqlog_add(struct reqlog *, const struct req *);
/* Flushes what is queued and stops; the loop keeps running until done. */
void	 reqlog_stop(struct reqlog *);
void	 reqlog_free(struct reqlog *);
/* Queues an audit row for the batched writer (strings copied). */
void	 reqlog_audit(struct reqlog *, const char *actor, const char *action,
	    const char *target, const char *detail);
/* Adds "pending", "dropped", "last_error" to a healthz object. */
void	 reqlog_status(const struct reqlog *, struct json_object *);

/* cfgwatch.c */
struct cfgwatch *cfgwatch_new(struct server *);
void	 cfgwatch_reload(struct cfgwatch *);
void	 cfgwatch_stop(struct cfgwatch *);
/* Frees a stopped watcher once the loop has finished. */
void	 cfgwatch_free(struct cfgwatch *);

/* server.c */
/* Current time in unix milliseconds. */
int64_t	 server_wall_ms(void);
/* Posts an event to the front end. */
void	 server_event(struct server *, int type, int64_t i, const char *text);
/* Posts an event with a correlation id and a JSON payload (taken). */
void	 server_event_data(struct server *, int type, uint64_t corr,
	    int64_t i, const char *text, struct json_object *data);
/* Called when the last connection closed during shutdown. */
void	 server_maybe_finish(struct server *);

#endif
