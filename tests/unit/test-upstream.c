/* SPDX-License-Identifier: ISC */
/*
 * Tests of proxy/upstream.c against the scripted fake upstream
 * (tests/fake/scripted.py), started per test as a child process that
 * dies with us. Each test drives a private uv loop, checks what the
 * callbacks saw and what the fake recorded, shuts the client down and
 * requires uv_loop_close to succeed. Under AddressSanitizer each test
 * also runs a leak check before returning, because the runner's child
 * leaves with _exit and LeakSanitizer would not run otherwise.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <uv.h>

#include "buf.h"
#include "upstream.h"
#include "xmalloc.h"

#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define UPSTREAM_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UPSTREAM_TEST_LSAN 1
#endif
#endif
#ifdef UPSTREAM_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define MIB		(1024 * 1024)

/* A running fake upstream. */
struct fake {
	pid_t	 pid;
	int	 port;
	char	 base[64];	/* http://127.0.0.1:PORT */
};

/* What the callbacks of one transfer saw. */
struct coll {
	struct upstream_xfer	*x;
	int			 hdr_calls;
	int			 hdr_status;
	size_t			 nh;
	char			*hname[64];
	char			*hvalue[64];
	size_t			 body_bytes_at_hdr;
	struct buf		 body;
	int			 done_calls;
	enum upstream_result	 res;
	int			 status;
	char			 err[512];
	uint64_t		 done_ns;
	uint64_t		 xbytes;	/* upstream_xfer_bytes */
	struct upstream		*shut;		/* shut down at 100 bytes */
	int			*left;		/* decremented when done */
};

/* Sleeps for ms milliseconds. */
static void
test_sleep_ms(long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Writes s to path or fails the test. */
static void
test_write_file(const char *path, const char *s)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		TEST_FAIL("fopen %s: %s", path, strerror(errno));
	ASSERT_EQ(fwrite(s, 1, strlen(s), f), strlen(s));
	ASSERT_EQ(fclose(f), 0);
}

/* Reads the port number the fake wrote to path; 0 if not there yet. */
static int
fake_read_port(const char *path)
{
	FILE	*f;
	int	 port = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return (port);
}

/*
 * Starts tests/fake/scripted.py with script (JSON text) and waits up to
 * 10 s for its port file. The child gets SIGTERM if we die first.
 */
static void
fake_start(struct fake *f, const char *script)
{
	static int	 seq;
	char		 spath[512], ppath[512], prog[512];
	const char	*dir;
	pid_t		 parent = getpid();
	int		 i, status;

	memset(f, 0, sizeof *f);
	seq++;
	snprintf(spath, sizeof spath, "%s/script-%d.json", test_tmpdir(), seq);
	snprintf(ppath, sizeof ppath, "%s/port-%d", test_tmpdir(), seq);
	if ((dir = getenv("GW_FAKE")) != NULL && *dir != '\0')
		snprintf(prog, sizeof prog, "%s/scripted.py", dir);
	else
		snprintf(prog, sizeof prog, "%s/tests/fake/scripted.py",
		    test_source_dir());
	test_write_file(spath, script);
	fflush(stdout);
	fflush(stderr);
	if ((f->pid = fork()) == -1)
		TEST_FAIL("fork: %s", strerror(errno));
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		execlp("python3", "python3", prog, "--host", "127.0.0.1",
		    "--port", "0", "--port-file", ppath, "--script", spath,
		    (char *)NULL);
		fprintf(stderr, "exec python3: %s\n", strerror(errno));
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if ((f->port = fake_read_port(ppath)) > 0)
			break;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid)
			TEST_FAIL("fake upstream exited early (status %d)",
			    status);
		test_sleep_ms(20);
	}
	if (f->port <= 0)
		TEST_FAIL("fake upstream did not write %s", ppath);
	snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
}

/* Stops the fake with SIGTERM (SIGKILL after 5 s) and reaps it. */
static void
fake_stop(struct fake *f)
{
	int	 i, status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	for (i = 0; i < 250; i++) {
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			return;
		}
		test_sleep_ms(20);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &status, 0);
	f->pid = 0;
}

/* Returns an owned URL for path on the fake. */
static char *
fake_url(const struct fake *f, const char *path)
{
	return (xasprintf("%s%s", f->base, path));
}

/* libcurl write callback collecting into a struct buf. */
static size_t
fake_write_cb(char *p, size_t size, size_t n, void *arg)
{
	if (buf_add(arg, p, size * n) != 0)
		return (0);
	return (size * n);
}

