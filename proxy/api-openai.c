/* SPDX-License-Identifier: ISC */
/*
 * api-openai: the OpenAI dialect as clients see it: its error shape
 * {"error":{"message","type","code","param"}} with a type chosen from the
 * HTTP status as the OpenAI SDKs expect, and the routes
 * /v1/chat/completions, /v1/responses, /v1/embeddings and /v1/models,
 * relayed to the Copilot API by relay.c with the edits Copilot needs
 * (model names, stream_options, max_completion_tokens, vision and
 * initiator headers, non-streaming models answered as SSE). Proxy thread.
 */
#define _GNU_SOURCE	/* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "xmalloc.h"

/* Maps a status to the OpenAI error type the SDKs key on. */
static const char *
api_openai_error_type(int status)
{
	switch (status) {
	case 401:
		return ("authentication_error");
	case 403:
		return ("permission_error");
	case 404:
		return ("not_found_error");
	case 408:
	case 504:
		return ("timeout_error");
	case 413:
	case 431:
		return ("request_too_large");
	case 429:
		return ("rate_limit_error");
	default:
		if (status >= 500)
			return ("api_error");
		return ("invalid_request_error");
	}
}

struct json_object *
api_openai_error(int status, const char *code, const char *message)
{
	struct json_object	*o, *e;

	e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "type",
	    json_object_new_string(api_openai_error_type(status)));
	json_object_object_add(e, "code",
	    code != NULL ? json_object_new_string(code) : NULL);
	json_object_object_add(e, "param", NULL);
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	return (o);
}

/* Returns a borrowed member of o of the given type, or NULL. */
static struct json_object *
api_get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return (NULL);
	return (v);
}

/* Returns 1 if the member is the JSON value true. */
static int
api_true(struct json_object *o, const char *key)
{
	struct json_object	*v = api_get(o, key, json_type_boolean);

	return (v != NULL && json_object_get_boolean(v));
}

/*
 * Maps a client's model name to a Copilot id: drops the github_copilot/
 * prefix, then applies models.aliases. Returns owned.
 */
static char *
api_map_model(struct server *srv, const char *name)
{
	char		 buf[256];
	const char	*t;

	if (strncmp(name, "github_copilot/", 15) == 0)
		name += 15;
	if ((t = config_alias_lookup(&srv->cfg, name, buf, sizeof buf)) !=
	    NULL)
		name = t;
	return (xstrdup(name));
}

/* Checks "model" (a non-empty string); answers 400 itself if not. */
static int
api_require_model(struct req *r, struct json_object *body)
{
	struct json_object	*m = api_get(body, "model", json_type_string);

	if (m == NULL || json_object_get_string_len(m) == 0) {
		req_error(r, 400, "missing_field", "missing required field "
		    "'model' (a string)");
		return (-1);
	}
	return (0);
}

/* Sets the model in the body and checks the endpoint is served. */
static int
api_prepare_model(struct relay *rl, const char *ep, const char *client_ep,
    const char *other_ep, const char *other_client_ep)
{
	struct json_object	*m;
	const char		*name;

	name = json_object_get_string(api_get(rl->body, "model",
	    json_type_string));
	rl->model = api_map_model(rl->srv, name);
	json_object_object_add(rl->body, "model",
	    json_object_new_string(rl->model));
	if (rl->req->key != NULL &&
	    !keys_model_allowed(rl->req->key->models, rl->model)) {
		relay_fail(rl, 403, "model_not_allowed", "model '%s' is not "
		    "allowed for key '%s' (allowed: %s)", rl->model,
		    rl->req->key->id, rl->req->key->models);
		return (-1);
	}
	m = models_find(rl->acct, rl->model);
	if (m != NULL && models_supports_endpoint(m, ep) == 0) {
		if (models_supports_endpoint(m, other_ep) == 1)
			relay_fail(rl, 400, "unsupported_api_for_model",
			    "model '%s' is not available on %s: use %s",
			    rl->model, client_ep, other_client_ep);
		else
			relay_fail(rl, 400, "unsupported_api_for_model",
			    "model '%s' is not available on %s", rl->model,
			    client_ep);
		return (-1);
	}
	return (0);
}

