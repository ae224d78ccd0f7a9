/* SPDX-License-Identifier: ISC */
/*
 * api-anthropic: the Anthropic Messages dialect (/v1/messages and
 * /v1/messages/count_tokens), for Claude Code and editors. A model whose
 * supported_endpoints lists /v1/messages is served natively (the request
 * and its events pass through, keeping thinking blocks and signatures,
 * with the client's anthropic-beta), falling back to translation when the
 * native call is refused; any other model is translated to and from Chat
 * Completions: system, text, images, tool_use/tool_result in conversation
 * order, tools and tool_choice; answers with msg_ ids, content in
 * upstream order, stop reasons and usage; streams as a proper event
 * sequence. Claude Code's dated model ids are mapped by family and
 * version to what the account offers, never to an older version. Errors
 * are {"type":"error","error":{"type","message"}}. Proxy thread.
 */
#define _GNU_SOURCE	/* memmem */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "keys.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "upstream.h"
#include "xmalloc.h"

static struct json_object *
anth_get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, t))
		return (NULL);
	return (v);
}

static const char *
anth_str(struct json_object *o, const char *key)
{
	struct json_object	*v = anth_get(o, key, json_type_string);

	return (v != NULL ? json_object_get_string(v) : NULL);
}

struct json_object *
api_anthropic_error(int status, const char *message)
{
	struct json_object	*o, *e;
	const char		*type;

	switch (status) {
	case 400:
	case 405:
	case 408:
	case 415:
	case 417:
	case 422:
	case 431:
		type = "invalid_request_error";
		break;
	case 401:
		type = "authentication_error";
		break;
	case 403:
		type = "permission_error";
		break;
	case 404:
		type = "not_found_error";
		break;
	case 413:
		type = "request_too_large";
		break;
	case 429:
		type = "rate_limit_error";
		break;
	case 529:
		/* Not 503: ours mean "no account", not "overloaded". */
		type = "overloaded_error";
		break;
	default:
		type = status >= 500 ? "api_error" : "invalid_request_error";
		break;
	}
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(message));
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "error", e);
	return (o);
}

/*
 * Model names. Claude Code sends dated ids ("claude-sonnet-4-5-20250929"),
 * older forms ("claude-3-5-sonnet-20241022") and bare families
 * ("sonnet"); Copilot offers "claude-sonnet-4.5". The family and version
 * are read from the name and looked up in the account's list; a bare
 * family takes the newest version offered. Never an older version.
 */
static int64_t	anth_estimate(struct json_object *);

struct anth_name {
	char	 family[16];
	int	 major;		/* -1: none given */
	int	 minor;		/* -1: none given */
};

static int
anth_parse_name(const char *name, struct anth_name *n)
{
	char		 buf[128], *tok, *save = NULL;
	size_t		 len;
	int		 nums[2], nn = 0;

	memset(n, 0, sizeof *n);
	n->major = n->minor = -1;
	if (strlen(name) >= sizeof buf)
		return (-1);
	snprintf(buf, sizeof buf, "%s", name);
	for (tok = strtok_r(buf, "-.", &save); tok != NULL;
	    tok = strtok_r(NULL, "-.", &save)) {
		len = strlen(tok);
		if (strcmp(tok, "claude") == 0)
			continue;
		if (strcmp(tok, "opus") == 0 || strcmp(tok, "sonnet") == 0 ||
		    strcmp(tok, "haiku") == 0) {
			snprintf(n->family, sizeof n->family, "%s", tok);
			continue;
		}
		if (len >= 8 && strspn(tok, "0123456789") == len)
			continue;	/* a date */
		if (strcmp(tok, "latest") == 0)
			continue;
		if (len > 0 && len <= 2 && strspn(tok, "0123456789") == len &&
		    nn < 2) {
			nums[nn++] = atoi(tok);
			continue;
		}
		return (-1);
	}
	if (n->family[0] == '\0')
		return (-1);
	if (nn > 0)
		n->major = nums[0];
	if (nn > 1)
		n->minor = nums[1];
	return (0);
}

/*
 * Maps name to an id the account offers (owned), or NULL with *why set
 * (owned) listing what is available.
 */
static char *
anth_map_model(struct server *srv, struct account *a, const char *name,
    char **why)
{
	struct json_object	*data, *m, *v;
	struct anth_name	 want, have;
	struct buf		 avail;
	const char		*id, *best = NULL;
	char			 abuf[256];
	size_t			 i, n;
	int			 best_maj = -1, best_min = -1, maj, min;

	*why = NULL;
	if (strncmp(name, "github_copilot/", 15) == 0)
		name += 15;
	if ((id = config_alias_lookup(&srv->cfg, name, abuf,
	    sizeof abuf)) != NULL)
		return (xstrdup(id));
	if (a == NULL || models_find(a, name) != NULL)
		return (xstrdup(name));
	if (a->models == NULL ||
	    !json_object_object_get_ex(a->models, "data", &data))
		return (xstrdup(name));	/* no list: let Copilot judge */
	if (anth_parse_name(name, &want) != 0)
		goto unknown;
	n = json_object_array_length(data);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(data, i);
		if ((id = anth_str(m, "id")) == NULL ||
		    anth_parse_name(id, &have) != 0 ||
		    strcmp(have.family, want.family) != 0)
			continue;
		maj = have.major;
		min = have.minor < 0 ? 0 : have.minor;
		if (want.major >= 0 && (maj != want.major ||
		    (want.minor >= 0 && min != want.minor) ||
		    (want.minor < 0 && have.minor > 0 && 0)))
			continue;
		if (want.major >= 0 && want.minor < 0 && have.minor >= 0 &&
		    have.minor != 0)
			continue;	/* "sonnet-4" is 4.0, not 4.5 */
		if (maj > best_maj || (maj == best_maj && min > best_min)) {
			best = id;
			best_maj = maj;
			best_min = min;
		}
	}
	if (best != NULL)
		return (xstrdup(best));
unknown:
	buf_init(&avail, 8192);
	n = json_object_array_length(data);
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(data, i);
		if ((v = anth_get(m, "capabilities", json_type_object)) != NULL &&
		    anth_str(v, "type") != NULL &&
		    strcmp(anth_str(v, "type"), "chat") != 0)
			continue;
		if ((id = anth_str(m, "id")) != NULL)
			buf_addf(&avail, "%s%s", avail.len > 0 ? ", " : "", id);
	}
	*why = xasprintf("model '%s' is not available on this account; "
	    "available: %s", name, buf_str(&avail));
	buf_release(&avail);
	return (NULL);
}

static void	anth_agg_event(struct relay *, const char *,
		    struct json_object *);

/* Writes one Anthropic SSE event (or keeps it, in aggregate mode). */
static int
anth_event(struct relay *rl, const char *type, struct json_object *o)
{
	const char	*s;
	char		*ev;
	size_t		 len;
	int		 rc;

	if (rl->aggregate) {
		anth_agg_event(rl, type, o);
		return (0);
	}

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	ev = xasprintf("event: %s\ndata: %s\n\n", type, s);
	rc = relay_write(rl, ev, strlen(ev));
	free(ev);
	return (rc);
}

static void	anth_keepalive_start(struct relay *);

static void
anth_keepalive(struct relay *rl)
{
	static const char ping[] = "event: ping\ndata: {\"type\":\"ping\"}\n\n";

	/* Translation: message_start must come before any ping. */
	anth_keepalive_start(rl);
	relay_write(rl, ping, sizeof ping - 1);
}

static void
anth_stream_error(struct relay *rl, const char *code, const char *msg)
{
	struct json_object	*o;
	char			*text;

	if (rl->aggregate) {
		/* Nothing was sent: a plain error answer. */
		relay_fail(rl, 502, code, "the Copilot stream failed: %s",
		    msg);
		return;
	}
	text = xasprintf("the Copilot stream failed: %s", msg);
	log_scrub(text);
	o = api_anthropic_error(502, text);
	anth_event(rl, "error", o);
	json_object_put(o);
	free(text);
}