/* GETs a control endpoint with a blocking easy handle; returns its JSON. */
static json_object *
fake_json(const struct fake *f, const char *path)
{
	CURL		*e;
	struct buf	 b;
	json_object	*o;
	char		*url;
	long		 code = 0;

	buf_init(&b, 64 * MIB);
	url = fake_url(f, path);
	ASSERT_NOT_NULL(e = curl_easy_init());
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fake_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	ASSERT_EQ(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	ASSERT_EQ(code, 200);
	curl_easy_cleanup(e);
	free(url);
	o = json_tokener_parse(buf_str(&b));
	ASSERT_NOT_NULL(o);
	buf_release(&b);
	return (o);
}

/* Returns a borrowed member of o or fails. */
static json_object *
jget(json_object *o, const char *key)
{
	json_object	*v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		TEST_FAIL("JSON has no member '%s'", key);
	return (v);
}

/* Returns the largest conn_id the fake has seen so far (0 if none). */
static int
fake_max_conn_id(const struct fake *f)
{
	json_object	*a;
	size_t		 i;
	int		 id, max = 0;

	a = fake_json(f, "/__fake/connections");
	for (i = 0; i < json_object_array_length(a); i++) {
		id = json_object_get_int(jget(json_object_array_get_idx(a, i),
		    "conn_id"));
		if (id > max)
			max = id;
	}
	json_object_put(a);
	return (max);
}

/* Reads a "Name: N kB" line of /proc/self/status, in bytes. */
static long long
test_proc_status_kb(const char *name)
{
	FILE		*f;
	char		 line[256];
	long long	 kb = -1;
	size_t		 n = strlen(name);

	ASSERT_NOT_NULL(f = fopen("/proc/self/status", "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			kb = atoll(line + n + 1);
			break;
		}
	}
	fclose(f);
	ASSERT(kb >= 0);
	return (kb * 1024);
}

/* Returns a TCP port on 127.0.0.1 with nothing listening on it. */
static int
test_dead_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd, port;

	ASSERT((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);		/* bound but never listening: refused */
	return (port);
}

/* Per-test set-up: curl, a loop and an upstream client. */
static struct upstream *
test_setup(uv_loop_t *loop)
{
	struct upstream	*up;
	char		*cause = NULL;

	ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	ASSERT_EQ(uv_loop_init(loop), 0);
	up = upstream_new(loop, &cause);
	if (up == NULL)
		TEST_FAIL("upstream_new: %s", cause);
	return (up);
}

/* Shuts the client down, runs the loop dry and checks it closes cleanly. */
static void
test_teardown(struct upstream *up, uv_loop_t *loop, struct fake *f)
{
	upstream_shutdown(up);
	ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
	ASSERT_EQ(uv_loop_close(loop), 0);
	if (f != NULL)
		fake_stop(f);
	curl_global_cleanup();
#ifdef UPSTREAM_TEST_LSAN
	ASSERT_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

/* Runs the loop until *flag becomes nonzero. */
static void
run_until(uv_loop_t *loop, const int *flag)
{
	while (!*flag)
		uv_run(loop, UV_RUN_ONCE);
}

/* Sets the flag a timer points at. */
static void
run_for_cb(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Runs the loop for about ms milliseconds. */
static void
run_for(uv_loop_t *loop, uint64_t ms)
{
	uv_timer_t	 t;
	int		 fired = 0;

	uv_timer_init(loop, &t);
	t.data = &fired;
	uv_timer_start(&t, run_for_cb, ms, 0);
	run_until(loop, &fired);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

/* Initialises a collector whose body may reach max bytes. */
static void
coll_init(struct coll *c, size_t max, int *left)
{
	memset(c, 0, sizeof *c);
	buf_init(&c->body, max);
	c->left = left;
	c->res = -1;
}

/* Frees what a collector holds. */
static void
coll_release(struct coll *c)
{
	size_t	 i;

	for (i = 0; i < c->nh; i++) {
		free(c->hname[i]);
		free(c->hvalue[i]);
	}
	buf_release(&c->body);
}

/* Returns the value of response header name (lower-case), or NULL. */
static const char *
coll_header(const struct coll *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nh; i++) {
		if (strcmp(c->hname[i], name) == 0)
			return (c->hvalue[i]);
	}
	return (NULL);
}

/* on_headers: copies the header block. */
static int
coll_headers_cb(struct upstream_xfer *x, void *arg, int status,
    const struct upstream_header *h, size_t n)
{
	struct coll	*c = arg;
	size_t		 i;

	ASSERT(x == c->x);
	c->hdr_calls++;
	c->hdr_status = status;
	c->body_bytes_at_hdr = c->body.len;
	for (i = 0; i < n && c->nh < 64; i++, c->nh++) {
		c->hname[c->nh] = xstrdup(h[i].name);
		c->hvalue[c->nh] = xstrdup(h[i].value);
	}
	return (0);
}

/* on_data: appends to the body. */
static int
coll_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	struct coll	*c = arg;

	ASSERT(x == c->x);
	ASSERT_EQ(c->hdr_calls, 1);
	ASSERT_EQ(c->done_calls, 0);
	ASSERT_EQ(buf_add(&c->body, data, len), 0);
	if (c->shut != NULL && c->body.len >= 100) {
		upstream_shutdown(c->shut);
		c->shut = NULL;
	}
	return (UPSTREAM_CONTINUE);
}

/* on_done: records the result. */
static void
coll_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct coll	*c = arg;

	ASSERT(x == c->x);
	ASSERT_NOT_NULL(err);
	c->done_calls++;
	c->res = res;
	c->status = status;
	snprintf(c->err, sizeof c->err, "%s", err);
	c->done_ns = uv_hrtime();
	c->xbytes = upstream_xfer_bytes(x);
	if (c->left != NULL)
		(*c->left)--;
}

static const struct upstream_cbs coll_cbs = {
	coll_headers_cb, coll_data_cb, coll_done_cb
};

/* Creates and starts a transfer feeding c. */
static void
coll_start(struct coll *c, struct upstream *up, const char *method,
    const char *url, const struct upstream_opts *o)
{
	c->x = upstream_xfer_new(up, method, url, &coll_cbs, c);
	ASSERT_NOT_NULL(c->x);
	if (o != NULL)
		upstream_xfer_opts(c->x, o);
	ASSERT_EQ(upstream_xfer_start(c->x), 0);
}

TEST_IMPL(upstream_get_basic)
{
	struct fake	 f;
	uv_loop_t	 loop;
	struct upstream	*up;
	struct coll	 a, b, gz;
	char		*url;
	int		 left = 3;

	fake_start(&f, "{\"routes\":["
	    "{\"method\":\"GET\",\"path\":\"/hello\",\"status\":200,"
	    "\"headers\":{\"X-Test\":\"  Some Value \","
	    "\"Content-Type\":\"text/plain\"},"
	    "\"body\":\"hello, world\\n\"},"
	    "{\"method\":\"GET\",\"path\":\"/chunks\",\"status\":201,"
	    "\"chunked\":true,\"split_every\":3,"
	    "\"body\":\"0123456789abcdefghij\"},"
	    "{\"method\":\"GET\",\"path\":\"/gz\","
	    "\"headers\":{\"Content-Encoding\":\"gzip\"},\"body_b64\":"
	    "\"H4sIAAAAAAACA8tIzcnJ11FIr8osUCjPL8pJ4cogQgQARBTpkTYAAAA=\"}]}");
	up = test_setup(&loop);

	coll_init(&a, MIB, &left);
	coll_init(&b, MIB, &left);
	coll_init(&gz, MIB, &left);
	url = fake_url(&f, "/hello");
	coll_start(&a, up, "GET", url, NULL);
	free(url);
	url = fake_url(&f, "/chunks");
	coll_start(&b, up, "GET", url, NULL);
	free(url);
	url = fake_url(&f, "/gz");
	coll_start(&gz, up, "GET", url, NULL);
	free(url);
	ASSERT_EQ(upstream_active(up), 3);
	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ(upstream_active(up), 0);

	ASSERT_EQ(a.done_calls, 1);
	ASSERT_EQ(a.res, UPSTREAM_OK);
	ASSERT_STR_EQ(a.err, "ok");
	ASSERT_EQ(a.status, 200);
	ASSERT_EQ(a.hdr_calls, 1);
	ASSERT_EQ(a.hdr_status, 200);
	ASSERT_EQ(a.body_bytes_at_hdr, 0);
	ASSERT_STR_EQ(coll_header(&a, "x-test"), "Some Value");
	ASSERT_STR_EQ(coll_header(&a, "content-type"), "text/plain");
	ASSERT_STR_EQ(coll_header(&a, "content-length"), "13");
	ASSERT_NULL(coll_header(&a, "X-Test"));
	ASSERT_EQ(a.body.len, 13);
	ASSERT_STR_EQ(buf_str(&a.body), "hello, world\n");

	ASSERT_EQ(b.done_calls, 1);
	ASSERT_EQ(b.res, UPSTREAM_OK);
	ASSERT_EQ(b.status, 201);
	ASSERT_EQ(b.hdr_status, 201);
	ASSERT_STR_EQ(coll_header(&b, "transfer-encoding"), "chunked");
	ASSERT_STR_EQ(buf_str(&b.body), "0123456789abcdefghij");

	/* curl asked for and decoded a compressed body */
	ASSERT_EQ(gz.res, UPSTREAM_OK);
	ASSERT_STR_EQ(coll_header(&gz, "content-encoding"), "gzip");
	ASSERT_STR_EQ(buf_str(&gz.body),
	    "hello, gzip world\nhello, gzip world\nhello, gzip world\n");

	coll_release(&a);
	coll_release(&b);
	coll_release(&gz);
	test_teardown(up, &loop, &f);
}

TEST_IMPL(upstream_post_body_headers)
{
	static const char	 body[] = "{\"model\":\"m\",\"n\":1}";
	struct fake		 f;
	uv_loop_t		 loop;
	struct upstream		*up;
	struct coll		 a, b, c;
	json_object		*echo, *reqs, *r, *h;
	char			*url;
	int			 left = 3;
	size_t			 i, seen = 0;

	fake_start(&f, "{\"routes\":[{\"path\":\"/echo\",\"echo\":true}]}");
	up = test_setup(&loop);
	url = fake_url(&f, "/echo");

	coll_init(&a, MIB, &left);
	a.x = upstream_xfer_new(up, "POST", url, &coll_cbs, &a);
	upstream_xfer_header(a.x, "Content-Type", "application/json");
	upstream_xfer_header(a.x, "X-Custom", "custom-value");
	upstream_xfer_header(a.x, "X-Bad", "evil\r\nInjected: 1");
	upstream_xfer_body(a.x, body, strlen(body));
	ASSERT_EQ(upstream_xfer_start(a.x), 0);

	coll_init(&b, MIB, &left);
	b.x = upstream_xfer_new(up, "PATCH", url, &coll_cbs, &b);
	upstream_xfer_header(b.x, "X-Other", "2");
	upstream_xfer_body(b.x, "patch", 5);
	ASSERT_EQ(upstream_xfer_start(b.x), 0);

	/* an interim 100 response is not what on_headers sees */
	coll_init(&c, MIB, &left);
	c.x = upstream_xfer_new(up, "PUT", url, &coll_cbs, &c);
	upstream_xfer_header(c.x, "Expect", "100-continue");
	upstream_xfer_body(c.x, "put", 3);
	ASSERT_EQ(upstream_xfer_start(c.x), 0);
	free(url);

	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);

	ASSERT_EQ(a.res, UPSTREAM_OK);
	ASSERT_EQ(a.status, 200);
	ASSERT_NOT_NULL(echo = json_tokener_parse(buf_str(&a.body)));
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "method")), "POST");
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "body")), body);
	h = jget(echo, "headers");
	ASSERT_STR_EQ(json_object_get_string(jget(h, "x-custom")),
	    "custom-value");
	ASSERT_STR_EQ(json_object_get_string(jget(h, "content-type")),
	    "application/json");
	ASSERT(!json_object_object_get_ex(h, "x-bad", NULL));
	ASSERT(!json_object_object_get_ex(h, "injected", NULL));
	ASSERT(!json_object_object_get_ex(h, "expect", NULL));
	json_object_put(echo);

	ASSERT_EQ(b.res, UPSTREAM_OK);
	ASSERT_NOT_NULL(echo = json_tokener_parse(buf_str(&b.body)));
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "method")), "PATCH");
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "body")), "patch");
	json_object_put(echo);

	ASSERT_EQ(c.res, UPSTREAM_OK);
	ASSERT_EQ(c.hdr_calls, 1);
	ASSERT_EQ(c.hdr_status, 200);
	ASSERT_STR_EQ(coll_header(&c, "content-type"), "application/json");
	ASSERT_NOT_NULL(echo = json_tokener_parse(buf_str(&c.body)));
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "method")), "PUT");
	ASSERT_STR_EQ(json_object_get_string(jget(jget(echo, "headers"),
	    "expect")), "100-continue");
	ASSERT_STR_EQ(json_object_get_string(jget(echo, "body")), "put");
	json_object_put(echo);

	/* and what the fake recorded */
	reqs = fake_json(&f, "/__fake/requests");
	for (i = 0; i < json_object_array_length(reqs); i++) {
		r = json_object_array_get_idx(reqs, i);
		if (strcmp(json_object_get_string(jget(r, "method")),
		    "POST") != 0)
			continue;
		seen++;
		ASSERT_STR_EQ(json_object_get_string(jget(r, "path")),
		    "/echo");
		ASSERT_STR_EQ(json_object_get_string(jget(r, "body")), body);
		ASSERT_STR_EQ(json_object_get_string(jget(jget(r, "headers"),
		    "x-custom")), "custom-value");
	}
	ASSERT_EQ(seen, 1);
	json_object_put(reqs);

	coll_release(&a);
	coll_release(&b);
	coll_release(&c);
	test_teardown(up, &loop, &f);
}

