/* SPDX-License-Identifier: ISC */
/*
 * provider-github: GitHub Copilot (upstreams.md section 1). The device
 * flow on github.com (RFC 8628: pending, slow_down, expired, denied), the
 * identity check (GET /user), the Copilot token exchange
 * (copilot_internal/v2/token, whose endpoints.api names the API base) and
 * the header set the Copilot API expects. Every host comes from the
 * account or the config, so GHE hosts and the test fakes work the same.
 * Proxy thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "provider.h"
#include "server.h"
#include "upstream.h"
#include "version.h"
#include "xmalloc.h"

#define GITHUB_BODY_MAX	(1024 * 1024)

static void	github_poll_cb(uv_timer_t *);
static void	github_user(struct login *);

/* Parses a JSON body; returns an owned object or NULL. */
static struct json_object *
github_json(const char *body, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (body == NULL)
		return (NULL);
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return (o);
}

/* Returns a borrowed string member or NULL. */
static const char *
github_str(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

static int64_t
github_int(struct json_object *o, const char *key, int64_t def)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double)))
		return (def);
	return (json_object_get_int64(v));
}

/* Returns an owned "application/x-www-form-urlencoded" pair list. */
static char *
github_form(const char *k1, const char *v1, const char *k2, const char *v2,
    const char *k3, const char *v3)
{
	char	*e1, *e2, *e3, *s;

	e1 = curl_easy_escape(NULL, v1, 0);
	e2 = curl_easy_escape(NULL, v2, 0);
	e3 = k3 != NULL ? curl_easy_escape(NULL, v3, 0) : NULL;
	if (k3 != NULL)
		s = xasprintf("%s=%s&%s=%s&%s=%s", k1, e1, k2, e2, k3, e3);
	else
		s = xasprintf("%s=%s&%s=%s", k1, e1, k2, e2);
	curl_free(e1);
	curl_free(e2);
	curl_free(e3);
	return (s);
}

/* Adds the headers every GitHub call carries. */
static void
github_common_headers(struct server *srv, struct fetch *f)
{
	fetch_header(f, "accept", "application/json");
	fetch_header(f, "editor-version", srv->cfg.github_editor_version);
	fetch_header(f, "editor-plugin-version", srv->cfg.github_plugin_version);
	fetch_header(f, "user-agent", "GitHubCopilotChat/0.31.2");
	fetch_header(f, "x-github-api-version", srv->cfg.github_api_version);
}

/* Describes an upstream failure for a person. */
static char *
github_describe(int status, const char *body, size_t len, const char *err)
{
	struct json_object	*o;
	const char		*m;
	char			*s;

	if (err != NULL)
		return (xstrdup(err));
	o = github_json(body, len);
	if ((m = github_str(o, "message")) != NULL ||
	    (m = github_str(o, "error_description")) != NULL)
		s = xasprintf("HTTP %d: %s", status, m);
	else
		s = xasprintf("HTTP %d", status);
	json_object_put(o);
	return (s);
}

/* Device code answer. */
static void
github_code_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct login		*l = arg;
	struct json_object	*o;
	const char		*dc, *uc, *uri;
	char			*why;

	l->fetch = NULL;
	o = status == 200 ? github_json(body, len) : NULL;
	dc = github_str(o, "device_code");
	uc = github_str(o, "user_code");
	uri = github_str(o, "verification_uri");
	if (dc == NULL || uc == NULL || uri == NULL) {
		why = github_describe(status, body, len, err);
		login_failed(l, "cannot start the GitHub device flow at %s: %s",
		    l->github_url, why);
		free(why);
		json_object_put(o);
		return;
	}
	l->device_code = xstrdup(dc);
	l->interval_s = (int)github_int(o, "interval", 5);
	if (l->interval_s < 1)
		l->interval_s = 1;
	login_code(l, uc, uri, github_int(o, "expires_in", 900),
	    l->interval_s);
	json_object_put(o);
	login_schedule(l, (uint64_t)l->interval_s * 1000, github_poll_cb);
}

/* Access token poll answer. */
static void
github_poll_answer_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct login		*l = arg;
	struct json_object	*o;
	const char		*e, *tok;
	char			*why;

	l->fetch = NULL;
	o = github_json(body, len);
	tok = github_str(o, "access_token");
	e = github_str(o, "error");
	if (status == 200 && tok != NULL) {
		l->gh_token = xstrdup(tok);
		json_object_put(o);
		github_user(l);
		return;
	}
	if (e != NULL && strcmp(e, "authorization_pending") == 0) {
		login_poll(l, "pending");
		login_schedule(l, (uint64_t)l->interval_s * 1000,
		    github_poll_cb);
	} else if (e != NULL && strcmp(e, "slow_down") == 0) {
		/* RFC 8628 3.5: add 5 s, or take the interval given. */
		l->interval_s = (int)github_int(o, "interval",
		    l->interval_s + 5);
		login_poll(l, "slow_down");
		login_schedule(l, (uint64_t)l->interval_s * 1000,
		    github_poll_cb);
	} else if (e != NULL && strcmp(e, "expired_token") == 0)
		login_failed_as(l, "expired", "the code expired before it was entered: run "
		    "'copilot-gw login github' again");
	else if (e != NULL && strcmp(e, "access_denied") == 0)
		login_failed_as(l, "denied", "access was denied in the browser: the login "
		    "was cancelled");
	else {
		why = github_describe(status, body, len, err);
		login_failed(l, "the GitHub device flow failed: %s", why);
		free(why);
	}
	json_object_put(o);
}