/* Native path: events pass through as they come. */
static int
native_event(struct relay *rl, const char *event, const char *data,
    size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o, *u, *msg;
	struct buf		 b;
	int			 rc;

	if (event != NULL && (strcmp(event, "message_delta") == 0 ||
	    strcmp(event, "message_start") == 0)) {
		tok = json_tokener_new();
		o = json_tokener_parse_ex(tok, data, (int)len);
		json_tokener_free(tok);
		if ((u = anth_get(o, "usage", json_type_object)) != NULL ||
		    ((msg = anth_get(o, "message", json_type_object)) != NULL &&
		    (u = anth_get(msg, "usage", json_type_object)) != NULL))
			relay_note_usage(rl, u);
		json_object_put(o);
		if (strcmp(event, "message_delta") == 0)
			rl->saw_finish = 1;
	}
	if (event != NULL && (strcmp(event, "message_stop") == 0 ||
	    strcmp(event, "error") == 0))
		rl->saw_done = 1;	/* Copilot's own end: add nothing */
	buf_init(&b, len + 64);
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
native_headers(struct relay *rl, struct upstream_xfer *x)
{
	const char	*v;

	v = req_header(rl->req, "anthropic-version");
	upstream_xfer_header(x, "anthropic-version", v != NULL ? v :
	    "2023-06-01");
	if ((v = req_header(rl->req, "anthropic-beta")) != NULL)
		upstream_xfer_header(x, "anthropic-beta", v);
}

/* Text of tool_result content: a string or an array of text blocks. */
static char *
anth_result_text(struct json_object *content)
{
	struct json_object	*b;
	struct buf		 out;
	const char		*t;
	size_t			 i, n;

	if (content == NULL)
		return (xstrdup(""));
	if (json_object_is_type(content, json_type_string))
		return (xstrdup(json_object_get_string(content)));
	buf_init(&out, 16 * 1024 * 1024);
	if (json_object_is_type(content, json_type_array)) {
		n = json_object_array_length(content);
		for (i = 0; i < n; i++) {
			b = json_object_array_get_idx(content, i);
			if ((t = anth_str(b, "text")) != NULL)
				buf_addf(&out, "%s%s", out.len > 0 ? "\n" : "",
				    t);
		}
	}
	return (buf_detach(&out, NULL));
}

/* An image block as an OpenAI image_url part, or NULL. */
static struct json_object *
anth_image_part(struct json_object *b)
{
	struct json_object	*src, *part, *iu;
	const char		*type, *mt, *data, *url;
	char			*s;

	if ((src = anth_get(b, "source", json_type_object)) == NULL ||
	    (type = anth_str(src, "type")) == NULL)
		return (NULL);
	if (strcmp(type, "base64") == 0 && (mt = anth_str(src,
	    "media_type")) != NULL && (data = anth_str(src, "data")) != NULL)
		s = xasprintf("data:%s;base64,%s", mt, data);
	else if (strcmp(type, "url") == 0 && (url = anth_str(src, "url")) !=
	    NULL)
		s = xstrdup(url);
	else
		return (NULL);
	iu = json_object_new_object();
	json_object_object_add(iu, "url", json_object_new_string(s));
	free(s);
	part = json_object_new_object();
	json_object_object_add(part, "type", json_object_new_string(
	    "image_url"));
	json_object_object_add(part, "image_url", iu);
	return (part);
}

/*
 * Adds the images of a tool_result (content, an array) to *out as parts,
 * after a text part naming the tool call. Returns how many.
 */
static int
anth_result_images(struct json_object *b, struct json_object *content,
    struct json_object **out)
{
	struct json_object	*blk, *img, *label;
	const char		*t, *id;
	char			*s;
	size_t			 i, n;
	int			 nimg = 0;

	if (content == NULL || !json_object_is_type(content, json_type_array))
		return (0);
	n = json_object_array_length(content);
	for (i = 0; i < n; i++) {
		blk = json_object_array_get_idx(content, i);
		if ((t = anth_str(blk, "type")) == NULL ||
		    strcmp(t, "image") != 0 ||
		    (img = anth_image_part(blk)) == NULL)
			continue;
		if (*out == NULL)
			*out = json_object_new_array();
		if (nimg++ == 0) {
			id = anth_str(b, "tool_use_id");
			s = xasprintf("Images returned by tool call %s:",
			    id != NULL ? id : "?");
			label = json_object_new_object();
			json_object_object_add(label, "type",
			    json_object_new_string("text"));
			json_object_object_add(label, "text",
			    json_object_new_string(s));
			free(s);
			json_object_array_add(*out, label);
		}
		json_object_array_add(*out, img);
	}
	return (nimg);
}

/* Appends {role, content: parts} if parts is not empty; takes parts. */
static void
anth_flush_user(struct json_object *msgs, struct json_object **parts)
{
	struct json_object	*m;

	if (*parts == NULL)
		return;
	if (json_object_array_length(*parts) == 0) {
		json_object_put(*parts);
		*parts = NULL;
		return;
	}
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", *parts);
	json_object_array_add(msgs, m);
	*parts = NULL;
}

/* Translates one Anthropic message into Chat messages (appended). */
static int
anth_message(struct relay *rl, struct json_object *msgs,
    struct json_object *am, char **why)
{
	struct json_object	*content, *b, *parts = NULL, *m, *tcs, *tc;
	struct json_object	*fn, *input, *img, *rimgs = NULL;
	const char		*role, *type, *t;
	struct buf		 text;
	size_t			 i, n;
	char			*rt;

	if ((role = anth_str(am, "role")) == NULL ||
	    (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
		*why = xstrdup("each message needs a role of \"user\" or "
		    "\"assistant\"");
		return (-1);
	}
	content = NULL;
	json_object_object_get_ex(am, "content", &content);
	if (content != NULL && json_object_is_type(content,
	    json_type_string)) {
		m = json_object_new_object();
		json_object_object_add(m, "role", json_object_new_string(role));
		json_object_object_add(m, "content", json_object_get(content));
		json_object_array_add(msgs, m);
		if (strcmp(role, "assistant") == 0)
			rl->agent = 1;
		return (0);
	}
	if (content == NULL || !json_object_is_type(content,
	    json_type_array)) {
		*why = xstrdup("message content must be a string or an array "
		    "of blocks");
		return (-1);
	}
	n = json_object_array_length(content);
	if (strcmp(role, "assistant") == 0) {
		rl->agent = 1;
		buf_init(&text, 64 * 1024 * 1024);
		tcs = json_object_new_array();
		for (i = 0; i < n; i++) {
			b = json_object_array_get_idx(content, i);
			if ((type = anth_str(b, "type")) == NULL)
				continue;
			if (strcmp(type, "text") == 0 &&
			    (t = anth_str(b, "text")) != NULL)
				buf_adds(&text, t);
			else if (strcmp(type, "tool_use") == 0) {
				fn = json_object_new_object();
				json_object_object_add(fn, "name",
				    json_object_new_string(anth_str(b, "name") ?
				    anth_str(b, "name") : ""));
				input = anth_get(b, "input", json_type_object);
				json_object_object_add(fn, "arguments",
				    json_object_new_string(input != NULL ?
				    json_object_to_json_string_ext(input,
				    JSON_C_TO_STRING_PLAIN) : "{}"));
				tc = json_object_new_object();
				json_object_object_add(tc, "id",
				    json_object_new_string(anth_str(b, "id") ?
				    anth_str(b, "id") : ""));
				json_object_object_add(tc, "type",
				    json_object_new_string("function"));
				json_object_object_add(tc, "function", fn);
				json_object_array_add(tcs, tc);
			}
			/* thinking blocks cannot cross the translation. */
		}
		m = json_object_new_object();
		json_object_object_add(m, "role",
		    json_object_new_string("assistant"));
		json_object_object_add(m, "content", text.len > 0 ?
		    json_object_new_string(buf_str(&text)) : NULL);
		if (json_object_array_length(tcs) > 0)
			json_object_object_add(m, "tool_calls", tcs);
		else
			json_object_put(tcs);
		json_object_array_add(msgs, m);
		buf_release(&text);
		return (0);
	}
	/*
	 * User content, in order: parts, tool results, parts again. A tool
	 * message carries only text, so the images of tool results (Claude
	 * Code's Read of a picture, a screenshot) follow the run of tool
	 * messages in a user message of their own.
	 */
	for (i = 0; i < n; i++) {
		b = json_object_array_get_idx(content, i);
		if ((type = anth_str(b, "type")) == NULL)
			continue;
		if (strcmp(type, "tool_result") != 0)
			anth_flush_user(msgs, &rimgs);
		if (strcmp(type, "tool_result") == 0) {
			anth_flush_user(msgs, &parts);
			rl->agent = 1;
			input = NULL;
			json_object_object_get_ex(b, "content", &input);
			rt = anth_result_text(input);
			if (anth_result_images(b, input, &rimgs) > 0) {
				char	*e = xasprintf("%s%s[the images this "
				    "tool returned follow in the next user "
				    "message]", rt, *rt != '\0' ? "\n" : "");

				free(rt);
				rt = e;
				rl->vision = 1;
			}
			m = json_object_new_object();
			json_object_object_add(m, "role",
			    json_object_new_string("tool"));
			json_object_object_add(m, "tool_call_id",
			    json_object_new_string(anth_str(b, "tool_use_id") ?
			    anth_str(b, "tool_use_id") : ""));
			if (anth_get(b, "is_error", json_type_boolean) != NULL &&
			    json_object_get_boolean(anth_get(b, "is_error",
			    json_type_boolean))) {
				char	*e = xasprintf("Error: %s", rt);

				free(rt);
				rt = e;
			}
			json_object_object_add(m, "content",
			    json_object_new_string(rt));
			free(rt);
			json_object_array_add(msgs, m);
			continue;
		}
		if (parts == NULL)
			parts = json_object_new_array();
		if (strcmp(type, "text") == 0 && (t = anth_str(b, "text")) !=
		    NULL) {
			m = json_object_new_object();
			json_object_object_add(m, "type",
			    json_object_new_string("text"));
			json_object_object_add(m, "text",
			    json_object_new_string(t));
			json_object_array_add(parts, m);
		} else if (strcmp(type, "image") == 0 &&
		    (img = anth_image_part(b)) != NULL) {
			json_object_array_add(parts, img);
			rl->vision = 1;
		}
	}
	anth_flush_user(msgs, &rimgs);
	anth_flush_user(msgs, &parts);
	return (0);
}

/* Builds the Chat Completions body from the Anthropic one. */
static struct json_object *
anth_to_chat(struct relay *rl, struct json_object *in, char **why)
{
	struct json_object	*out, *msgs, *sys, *arr, *b, *m, *tools, *t;
	struct json_object	*fn, *tc, *tchoice, *v, *md;
	struct buf		 stext;
	const char		*s, *type;
	size_t			 i, n;

	out = json_object_new_object();
	msgs = json_object_new_array();
	json_object_object_add(out, "model", json_object_new_string(rl->model));
	if (json_object_object_get_ex(in, "system", &sys)) {
		buf_init(&stext, 16 * 1024 * 1024);
		if (json_object_is_type(sys, json_type_string))
			buf_adds(&stext, json_object_get_string(sys));
		else if (json_object_is_type(sys, json_type_array)) {
			n = json_object_array_length(sys);
			for (i = 0; i < n; i++) {
				b = json_object_array_get_idx(sys, i);
				/* cache_control is simply not carried. */
				if ((s = anth_str(b, "text")) != NULL)
					buf_addf(&stext, "%s%s", stext.len > 0 ?
					    "\n\n" : "", s);
			}
		}
		if (stext.len > 0) {
			m = json_object_new_object();
			json_object_object_add(m, "role",
			    json_object_new_string("system"));
			json_object_object_add(m, "content",
			    json_object_new_string(buf_str(&stext)));
			json_object_array_add(msgs, m);
		}
		buf_release(&stext);
	}
	arr = anth_get(in, "messages", json_type_array);
	n = arr != NULL ? json_object_array_length(arr) : 0;
	for (i = 0; i < n; i++) {
		if (anth_message(rl, msgs, json_object_array_get_idx(arr, i),
		    why) != 0) {
			json_object_put(msgs);
			json_object_put(out);
			return (NULL);
		}
	}
	json_object_object_add(out, "messages", msgs);
	if ((tools = anth_get(in, "tools", json_type_array)) != NULL &&
	    json_object_array_length(tools) > 0) {
		arr = json_object_new_array();
		for (i = 0; i < json_object_array_length(tools); i++) {
			t = json_object_array_get_idx(tools, i);
			if ((s = anth_str(t, "name")) == NULL)
				continue;
			fn = json_object_new_object();
			json_object_object_add(fn, "name",
			    json_object_new_string(s));
			if ((s = anth_str(t, "description")) != NULL)
				json_object_object_add(fn, "description",
				    json_object_new_string(s));
			v = anth_get(t, "input_schema", json_type_object);
			json_object_object_add(fn, "parameters", v != NULL ?
			    json_object_get(v) : json_object_new_object());
			tc = json_object_new_object();
			json_object_object_add(tc, "type",
			    json_object_new_string("function"));
			json_object_object_add(tc, "function", fn);
			json_object_array_add(arr, tc);
		}
		json_object_object_add(out, "tools", arr);
	}
	if ((tchoice = anth_get(in, "tool_choice", json_type_object)) !=
	    NULL && (type = anth_str(tchoice, "type")) != NULL) {
		if (strcmp(type, "auto") == 0)
			json_object_object_add(out, "tool_choice",
			    json_object_new_string("auto"));
		else if (strcmp(type, "any") == 0)
			json_object_object_add(out, "tool_choice",
			    json_object_new_string("required"));
		else if (strcmp(type, "none") == 0)
			json_object_object_add(out, "tool_choice",
			    json_object_new_string("none"));
		else if (strcmp(type, "tool") == 0 &&
		    (s = anth_str(tchoice, "name")) != NULL) {
			fn = json_object_new_object();
			json_object_object_add(fn, "name",
			    json_object_new_string(s));
			tc = json_object_new_object();
			json_object_object_add(tc, "type",
			    json_object_new_string("function"));
			json_object_object_add(tc, "function", fn);
			json_object_object_add(out, "tool_choice", tc);
		}
		if ((v = anth_get(tchoice, "disable_parallel_tool_use",
		    json_type_boolean)) != NULL && json_object_get_boolean(v))
			json_object_object_add(out, "parallel_tool_calls",
			    json_object_new_boolean(0));
	}
	if ((v = anth_get(in, "max_tokens", json_type_int)) != NULL)
		json_object_object_add(out, "max_tokens", json_object_get(v));
	if ((v = anth_get(in, "temperature", json_type_double)) != NULL ||
	    (v = anth_get(in, "temperature", json_type_int)) != NULL)
		json_object_object_add(out, "temperature", json_object_get(v));
	if ((v = anth_get(in, "top_p", json_type_double)) != NULL ||
	    (v = anth_get(in, "top_p", json_type_int)) != NULL)
		json_object_object_add(out, "top_p", json_object_get(v));
	/* stop_sequences are matched by the gateway (anth_text_feed). */
	if ((md = anth_get(in, "metadata", json_type_object)) != NULL &&
	    (s = anth_str(md, "user_id")) != NULL)
		json_object_object_add(out, "user", json_object_new_string(s));
	/* top_k has no Chat Completions counterpart; other fields dropped. */
	if (rl->client_stream || rl->aggregate) {
		json_object_object_add(out, "stream",
		    json_object_new_boolean(1));
		v = json_object_new_object();
		json_object_object_add(v, "include_usage",
		    json_object_new_boolean(1));
		json_object_object_add(out, "stream_options", v);
	}
	return (out);
}

/* Streaming translation state. */
struct anth_block {
	int		 tool;		/* 0 text, 1 tool_use */
	int		 choice;
	int		 index;		/* tool call index in its choice */
	char		*id;
	char		*name;
	struct buf	 data;		/* text, or argument JSON */
};

struct anth_stream {
	int			 started;	/* message_start sent */
	int			 open;		/* a text block is open live */
	int			 nsent;		/* blocks emitted so far */
	int			 buffering;	/* since the first tool call */
	struct anth_block	*blocks;
	size_t			 nblocks;
	char			*finish;
	char			 msg_id[64];
	size_t			 out_chars;	/* text and arguments sent */

	/*
	 * Stop sequences are matched here, not upstream: Copilot's Chat
	 * Completions strips the sequence and says only "stop", so the
	 * client could not be told which one matched (or that one did).
	 * Live text is held back by up to the longest sequence less one
	 * byte so that a sequence split across chunks is still found.
	 */
	struct json_object	*stops;		/* client's array, borrowed */
	size_t			 stop_max;	/* longest, in bytes */
	struct buf		 hold;		/* live text not yet sent */

	/* Aggregate mode: the message being built from the events. */
	struct json_object	*agg;
	struct buf		*agg_data;	/* per block index */
	size_t			 nagg;
};

static void
anth_stream_free(void *p)
{
	struct anth_stream	*st = p;
	size_t			 i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nblocks; i++) {
		free(st->blocks[i].id);
		free(st->blocks[i].name);
		buf_release(&st->blocks[i].data);
	}
	free(st->blocks);
	free(st->finish);
	buf_release(&st->hold);
	json_object_put(st->agg);
	for (i = 0; i < st->nagg; i++)
		buf_release(&st->agg_data[i]);
	free(st->agg_data);
	free(st);
}

static struct anth_block *
anth_block_add(struct anth_stream *st, int tool, int choice, int index)
{
	struct anth_block	*b;

	st->blocks = xreallocarray(st->blocks, st->nblocks + 1,
	    sizeof *st->blocks);
	b = &st->blocks[st->nblocks++];
	memset(b, 0, sizeof *b);
	b->tool = tool;
	b->choice = choice;
	b->index = index;
	buf_init(&b->data, 64 * 1024 * 1024);
	return (b);
}

static const char *
anth_stop_reason(const char *finish)
{
	if (finish == NULL || strcmp(finish, "stop") == 0)
		return ("end_turn");
	if (strcmp(finish, "length") == 0)
		return ("max_tokens");
	if (strcmp(finish, "tool_calls") == 0 ||
	    strcmp(finish, "function_call") == 0)
		return ("tool_use");
	if (strcmp(finish, "content_filter") == 0)
		return ("refusal");
	return ("end_turn");
}

/* Anthropic usage from OpenAI usage. */
static struct json_object *
anth_usage(struct json_object *u)
{
	struct json_object	*o, *v, *d;
	int64_t			 in = 0, out = 0, cached = 0;

	if (u != NULL) {
		if ((v = anth_get(u, "prompt_tokens", json_type_int)) != NULL)
			in = json_object_get_int64(v);
		if ((v = anth_get(u, "completion_tokens", json_type_int)) !=
		    NULL)
			out = json_object_get_int64(v);
		if ((d = anth_get(u, "prompt_tokens_details",
		    json_type_object)) != NULL && (v = anth_get(d,
		    "cached_tokens", json_type_int)) != NULL)
			cached = json_object_get_int64(v);
	}
	o = json_object_new_object();
	json_object_object_add(o, "input_tokens", json_object_new_int64(
	    in - cached > 0 ? in - cached : 0));
	json_object_object_add(o, "output_tokens", json_object_new_int64(out));
	json_object_object_add(o, "cache_read_input_tokens",
	    json_object_new_int64(cached));
	json_object_object_add(o, "cache_creation_input_tokens",
	    json_object_new_int64(0));
	return (o);
}

static void
anth_msg_id(struct relay *rl, char *out, size_t len, const char *from)
{
	unsigned char	 r[12];
	size_t		 i;

	(void)rl;
	if (from != NULL && *from != '\0' && strlen(from) < 48) {
		snprintf(out, len, "msg_%s", strncmp(from, "chatcmpl-", 9) ==
		    0 ? from + 9 : from);
		return;
	}
	rnd_bytes(r, sizeof r);
	snprintf(out, len, "msg_");
	for (i = 0; i < sizeof r && 4 + 2 * i + 2 < len; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", r[i]);
}

/* The dialect's per-request state. */
struct anth_ctx {
	struct json_object	*orig;		/* the client's body */
	int			 native;
	int			 fallback;	/* native refused; translated */
	struct anth_stream	*st;
};

static void
anth_ctx_free(void *p)
{
	struct anth_ctx	*c = p;

	if (c == NULL)
		return;
	json_object_put(c->orig);
	anth_stream_free(c->st);
	free(c);
}

/*
 * Aggregate mode: applies one event of the answer to the message being
 * built, as a client's stream accumulator would. Only translation
 * events come here (the gateway's own, well formed).
 */
static void
anth_agg_event(struct relay *rl, const char *type, struct json_object *o)
{
	struct anth_ctx		*c = rl->dctx;
	struct anth_stream	*st = c->st;
	struct json_object	*content, *blk, *d, *v, *input;
	const char		*dt, *s;
	size_t			 idx;

	if (strcmp(type, "message_start") == 0) {
		json_object_put(st->agg);
		st->agg = json_object_get(anth_get(o, "message",
		    json_type_object));
		return;
	}
	if (st->agg == NULL || (content = anth_get(st->agg, "content",
	    json_type_array)) == NULL)
		return;
	if (strcmp(type, "message_delta") == 0) {
		if ((d = anth_get(o, "delta", json_type_object)) != NULL) {
			json_object_object_foreach(d, key, val)
				json_object_object_add(st->agg, key,
				    json_object_get(val));
		}
		if ((v = anth_get(o, "usage", json_type_object)) != NULL)
			json_object_object_add(st->agg, "usage",
			    json_object_get(v));
		return;
	}
	v = anth_get(o, "index", json_type_int);
	idx = v != NULL ? (size_t)json_object_get_int(v) : 0;
	if (strcmp(type, "content_block_start") == 0) {
		if ((blk = anth_get(o, "content_block", json_type_object)) ==
		    NULL || idx != json_object_array_length(content))
			return;
		json_object_array_add(content, json_object_get(blk));
		if (idx >= st->nagg) {
			st->agg_data = xreallocarray(st->agg_data, idx + 1,
			    sizeof *st->agg_data);
			for (; st->nagg <= idx; st->nagg++)
				buf_init(&st->agg_data[st->nagg],
				    64 * 1024 * 1024);
		}
		return;
	}
	if (idx >= st->nagg || (blk = json_object_array_get_idx(content,
	    idx)) == NULL)
		return;
	if (strcmp(type, "content_block_delta") == 0) {
		d = anth_get(o, "delta", json_type_object);
		if ((dt = anth_str(d, "type")) == NULL)
			return;
		if (strcmp(dt, "text_delta") == 0 &&
		    (s = anth_str(d, "text")) != NULL)
			buf_adds(&st->agg_data[idx], s);
		else if (strcmp(dt, "input_json_delta") == 0 &&
		    (s = anth_str(d, "partial_json")) != NULL)
			buf_adds(&st->agg_data[idx], s);
		return;
	}
	if (strcmp(type, "content_block_stop") == 0) {
		if ((dt = anth_str(blk, "type")) != NULL &&
		    strcmp(dt, "tool_use") == 0) {
			/* Checked before it was emitted. */
			input = json_tokener_parse(st->agg_data[idx].len > 0 ?
			    buf_str(&st->agg_data[idx]) : "{}");
			json_object_object_add(blk, "input", input != NULL ?
			    input : json_object_new_object());
		} else
			json_object_object_add(blk, "text",
			    json_object_new_string_len(st->agg_data[idx].len >
			    0 ? st->agg_data[idx].data : "",
			    (int)st->agg_data[idx].len));
		buf_release(&st->agg_data[idx]);
		return;
	}
}

static void
anth_start(struct relay *rl, struct anth_stream *st)
{
	struct json_object	*o, *m, *u;

	if (st->started)
		return;
	st->started = 1;
	if (st->msg_id[0] == '\0')
		anth_msg_id(rl, st->msg_id, sizeof st->msg_id, rl->chunk_id);
	m = json_object_new_object();
	json_object_object_add(m, "id", json_object_new_string(st->msg_id));
	json_object_object_add(m, "type", json_object_new_string("message"));
	json_object_object_add(m, "role", json_object_new_string("assistant"));
	json_object_object_add(m, "model", json_object_new_string(
	    rl->client_model));
	json_object_object_add(m, "content", json_object_new_array());
	json_object_object_add(m, "stop_reason", NULL);
	json_object_object_add(m, "stop_sequence", NULL);
	u = json_object_new_object();
	json_object_object_add(u, "input_tokens", json_object_new_int64(0));
	json_object_object_add(u, "output_tokens", json_object_new_int64(0));
	json_object_object_add(m, "usage", u);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(
	    "message_start"));
	json_object_object_add(o, "message", m);
	anth_event(rl, "message_start", o);
	json_object_put(o);
}

/* content_block_start / _delta / _stop helpers. */
static void
anth_block_event(struct relay *rl, const char *type, int index,
    const char *key, struct json_object *val)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "index", json_object_new_int(index));
	if (key != NULL)
		json_object_object_add(o, key, val);
	anth_event(rl, type, o);
	json_object_put(o);
}