#define MANY_CONCURRENT	120
#define MANY_BATCHES	10
#define MANY_BATCH	10

/* Starts n GETs of /n/<first + i> and runs the loop until all are done. */
static void
many_run(struct upstream *up, uv_loop_t *loop, const struct fake *f,
    struct coll *c, int first, int n)
{
	json_object	*o;
	char		*url, path[64];
	int		 i, left = n;

	for (i = 0; i < n; i++) {
		coll_init(&c[i], 64 * 1024, &left);
		snprintf(path, sizeof path, "/n/%d", first + i);
		url = fake_url(f, path);
		coll_start(&c[i], up, "GET", url, NULL);
		free(url);
	}
	ASSERT_EQ(upstream_active(up), n);
	while (left > 0)
		uv_run(loop, UV_RUN_ONCE);
	ASSERT_EQ(upstream_active(up), 0);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(c[i].done_calls, 1);
		if (c[i].res != UPSTREAM_OK)
			TEST_FAIL("transfer %d: result %d: %s", first + i,
			    c[i].res, c[i].err);
		ASSERT_EQ(c[i].status, 200);
		o = json_tokener_parse(buf_str(&c[i].body));
		ASSERT_NOT_NULL(o);
		snprintf(path, sizeof path, "/n/%d", first + i);
		ASSERT_STR_EQ(json_object_get_string(jget(o, "path")), path);
		json_object_put(o);
		coll_release(&c[i]);
	}
}

