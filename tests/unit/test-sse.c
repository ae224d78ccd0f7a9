/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proxy/sse.c: a recorded Copilot-shaped stream parsed
 * whole and split at every byte boundary gives the same events; CRLF, CR
 * and LF endings, multi-line data, comments, event names, a BOM, and the
 * per-event cap.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "test.h"

struct sse_rec {
	struct buf	 out;	/* "event|data\n" per event */
	int		 n;
	int		 stop_at;
};

static int
sse_rec_cb(void *arg, const char *event, const char *data, size_t len)
{
	struct sse_rec	*r = arg;

	buf_addf(&r->out, "%s|", event != NULL ? event : "-");
	buf_add(&r->out, data, len);
	buf_adds(&r->out, "\n");
	r->n++;
	return (r->stop_at != 0 && r->n == r->stop_at ? -1 : 0);
}

static const char sse_recorded[] =
    "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n"
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9\"}}]}\r\r"
    "event: response.output_text.delta\n"
    "data: line one\n"
    "data: line two\n"
    "id: 7\n"
    "retry: 100\n\n"
    "data:nospace\n\n"
    "data: [DONE]\n\n";

static const char sse_expected[] =
    "-|{\"choices\":[],\"prompt_filter_results\":[]}\n"
    "-|{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n"
    "-|{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9\"}}]}\n"
    "response.output_text.delta|line one\nline two\n"
    "-|nospace\n"
    "-|[DONE]\n";

TEST_IMPL(sse_split_everywhere)
{
	struct sse_rec	 rec;
	struct sse	 s;
	size_t		 len = sizeof sse_recorded - 1, cut, cut2;

	/* Whole. */
	memset(&rec, 0, sizeof rec);
	buf_init(&rec.out, 1 << 20);
	sse_init(&s, 65536, sse_rec_cb, &rec);
	ASSERT_EQ(sse_feed(&s, sse_recorded, len), 0);
	ASSERT_STR_EQ(buf_str(&rec.out), sse_expected);
	ASSERT(!sse_pending(&s));
	sse_release(&s);
	buf_release(&rec.out);

	/* Split once at every byte boundary. */
	for (cut = 0; cut <= len; cut++) {
		memset(&rec, 0, sizeof rec);
		buf_init(&rec.out, 1 << 20);
		sse_init(&s, 65536, sse_rec_cb, &rec);
		ASSERT_EQ(sse_feed(&s, sse_recorded, cut), 0);
		ASSERT_EQ(sse_feed(&s, sse_recorded + cut, len - cut), 0);
		if (strcmp(buf_str(&rec.out), sse_expected) != 0)
			TEST_FAIL("split at %zu: got \"%s\"", cut,
			    buf_str(&rec.out));
		sse_release(&s);
		buf_release(&rec.out);
	}

	/* Split twice, and one byte at a time. */
	for (cut = 1; cut < len; cut += 7) {
		for (cut2 = cut; cut2 <= len; cut2 += 5) {
			memset(&rec, 0, sizeof rec);
			buf_init(&rec.out, 1 << 20);
			sse_init(&s, 65536, sse_rec_cb, &rec);
			ASSERT_EQ(sse_feed(&s, sse_recorded, cut), 0);
			ASSERT_EQ(sse_feed(&s, sse_recorded + cut, cut2 - cut),
			    0);
			ASSERT_EQ(sse_feed(&s, sse_recorded + cut2, len - cut2),
			    0);
			ASSERT_STR_EQ(buf_str(&rec.out), sse_expected);
			sse_release(&s);
			buf_release(&rec.out);
		}
	}
	memset(&rec, 0, sizeof rec);
	buf_init(&rec.out, 1 << 20);
	sse_init(&s, 65536, sse_rec_cb, &rec);
	for (cut = 0; cut < len; cut++)
		ASSERT_EQ(sse_feed(&s, sse_recorded + cut, 1), 0);
	ASSERT_STR_EQ(buf_str(&rec.out), sse_expected);
	sse_release(&s);
	buf_release(&rec.out);
}

TEST_IMPL(sse_limits_and_stop)
{
	struct sse_rec	 rec;
	struct sse	 s;
	char		*big;

	/* An event over the cap is an error, not a bigger buffer. */
	memset(&rec, 0, sizeof rec);
	buf_init(&rec.out, 1 << 20);
	sse_init(&s, 64, sse_rec_cb, &rec);
	big = malloc(200);
	memset(big, 'x', 200);
	ASSERT_EQ(sse_feed(&s, "data: ", 6), 0);
	ASSERT_EQ(sse_feed(&s, big, 200), -1);
	free(big);
	sse_release(&s);
	buf_release(&rec.out);

	/* A BOM at the start is skipped; a callback can stop the parser. */
	memset(&rec, 0, sizeof rec);
	rec.stop_at = 1;
	buf_init(&rec.out, 1 << 20);
	sse_init(&s, 1024, sse_rec_cb, &rec);
	ASSERT_EQ(sse_feed(&s, "\xef\xbb\xbf" "data: a\n\ndata: b\n\n", 21),
	    -1);
	ASSERT_STR_EQ(buf_str(&rec.out), "-|a\n");
	sse_release(&s);
	buf_release(&rec.out);

	/* A stream cut mid-event leaves it pending. */
	memset(&rec, 0, sizeof rec);
	buf_init(&rec.out, 1 << 20);
	sse_init(&s, 1024, sse_rec_cb, &rec);
	ASSERT_EQ(sse_feed(&s, "data: partial", 13), 0);
	ASSERT(sse_pending(&s));
	ASSERT_EQ(rec.n, 0);
	sse_release(&s);
	buf_release(&rec.out);
}