static void
github_poll_cb(uv_timer_t *t)
{
	struct login	*l = t->data;
	char		*form, *url;

	if (uv_now(&l->srv->loop) >= l->deadline) {
		login_failed_as(l, "expired", "the code expired before it was entered: run "
		    "'copilot-gw login github' again");
		return;
	}
	url = xasprintf("%s/login/oauth/access_token", l->github_url);
	l->fetch = fetch_new(l->srv, "POST", url, GITHUB_BODY_MAX,
	    github_poll_answer_cb, l);
	free(url);
	github_common_headers(l->srv, l->fetch);
	fetch_header(l->fetch, "content-type",
	    "application/x-www-form-urlencoded");
	form = github_form("client_id", l->srv->cfg.github_client_id,
	    "device_code", l->device_code, "grant_type",
	    "urn:ietf:params:oauth:grant-type:device_code");
	fetch_body(l->fetch, form, strlen(form));
	free(form);
	if (fetch_start(l->fetch) != 0) {
		l->fetch = NULL;
		login_failed(l, "cannot start a request to %s", l->github_url);
	}
}

/* Copilot access check answer: the last step. */
static void
github_check_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct login	*l = arg;
	char		*why;

	l->fetch = NULL;
	if (err == NULL && status == 200) {
		login_succeeded(l, l->login_name, l->gh_token);
		return;
	}
	why = github_describe(status, body, len, err);
	if (err == NULL && (status == 401 || status == 403 || status == 404))
		login_failed(l, "GitHub account '%s' cannot use Copilot (%s): "
		    "check its Copilot subscription or --account-type",
		    l->login_name, why);
	else
		login_failed(l, "cannot check Copilot access at %s: %s",
		    l->api_url, why);
	free(why);
}

/* Identity answer. */
static void
github_user_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct login		*l = arg;
	struct json_object	*o;
	const char		*login;
	char			*why, *url, *auth;

	l->fetch = NULL;
	o = status == 200 ? github_json(body, len) : NULL;
	if ((login = github_str(o, "login")) == NULL) {
		why = github_describe(status, body, len, err);
		if (err == NULL && status == 401)
			login_failed(l, "GitHub rejected the token (%s)", why);
		else
			login_failed(l, "cannot read the GitHub identity at "
			    "%s: %s", l->api_url, why);
		free(why);
		json_object_put(o);
		return;
	}
	l->login_name = xstrdup(login);
	json_object_put(o);

	url = xasprintf("%s/copilot_internal/v2/token", l->api_url);
	l->fetch = fetch_new(l->srv, "GET", url, GITHUB_BODY_MAX,
	    github_check_cb, l);
	free(url);
	github_common_headers(l->srv, l->fetch);
	auth = xasprintf("token %s", l->gh_token);
	fetch_header(l->fetch, "authorization", auth);
	free(auth);
	if (fetch_start(l->fetch) != 0) {
		l->fetch = NULL;
		login_failed(l, "cannot start a request to %s", l->api_url);
	}
}

/* Asks GET /user who the token belongs to. */
static void
github_user(struct login *l)
{
	char	*url, *auth;

	url = xasprintf("%s/user", l->api_url);
	l->fetch = fetch_new(l->srv, "GET", url, GITHUB_BODY_MAX,
	    github_user_cb, l);
	free(url);
	github_common_headers(l->srv, l->fetch);
	auth = xasprintf("token %s", l->gh_token);
	fetch_header(l->fetch, "authorization", auth);
	free(auth);
	if (fetch_start(l->fetch) != 0) {
		l->fetch = NULL;
		login_failed(l, "cannot start a request to %s", l->api_url);
	}
}

static int
github_login_start(struct login *l)
{
	char	*url, *form;

	if (l->given_token != NULL) {
		if (strncmp(l->given_token, "ghp_", 4) == 0) {
			login_failed(l, "classic personal access tokens (ghp_) "
			    "cannot be exchanged for a Copilot token: use the "
			    "device flow ('copilot-gw login github') or an "
			    "OAuth token (gho_ or ghu_)");
			return (0);
		}
		l->gh_token = xstrdup(l->given_token);
		github_user(l);
		return (0);
	}
	url = xasprintf("%s/login/device/code", l->github_url);
	l->fetch = fetch_new(l->srv, "POST", url, GITHUB_BODY_MAX,
	    github_code_cb, l);
	free(url);
	github_common_headers(l->srv, l->fetch);
	fetch_header(l->fetch, "content-type",
	    "application/x-www-form-urlencoded");
	form = github_form("client_id", l->srv->cfg.github_client_id,
	    "scope", "read:user", NULL, NULL);
	fetch_body(l->fetch, form, strlen(form));
	free(form);
	if (fetch_start(l->fetch) != 0) {
		l->fetch = NULL;
		return (-1);
	}
	return (0);
}