TEST_IMPL(upstream_many_concurrent)
{
	struct fake	 f;
	uv_loop_t	 loop;
	struct upstream	*up;
	struct coll	*c;
	json_object	*conns, *ci;
	size_t		 i;
	int		 batch, before, fresh = 0;

	fake_start(&f,
	    "{\"routes\":[{\"path_prefix\":\"/n/\",\"echo\":true}]}");
	up = test_setup(&loop);
	c = xcalloc(MANY_CONCURRENT, sizeof *c);

	/* all at once: one connection each (HTTP/1.1) */
	many_run(up, &loop, &f, c, 0, MANY_CONCURRENT);

	/* then batches in sequence: the cached connections are reused */
	before = fake_max_conn_id(&f);
	for (batch = 0; batch < MANY_BATCHES; batch++)
		many_run(up, &loop, &f, c, 1000 + batch * MANY_BATCH,
		    MANY_BATCH);
	conns = fake_json(&f, "/__fake/connections");
	for (i = 0; i < json_object_array_length(conns); i++) {
		ci = json_object_array_get_idx(conns, i);
		if (json_object_get_int(jget(ci, "conn_id")) > before &&
		    json_object_get_int(jget(ci, "scripted_requests")) > 0)
			fresh++;
	}
	json_object_put(conns);
	/* no reuse would mean MANY_BATCHES * MANY_BATCH new connections */
	ASSERT_LE(fresh, MANY_BATCH);

	free(c);
	test_teardown(up, &loop, &f);
}

#define SLOW_TEXT	\
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
#define SLOW_COUNT	(1024 * 1024)	/* 64-byte text: 64 MiB */

