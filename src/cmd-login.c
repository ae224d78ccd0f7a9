/* SPDX-License-Identifier: ISC */
/*
 * cmd-login: `copilot-gw login github` adds an upstream account. The
 * device flow runs in the proxy thread (its requests go through the same
 * curl multi as everything else); this command is a front end that shows
 * the code, the polling and the outcome, and cancels on Ctrl-C.
 * `--token-stdin` takes a GitHub OAuth token obtained elsewhere and
 * validates it the same way. Main thread.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cmd.h"
#include "cmd-proxy.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "proxy/proxy.h"
#include "xmalloc.h"

static const char *const cmd_login_github_options[] = {
	"--account-type", "--api-url", "--github-url", "--label",
	"--token-stdin", NULL
};
static const char *const cmd_login_options[] = { NULL };

struct cmd_login {
	struct cmd_proxy	 cp;
	int			 rc;		/* 0 ok, -1 failed, -2 cancelled */
	int			 cancels;
	int			 quiet_poll;
	char			*err;
};

static int
cmd_login_event_cb(void *arg, struct msg *m)
{
	struct cmd_login	*cl = arg;
	struct json_object	*v;
	const char		*code = "", *uri = "", *label = "", *login = "";
	int64_t			 expires = 0, id = 0;

	switch (m->type) {
	case MSG_EV_LOGIN_CODE:
		if (json_object_object_get_ex(m->data, "user_code", &v))
			code = json_object_get_string(v);
		if (json_object_object_get_ex(m->data, "verification_uri", &v))
			uri = json_object_get_string(v);
		if (json_object_object_get_ex(m->data, "expires_in", &v))
			expires = json_object_get_int64(v);
		printf("To log in, open %s and enter this code:\n\n"
		    "    %s\n\n", uri, code);
		printf("The code expires in %lld minute%s. Waiting; press "
		    "Ctrl-C to cancel.\n", (long long)(expires + 59) / 60,
		    (expires + 59) / 60 == 1 ? "" : "s");
		fflush(stdout);
		return (0);
	case MSG_EV_LOGIN_POLL:
		if (m->text != NULL && strcmp(m->text, "slow_down") == 0)
			fprintf(stderr, "copilot-gw: GitHub asked to poll more "
			    "slowly; now every %lld s\n", (long long)m->i);
		return (0);
	case MSG_EV_LOGIN_DONE:
		cl->rc = (int)m->i;
		if (cl->rc != 0) {
			cl->err = xstrdup(m->text != NULL ? m->text :
			    "login failed");
			return (1);
		}
		if (json_object_object_get_ex(m->data, "label", &v))
			label = json_object_get_string(v);
		if (json_object_object_get_ex(m->data, "login", &v))
			login = json_object_get_string(v);
		if (json_object_object_get_ex(m->data, "account_id", &v))
			id = json_object_get_int64(v);
		printf("Logged in to GitHub as %s: account '%s' (id %lld).\n",
		    login, label, (long long)id);
		return (1);
	default:
		return (0);
	}
}

/* Ctrl-C cancels the login; a second one stops at once. */
static int
cmd_login_signal_cb(void *arg, int sig)
{
	struct cmd_login	*cl = arg;

	if (sig == SIGHUP)
		return (0);
	if (cl->cancels++ == 0) {
		cmd_proxy_post(&cl->cp, msg_new(MSG_CMD_LOGIN_CANCEL, 0, NULL));
		return (0);
	}
	cl->rc = -2;
	return (1);
}