static struct json_object *
anth_delta(const char *type, const char *key, const char *text, size_t len)
{
	struct json_object	*d = json_object_new_object();

	json_object_object_add(d, "type", json_object_new_string(type));
	json_object_object_add(d, key, json_object_new_string_len(text,
	    (int)len));
	return (d);
}

static void
anth_text_live(struct relay *rl, struct anth_stream *st, const char *t,
    size_t len)
{
	struct json_object	*cb;

	if (!st->open) {
		cb = json_object_new_object();
		json_object_object_add(cb, "type", json_object_new_string(
		    "text"));
		json_object_object_add(cb, "text", json_object_new_string(""));
		anth_block_event(rl, "content_block_start", st->nsent,
		    "content_block", cb);
		st->open = 1;
	}
	anth_block_event(rl, "content_block_delta", st->nsent, "delta",
	    anth_delta("text_delta", "text", t, len));
	st->out_chars += len;
}

/*
 * Returns the first stop sequence found in s[0..len) and its offset in
 * *at, or NULL. The earliest match wins; at one offset, the longest.
 */
static const char *
anth_stop_find(struct anth_stream *st, const char *s, size_t len,
    size_t *at)
{
	const char	*seq, *best = NULL, *p;
	size_t		 i, n, slen, off;

	n = st->stops != NULL ? json_object_array_length(st->stops) : 0;
	for (i = 0; i < n; i++) {
		seq = json_object_get_string(json_object_array_get_idx(
		    st->stops, i));
		if (seq == NULL || (slen = strlen(seq)) == 0 || slen > len)
			continue;
		if ((p = memmem(s, len, seq, slen)) == NULL)
			continue;
		off = (size_t)(p - s);
		if (best == NULL || off < *at || (off == *at &&
		    slen > strlen(best))) {
			best = seq;
			*at = off;
		}
	}
	return (best);
}