/* State of the slow consumer. */
struct slow {
	struct upstream_xfer	*x;
	uv_timer_t		 timer;
	uint64_t		 bytes;
	int			 calls;
	int			 pauses;
	int			 refused;	/* last chunk was refused */
	int			 long_pause_done;
	int			 paused;
	int			 done_calls;
	enum upstream_result	 res;
	char			 err[256];
	int			 mismatch;
};

/* Timer: the consumer is ready again. */
static void
slow_resume_cb(uv_timer_t *t)
{
	struct slow	*s = t->data;

	ASSERT(s->paused);
	s->paused = 0;
	upstream_xfer_resume(s->x);
}

/*
 * on_data of the slow consumer: refuses (pauses) a chunk and takes it when
 * it comes again after a resume a few ms later; every chunk at first,
 * then now and then; once, it stays paused for longer than the idle
 * timeout, which must not count.
 */
static int
slow_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	static const char	 text[] = SLOW_TEXT;
	struct slow		*s = arg;
	size_t			 i, off;
	uint64_t		 delay = 0;

	ASSERT(x == s->x);
	ASSERT(!s->paused);
	s->calls++;
	if (!s->refused) {
		if (s->pauses < 100)
			delay = 3;
		else if (!s->long_pause_done && s->bytes > 32 * MIB) {
			s->long_pause_done = 1;
			delay = 1500;
		} else if (s->calls % 256 == 0)
			delay = 1;
	}
	if (delay > 0) {
		s->refused = 1;
		s->pauses++;
		s->paused = 1;
		uv_timer_start(&s->timer, slow_resume_cb, delay, 0);
		return (UPSTREAM_PAUSE);
	}
	s->refused = 0;
	off = (size_t)(s->bytes % (sizeof text - 1));
	for (i = 0; i < len; i++) {
		if (data[i] != text[off])
			s->mismatch++;
		if (++off == sizeof text - 1)
			off = 0;
	}
	s->bytes += len;
	return (UPSTREAM_CONTINUE);
}

/* on_done of the slow consumer. */
static void
slow_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct slow	*s = arg;

	ASSERT(x == s->x);
	ASSERT_EQ(status, 200);
	s->done_calls++;
	s->res = res;
	snprintf(s->err, sizeof s->err, "%s", err);
}

static const struct upstream_cbs slow_cbs = { NULL, slow_data_cb,
    slow_done_cb };

TEST_IMPL(upstream_slow_consumer)
{
	struct fake		 f;
	uv_loop_t		 loop;
	struct upstream		*up;
	struct slow		 s;
	struct upstream_opts	 o = { 0, 1000, 0 };
	char			 script[512], *url;
	long long		 hwm0, hwm1;

	snprintf(script, sizeof script, "{\"routes\":[{\"path\":\"/big\","
	    "\"repeat\":{\"text\":\"%s\",\"count\":%d}}]}", SLOW_TEXT,
	    SLOW_COUNT);
	fake_start(&f, script);
	up = test_setup(&loop);
	memset(&s, 0, sizeof s);
	s.res = -1;
	uv_timer_init(&loop, &s.timer);
	s.timer.data = &s;

	hwm0 = test_proc_status_kb("VmHWM");
	url = fake_url(&f, "/big");
	s.x = upstream_xfer_new(up, "GET", url, &slow_cbs, &s);
	free(url);
	upstream_xfer_opts(s.x, &o);
	ASSERT_EQ(upstream_xfer_start(s.x), 0);
	run_until(&loop, &s.done_calls);
	hwm1 = test_proc_status_kb("VmHWM");

	if (s.res != UPSTREAM_OK)
		TEST_FAIL("result %d: %s", s.res, s.err);
	ASSERT_EQ(s.done_calls, 1);
	ASSERT_EQ(s.bytes, (uint64_t)64 * SLOW_COUNT);
	ASSERT_EQ(s.mismatch, 0);
	ASSERT(s.pauses >= 100);
	ASSERT(s.long_pause_done);
	/* curl did not buffer the body while we were slow */
	ASSERT_LE(hwm1 - hwm0, 16 * MIB);

	uv_close((uv_handle_t *)&s.timer, NULL);
	test_teardown(up, &loop, &f);
}

/* State of the abort test. */
struct abortst {
	struct upstream_xfer	*x;
	int			 chunks;
	int			 aborted;
	int			 done_calls;
	int			 hdr_calls;
};

/* on_headers of the abort test. */
static int
abort_headers_cb(struct upstream_xfer *x, void *arg, int status,
    const struct upstream_header *h, size_t n)
{
	struct abortst	*a = arg;

	(void)h;
	(void)n;
	ASSERT(x == a->x);
	ASSERT_EQ(status, 200);
	a->hdr_calls++;
	return (0);
}

/* on_data of the abort test: aborts from inside the second chunk. */
static int
abort_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	struct abortst	*a = arg;

	(void)data;
	(void)len;
	ASSERT(x == a->x);
	ASSERT(!a->aborted);
	if (++a->chunks == 2) {
		upstream_xfer_abort(x);
		upstream_xfer_abort(x);		/* twice is harmless */
		a->aborted = 1;
	}
	return (UPSTREAM_CONTINUE);
}

/* on_done of the abort test: must never run. */
static void
abort_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct abortst	*a = arg;

	(void)x;
	(void)res;
	(void)status;
	(void)err;
	a->done_calls++;
}