/* Reads a token from standard input; returns it owned, or NULL. */
static char *
cmd_login_read_token(void)
{
	char	 buf[4096];
	size_t	 n = 0;
	ssize_t	 r;
	char	*s, *e;

	while (n < sizeof buf - 1 &&
	    (r = read(STDIN_FILENO, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	for (s = buf; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\n' || e[-1] == '\r'); e--)
		;
	*e = '\0';
	if (*s == '\0' || strpbrk(s, " \t\r\n") != NULL)
		return (NULL);
	s = xstrdup(s);
	explicit_bzero(buf, sizeof buf);
	return (s);
}

static int
cmd_login_github_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "account-type", required_argument, NULL, 't' },
		{ "api-url", required_argument, NULL, 'a' },
		{ "github-url", required_argument, NULL, 'g' },
		{ "label", required_argument, NULL, 'l' },
		{ "token-stdin", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_login	 cl;
	struct json_object	*d;
	char			*token = NULL;
	int			 ch, from_stdin = 0, status;

	d = json_object_new_object();
	json_object_object_add(d, "provider", json_object_new_string("github"));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			json_object_object_add(d, "account_type",
			    json_object_new_string(optarg));
			break;
		case 'a':
			json_object_object_add(d, "api_url",
			    json_object_new_string(optarg));
			break;
		case 'g':
			json_object_object_add(d, "github_url",
			    json_object_new_string(optarg));
			break;
		case 'l':
			if (*optarg == '\0' || keys_label_error(optarg) !=
			    NULL) {
				json_object_put(d);
				fprintf(stderr, "copilot-gw: --label: %s\n",
				    *optarg == '\0' ? "it cannot be empty" :
				    keys_label_error(optarg));
				return (CMD_EXIT_USAGE);
			}
			json_object_object_add(d, "label",
			    json_object_new_string(optarg));
			break;
		case 's':
			from_stdin = 1;
			break;
		default:
			json_object_put(d);
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc) {
		json_object_put(d);
		return (cmd_usage(ctx));
	}
	if (cmd_prepare(ctx) != 0) {
		json_object_put(d);
		return (CMD_EXIT_FAIL);
	}
	/* This is an interactive command: only problems are logged. */
	if (log_get_level() < LOG_LEVEL_WARN)
		log_set_level(LOG_LEVEL_WARN);
	if (from_stdin) {
		if ((token = cmd_login_read_token()) == NULL) {
			json_object_put(d);
			return (cmd_fail("--token-stdin: standard input holds "
			    "no token (one line, no spaces)"));
		}
		json_object_object_add(d, "token", json_object_new_string(
		    token));
		explicit_bzero(token, strlen(token));
		free(token);
	}
	memset(&cl, 0, sizeof cl);
	if (cmd_proxy_start(ctx, &cl.cp, PROXY_NO_LISTEN) != 0) {
		json_object_put(d);
		return (CMD_EXIT_FAIL);
	}
	cmd_proxy_post(&cl.cp, msg_new_data(MSG_CMD_LOGIN_START, 0, NULL, d));
	cl.rc = -1;
	cmd_proxy_wait(&cl.cp, cmd_login_event_cb, cmd_login_signal_cb, &cl);
	status = cmd_proxy_stop(&cl.cp);
	if (cl.rc == 0 && status == 0)
		return (CMD_EXIT_OK);
	if (cl.rc == -2 && cl.err == NULL)
		cl.err = xstrdup("login cancelled");
	cmd_fail("%s", cl.err != NULL ? cl.err : "login failed");
	free(cl.err);
	return (CMD_EXIT_FAIL);
}

static const struct cmd_entry cmd_login_github_entry = {
	.name = "github",
	.args = "[--account-type TYPE] [--api-url URL] [--github-url URL] "
	    "[--label NAME] [--token-stdin]",
	.summary = "log in to GitHub Copilot with the device flow (or a token "
	    "on standard input)",
	.options = cmd_login_github_options,
	.flags = CMD_CONFIG | CMD_DIRS,
	.exec = cmd_login_github_exec,
};

static const struct cmd_entry *const cmd_login_sub[] = {
	&cmd_login_github_entry,
	NULL
};

const struct cmd_entry cmd_login_entry = {
	.name = "login",
	.args = "github [OPTIONS]",
	.summary = "add an upstream account",
	.options = cmd_login_options,
	.sub = cmd_login_sub,
};