/* Returns 1 for model families that take max_completion_tokens. */
static int
api_needs_completion_tokens(struct relay *rl)
{
	static const char *const prefixes[] = { "o1", "o3", "o4", "gpt-5" };
	struct json_object	*m, *caps, *fam;
	const char		*id = rl->model;
	size_t			 i;

	m = models_find(rl->acct, rl->model);
	if ((caps = api_get(m, "capabilities", json_type_object)) != NULL &&
	    (fam = api_get(caps, "family", json_type_string)) != NULL)
		id = json_object_get_string(fam);
	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(id, prefixes[i], strlen(prefixes[i])) == 0)
			return (1);
	return (0);
}

/* Sets vision (an image part) and agent (assistant/tool turns). */
static void
api_chat_scan(struct relay *rl, struct json_object *messages)
{
	struct json_object	*msg, *content, *part, *v;
	size_t			 i, j, n, np;
	const char		*role;

	n = json_object_array_length(messages);
	for (i = 0; i < n; i++) {
		msg = json_object_array_get_idx(messages, i);
		if ((v = api_get(msg, "role", json_type_string)) != NULL) {
			role = json_object_get_string(v);
			if (strcmp(role, "assistant") == 0 ||
			    strcmp(role, "tool") == 0)
				rl->agent = 1;
		}
		if ((content = api_get(msg, "content", json_type_array)) ==
		    NULL)
			continue;
		np = json_object_array_length(content);
		for (j = 0; j < np; j++) {
			part = json_object_array_get_idx(content, j);
			if ((v = api_get(part, "type", json_type_string)) !=
			    NULL && strcmp(json_object_get_string(v),
			    "image_url") == 0)
				rl->vision = 1;
		}
	}
}

static int
chat_prepare(struct relay *rl)
{
	struct json_object	*so, *mt, *m;

	if (api_prepare_model(rl, "/chat/completions", "/v1/chat/completions",
	    "/responses", "/v1/responses") != 0)
		return (-1);
	m = models_find(rl->acct, rl->model);
	rl->client_stream = api_true(rl->body, "stream");
	so = api_get(rl->body, "stream_options", json_type_object);
	rl->client_usage = rl->client_stream && api_true(so, "include_usage");
	rl->upstream_stream = rl->client_stream && models_can_stream(m);
	if (rl->upstream_stream) {
		so = json_object_new_object();
		json_object_object_add(so, "include_usage",
		    json_object_new_boolean(1));
		json_object_object_add(rl->body, "stream_options", so);
	} else {
		json_object_object_add(rl->body, "stream",
		    json_object_new_boolean(0));
		json_object_object_del(rl->body, "stream_options");
	}
	if ((mt = api_get(rl->body, "max_tokens", json_type_int)) != NULL &&
	    api_needs_completion_tokens(rl)) {
		json_object_object_add(rl->body, "max_completion_tokens",
		    json_object_get(mt));
		json_object_object_del(rl->body, "max_tokens");
	}
	api_chat_scan(rl, api_get(rl->body, "messages", json_type_array));
	return (0);
}

/* Writes "data: <json>\n\n". */
static int
chat_write_json(struct relay *rl, struct json_object *o)
{
	const char	*s;
	size_t		 len;
	char		*ev;
	int		 rc;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	ev = xmalloc(len + 9);
	memcpy(ev, "data: ", 6);
	memcpy(ev + 6, s, len);
	memcpy(ev + 6 + len, "\n\n", 3);
	rc = relay_write(rl, ev, len + 8);
	free(ev);
	return (rc);
}

/* Writes the usage-only chunk the client asked for, once. */
static void
chat_write_usage(struct relay *rl)
{
	struct json_object	*o;

	if (!rl->client_usage || rl->sent_usage || rl->usage == NULL)
		return;
	rl->sent_usage = 1;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(
	    rl->chunk_id != NULL ? rl->chunk_id : "chatcmpl-copilot-gw"));
	json_object_object_add(o, "object",
	    json_object_new_string("chat.completion.chunk"));
	json_object_object_add(o, "created", json_object_new_int64(
	    rl->created));
	json_object_object_add(o, "model", json_object_new_string(
	    rl->chunk_model != NULL ? rl->chunk_model : rl->model));
	json_object_object_add(o, "choices", json_object_new_array());
	json_object_object_add(o, "usage", json_object_get(rl->usage));
	chat_write_json(rl, o);
	json_object_put(o);
}