static const struct upstream_cbs abort_cbs = { abort_headers_cb,
    abort_data_cb, abort_done_cb };

/* Ways an edge-case transfer misbehaves in its callbacks. */
enum edge_mode {
	EDGE_ABORT_RET,		/* on_data returns UPSTREAM_ABORT */
	EDGE_HDR_REJECT,	/* on_headers returns -1 */
	EDGE_CROSS,		/* on_data aborts victim, starts spawn */
	EDGE_VICTIM,		/* aborted by another transfer */
	EDGE_OUTSIDE,		/* aborted by us right after start */
};

/* State of one edge-case transfer. */
struct edge {
	struct upstream_xfer	*x;
	enum edge_mode		 mode;
	int			 hdr_calls;
	int			 data_calls;
	int			 done_calls;
	enum upstream_result	 res;
	struct edge		*victim;
	int			 victim_calls;	/* its calls when aborted */
	struct upstream		*up;
	struct coll		*spawn;
	const char		*spawn_url;
	int			*left;
};

/* on_headers of an edge-case transfer. */
static int
edge_headers_cb(struct upstream_xfer *x, void *arg, int status,
    const struct upstream_header *h, size_t n)
{
	struct edge	*e = arg;

	(void)h;
	(void)n;
	ASSERT(x == e->x);
	ASSERT_EQ(status, 200);
	ASSERT(e->mode != EDGE_OUTSIDE);
	e->hdr_calls++;
	return (e->mode == EDGE_HDR_REJECT ? -1 : 0);
}

/* on_data of an edge-case transfer. */
static int
edge_data_cb(struct upstream_xfer *x, void *arg, const char *data,
    size_t len)
{
	struct edge	*e = arg;
	struct edge	*v = e->victim;

	(void)data;
	(void)len;
	ASSERT(x == e->x);
	ASSERT(e->mode != EDGE_OUTSIDE && e->mode != EDGE_HDR_REJECT);
	e->data_calls++;
	if (e->mode == EDGE_ABORT_RET)
		return (UPSTREAM_ABORT);
	if (e->mode == EDGE_CROSS && e->data_calls == 1) {
		/* from inside curl: both are deferred by upstream.c */
		ASSERT_EQ(v->done_calls, 0);
		v->victim_calls = v->hdr_calls + v->data_calls;
		upstream_xfer_abort(v->x);
		coll_start(e->spawn, e->up, "GET", e->spawn_url, NULL);
	}
	return (UPSTREAM_CONTINUE);
}

/* on_done of an edge-case transfer. */
static void
edge_done_cb(struct upstream_xfer *x, void *arg, enum upstream_result res,
    int status, const char *err)
{
	struct edge	*e = arg;

	(void)status;
	ASSERT(x == e->x);
	ASSERT_NOT_NULL(err);
	e->done_calls++;
	e->res = res;
	(*e->left)--;
}

static const struct upstream_cbs edge_cbs = { edge_headers_cb,
    edge_data_cb, edge_done_cb };

/* Creates and starts an edge-case transfer of the given mode. */
static void
edge_start(struct edge *e, enum edge_mode mode, struct upstream *up,
    const struct fake *f, const char *path, int *left)
{
	char	*url;

	memset(e, 0, sizeof *e);
	e->mode = mode;
	e->up = up;
	e->left = left;
	e->res = -1;
	url = fake_url(f, path);
	e->x = upstream_xfer_new(up, "GET", url, &edge_cbs, e);
	free(url);
	ASSERT_EQ(upstream_xfer_start(e->x), 0);
}

/* Returns the conn_id of the fake's request for path, or -1. */
static int
fake_conn_of(const struct fake *f, const char *path)
{
	json_object	*reqs, *r;
	size_t		 i;
	int		 id = -1;

	reqs = fake_json(f, "/__fake/requests");
	for (i = 0; i < json_object_array_length(reqs); i++) {
		r = json_object_array_get_idx(reqs, i);
		if (strcmp(json_object_get_string(jget(r, "path")), path) == 0)
			id = json_object_get_int(jget(r, "conn_id"));
	}
	json_object_put(reqs);
	return (id);
}

/* Returns 1 if the fake saw the client close connection id. */
static int
fake_closed_by_client(const struct fake *f, int id)
{
	json_object	*conns, *ci, *by;
	size_t		 i;
	int		 closed = 0;

	conns = fake_json(f, "/__fake/connections");
	for (i = 0; i < json_object_array_length(conns); i++) {
		ci = json_object_array_get_idx(conns, i);
		if (json_object_get_int(jget(ci, "conn_id")) != id)
			continue;
		by = jget(ci, "closed_by");
		if (json_object_get_type(by) == json_type_string &&
		    strcmp(json_object_get_string(by), "client") == 0)
			closed = 1;
	}
	json_object_put(conns);
	return (closed);
}