/* Returns the API base for an account type without endpoints.api. */
static char *
github_default_base(struct account *a)
{
	if (a->sa.copilot_url[0] != '\0')
		return (xstrdup(a->sa.copilot_url));
	if (strcmp(a->sa.account_type, "individual") == 0)
		return (xstrdup(a->srv->cfg.github_copilot_url));
	return (xasprintf("https://api.%s.githubcopilot.com",
	    a->sa.account_type));
}

static void
github_token_cb(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct account		*a = arg;
	struct json_object	*o, *ep;
	const char		*tok, *api = NULL;
	char			*why, *base;
	int64_t			 exp, rin;

	o = err == NULL && status == 200 ? github_json(body, len) : NULL;
	if ((tok = github_str(o, "token")) == NULL) {
		why = github_describe(status, body, len, err);
		a->fetch = NULL;
		token_exchange_done(a, NULL, NULL, 0, 0, why,
		    err != NULL ? 0 : status);
		free(why);
		json_object_put(o);
		return;
	}
	exp = github_int(o, "expires_at", (int64_t)time(NULL) + 1500);
	rin = github_int(o, "refresh_in", 0);
	if (json_object_object_get_ex(o, "endpoints", &ep))
		api = github_str(ep, "api");
	/* A per-account copilot_url wins over endpoints.api. */
	if (a->sa.copilot_url[0] != '\0' || api == NULL || *api == '\0')
		base = github_default_base(a);
	else
		base = xstrdup(api);
	while (strlen(base) > 0 && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	token_exchange_done(a, tok, base, exp, rin, NULL, 200);
	free(base);
	json_object_put(o);
}

static void
github_token_refresh(struct account *a)
{
	char	*url, *auth;

	url = xasprintf("%s/copilot_internal/v2/token", a->sa.api_url);
	a->fetch = fetch_new(a->srv, "GET", url, GITHUB_BODY_MAX,
	    github_token_cb, a);
	free(url);
	github_common_headers(a->srv, a->fetch);
	auth = xasprintf("token %s", a->sa.token);
	fetch_header(a->fetch, "authorization", auth);
	free(auth);
	if (fetch_start(a->fetch) != 0) {
		a->fetch = NULL;
		token_exchange_done(a, NULL, NULL, 0, 0,
		    "cannot start the token request", 0);
	}
}

static void
github_api_headers(struct account *a, struct upstream_xfer *x, int vision,
    int agent)
{
	struct server	*srv = a->srv;
	char		*auth, rid[64], ua[96];

	auth = xasprintf("Bearer %s", a->token);
	upstream_xfer_header(x, "authorization", auth);
	free(auth);
	req_generate_id(rid, sizeof rid);
	snprintf(ua, sizeof ua, "GitHubCopilotChat/%s",
	    strchr(srv->cfg.github_plugin_version, '/') != NULL ?
	    strchr(srv->cfg.github_plugin_version, '/') + 1 :
	    srv->cfg.github_plugin_version);
	upstream_xfer_header(x, "copilot-integration-id", "vscode-chat");
	upstream_xfer_header(x, "editor-version", srv->cfg.github_editor_version);
	upstream_xfer_header(x, "editor-plugin-version",
	    srv->cfg.github_plugin_version);
	upstream_xfer_header(x, "user-agent", ua);
	upstream_xfer_header(x, "openai-intent", "conversation-panel");
	upstream_xfer_header(x, "x-github-api-version",
	    srv->cfg.github_api_version);
	upstream_xfer_header(x, "x-request-id", rid);
	upstream_xfer_header(x, "x-vscode-user-agent-library-version",
	    "electron-fetch");
	upstream_xfer_header(x, "x-initiator", agent ? "agent" : "user");
	if (vision)
		upstream_xfer_header(x, "copilot-vision-request", "true");
}

/* Resumes polling a device code saved before a restart. */
static int
github_login_resume(struct login *l)
{
	login_schedule(l, (uint64_t)l->interval_s * 1000, github_poll_cb);
	return (0);
}

const struct provider_ops provider_github_ops = {
	.name = "github",
	.login_start = github_login_start,
	.login_resume = github_login_resume,
	.token_refresh = github_token_refresh,
	.api_headers = github_api_headers,
};

const struct provider_ops *
provider_find(const char *name)
{
	if (strcmp(name, "github") == 0)
		return (&provider_github_ops);
	return (NULL);
}