/* Sends the held-back live text. */
static void
anth_hold_flush(struct relay *rl, struct anth_stream *st)
{
	if (st->hold.len == 0)
		return;
	anth_text_live(rl, st, st->hold.data, st->hold.len);
	buf_consume(&st->hold, st->hold.len);
}

/*
 * Live text through the stop sequences: returns the sequence that
 * matched (the text before it was sent, nothing after), or NULL.
 */
static const char *
anth_text_feed(struct relay *rl, struct anth_stream *st, const char *t,
    size_t len)
{
	const char	*seq;
	size_t		 at = 0, keep, send;

	if (st->stop_max == 0) {
		anth_text_live(rl, st, t, len);
		return (NULL);
	}
	buf_add(&st->hold, t, len);
	if ((seq = anth_stop_find(st, st->hold.data, st->hold.len, &at)) !=
	    NULL) {
		if (at > 0)
			anth_text_live(rl, st, st->hold.data, at);
		buf_consume(&st->hold, st->hold.len);
		return (seq);
	}
	/* Keep what could be the start of a sequence; whole characters. */
	keep = st->stop_max - 1;
	if (st->hold.len <= keep)
		return (NULL);
	send = st->hold.len - keep;
	while (send > 0 && ((unsigned char)st->hold.data[send] & 0xc0) ==
	    0x80)
		send--;
	if (send > 0) {
		anth_text_live(rl, st, st->hold.data, send);
		buf_consume(&st->hold, send);
	}
	return (NULL);
}