static int
chat_event(struct relay *rl, const char *event, const char *data, size_t len)
{
	struct json_object	*o, *choices, *usage, *v, *c;
	size_t			 i, n;
	int			 rc;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		chat_write_usage(rl);
		rl->saw_done = 1;
		return (relay_write(rl, "data: [DONE]\n\n", 14));
	}
	o = relay_json_parse(data, len, NULL, NULL);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		log_ev(LOG_LEVEL_WARN, rl->req->rid, "unparsable stream event "
		    "from Copilot; passed on", LF_INT("bytes", len));
		rc = relay_write(rl, "data: ", 6);
		if (rc == 0)
			rc = relay_write(rl, data, len);
		if (rc == 0)
			rc = relay_write(rl, "\n\n", 2);
		return (rc);
	}
	if ((usage = api_get(o, "usage", json_type_object)) != NULL)
		relay_note_usage(rl, usage);
	if (api_get(o, "error", json_type_object) != NULL) {
		rc = chat_write_json(rl, o);
		json_object_put(o);
		return (rc);
	}
	choices = api_get(o, "choices", json_type_array);
	if (choices == NULL || json_object_array_length(choices) == 0) {
		/* prompt_filter_results, or the usage-only chunk. */
		rc = 0;
		if (usage != NULL && rl->client_usage && !rl->sent_usage) {
			rl->sent_usage = 1;
			if (api_get(o, "object", json_type_string) == NULL)
				json_object_object_add(o, "object",
				    json_object_new_string(
				    "chat.completion.chunk"));
			rc = chat_write_json(rl, o);
		}
		json_object_put(o);
		return (rc);
	}
	if (rl->chunk_id == NULL &&
	    (v = api_get(o, "id", json_type_string)) != NULL)
		rl->chunk_id = xstrdup(json_object_get_string(v));
	if (rl->chunk_model == NULL &&
	    (v = api_get(o, "model", json_type_string)) != NULL)
		rl->chunk_model = xstrdup(json_object_get_string(v));
	if ((v = api_get(o, "created", json_type_int)) != NULL)
		rl->created = json_object_get_int64(v);
	n = json_object_array_length(choices);
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(choices, i);
		if ((v = api_get(c, "finish_reason", json_type_string)) != NULL)
			rl->saw_finish = 1;
	}
	/*
	 * OpenAI's shape: usage only in the last chunk, with no choices
	 * (chat_write_usage). Copilot may also put it on the finish chunk;
	 * passed on there, a client adding up chunks would count it twice.
	 */
	if (usage != NULL)
		json_object_object_del(o, "usage");
	if (api_get(o, "object", json_type_string) == NULL)
		json_object_object_add(o, "object",
		    json_object_new_string("chat.completion.chunk"));
	rc = chat_write_json(rl, o);
	json_object_put(o);
	return (rc);
}

static void
chat_stream_error(struct relay *rl, const char *code, const char *msg)
{
	struct json_object	*o;
	char			*text;

	text = xasprintf("the Copilot stream failed: %s", msg);
	log_scrub(text);
	o = api_openai_error(502, code, text);
	chat_write_json(rl, o);
	json_object_put(o);
	free(text);
}

static void
chat_stream_end(struct relay *rl)
{
	if (rl->saw_done)
		return;
	if (!rl->saw_finish) {
		chat_stream_error(rl, "upstream_incomplete", "the stream ended "
		    "before the answer was complete");
		return;
	}
	chat_write_usage(rl);
	relay_write(rl, "data: [DONE]\n\n", 14);
}

