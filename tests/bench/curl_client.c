/* SPDX-License-Identifier: ISC */
/*
 * curl_client: libcurl alone, doing the upstream leg of what copilot-gw
 * does for one non-streaming chat completion, with no gateway around it:
 * the same POST, the same request headers (the Copilot set copilot-gw
 * sends, upstreams.md section 1.4), the same curl options (keep-alive,
 * Accept-Encoding, HTTP/2 over TLS wanted), CONNS transfers in flight on
 * one multi handle, for SECONDS after a one-second warm-up.
 *
 *	curl_client URL CONNS SECONDS
 *
 * Prints one JSON line: transfers, seconds, rps, and the process's user
 * and system CPU per transfer (getrusage). tests/bench/run.sh builds it
 * with cc and runs it on the proxy CPU: it is the cost a gateway built on
 * libcurl pays before it parses, checks or logs anything, and before the
 * client side's socket work.
 */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *body =
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
    "\"content\":\"hi\"}],\"stream\":false}";

static const char *hdrs[] = {
	"authorization: Bearer tid=bench;exp=1799229397;sku=bench",
	"copilot-integration-id: vscode-chat",
	"editor-version: vscode/1.104.1",
	"editor-plugin-version: copilot-chat/0.31.2",
	"user-agent: GitHubCopilotChat/0.31.2",
	"openai-intent: conversation-panel",
	"x-github-api-version: 2025-04-01",
	"x-request-id: 7f0c6e1d-2b9a-4c3e-8d5f-1a2b3c4d5e6f",
	"x-vscode-user-agent-library-version: electron-fetch",
	"x-initiator: user",
	"content-type: application/json",
	"accept: application/json",
	"Expect:",
	NULL
};

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static double
tv(struct timeval t)
{
	return ((double)t.tv_sec + (double)t.tv_usec / 1e6);
}

static void
setup(CURL *e, const char *url, struct curl_slist *h)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
}

int
main(int argc, char **argv)
{
	struct curl_slist	*h = NULL;
	struct rusage		 r0, r1;
	CURLM			*m;
	CURLMsg			*msg;
	CURL			*e;
	double			 t0, tw = 0, secs, el;
	long			 done = 0, d0 = 0, n;
	int			 conns, i, running, q;

	if (argc != 4 || (conns = atoi(argv[2])) < 1 ||
	    (secs = atof(argv[3])) <= 0) {
		fprintf(stderr, "usage: curl_client URL CONNS SECONDS\n");
		return (2);
	}
	curl_global_init(CURL_GLOBAL_ALL);
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
	for (i = 0; hdrs[i] != NULL; i++)
		h = curl_slist_append(h, hdrs[i]);
	for (i = 0; i < conns; i++) {
		e = curl_easy_init();
		setup(e, argv[1], h);
		curl_multi_add_handle(m, e);
	}
	t0 = now();
	for (;;) {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &q)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			e = msg->easy_handle;
			if (msg->data.result != CURLE_OK) {
				fprintf(stderr, "curl_client: %s\n",
				    curl_easy_strerror(msg->data.result));
				return (1);
			}
			curl_multi_remove_handle(m, e);
			curl_multi_add_handle(m, e);
			done++;
		}
		if (tw == 0 && now() - t0 >= 1) {
			tw = now();
			d0 = done;
			getrusage(RUSAGE_SELF, &r0);
		}
		if (tw != 0 && now() - tw >= secs)
			break;
		curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	getrusage(RUSAGE_SELF, &r1);
	el = now() - tw;
	n = done - d0;
	if (n <= 0) {
		fprintf(stderr, "curl_client: no transfer finished\n");
		return (1);
	}
	printf("{\"kind\":\"curl\",\"conns\":%d,\"transfers\":%ld,"
	    "\"seconds\":%.3f,\"rps\":%.1f,\"user_us\":%.2f,\"sys_us\":%.2f}\n",
	    conns, n, el, (double)n / el,
	    (tv(r1.ru_utime) - tv(r0.ru_utime)) / (double)n * 1e6,
	    (tv(r1.ru_stime) - tv(r0.ru_stime)) / (double)n * 1e6);
	return (0);
}