static void
anth_close_live(struct relay *rl, struct anth_stream *st)
{
	anth_hold_flush(rl, st);
	if (!st->open)
		return;
	anth_block_event(rl, "content_block_stop", st->nsent, NULL, NULL);
	st->open = 0;
	st->nsent++;
}

/* Emits one buffered block: start, its content, stop. 0 or -1 (bad JSON). */
static int
anth_emit_block(struct relay *rl, struct anth_stream *st,
    struct anth_block *b)
{
	struct json_object	*cb, *parsed;
	const char		*args;

	if (!b->tool && b->data.len == 0)
		return (0);
	if (b->tool) {
		args = b->data.len > 0 ? buf_str(&b->data) : "{}";
		parsed = json_tokener_parse(args);
		if (parsed == NULL || !json_object_is_type(parsed,
		    json_type_object)) {
			json_object_put(parsed);
			return (-1);
		}
		json_object_put(parsed);
		cb = json_object_new_object();
		json_object_object_add(cb, "type", json_object_new_string(
		    "tool_use"));
		json_object_object_add(cb, "id", json_object_new_string(
		    b->id != NULL ? b->id : ""));
		json_object_object_add(cb, "name", json_object_new_string(
		    b->name != NULL ? b->name : ""));
		json_object_object_add(cb, "input", json_object_new_object());
		anth_block_event(rl, "content_block_start", st->nsent,
		    "content_block", cb);
		anth_block_event(rl, "content_block_delta", st->nsent, "delta",
		    anth_delta("input_json_delta", "partial_json", args,
		    strlen(args)));
		st->out_chars += strlen(args);
	} else {
		cb = json_object_new_object();
		json_object_object_add(cb, "type", json_object_new_string(
		    "text"));
		json_object_object_add(cb, "text", json_object_new_string(""));
		anth_block_event(rl, "content_block_start", st->nsent,
		    "content_block", cb);
		anth_block_event(rl, "content_block_delta", st->nsent, "delta",
		    anth_delta("text_delta", "text", b->data.data, b->data.len));
		st->out_chars += b->data.len;
	}
	anth_block_event(rl, "content_block_stop", st->nsent, NULL, NULL);
	st->nsent++;
	return (0);
}

static void	anth_stop_matched(struct relay *, struct anth_stream *,
		    const char *);