/* Answers a streaming client from a whole completion (o1 and kin). */
static void
chat_complete_as_stream(struct relay *rl, struct json_object *o)
{
	struct json_object	*choices, *c, *msg, *chunk, *cc, *delta, *v;
	struct json_object	*tcs, *tc;
	size_t			 i, j, n;

	req_stream_begin(rl->req, 200, "text/event-stream; charset=utf-8",
	    NULL);
	rl->started = 1;
	if ((v = api_get(o, "id", json_type_string)) != NULL)
		rl->chunk_id = xstrdup(json_object_get_string(v));
	if ((v = api_get(o, "model", json_type_string)) != NULL)
		rl->chunk_model = xstrdup(json_object_get_string(v));
	rl->created = (v = api_get(o, "created", json_type_int)) != NULL ?
	    json_object_get_int64(v) : (int64_t)time(NULL);
	choices = api_get(o, "choices", json_type_array);
	n = choices != NULL ? json_object_array_length(choices) : 0;
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(choices, i);
		msg = api_get(c, "message", json_type_object);
		delta = json_object_new_object();
		json_object_object_add(delta, "role",
		    json_object_new_string("assistant"));
		if ((v = api_get(msg, "content", json_type_string)) != NULL)
			json_object_object_add(delta, "content",
			    json_object_get(v));
		if ((tcs = api_get(msg, "tool_calls", json_type_array)) !=
		    NULL) {
			for (j = 0; j < json_object_array_length(tcs); j++) {
				tc = json_object_array_get_idx(tcs, j);
				json_object_object_add(tc, "index",
				    json_object_new_int((int)j));
			}
			json_object_object_add(delta, "tool_calls",
			    json_object_get(tcs));
		}
		cc = json_object_new_object();
		json_object_object_add(cc, "index", json_object_new_int(
		    (v = api_get(c, "index", json_type_int)) != NULL ?
		    json_object_get_int(v) : (int)i));
		json_object_object_add(cc, "delta", delta);
		v = api_get(c, "finish_reason", json_type_string);
		json_object_object_add(cc, "finish_reason", v != NULL ?
		    json_object_get(v) : json_object_new_string("stop"));
		chunk = json_object_new_object();
		json_object_object_add(chunk, "id", json_object_new_string(
		    rl->chunk_id != NULL ? rl->chunk_id : "chatcmpl-copilot-gw"));
		json_object_object_add(chunk, "object",
		    json_object_new_string("chat.completion.chunk"));
		json_object_object_add(chunk, "created",
		    json_object_new_int64(rl->created));
		json_object_object_add(chunk, "model", json_object_new_string(
		    rl->chunk_model != NULL ? rl->chunk_model : rl->model));
		json_object_object_add(chunk, "choices",
		    json_object_new_array());
		json_object_array_add(api_get(chunk, "choices",
		    json_type_array), cc);
		chat_write_json(rl, chunk);
		json_object_put(chunk);
	}
	chat_write_usage(rl);
	relay_write(rl, "data: [DONE]\n\n", 14);
	rl->saw_done = 1;
}

/* Parses an upstream JSON answer; NULL after answering 502. */
static struct json_object *
api_parse_answer(struct relay *rl, const char *body, size_t len)
{
	struct json_object	*o;

	o = relay_json_parse(body, len, NULL, NULL);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		relay_fail(rl, 502, "upstream_invalid", "the Copilot API "
		    "answered with something that is not JSON");
		return (NULL);
	}
	return (o);
}

static void
chat_complete(struct relay *rl, const char *body, size_t len)
{
	struct json_object	*o;

	if ((o = api_parse_answer(rl, body, len)) == NULL)
		return;
	relay_note_usage(rl, api_get(o, "usage", json_type_object));
	if (rl->client_stream) {
		chat_complete_as_stream(rl, o);
		json_object_put(o);
		relay_stream_finish(rl);
		return;
	}
	json_object_put(o);
	relay_respond_upstream(rl);
}

static const struct relay_hooks chat_hooks = {
	.upath = "/chat/completions",
	.prepare = chat_prepare,
	.event = chat_event,
	.stream_end = chat_stream_end,
	.stream_error = chat_stream_error,
	.complete = chat_complete,
};

/* Checks the shape of a chat request before relaying it. */
void
api_openai_chat(struct req *r)
{
	struct json_object	*body, *msgs;

	if ((body = relay_parse_body(r)) == NULL)
		return;
	if (api_require_model(r, body) != 0)
		goto bad;
	if ((msgs = api_get(body, "messages", json_type_array)) == NULL) {
		req_error(r, 400, "missing_field", "missing required field "
		    "'messages' (an array)");
		goto bad;
	}
	if (json_object_array_length(msgs) == 0) {
		req_error(r, 400, "invalid_field", "'messages' must not be "
		    "empty");
		goto bad;
	}
	relay_start(r, body, &chat_hooks);
	return;
bad:
	json_object_put(body);
}