TEST_IMPL(upstream_abort_mid_stream)
{
	struct fake	 f;
	uv_loop_t	 loop;
	struct upstream	*up;
	struct abortst	 a;
	struct edge	 eb, ec, ed, ee, ev;
	struct coll	 g;
	char		*url;
	uint64_t	 t0;
	int		 id, tries, closed = 0, left;

	fake_start(&f, "{\"routes\":["
	    "{\"path_prefix\":\"/sse-\",\"delay_ms\":150,"
	    "\"sse\":[{\"n\":1},{\"n\":2},{\"n\":3},{\"n\":4},{\"n\":5},"
	    "{\"n\":6},{\"n\":7},{\"n\":8},{\"n\":9},{\"n\":10},"
	    "{\"n\":11},{\"n\":12},{\"n\":13},{\"n\":14},{\"n\":15},"
	    "{\"n\":16},{\"n\":17},{\"n\":18},{\"n\":19},{\"n\":20},"
	    "\"[DONE]\"]},"
	    "{\"path\":\"/short\",\"delay_ms\":50,"
	    "\"sse\":[{\"n\":1},{\"n\":2},\"[DONE]\"]},"
	    "{\"path_prefix\":\"/fast\",\"body\":\"fast\"}]}");
	up = test_setup(&loop);

	/* on_data of the 2nd chunk aborts its own transfer */
	memset(&a, 0, sizeof a);
	url = fake_url(&f, "/sse-a");
	a.x = upstream_xfer_new(up, "GET", url, &abort_cbs, &a);
	free(url);
	ASSERT_EQ(upstream_xfer_start(a.x), 0);
	run_until(&loop, &a.aborted);
	t0 = uv_hrtime();
	ASSERT_EQ(upstream_active(up), 0);

	/* the fake sees the client close that connection (~1 s at most) */
	ASSERT((id = fake_conn_of(&f, "/sse-a")) > 0);
	for (tries = 0; tries < 100 && !closed; tries++) {
		run_for(&loop, 30);
		closed = fake_closed_by_client(&f, id);
	}
	ASSERT(closed);
	ASSERT_LE((uv_hrtime() - t0) / 1000000, 3000);
	run_for(&loop, 200);
	ASSERT_EQ(a.chunks, 2);
	ASSERT_EQ(a.hdr_calls, 1);
	ASSERT_EQ(a.done_calls, 0);

	/* the other ways to stop a transfer */
	left = 4;
	edge_start(&ev, EDGE_VICTIM, up, &f, "/sse-v", &left);
	edge_start(&eb, EDGE_ABORT_RET, up, &f, "/fast-b", &left);
	edge_start(&ec, EDGE_OUTSIDE, up, &f, "/fast-c", &left);
	upstream_xfer_abort(ec.x);
	edge_start(&ed, EDGE_HDR_REJECT, up, &f, "/fast-d", &left);
	coll_init(&g, MIB, &left);
	edge_start(&ee, EDGE_CROSS, up, &f, "/short", &left);
	ee.victim = &ev;
	ee.spawn = &g;
	url = fake_url(&f, "/fast-g");
	ee.spawn_url = url;
	ASSERT_EQ(upstream_active(up), 4);
	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);
	free(url);
	run_for(&loop, 300);

	ASSERT_EQ(eb.done_calls, 1);
	ASSERT_EQ(eb.res, UPSTREAM_EABORT);
	ASSERT_EQ(eb.data_calls, 1);
	ASSERT_EQ(ec.hdr_calls + ec.data_calls + ec.done_calls, 0);
	ASSERT_EQ(ed.done_calls, 1);
	ASSERT_EQ(ed.res, UPSTREAM_EABORT);
	ASSERT_EQ(ed.hdr_calls, 1);
	ASSERT_EQ(ed.data_calls, 0);
	ASSERT_EQ(ee.done_calls, 1);
	ASSERT_EQ(ee.res, UPSTREAM_OK);
	ASSERT(ee.data_calls >= 1);
	ASSERT_EQ(ev.done_calls, 0);
	ASSERT_EQ(ev.hdr_calls + ev.data_calls, ev.victim_calls);
	ASSERT_EQ(g.done_calls, 1);
	ASSERT_EQ(g.res, UPSTREAM_OK);
	ASSERT_STR_EQ(buf_str(&g.body), "fast");
	ASSERT_EQ(upstream_active(up), 0);
	coll_release(&g);
	test_teardown(up, &loop, &f);
}

TEST_IMPL(upstream_stall_timeout)
{
	struct fake		 f;
	uv_loop_t		 loop;
	struct upstream		*up;
	struct coll		 c;
	struct upstream_opts	 o = { 5000, 500, 0 };
	char			*url;
	uint64_t		 t0;
	size_t			 i;
	int			 left = 1;

	fake_start(&f, "{\"routes\":[{\"path\":\"/stall\","
	    "\"repeat\":{\"text\":\"abcdefgh\",\"count\":1000},"
	    "\"stall_after_bytes\":3000,\"stall_ms\":600000}]}");
	up = test_setup(&loop);
	coll_init(&c, MIB, &left);
	url = fake_url(&f, "/stall");
	t0 = uv_hrtime();
	coll_start(&c, up, "GET", url, &o);
	free(url);
	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);

	ASSERT_EQ(c.done_calls, 1);
	ASSERT_EQ(c.res, UPSTREAM_ETIMEOUT);
	ASSERT_EQ(c.status, 200);
	ASSERT(c.err[0] != '\0');
	/* 0.5 s idle; generous upper bound for a loaded machine */
	ASSERT((c.done_ns - t0) / 1000000 >= 450);
	ASSERT_LE((c.done_ns - t0) / 1000000, 5000);
	ASSERT_EQ(c.body.len, 3000);
	ASSERT_EQ(c.xbytes, 3000);
	for (i = 0; i < c.body.len; i++)
		ASSERT_EQ(c.body.data[i], "abcdefgh"[i % 8]);
	ASSERT_EQ(upstream_active(up), 0);
	coll_release(&c);
	test_teardown(up, &loop, &f);
}