/* Translation: one Chat Completions chunk in, Anthropic events out. */
static int
trans_event(struct relay *rl, struct anth_stream *st, const char *data,
    size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o, *choices, *c, *delta, *tcs, *tc, *fn, *v;
	struct anth_block	*b;
	const char		*text, *fin, *seq;
	size_t			 i, j, k;
	int			 ci, ti;

	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		rl->saw_done = 1;
		return (0);
	}
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, data, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return (0);
	}
	if ((v = anth_get(o, "usage", json_type_object)) != NULL)
		relay_note_usage(rl, v);
	if (rl->chunk_id == NULL && (text = anth_str(o, "id")) != NULL)
		rl->chunk_id = xstrdup(text);
	choices = anth_get(o, "choices", json_type_array);
	if (choices == NULL || json_object_array_length(choices) == 0) {
		json_object_put(o);
		return (0);
	}
	anth_start(rl, st);
	for (i = 0; i < json_object_array_length(choices); i++) {
		c = json_object_array_get_idx(choices, i);
		ci = (v = anth_get(c, "index", json_type_int)) != NULL ?
		    json_object_get_int(v) : (int)i;
		delta = anth_get(c, "delta", json_type_object);
		if ((text = anth_str(delta, "content")) != NULL &&
		    *text != '\0') {
			if (!st->buffering && ci == 0) {
				if ((seq = anth_text_feed(rl, st, text,
				    strlen(text))) != NULL) {
					json_object_put(o);
					anth_stop_matched(rl, st, seq);
					return (-1);
				}
			} else {
				b = st->nblocks > 0 ?
				    &st->blocks[st->nblocks - 1] : NULL;
				if (b == NULL || b->tool || b->choice != ci)
					b = anth_block_add(st, 0, ci, -1);
				buf_adds(&b->data, text);
			}
		}
		tcs = anth_get(delta, "tool_calls", json_type_array);
		for (j = 0; tcs != NULL && j < json_object_array_length(tcs);
		    j++) {
			tc = json_object_array_get_idx(tcs, j);
			ti = (v = anth_get(tc, "index", json_type_int)) != NULL ?
			    json_object_get_int(v) : (int)j;
			b = NULL;
			for (k = 0; k < st->nblocks; k++)
				if (st->blocks[k].tool &&
				    st->blocks[k].choice == ci &&
				    st->blocks[k].index == ti)
					b = &st->blocks[k];
			if (b == NULL) {
				anth_close_live(rl, st);
				st->buffering = 1;
				b = anth_block_add(st, 1, ci, ti);
			}
			if (b->id == NULL && (text = anth_str(tc, "id")) != NULL)
				b->id = xstrdup(text);
			fn = anth_get(tc, "function", json_type_object);
			if (b->name == NULL && (text = anth_str(fn, "name")) !=
			    NULL)
				b->name = xstrdup(text);
			if ((text = anth_str(fn, "arguments")) != NULL)
				buf_adds(&b->data, text);
		}
		if ((fin = anth_str(c, "finish_reason")) != NULL) {
			rl->saw_finish = 1;
			if (st->finish == NULL ||
			    strcmp(fin, "tool_calls") == 0) {
				free(st->finish);
				st->finish = xstrdup(fin);
			}
		}
	}
	json_object_put(o);
	return (0);
}

static int
anth_event_cb(struct relay *rl, const char *event, const char *data,
    size_t len)
{
	struct anth_ctx	*c = rl->dctx;

	if (c->native)
		return (native_event(rl, event, data, len));
	return (trans_event(rl, c->st, data, len));
}

/*
 * Ends the translated answer: the held and buffered blocks (a stop
 * sequence in a buffered text block cuts it and drops what follows),
 * message_delta with the stop reason and usage, message_stop. seq is a
 * stop sequence already matched in the live text, or NULL. Returns -1
 * after an error event (or answer).
 */
static int
anth_finish(struct relay *rl, struct anth_stream *st, const char *seq)
{
	struct json_object	*o, *d, *u, *v;
	struct anth_block	*b;
	size_t			 i, at = 0;

	anth_start(rl, st);
	anth_close_live(rl, st);
	for (i = 0; seq == NULL && i < st->nblocks; i++) {
		b = &st->blocks[i];
		if (!b->tool && (seq = anth_stop_find(st, b->data.data,
		    b->data.len, &at)) != NULL) {
			b->data.len = at;
			st->nblocks = i + 1;	/* the rest is dropped */
		}
		if (anth_emit_block(rl, st, b) != 0) {
			anth_stream_error(rl, "invalid_tool_arguments", "the "
			    "model produced tool arguments that are not a JSON "
			    "object");
			return (-1);
		}
	}
	d = json_object_new_object();
	json_object_object_add(d, "stop_reason", json_object_new_string(
	    seq != NULL ? "stop_sequence" : anth_stop_reason(st->finish)));
	json_object_object_add(d, "stop_sequence", seq != NULL ?
	    json_object_new_string(seq) : NULL);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(
	    "message_delta"));
	json_object_object_add(o, "delta", d);
	u = anth_usage(rl->usage);
	if (rl->out_tokens < 0) {
		/*
		 * Cut before Copilot's usage chunk: estimate what was sent,
		 * and count it, so that tokens/min limits still see it.
		 */
		rl->out_tokens = (int64_t)(st->out_chars / 3 + 1);
		json_object_object_add(u, "output_tokens",
		    json_object_new_int64(rl->out_tokens));
		if (rl->in_tokens < 0 && rl->est_prompt > 0) {
			rl->in_tokens = rl->est_prompt;
			json_object_object_add(u, "input_tokens",
			    json_object_new_int64(rl->in_tokens));
		}
	} else if ((v = anth_get(u, "output_tokens", json_type_int)) ==
	    NULL || json_object_get_int64(v) == 0)
		json_object_object_add(u, "output_tokens",
		    json_object_new_int64(rl->out_tokens));
	json_object_object_add(o, "usage", u);
	anth_event(rl, "message_delta", o);
	json_object_put(o);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(
	    "message_stop"));
	anth_event(rl, "message_stop", o);
	json_object_put(o);
	return (0);
}

/*
 * Ends the relay after anth_finish: answers the aggregated message, or
 * ends the stream. This frees st (with the relay's dialect state).
 */
static void
anth_answer(struct relay *rl, struct anth_stream *st)
{
	struct json_object	*msg;

	if (!rl->aggregate) {
		relay_stream_finish(rl);
		return;
	}
	msg = st->agg;
	st->agg = NULL;
	if (msg == NULL)
		relay_fail(rl, 502, "upstream_invalid", "the Copilot stream "
		    "ended without a message");
	else
		relay_respond_json(rl, 200, msg);
}

/*
 * A stop sequence matched in the live text: the answer ends here and the
 * upstream transfer is cancelled (the event hook returns -1).
 */
static void
anth_stop_matched(struct relay *rl, struct anth_stream *st, const char *seq)
{
	if (anth_finish(rl, st, seq) != 0) {
		relay_stream_finish(rl);	/* after the error event */
		return;
	}
	anth_answer(rl, st);
}

static void
anth_stream_end(struct relay *rl)
{
	struct anth_ctx		*c = rl->dctx;
	struct anth_stream	*st = c->st;

	if (c->native) {
		if (!rl->saw_done)
			anth_stream_error(rl, "upstream_incomplete", "the "
			    "stream ended before message_stop");
		return;
	}
	if (!rl->saw_finish) {
		anth_stream_error(rl, "upstream_incomplete", "the stream ended "
		    "before the answer was complete");
		return;
	}
	if (anth_finish(rl, st, NULL) == 0 && rl->aggregate)
		anth_answer(rl, st);
}