static int
responses_prepare(struct relay *rl)
{
	struct json_object	*input, *item, *v, *content, *part;
	size_t			 i, j, n;

	if (api_prepare_model(rl, "/responses", "/v1/responses",
	    "/chat/completions", "/v1/chat/completions") != 0)
		return (-1);
	rl->client_stream = api_true(rl->body, "stream");
	rl->upstream_stream = rl->client_stream;
	if ((input = api_get(rl->body, "input", json_type_array)) == NULL)
		return (0);
	n = json_object_array_length(input);
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(input, i);
		if (((v = api_get(item, "role", json_type_string)) != NULL &&
		    strcmp(json_object_get_string(v), "assistant") == 0) ||
		    ((v = api_get(item, "type", json_type_string)) != NULL &&
		    (strcmp(json_object_get_string(v),
		    "function_call_output") == 0 ||
		    strcmp(json_object_get_string(v), "function_call") == 0)))
			rl->agent = 1;
		if ((content = api_get(item, "content", json_type_array)) ==
		    NULL)
			continue;
		for (j = 0; j < json_object_array_length(content); j++) {
			part = json_object_array_get_idx(content, j);
			if ((v = api_get(part, "type", json_type_string)) !=
			    NULL && strcmp(json_object_get_string(v),
			    "input_image") == 0)
				rl->vision = 1;
		}
	}
	return (0);
}

static int
responses_event(struct relay *rl, const char *event, const char *data,
    size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o, *resp;
	struct buf		 b;
	const void		*seq;
	int			 rc;

	/* Remember the numbering: a gateway error event continues it. */
	if ((seq = memmem(data, len, "\"sequence_number\":", 18)) != NULL)
		rl->seq = strtoll((const char *)seq + 18, NULL, 10);
	if (event != NULL && strcmp(event, "response.completed") == 0) {
		tok = json_tokener_new();
		o = json_tokener_parse_ex(tok, data, (int)len);
		json_tokener_free(tok);
		if ((resp = api_get(o, "response", json_type_object)) != NULL)
			relay_note_usage(rl, api_get(resp, "usage",
			    json_type_object));
		json_object_put(o);
		rl->saw_finish = 1;
	}
	buf_init(&b, len + 128);
	if (event != NULL)
		buf_addf(&b, "event: %s\n", event);
	buf_adds(&b, "data: ");
	buf_add(&b, data, len);
	buf_adds(&b, "\n\n");
	rc = relay_write(rl, b.data, b.len);
	buf_release(&b);
	return (rc);
}

static void
responses_stream_error(struct relay *rl, const char *code, const char *msg)
{
	struct json_object	*o;
	const char		*s;
	char			*text, *ev;

	text = xasprintf("the Copilot stream failed: %s", msg);
	log_scrub(text);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(text));
	json_object_object_add(o, "param", NULL);
	json_object_object_add(o, "sequence_number",
	    json_object_new_int64(rl->seq + 1));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	ev = xasprintf("event: error\ndata: %s\n\n", s);
	relay_write(rl, ev, strlen(ev));
	free(ev);
	free(text);
	json_object_put(o);
}

static void
responses_stream_end(struct relay *rl)
{
	if (!rl->saw_finish)
		responses_stream_error(rl, "upstream_incomplete", "the stream "
		    "ended before response.completed");
}

static void
responses_complete(struct relay *rl, const char *body, size_t len)
{
	struct json_object	*o;

	if ((o = api_parse_answer(rl, body, len)) == NULL)
		return;
	relay_note_usage(rl, api_get(o, "usage", json_type_object));
	json_object_put(o);
	relay_respond_upstream(rl);
}

static const struct relay_hooks responses_hooks = {
	.upath = "/responses",
	.prepare = responses_prepare,
	.event = responses_event,
	.stream_end = responses_stream_end,
	.stream_error = responses_stream_error,
	.complete = responses_complete,
};

void
api_openai_responses(struct req *r)
{
	struct json_object	*body, *input;

	if ((body = relay_parse_body(r)) == NULL)
		return;
	if (api_require_model(r, body) != 0)
		goto bad;
	if (!json_object_object_get_ex(body, "input", &input) ||
	    (!json_object_is_type(input, json_type_string) &&
	    !json_object_is_type(input, json_type_array))) {
		req_error(r, 400, "missing_field", "missing required field "
		    "'input' (a string or an array)");
		goto bad;
	}
	relay_start(r, body, &responses_hooks);
	return;
bad:
	json_object_put(body);
}

