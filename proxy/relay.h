/* SPDX-License-Identifier: ISC */
#ifndef RELAY_H
#define RELAY_H

/*
 * relay: one client request relayed to the Copilot API: wait for the
 * model list and a token, send, retry once after a 401, and hand the
 * answer back as it arrives (SSE event by event with back-pressure and
 * keep-alive comments) or whole. The dialect files (api-openai.c, later
 * api-anthropic.c) fill the hooks. Proxy thread only.
 */

#include <json-c/json.h>

#include "provider.h"
#include "server.h"
#include "sse.h"

struct relay;
struct upstream_xfer;

struct relay_hooks {
	const char	*upath;		/* "/chat/completions" */
	/*
	 * Called once the model list is known (it may be missing): maps
	 * the model and edits the body. Returns 0, or answers the client
	 * itself (req_error) and returns -1.
	 */
	int		(*prepare)(struct relay *);
	/* Handles one upstream SSE event (stream mode); 0 or -1 (stop). */
	int		(*event)(struct relay *, const char *event,
			    const char *data, size_t len);
	/* The upstream stream ended cleanly; finish the client stream. */
	void		(*stream_end)(struct relay *);
	/* Sends an error inside a started stream, in the dialect's shape. */
	void		(*stream_error)(struct relay *, const char *code,
			    const char *msg);
	/* Non-stream success: answers the client from the whole body. */
	void		(*complete)(struct relay *, const char *body,
			    size_t len);
	/* Optional: a keep-alive in the dialect (default: SSE comment). */
	void		(*keepalive)(struct relay *);
	/* Optional: extra upstream headers. */
	void		(*headers)(struct relay *, struct upstream_xfer *);
	/*
	 * Optional: an upstream error before anything was sent; returns 1
	 * after changing the request to send it again (a fallback), or 0;
	 * it may also answer the client itself (relay_fail) and return 0.
	 */
	int		(*retry)(struct relay *, int status, const char *body,
			    size_t len);
};

struct relay {
	struct req		*req;
	struct server		*srv;
	struct account		*acct;
	const struct relay_hooks *hooks;
	const char		*upath;		/* hooks->upath unless changed */
	char			*client_model;	/* the name the client sent */
	void			*dctx;		/* the dialect's state */
	void			(*dctx_free)(void *);
	struct token_waiter	 tw;
	struct models_waiter	 mw;
	struct slot_waiter	 sw;
	struct auth_key		*key;		/* admitted against its limits */
	int			 has_slot;
	struct json_object	*body;		/* the client's request */
	char			*model;		/* the Copilot model id */
	int			 client_stream;	/* the client wants SSE */
	int			 upstream_stream;
	/*
	 * The upstream streams but the client gets one JSON answer: the
	 * dialect's event hook accumulates and nothing is written until it
	 * answers with relay_respond_json. A dialect may also end an answer
	 * while the upstream still sends (relay_stream_finish or
	 * relay_respond_json from its event hook, which then returns -1):
	 * the transfer is cancelled.
	 */
	int			 aggregate;
	int			 client_usage;	/* include_usage asked */
	int			 vision;
	int			 agent;
	int			 attempts;
	char			*used_token;
	struct upstream_xfer	*xfer;
	int			 ustatus;
	char			 retry_after[32];
	int			 started;	/* client response begun */
	int			 paused;
	int			 finished;
	struct buf		 ubody;
	struct sse		 sse;
	uv_timer_t		 keepalive;
	uint64_t		 last_write;	/* uv_now */

	/* Dialect state (chat streams). */
	int			 saw_done;
	int			 saw_finish;
	int			 sent_usage;
	struct json_object	*usage;		/* last usage seen */
	int64_t			 in_tokens;	/* prompt, cache included; -1 */
	int64_t			 out_tokens;	/* completion; -1 */
	int64_t			 est_prompt;	/* local estimate, 0 = none */
	char			*chunk_id;
	char			*chunk_model;
	int64_t			 created;
	int64_t			 seq;		/* responses: last sequence_number */
};

/*
 * Starts relaying req (whose body was parsed into body, taken) with the
 * dialect's hooks, on the default account. Answers 503 itself when no
 * account is logged in.
 */
void	 relay_start(struct req *, struct json_object *body,
	    const struct relay_hooks *);
/*
 * Returns the account the request spends (the key's, or the default);
 * NULL after answering 503.
 */
struct account *relay_account(struct req *);
/* Writes bytes to the client's stream (stream mode); 0, or -1 if gone. */
int	 relay_write(struct relay *, const char *data, size_t len);
/* Ends a started stream (after the dialect wrote its last bytes). */
void	 relay_stream_finish(struct relay *);
/*
 * Finishes a non-stream answer with Copilot's own JSON body, as it came
 * (once the dialect parsed it for usage): no second serialisation.
 */
void	 relay_respond_upstream(struct relay *);
/* Finishes a non-stream answer with a JSON body (taken). */
void	 relay_respond_json(struct relay *, int status, struct json_object *);
/* Ends the relay with an error before anything was sent. */
void	 relay_fail(struct relay *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Records usage (a borrowed usage object) for accounting. */
void	 relay_note_usage(struct relay *, struct json_object *usage);
/* Returns the parsed JSON request body or NULL after answering 400. */
struct json_object *relay_parse_body(struct req *);
/*
 * Parses len bytes of JSON (NULL if they are not one complete value);
 * errp and endp, if not NULL, get the tokener's error and parse end.
 */
struct json_object *relay_json_parse(const char *data, size_t len,
	    enum json_tokener_error *errp, size_t *endp);

#endif