/* Non-stream translation: a chat.completion becomes a message. */
static void
anth_complete(struct relay *rl, const char *body, size_t len)
{
	struct anth_ctx		*c = rl->dctx;
	struct json_tokener	*tok;
	struct json_object	*o, *out, *content, *choices, *ch, *msg, *tcs;
	struct json_object	*tc, *fn, *blk, *input, *v;
	const char		*text, *fin = NULL, *args;
	char			 id[64];
	size_t			 i, j;

	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		relay_fail(rl, 502, "upstream_invalid", "the Copilot API "
		    "answered with something that is not JSON");
		return;
	}
	if (c->native) {
		if ((v = anth_get(o, "usage", json_type_object)) != NULL)
			relay_note_usage(rl, v);
		json_object_put(o);
		relay_respond_upstream(rl);
		return;
	}
	relay_note_usage(rl, anth_get(o, "usage", json_type_object));
	content = json_object_new_array();
	choices = anth_get(o, "choices", json_type_array);
	for (i = 0; choices != NULL && i < json_object_array_length(choices);
	    i++) {
		ch = json_object_array_get_idx(choices, i);
		msg = anth_get(ch, "message", json_type_object);
		if ((text = anth_str(msg, "content")) != NULL && *text != '\0') {
			blk = json_object_new_object();
			json_object_object_add(blk, "type",
			    json_object_new_string("text"));
			json_object_object_add(blk, "text",
			    json_object_new_string(text));
			json_object_array_add(content, blk);
		}
		tcs = anth_get(msg, "tool_calls", json_type_array);
		for (j = 0; tcs != NULL && j < json_object_array_length(tcs);
		    j++) {
			tc = json_object_array_get_idx(tcs, j);
			fn = anth_get(tc, "function", json_type_object);
			args = anth_str(fn, "arguments");
			input = json_tokener_parse(args != NULL && *args !=
			    '\0' ? args : "{}");
			if (input == NULL || !json_object_is_type(input,
			    json_type_object)) {
				json_object_put(input);
				json_object_put(content);
				/* The name lives in o: report before freeing. */
				relay_fail(rl, 502, "invalid_tool_arguments",
				    "the model produced arguments for tool "
				    "'%s' that are not a JSON object",
				    anth_str(fn, "name") != NULL ?
				    anth_str(fn, "name") : "?");
				json_object_put(o);
				return;
			}
			blk = json_object_new_object();
			json_object_object_add(blk, "type",
			    json_object_new_string("tool_use"));
			json_object_object_add(blk, "id", json_object_new_string(
			    anth_str(tc, "id") != NULL ? anth_str(tc, "id") :
			    ""));
			json_object_object_add(blk, "name",
			    json_object_new_string(anth_str(fn, "name") !=
			    NULL ? anth_str(fn, "name") : ""));
			json_object_object_add(blk, "input", input);
			json_object_array_add(content, blk);
		}
		if ((text = anth_str(ch, "finish_reason")) != NULL &&
		    (fin == NULL || strcmp(text, "tool_calls") == 0))
			fin = text;
	}
	anth_msg_id(rl, id, sizeof id, anth_str(o, "id"));
	out = json_object_new_object();
	json_object_object_add(out, "id", json_object_new_string(id));
	json_object_object_add(out, "type", json_object_new_string("message"));
	json_object_object_add(out, "role", json_object_new_string(
	    "assistant"));
	json_object_object_add(out, "model", json_object_new_string(
	    rl->client_model));
	json_object_object_add(out, "content", content);
	json_object_object_add(out, "stop_reason", json_object_new_string(
	    anth_stop_reason(fin)));
	json_object_object_add(out, "stop_sequence", NULL);
	json_object_object_add(out, "usage", anth_usage(anth_get(o, "usage",
	    json_type_object)));
	json_object_put(o);
	relay_respond_json(rl, 200, out);
}

/* Switches a request to translation; 0, or -1 after answering 400. */
static int
anth_translate(struct relay *rl, struct anth_ctx *c)
{
	struct json_object	*chat, *stops;
	const char		*s;
	char			*why = NULL;
	size_t			 i;

	/*
	 * Stop sequences are matched here, on a stream: a non-stream
	 * request with some streams from Copilot and is answered whole,
	 * so that Copilot stops as soon as one matches.
	 */
	stops = anth_get(c->orig, "stop_sequences", json_type_array);
	if (stops != NULL && json_object_array_length(stops) == 0)
		stops = NULL;
	if (stops != NULL && !rl->client_stream)
		rl->aggregate = 1;
	if ((chat = anth_to_chat(rl, c->orig, &why)) == NULL) {
		relay_fail(rl, 400, "invalid_request", "%s", why);
		free(why);
		return (-1);
	}
	json_object_put(rl->body);
	rl->body = chat;
	rl->upath = "/chat/completions";
	rl->upstream_stream = rl->client_stream || rl->aggregate;
	c->native = 0;
	if (c->st == NULL) {
		c->st = xcalloc(1, sizeof *c->st);
		c->st->stops = stops;
		for (i = 0; stops != NULL &&
		    i < json_object_array_length(stops); i++) {
			s = json_object_get_string(json_object_array_get_idx(
			    stops, i));
			if (s != NULL && strlen(s) > c->st->stop_max)
				c->st->stop_max = strlen(s);
		}
		buf_init(&c->st->hold, 64 * 1024 * 1024);
	}
	return (0);
}

static int
anth_prepare(struct relay *rl)
{
	struct anth_ctx		*c;
	struct json_object	*m, *msgs, *am, *content, *b;
	const char		*name, *t;
	char			*mapped, *why = NULL;
	size_t			 i, j;

	c = xcalloc(1, sizeof *c);
	rl->dctx = c;
	rl->dctx_free = anth_ctx_free;
	c->orig = json_object_get(rl->body);
	name = anth_str(rl->body, "model");
	rl->client_model = xstrdup(name);
	rl->est_prompt = anth_estimate(rl->body);
	if ((mapped = anth_map_model(rl->srv, rl->acct, name, &why)) == NULL) {
		relay_fail(rl, 404, "model_not_found", "%s", why);
		free(why);
		return (-1);
	}
	rl->model = mapped;
	if (rl->req->key != NULL &&
	    !keys_model_allowed(rl->req->key->models, rl->model)) {
		relay_fail(rl, 403, "model_not_allowed", "model '%s' is not "
		    "allowed for key '%s' (allowed: %s)", rl->model,
		    rl->req->key->id, rl->req->key->models);
		return (-1);
	}
	rl->client_stream = anth_get(rl->body, "stream", json_type_boolean) !=
	    NULL && json_object_get_boolean(anth_get(rl->body, "stream",
	    json_type_boolean));
	/* Vision and initiator, read from the Anthropic shape. */
	msgs = anth_get(rl->body, "messages", json_type_array);
	for (i = 0; msgs != NULL && i < json_object_array_length(msgs); i++) {
		am = json_object_array_get_idx(msgs, i);
		if ((t = anth_str(am, "role")) != NULL &&
		    strcmp(t, "assistant") == 0)
			rl->agent = 1;
		content = anth_get(am, "content", json_type_array);
		for (j = 0; content != NULL &&
		    j < json_object_array_length(content); j++) {
			b = json_object_array_get_idx(content, j);
			if ((t = anth_str(b, "type")) == NULL)
				continue;
			if (strcmp(t, "image") == 0)
				rl->vision = 1;
			if (strcmp(t, "tool_result") == 0)
				rl->agent = 1;
		}
	}
	m = models_find(rl->acct, rl->model);
	if (models_supports_endpoint(m, "/v1/messages") == 1) {
		c->native = 1;
		rl->upath = "/v1/messages";
		json_object_object_add(rl->body, "model",
		    json_object_new_string(rl->model));
		rl->upstream_stream = rl->client_stream;
		return (0);
	}
	return (anth_translate(rl, c));
}