static int
embeddings_prepare(struct relay *rl)
{
	if (api_prepare_model(rl, "/embeddings", "/v1/embeddings", "-",
	    "-") != 0)
		return (-1);
	rl->client_stream = rl->upstream_stream = 0;
	return (0);
}

static void
embeddings_complete(struct relay *rl, const char *body, size_t len)
{
	struct json_object	*o;

	if ((o = api_parse_answer(rl, body, len)) == NULL)
		return;
	relay_note_usage(rl, api_get(o, "usage", json_type_object));
	json_object_put(o);
	relay_respond_upstream(rl);
}

static int
embeddings_event(struct relay *rl, const char *e, const char *d, size_t n)
{
	return (-1);
}

static void
embeddings_stream_end(struct relay *rl)
{
}

static void
embeddings_stream_error(struct relay *rl, const char *code, const char *msg)
{
}

static const struct relay_hooks embeddings_hooks = {
	.upath = "/embeddings",
	.prepare = embeddings_prepare,
	.event = embeddings_event,
	.stream_end = embeddings_stream_end,
	.stream_error = embeddings_stream_error,
	.complete = embeddings_complete,
};

void
api_openai_embeddings(struct req *r)
{
	struct json_object	*body, *input, *v;
	size_t			 i, n;

	if ((body = relay_parse_body(r)) == NULL)
		return;
	if (api_require_model(r, body) != 0)
		goto bad;
	if (!json_object_object_get_ex(body, "input", &input) ||
	    (!json_object_is_type(input, json_type_string) &&
	    !json_object_is_type(input, json_type_array))) {
		req_error(r, 400, "missing_field", "missing required field "
		    "'input' (a string or an array of strings)");
		goto bad;
	}
	if (json_object_is_type(input, json_type_array)) {
		n = json_object_array_length(input);
		if (n == 0) {
			req_error(r, 400, "invalid_field", "'input' must not be "
			    "empty");
			goto bad;
		}
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(input, i);
			if (!json_object_is_type(v, json_type_string) &&
			    !json_object_is_type(v, json_type_array)) {
				req_error(r, 400, "invalid_field", "'input[%zu]' "
				    "must be a string or an array of tokens", i);
				goto bad;
			}
		}
	}
	relay_start(r, body, &embeddings_hooks);
	return;
bad:
	json_object_put(body);
}

/* GET /v1/models: one request waiting for an account's model list. */
struct models_req {
	struct req		*req;
	struct account		*acct;
	struct models_waiter	 mw;
};

static void
models_req_abort_cb(struct req *r)
{
	struct models_req	*mr = r->ctx;

	models_cancel(mr->acct, &mr->mw);
	account_unref(mr->acct);
	free(mr);
	req_abandon(r);
}