TEST_IMPL(upstream_early_close)
{
	struct fake	 f;
	uv_loop_t	 loop;
	struct upstream	*up;
	struct coll	 a, b;
	char		*url;
	int		 left = 2;

	fake_start(&f, "{\"routes\":["
	    "{\"path\":\"/early\",\"repeat\":{\"text\":\"y\",\"count\":1000},"
	    "\"close_after_bytes\":500},"
	    "{\"path\":\"/nothing\",\"close_before_headers\":true}]}");
	up = test_setup(&loop);
	coll_init(&a, MIB, &left);
	coll_init(&b, MIB, &left);
	url = fake_url(&f, "/early");
	coll_start(&a, up, "GET", url, NULL);
	free(url);
	url = fake_url(&f, "/nothing");
	coll_start(&b, up, "GET", url, NULL);
	free(url);
	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);

	ASSERT_EQ(a.done_calls, 1);
	ASSERT_EQ(a.res, UPSTREAM_EPROTO);
	ASSERT_EQ(a.status, 200);
	ASSERT_EQ(a.hdr_calls, 1);
	ASSERT_STR_EQ(coll_header(&a, "content-length"), "1000");
	ASSERT_EQ(a.body.len, 500);
	ASSERT(a.err[0] != '\0');

	ASSERT_EQ(b.done_calls, 1);
	ASSERT_EQ(b.res, UPSTREAM_EPROTO);
	ASSERT_EQ(b.status, 0);
	ASSERT_EQ(b.hdr_calls, 0);
	ASSERT(b.err[0] != '\0');

	coll_release(&a);
	coll_release(&b);
	test_teardown(up, &loop, &f);
}

TEST_IMPL(upstream_connect_refused)
{
	uv_loop_t		 loop;
	struct upstream		*up;
	struct coll		 c;
	struct upstream_opts	 o = { 5000, 5000, 10000 };
	char			*url;
	int			 left = 1;

	up = test_setup(&loop);
	coll_init(&c, MIB, &left);
	url = xasprintf("http://127.0.0.1:%d/x", test_dead_port());
	coll_start(&c, up, "GET", url, &o);
	free(url);
	while (left > 0)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ(c.done_calls, 1);
	ASSERT_EQ(c.res, UPSTREAM_ECONNECT);
	ASSERT_EQ(c.status, 0);
	ASSERT_EQ(c.hdr_calls, 0);
	ASSERT(c.err[0] != '\0');
	ASSERT_EQ(upstream_active(up), 0);
	coll_release(&c);
	test_teardown(up, &loop, NULL);
}

TEST_IMPL(upstream_shutdown_inflight)
{
	struct fake	 f;
	uv_loop_t	 loop;
	struct upstream	*up;
	struct coll	 a, b, c;
	char		*url;
	int		 left = 3;

	fake_start(&f, "{\"routes\":[{\"path\":\"/stall\","
	    "\"repeat\":{\"text\":\"z\",\"count\":1000},"
	    "\"stall_after_bytes\":100,\"stall_ms\":600000}]}");
	up = test_setup(&loop);
	url = fake_url(&f, "/stall");
	coll_init(&a, MIB, &left);
	coll_start(&a, up, "GET", url, NULL);
	while (a.body.len < 100)
		uv_run(&loop, UV_RUN_ONCE);
	/* one more that may not even be connected, one never started */
	coll_init(&b, MIB, &left);
	coll_start(&b, up, "GET", url, NULL);
	coll_init(&c, MIB, &left);
	c.x = upstream_xfer_new(up, "GET", url, &coll_cbs, &c);
	free(url);
	ASSERT_EQ(upstream_active(up), 2);

	upstream_shutdown(up);
	ASSERT_EQ(left, 0);
	ASSERT_EQ(a.done_calls, 1);
	ASSERT_EQ(a.res, UPSTREAM_ESHUTDOWN);
	ASSERT_EQ(a.status, 200);
	ASSERT_EQ(a.body.len, 100);
	ASSERT_EQ(b.done_calls, 1);
	ASSERT_EQ(b.res, UPSTREAM_ESHUTDOWN);
	ASSERT_EQ(c.done_calls, 1);
	ASSERT_EQ(c.res, UPSTREAM_ESHUTDOWN);
	upstream_shutdown(up);		/* idempotent */

	ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ASSERT_EQ(a.done_calls, 1);
	ASSERT_EQ(b.done_calls, 1);
	ASSERT_EQ(uv_loop_close(&loop), 0);
	coll_release(&a);
	coll_release(&b);
	coll_release(&c);

	/* from inside on_data it happens once curl has returned */
	ASSERT_EQ(uv_loop_init(&loop), 0);
	ASSERT_NOT_NULL(up = upstream_new(&loop, NULL));
	url = fake_url(&f, "/stall");
	left = 1;
	coll_init(&a, MIB, &left);
	a.shut = up;
	coll_start(&a, up, "GET", url, NULL);
	free(url);
	ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ASSERT_EQ(left, 0);
	ASSERT_NULL(a.shut);
	ASSERT_EQ(a.done_calls, 1);
	ASSERT_EQ(a.res, UPSTREAM_ESHUTDOWN);
	ASSERT_EQ(a.body.len, 100);
	ASSERT_EQ(uv_loop_close(&loop), 0);
	coll_release(&a);

	fake_stop(&f);
	curl_global_cleanup();
#ifdef UPSTREAM_TEST_LSAN
	ASSERT_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}