/* The native endpoint refused the request: translate it instead. */
static int
anth_retry(struct relay *rl, int status, const char *body, size_t len)
{
	struct anth_ctx	*c = rl->dctx;

	if (c == NULL || !c->native || c->fallback || status != 400)
		return (0);
	if (memmem(body, len, "not supported", 13) == NULL &&
	    memmem(body, len, "unsupported", 11) == NULL &&
	    memmem(body, len, "Extra inputs", 12) == NULL)
		return (0);
	log_ev(LOG_LEVEL_INFO, rl->req->rid, "native Messages call refused; "
	    "translating to chat completions", LF_STR("model", rl->model));
	c->fallback = 1;
	return (anth_translate(rl, c) == 0);
}

static void
anth_keepalive_start(struct relay *rl)
{
	struct anth_ctx	*c = rl->dctx;

	if (c != NULL && !c->native && c->st != NULL)
		anth_start(rl, c->st);
}

static const struct relay_hooks anth_hooks = {
	.upath = "/v1/messages",
	.prepare = anth_prepare,
	.event = anth_event_cb,
	.stream_end = anth_stream_end,
	.stream_error = anth_stream_error,
	.complete = anth_complete,
	.keepalive = anth_keepalive,
	.headers = native_headers,
	.retry = anth_retry,
};

void
api_anthropic_messages(struct req *r)
{
	struct json_object	*body, *v;

	if ((body = relay_parse_body(r)) == NULL)
		return;
	if ((v = anth_get(body, "model", json_type_string)) == NULL ||
	    json_object_get_string_len(v) == 0) {
		req_error(r, 400, "missing_field", "model: field required");
		goto bad;
	}
	if (anth_get(body, "messages", json_type_array) == NULL) {
		req_error(r, 400, "missing_field", "messages: field required "
		    "(an array)");
		goto bad;
	}
	if (anth_get(body, "max_tokens", json_type_int) == NULL) {
		req_error(r, 400, "missing_field", "max_tokens: field required "
		    "(an integer)");
		goto bad;
	}
	relay_start(r, body, &anth_hooks);
	return;
bad:
	json_object_put(body);
}

/*
 * count_tokens: there is no upstream for it, so it is estimated locally
 * from everything the model would read (system, messages, tools, images)
 * and errs on the high side: an undercount makes Claude Code compact too
 * late.
 */
static int64_t
anth_count_value(struct json_object *v)
{
	const char	*s;
	size_t		 i, n;
	int64_t		 chars = 0;

	switch (json_object_get_type(v)) {
	case json_type_string:
		return ((int64_t)json_object_get_string_len(v));
	case json_type_array:
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			chars += anth_count_value(json_object_array_get_idx(v,
			    i)) + 2;
		return (chars);
	case json_type_object:
		if ((s = anth_str(v, "type")) != NULL &&
		    strcmp(s, "image") == 0)
			return (1600 * 3);	/* ~1600 tokens an image */
		json_object_object_foreach(v, key, val) {
			chars += (int64_t)strlen(key) / 2;
			if (strcmp(key, "data") == 0 ||
			    strcmp(key, "signature") == 0)
				continue;	/* base64, signatures */
			chars += anth_count_value(val);
		}
		return (chars);
	default:
		/* Numbers count by their digits (ids can be long). */
		return (json_object_is_type(v, json_type_null) ? 0 :
		    (int64_t)strlen(json_object_to_json_string(v)) + 1);
	}
}

/*
 * Returns the local estimate of the prompt tokens of a Messages request:
 * about 3 characters a token for code-heavy text (the high side of the
 * usual 3.5 to 4), plus overhead per message.
 */
static int64_t
anth_estimate(struct json_object *body)
{
	struct json_object	*v, *msgs;
	int64_t			 chars = 0, nmsgs = 0;

	if (json_object_object_get_ex(body, "system", &v))
		chars += anth_count_value(v);
	if ((msgs = anth_get(body, "messages", json_type_array)) != NULL) {
		chars += anth_count_value(msgs);
		nmsgs = (int64_t)json_object_array_length(msgs);
	}
	if (json_object_object_get_ex(body, "tools", &v))
		chars += anth_count_value(v) + 64;
	return (chars / 3 + 8 + 4 * nmsgs);
}

/* A count_tokens request waiting for its account's model list. */
struct anth_count {
	struct req		*req;
	struct account		*acct;
	struct json_object	*body;
	struct models_waiter	 mw;
};

static void
anth_count_free(struct anth_count *ac)
{
	if (ac->acct != NULL) {
		models_cancel(ac->acct, &ac->mw);
		account_unref(ac->acct);
	}
	json_object_put(ac->body);
	if (ac->req != NULL) {
		ac->req->ctx = NULL;
		ac->req->on_abort = NULL;
	}
	free(ac);
}

/* Maps the model, checks the key's allow-list and answers. */
static void
anth_count_answer(struct req *r, struct account *a, struct json_object *body)
{
	struct json_object	*o;
	char			*mapped, *why = NULL;
	int64_t			 tokens;

	if ((mapped = anth_map_model(r->srv, a, anth_str(body, "model"),
	    &why)) == NULL) {
		req_error(r, 404, "model_not_found", "%s", why);
		free(why);
		return;
	}
	if (r->key != NULL && !keys_model_allowed(r->key->models, mapped)) {
		req_error(r, 403, "model_not_allowed", "model '%s' is not "
		    "allowed for key '%s' (allowed: %s)", mapped, r->key->id,
		    r->key->models);
		free(mapped);
		return;
	}
	tokens = tokcal_apply(&r->srv->tokcal, mapped, anth_estimate(body));
	free(mapped);
	o = json_object_new_object();
	json_object_object_add(o, "input_tokens", json_object_new_int64(tokens));
	req_respond_json(r, 200, o);
}

static void
anth_count_models_cb(struct account *a, void *arg, const char *err)
{
	struct anth_count	*ac = arg;
	struct req		*r = ac->req;

	/* Without a model list, the name is taken as it is. */
	(void)err;
	ac->mw.queued = 0;
	r->ctx = NULL;
	r->on_abort = NULL;
	ac->req = NULL;
	anth_count_answer(r, a, ac->body);
	anth_count_free(ac);
}

static void
anth_count_abort_cb(struct req *r)
{
	struct anth_count	*ac = r->ctx;

	ac->req = NULL;
	anth_count_free(ac);
	req_abandon(r);
}

/*
 * POST /v1/messages/count_tokens: no upstream call. The model is mapped
 * as /v1/messages would map it (so an unknown model is refused the same
 * way and the calibration of the right model applies), which may wait
 * for the account's model list; without any account the estimate is
 * answered uncalibrated for the name as given (or its alias).
 */
void
api_anthropic_count_tokens(struct req *r)
{
	struct json_object	*body;
	struct account		*a = NULL;
	struct anth_count	*ac;

	if ((body = relay_parse_body(r)) == NULL)
		return;
	if (anth_get(body, "model", json_type_string) == NULL ||
	    anth_get(body, "messages", json_type_array) == NULL) {
		json_object_put(body);
		req_error(r, 400, "missing_field", "model and messages are "
		    "required");
		return;
	}
	if ((r->key != NULL && (r->key->account_removed ||
	    r->key->account_id > 0)) || accounts_default(r->srv) != NULL) {
		/* The key's account, as a request would spend it. */
		if ((a = relay_account(r)) == NULL) {
			json_object_put(body);
			return;
		}
	}
	if (a == NULL) {
		anth_count_answer(r, NULL, body);
		json_object_put(body);
		return;
	}
	ac = xcalloc(1, sizeof *ac);
	ac->req = r;
	ac->acct = a;
	ac->body = body;
	account_ref(a);
	r->ctx = ac;
	r->on_abort = anth_count_abort_cb;
	models_get(a, &ac->mw, anth_count_models_cb, ac);
}
