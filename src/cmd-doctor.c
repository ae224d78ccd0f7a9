/* SPDX-License-Identifier: ISC */
/*
 * cmd-doctor: `copilot-gw doctor [--json] [--timeout DURATION]` checks
 * what copilot-gw needs: the config, the directories and file modes, the
 * store (open, migrate, integrity_check, WAL), that the listen port is
 * free (or held by a copilot-gw), and that every configured upstream
 * host resolves and answers, all upstreams probed at once with a short
 * timeout. Prints one line per check; exits 1 if any check failed. Main
 * thread; blocking calls are fine here, this is not the proxy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cmd.h"
#include "store.h"
#include "xmalloc.h"

static const char *const cmd_doctor_options[] = {
	"--json", "--timeout", NULL
};

enum doctor_status {
	DOCTOR_OK,
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

struct doctor {
	struct json_object	*results;
	int			 json;
	int			 failed;
	int			 warned;
};

static const char *const doctor_status_names[] = { "ok", "warn", "fail" };

/* Records and prints one check result. */
static void __attribute__((format(printf, 4, 5)))
doctor_report(struct doctor *d, enum doctor_status st, const char *check,
    const char *fmt, ...)
{
	struct json_object	*o;
	va_list			 ap;
	char			*detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	if (st == DOCTOR_FAIL)
		d->failed++;
	if (st == DOCTOR_WARN)
		d->warned++;
	if (d->json) {
		o = json_object_new_object();
		json_object_object_add(o, "check",
		    json_object_new_string(check));
		json_object_object_add(o, "status",
		    json_object_new_string(doctor_status_names[st]));
		json_object_object_add(o, "detail",
		    json_object_new_string(detail));
		json_object_array_add(d->results, o);
	} else
		printf("%-5s %-12s %s\n", doctor_status_names[st], check,
		    detail);
	free(detail);
}

/* Checks that a directory exists and is private. */
static void
doctor_dir(struct doctor *d, const char *what, const char *dir)
{
	struct stat	 sb;

	if (stat(dir, &sb) == -1) {
		doctor_report(d, DOCTOR_WARN, "directories", "%s directory "
		    "'%s' does not exist yet (created on first run)", what,
		    dir);
		return;
	}
	if (sb.st_mode & 077)
		doctor_report(d, DOCTOR_FAIL, "directories", "%s directory "
		    "'%s' has mode %03o: run 'chmod 700 %s'", what, dir,
		    (unsigned)(sb.st_mode & 0777), dir);
	else
		doctor_report(d, DOCTOR_OK, "directories", "%s directory '%s' "
		    "(mode 0700)", what, dir);
}

/* Checks the mode of a file that may hold secrets. */
static void
doctor_file_mode(struct doctor *d, const char *check, const char *path,
    int must_be_private)
{
	struct stat	 sb;

	if (stat(path, &sb) == -1)
		return;
	if ((sb.st_mode & 022) || (must_be_private && (sb.st_mode & 077)))
		doctor_report(d, DOCTOR_FAIL, check, "'%s' has mode %03o: run "
		    "'chmod 600 %s'", path, (unsigned)(sb.st_mode & 0777),
		    path);
}

/* Opens, migrates and checks the store. */
static void
doctor_store(struct doctor *d, struct cmd_ctx *ctx)
{
	struct store	*st;
	char		*cause = NULL;
	struct stat	 sb;

	if (stat(ctx->paths.data_dir, &sb) == -1 &&
	    paths_mkdir_p(ctx->paths.data_dir, 0700, &cause) != 0) {
		doctor_report(d, DOCTOR_FAIL, "store", "%s", cause);
		free(cause);
		return;
	}
	if ((st = store_open(ctx->paths.db_file, STORE_RW | STORE_CREATE,
	    &cause)) == NULL || store_migrate(st, &cause) != 0 ||
	    store_integrity_check(st, &cause) != 0) {
		doctor_report(d, DOCTOR_FAIL, "store", "%s", cause);
		free(cause);
		store_close(st);
		return;
	}
	doctor_report(d, DOCTOR_OK, "store", "'%s': schema %d, journal %s, "
	    "integrity ok", ctx->paths.db_file, store_schema_version(st),
	    store_journal_mode(st));
	store_close(st);
	doctor_file_mode(d, "store", ctx->paths.db_file, 1);
}