static void
models_req_cb(struct account *a, void *arg, const char *err)
{
	struct models_req	*mr = arg;
	struct req		*r = mr->req;
	struct json_object	*o, *arr, *data, *m, *v, *e;
	const char		*p, *eq, *end;
	size_t			 i, n;
	char			*alias, *target;

	r->on_abort = NULL;
	r->ctx = NULL;
	if (err != NULL) {
		req_error(r, 502, "upstream_error", "cannot list the models of "
		    "account '%s': %s", a->sa.label, err);
		account_unref(a);
		free(mr);
		return;
	}
	arr = json_object_new_array();
	if (json_object_object_get_ex(a->models, "data", &data)) {
		n = json_object_array_length(data);
		for (i = 0; i < n; i++) {
			m = json_object_array_get_idx(data, i);
			/* A key sees only the models it may use. */
			if (r->key != NULL && json_object_object_get_ex(m, "id",
			    &v) && !keys_model_allowed(r->key->models,
			    json_object_get_string(v)))
				continue;
			e = NULL;
			if (json_object_deep_copy(m, &e, NULL) != 0 ||
			    !json_object_is_type(e, json_type_object)) {
				json_object_put(e);
				continue;
			}
			if (api_get(e, "object", json_type_string) == NULL)
				json_object_object_add(e, "object",
				    json_object_new_string("model"));
			if (api_get(e, "owned_by", json_type_string) == NULL)
				json_object_object_add(e, "owned_by",
				    json_object_new_string((v = api_get(e,
				    "vendor", json_type_string)) != NULL ?
				    json_object_get_string(v) : "github"));
			if (api_get(e, "created", json_type_int) == NULL)
				json_object_object_add(e, "created",
				    json_object_new_int64(0));
			json_object_array_add(arr, e);
		}
	}
	/* The configured aliases, as models of their own. */
	for (p = r->srv->cfg.model_aliases; p != NULL && *p != '\0';
	    p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			continue;
		alias = xstrndup(p, (size_t)(eq - p));
		target = xstrndup(eq + 1, (size_t)(end - eq - 1));
		if (r->key != NULL && !keys_model_allowed(r->key->models,
		    target)) {
			free(alias);
			free(target);
			continue;
		}
		e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string(alias));
		json_object_object_add(e, "object",
		    json_object_new_string("model"));
		json_object_object_add(e, "owned_by",
		    json_object_new_string("copilot-gw"));
		json_object_object_add(e, "created", json_object_new_int64(0));
		json_object_object_add(e, "alias_of",
		    json_object_new_string(target));
		if ((m = models_find(a, target)) != NULL &&
		    json_object_object_get_ex(m, "capabilities", &v))
			json_object_object_add(e, "capabilities",
			    json_object_get(v));
		json_object_array_add(arr, e);
		free(alias);
		free(target);
	}
	o = json_object_new_object();
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", arr);
	account_unref(a);
	free(mr);
	req_respond_json(r, 200, o);
}

/* GET /v1/models/{id}: one entry of the list, or 404. */
static void
model_req_cb(struct account *a, void *arg, const char *err)
{
	struct models_req	*mr = arg;
	struct req		*r = mr->req;
	struct json_object	*m, *e = NULL, *v;
	const char		*id = strrchr(r->path, '/') + 1;
	char			*name;

	r->on_abort = NULL;
	r->ctx = NULL;
	name = api_map_model(r->srv, id);
	m = err == NULL ? models_find(a, name) : NULL;
	if (m != NULL && (r->key == NULL ||
	    keys_model_allowed(r->key->models, name)) &&
	    json_object_deep_copy(m, &e, NULL) == 0) {
		if (strcmp(name, id) != 0)
			json_object_object_add(e, "alias_of",
			    json_object_new_string(name));
		json_object_object_add(e, "id", json_object_new_string(id));
		json_object_object_add(e, "object",
		    json_object_new_string("model"));
		if (api_get(e, "owned_by", json_type_string) == NULL)
			json_object_object_add(e, "owned_by",
			    json_object_new_string((v = api_get(e, "vendor",
			    json_type_string)) != NULL ?
			    json_object_get_string(v) : "github"));
		if (api_get(e, "created", json_type_int) == NULL)
			json_object_object_add(e, "created",
			    json_object_new_int64(0));
		req_respond_json(r, 200, e);
	} else if (err != NULL)
		req_error(r, 502, "upstream_error", "cannot list the models of "
		    "account '%s': %s", a->sa.label, err);
	else
		req_error(r, 404, "model_not_found", "no model '%s' for this "
		    "account: see GET /v1/models", id);
	free(name);
	account_unref(a);
	free(mr);
}

void
api_openai_model(struct req *r)
{
	struct models_req	*mr;
	struct account		*a;

	if (strchr(r->path + 1, '/') == NULL ||
	    strrchr(r->path, '/')[1] == '\0') {
		req_error(r, 404, "not_found", "no route for %s %s", r->method,
		    r->path);
		return;
	}
	if ((a = relay_account(r)) == NULL)
		return;
	mr = xcalloc(1, sizeof *mr);
	mr->req = r;
	mr->acct = a;
	account_ref(a);
	r->ctx = mr;
	r->on_abort = models_req_abort_cb;
	models_get(a, &mr->mw, model_req_cb, mr);
}

void
api_openai_models(struct req *r)
{
	struct models_req	*mr;
	struct account		*a;

	if ((a = relay_account(r)) == NULL)
		return;
	mr = xcalloc(1, sizeof *mr);
	mr->req = r;
	mr->acct = a;
	account_ref(a);
	r->ctx = mr;
	r->on_abort = models_req_abort_cb;
	models_get(a, &mr->mw, models_req_cb, mr);
}
