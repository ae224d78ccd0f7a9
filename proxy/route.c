/* SPDX-License-Identifier: ISC */
/*
 * route: the table of HTTP routes {method, path, handler, flags}
 * (relayd HTTP_METHODS, git commands[]). A path that exists with another
 * method gets 405 with Allow; an unknown path gets 404, both in the
 * dialect of the path. Proxy thread.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

static const struct route routes[] = {
	{ "GET", "/healthz", api_ops_healthz, ROUTE_NOLOG | ROUTE_PUBLIC,
	    API_OPENAI },
	{ "HEAD", "/healthz", api_ops_healthz, ROUTE_NOLOG | ROUTE_PUBLIC,
	    API_OPENAI },
	{ "POST", "/v1/chat/completions", api_openai_chat, 0, API_OPENAI },
	{ "POST", "/chat/completions", api_openai_chat, 0, API_OPENAI },
	{ "POST", "/v1/responses", api_openai_responses, 0, API_OPENAI },
	{ "POST", "/responses", api_openai_responses, 0, API_OPENAI },
	{ "POST", "/v1/embeddings", api_openai_embeddings, 0, API_OPENAI },
	{ "POST", "/embeddings", api_openai_embeddings, 0, API_OPENAI },
	{ "GET", "/v1/models", api_openai_models, 0, API_OPENAI },
	{ "GET", "/models", api_openai_models, 0, API_OPENAI },
	{ "GET", "/v1/models/", api_openai_model, ROUTE_PREFIX, API_OPENAI },
	{ "POST", "/v1/messages", api_anthropic_messages, 0, API_ANTHROPIC },
	{ "POST", "/messages", api_anthropic_messages, 0, API_ANTHROPIC },
	{ "POST", "/v1/messages/count_tokens", api_anthropic_count_tokens, 0,
	    API_ANTHROPIC },
	{ "POST", "/messages/count_tokens", api_anthropic_count_tokens, 0,
	    API_ANTHROPIC },
	{ "GET", "/auth/keys", api_admin_keys, ROUTE_ADMIN, API_OPENAI },
	{ "POST", "/auth/keys", api_admin_keys, ROUTE_ADMIN, API_OPENAI },
	{ "GET", "/auth/keys/", api_admin_key, ROUTE_ADMIN | ROUTE_PREFIX,
	    API_OPENAI },
	{ "POST", "/auth/keys/", api_admin_key, ROUTE_ADMIN | ROUTE_PREFIX,
	    API_OPENAI },
	{ "DELETE", "/auth/keys/", api_admin_key, ROUTE_ADMIN | ROUTE_PREFIX,
	    API_OPENAI },
	{ "GET", "/accounts", api_admin_accounts, ROUTE_ADMIN, API_OPENAI },
	{ "POST", "/auth/device/start", api_admin_device_start, ROUTE_ADMIN,
	    API_OPENAI },
	{ "GET", "/auth/device/status/", api_admin_device_status,
	    ROUTE_ADMIN | ROUTE_PREFIX, API_OPENAI },
	{ "DELETE", "/accounts/", api_admin_account, ROUTE_ADMIN | ROUTE_PREFIX,
	    API_OPENAI },
	{ "GET", "/models/", api_openai_model, ROUTE_PREFIX, API_OPENAI },
};

#define NROUTES (sizeof routes / sizeof routes[0])

/* Returns 1 if path is served by route (exactly, or under a prefix). */
static int
route_match(const struct route *rt, const char *path)
{
	if (rt->flags & ROUTE_PREFIX)
		return (strncmp(rt->path, path, strlen(rt->path)) == 0);
	return (strcmp(rt->path, path) == 0);
}

void
route_classify(struct req *r)
{
	const char	*p = r->path != NULL ? r->path : "";

	/* The Anthropic paths answer errors in their own dialect. */
	if (strncmp(p, "/v1/messages", 12) == 0 ||
	    strncmp(p, "/messages", 9) == 0)
		r->dialect = API_ANTHROPIC;
	else
		r->dialect = API_OPENAI;
}

void
route_dispatch(struct req *r)
{
	struct auth_key	*key;
	char		 allow[128];
	size_t		 i, off = 0;
	int		 path_found = 0;

	for (i = 0; i < NROUTES; i++) {
		if (!route_match(&routes[i], r->path))
			continue;
		path_found = 1;
		if (strcmp(routes[i].method, r->method) == 0) {
			r->route = &routes[i];
			r->dialect = routes[i].dialect;
			if (!(routes[i].flags & ROUTE_PUBLIC)) {
				/* On failure the request is answered and gone. */
				if ((key = auth_check(r, (routes[i].flags &
				    ROUTE_ADMIN) != 0)) == NULL)
					return;
				r->key = key;
			}
			routes[i].handler(r);
			return;
		}
	}
	if (!path_found) {
		req_error(r, 404, "not_found", "no route for %s %s", r->method,
		    r->path);
		return;
	}
	for (i = 0; i < NROUTES; i++) {
		if (route_match(&routes[i], r->path) &&
		    off < sizeof allow - 16)
			off += (size_t)snprintf(allow + off, sizeof allow - off,
			    "%s%s", off == 0 ? "" : ", ", routes[i].method);
	}
	{
		char	 hdr[160];

		snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
		req_error_hdr(r, 405, "method_not_allowed", hdr,
		    "method %s is not allowed for %s (allowed: %s)", r->method,
		    r->path, allow);
	}
}