/* Asks a copilot-gw that may hold the port for its health. */
static int
doctor_probe_gateway(const char *host, unsigned port, char *version,
    size_t len)
{
	CURL		*easy;
	char		*url;
	long		 code = 0;
	FILE		*mem;
	char		*body = NULL;
	size_t		 blen = 0;
	struct json_object *o, *v;
	int		 rc = -1;

	if ((easy = curl_easy_init()) == NULL)
		return (-1);
	url = strchr(host, ':') != NULL ?
	    xasprintf("http://[%s]:%u/healthz", host, port) :
	    xasprintf("http://%s:%u/healthz", host, port);
	mem = open_memstream(&body, &blen);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, mem);
	if (curl_easy_perform(easy) == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	fclose(mem);
	if (code == 200 && (o = json_tokener_parse(body)) != NULL) {
		if (json_object_object_get_ex(o, "version", &v)) {
			snprintf(version, len, "%s", json_object_get_string(v));
			rc = 0;
		}
		json_object_put(o);
	}
	free(body);
	free(url);
	curl_easy_cleanup(easy);
	return (rc);
}

/* Checks that the listen address can be bound. */
static void
doctor_listen(struct doctor *d, struct cmd_ctx *ctx)
{
	struct addrinfo	 hints, *ai = NULL;
	const char	*host = ctx->cfg.listen_host;
	unsigned	 port = (unsigned)ctx->cfg.listen_port;
	char		 sport[16], version[64];
	int		 fd, rc, one = 1, err;

	if (!config_host_is_loopback(host) && !ctx->cfg.listen_allow_remote) {
		doctor_report(d, DOCTOR_FAIL, "listen", "'%s' is not a loopback "
		    "address and listen.allow_remote is false", host);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(sport, sizeof sport, "%u", port);
	if ((rc = getaddrinfo(host, sport, &hints, &ai)) != 0) {
		doctor_report(d, DOCTOR_FAIL, "listen", "cannot resolve '%s': "
		    "%s", host, gai_strerror(rc));
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	rc = fd == -1 ? -1 : bind(fd, ai->ai_addr, ai->ai_addrlen);
	err = errno;
	if (fd != -1)
		close(fd);
	freeaddrinfo(ai);
	if (rc == 0)
		doctor_report(d, DOCTOR_OK, "listen", "%s:%u is free", host,
		    port);
	else if (err == EADDRINUSE &&
	    doctor_probe_gateway(host, port, version, sizeof version) == 0)
		doctor_report(d, DOCTOR_OK, "listen", "%s:%u is served by a "
		    "running copilot-gw %s", host, port, version);
	else
		doctor_report(d, DOCTOR_FAIL, "listen", "cannot bind %s:%u: %s",
		    host, port, strerror(err));
}

struct doctor_probe {
	const char	*key;
	const char	*url;
	CURL		*easy;
	char		 err[CURL_ERROR_SIZE];
};

static size_t
doctor_discard_cb(char *p, size_t size, size_t n, void *arg)
{
	return (size * n);
}

/* Probes every configured upstream base URL at once. */
static void
doctor_upstreams(struct doctor *d, struct cmd_ctx *ctx, long timeout_ms)
{
	static const enum config_key keys[] = {
		CONFIG_UPSTREAMS_GITHUB_GITHUB_URL,
		CONFIG_UPSTREAMS_GITHUB_API_URL,
		CONFIG_UPSTREAMS_GITHUB_COPILOT_URL,
		CONFIG_UPSTREAMS_M365_LOGIN_URL,
		CONFIG_UPSTREAMS_M365_GRAPH_URL,
	};
	struct doctor_probe	 probes[sizeof keys / sizeof keys[0]];
	CURLM			*multi;
	CURLMsg			*m;
	size_t			 i, n = sizeof keys / sizeof keys[0];
	int			 running, left;
	long			 code;
	double			 t;
	char			*url;

	multi = curl_multi_init();
	for (i = 0; i < n; i++) {
		probes[i].key = config_key_name(keys[i]);
		url = config_value_text(&ctx->cfg, keys[i], 0);
		probes[i].url = url;
		probes[i].err[0] = '\0';
		probes[i].easy = curl_easy_init();
		curl_easy_setopt(probes[i].easy, CURLOPT_URL, url);
		curl_easy_setopt(probes[i].easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(probes[i].easy, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(probes[i].easy, CURLOPT_CONNECTTIMEOUT_MS,
		    timeout_ms);
		curl_easy_setopt(probes[i].easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(probes[i].easy, CURLOPT_ERRORBUFFER,
		    probes[i].err);
		curl_easy_setopt(probes[i].easy, CURLOPT_WRITEFUNCTION,
		    doctor_discard_cb);
		curl_easy_setopt(probes[i].easy, CURLOPT_PRIVATE, &probes[i]);
		curl_multi_add_handle(multi, probes[i].easy);
	}
	do {
		curl_multi_perform(multi, &running);
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 200, NULL);
	} while (running > 0);
	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		struct doctor_probe	*p;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE,
			    &code);
			curl_easy_getinfo(p->easy, CURLINFO_TOTAL_TIME, &t);
			doctor_report(d, DOCTOR_OK, "upstream", "%s %s answered "
			    "(HTTP %ld, %.0f ms)", p->key, p->url, code,
			    t * 1000);
		} else
			doctor_report(d, DOCTOR_FAIL, "upstream", "%s %s: %s%s",
			    p->key, p->url, p->err[0] != '\0' ? p->err :
			    curl_easy_strerror(m->data.result),
			    m->data.result == CURLE_COULDNT_RESOLVE_HOST ?
			    " (no network, or a wrong host?)" : "");
	}
	for (i = 0; i < n; i++) {
		curl_multi_remove_handle(multi, probes[i].easy);
		curl_easy_cleanup(probes[i].easy);
		free((char *)probes[i].url);
	}
	curl_multi_cleanup(multi);
}

static int
cmd_doctor_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct doctor	 d;
	struct stat	 sb;
	uint64_t	 timeout_ms = 5000;
	char		*cause = NULL;
	int		 ch, config_ok;

	memset(&d, 0, sizeof d);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			d.json = 1;
			break;
		case 't':
			if (config_parse_duration(optarg, &timeout_ms) != 0 ||
			    timeout_ms == 0 || timeout_ms > 600000) {
				fprintf(stderr, "copilot-gw: --timeout: '%s' is "
				    "not a duration like 3s or 500ms\n", optarg);
				return (CMD_EXIT_USAGE);
			}
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	d.results = json_object_new_array();

	config_ok = config_load(&ctx->cfg, ctx->paths.config_file,
	    &cause) == 0;
	if (!config_ok) {
		doctor_report(&d, DOCTOR_FAIL, "config", "%s", cause);
		free(cause);
		/* Go on with defaults so the other checks still run. */
		config_release(&ctx->cfg);
		config_defaults(&ctx->cfg);
	} else if (stat(ctx->paths.config_file, &sb) == 0)
		doctor_report(&d, DOCTOR_OK, "config", "'%s' is valid",
		    ctx->paths.config_file);
	else
		doctor_report(&d, DOCTOR_OK, "config", "'%s' not present; "
		    "defaults apply", ctx->paths.config_file);
	doctor_file_mode(&d, "config", ctx->paths.config_file,
	    ctx->cfg.m365_client_secret[0] != '\0');
	doctor_dir(&d, "config", ctx->paths.config_dir);
	if (strcmp(ctx->paths.data_dir, ctx->paths.config_dir) != 0)
		doctor_dir(&d, "data", ctx->paths.data_dir);
	if (strcmp(ctx->paths.state_dir, ctx->paths.config_dir) != 0 &&
	    strcmp(ctx->paths.state_dir, ctx->paths.data_dir) != 0)
		doctor_dir(&d, "state", ctx->paths.state_dir);
	doctor_store(&d, ctx);
	doctor_listen(&d, ctx);
	doctor_upstreams(&d, ctx, (long)timeout_ms);

	if (d.json)
		printf("%s\n", json_object_to_json_string_ext(d.results,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (d.failed > 0)
		printf("\n%d check%s failed\n", d.failed, d.failed == 1 ? "" :
		    "s");
	else
		printf("\nall checks passed%s\n", d.warned ? " (with warnings)" :
		    "");
	json_object_put(d.results);
	return (d.failed > 0 ? CMD_EXIT_FAIL : CMD_EXIT_OK);
}

const struct cmd_entry cmd_doctor_entry = {
	.name = "doctor",
	.args = "[--json] [--timeout DURATION]",
	.summary = "check the config, files, store, listen port and upstream "
	    "hosts",
	.options = cmd_doctor_options,
	.exec = cmd_doctor_exec,
};
