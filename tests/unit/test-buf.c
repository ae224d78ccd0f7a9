/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for buf.c, the capped growing buffer: appends past the cap
 * are refused without touching the contents, a buffer filled to exactly
 * its cap is fine, the data stays NUL-terminated, and consume/detach hand
 * back the right bytes and leave the buffer reusable.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "buf.h"

TEST_IMPL(buf_cap)
{
	struct buf	 b;
	char		 big[64];

	/* buf_add: up to the cap works, one byte more is refused. */
	buf_init(&b, 10);
	ASSERT_EQ(buf_add(&b, "hello", 5), 0);
	ASSERT_EQ(b.len, 5);
	ASSERT_STR_EQ(buf_str(&b), "hello");
	ASSERT_EQ(buf_add(&b, "world!", 6), -1);
	ASSERT_EQ(b.len, 5);
	ASSERT_STR_EQ(buf_str(&b), "hello");
	ASSERT_EQ(buf_add(&b, "world", 5), 0);
	ASSERT_EQ(b.len, 10);
	ASSERT_STR_EQ(buf_str(&b), "helloworld");
	ASSERT_EQ(b.data[10], '\0');
	ASSERT_EQ(buf_add(&b, "x", 1), -1);
	ASSERT_EQ(b.len, 10);
	ASSERT_STR_EQ(buf_str(&b), "helloworld");
	/* Adding nothing to a full buffer is not an overflow. */
	ASSERT_EQ(buf_add(&b, "", 0), 0);
	ASSERT_EQ(b.len, 10);
	/* A huge n must not wrap around the cap check. */
	ASSERT_EQ(buf_add(&b, "x", (size_t)-1), -1);
	ASSERT_STR_EQ(buf_str(&b), "helloworld");
	buf_release(&b);
	ASSERT_EQ(b.len, 0);
	ASSERT_STR_EQ(buf_str(&b), "");

	/* buf_adds: the same rules for strings. */
	buf_init(&b, 8);
	ASSERT_EQ(buf_adds(&b, "abcd"), 0);
	ASSERT_EQ(buf_adds(&b, "efghi"), -1);
	ASSERT_EQ(b.len, 4);
	ASSERT_STR_EQ(buf_str(&b), "abcd");
	ASSERT_EQ(buf_adds(&b, "efgh"), 0);
	ASSERT_EQ(b.len, 8);
	ASSERT_STR_EQ(buf_str(&b), "abcdefgh");
	ASSERT_EQ(buf_adds(&b, "i"), -1);
	ASSERT_STR_EQ(buf_str(&b), "abcdefgh");
	buf_release(&b);

	/* buf_addf: formatted text is measured against the cap. */
	buf_init(&b, 12);
	ASSERT_EQ(buf_addf(&b, "%s=%d", "port", 4141), 0);
	ASSERT_STR_EQ(buf_str(&b), "port=4141");
	ASSERT_EQ(buf_addf(&b, ";%d", 1234), -1);
	ASSERT_EQ(b.len, 9);
	ASSERT_STR_EQ(buf_str(&b), "port=4141");
	ASSERT_EQ(buf_addf(&b, ";%d", 12), 0);
	ASSERT_EQ(b.len, 12);
	ASSERT_STR_EQ(buf_str(&b), "port=4141;12");
	ASSERT_EQ(buf_addf(&b, "%s", "x"), -1);
	ASSERT_STR_EQ(buf_str(&b), "port=4141;12");
	buf_release(&b);

	/* A first append larger than the cap leaves the buffer empty. */
	memset(big, 'z', sizeof big);
	buf_init(&b, 16);
	ASSERT_EQ(buf_add(&b, big, sizeof big), -1);
	ASSERT_EQ(b.len, 0);
	ASSERT_STR_EQ(buf_str(&b), "");
	ASSERT_EQ(buf_addf(&b, "%.*s", 17, big), -1);
	ASSERT_EQ(b.len, 0);
	ASSERT_EQ(buf_addf(&b, "%.*s", 16, big), 0);
	ASSERT_EQ(b.len, 16);
	ASSERT_EQ(strlen(buf_str(&b)), 16);
	buf_release(&b);

	/* Growing past the first allocation keeps everything intact. */
	buf_init(&b, 4096);
	for (;;) {
		if (buf_adds(&b, "0123456789abcdef") != 0)
			break;
	}
	ASSERT_EQ(b.len, 4096);
	ASSERT_EQ(strlen(buf_str(&b)), 4096);
	ASSERT(memcmp(b.data + 4080, "0123456789abcdef", 16) == 0);
	ASSERT_EQ(buf_adds(&b, "x"), -1);
	buf_release(&b);

	/* A zero cap refuses every non-empty append. */
	buf_init(&b, 0);
	ASSERT_EQ(buf_add(&b, "a", 1), -1);
	ASSERT_EQ(buf_addf(&b, "%d", 1), -1);
	ASSERT_STR_EQ(buf_str(&b), "");
	buf_release(&b);
}

TEST_IMPL(buf_consume_detach)
{
	struct buf	 b;
	char		*p;
	size_t		 len;

	buf_init(&b, 64);
	ASSERT_EQ(buf_adds(&b, "GET / HTTP/1.1\r\n"), 0);

	/* Partial consume keeps the tail, NUL-terminated. */
	buf_consume(&b, 4);
	ASSERT_EQ(b.len, 12);
	ASSERT_STR_EQ(buf_str(&b), "/ HTTP/1.1\r\n");
	buf_consume(&b, 0);
	ASSERT_STR_EQ(buf_str(&b), "/ HTTP/1.1\r\n");

	/* Room freed by consume can be used again, up to the cap. */
	ASSERT_EQ(buf_adds(&b, "Host: x\r\n"), 0);
	ASSERT_STR_EQ(buf_str(&b), "/ HTTP/1.1\r\nHost: x\r\n");

	/* Consuming everything empties it. */
	buf_consume(&b, b.len);
	ASSERT_EQ(b.len, 0);
	ASSERT_STR_EQ(buf_str(&b), "");
	ASSERT_EQ(buf_adds(&b, "abc"), 0);
	ASSERT_STR_EQ(buf_str(&b), "abc");

	/* Detach hands over the data and length. */
	p = buf_detach(&b, &len);
	ASSERT_NOT_NULL(p);
	ASSERT_EQ(len, 3);
	ASSERT_STR_EQ(p, "abc");
	ASSERT_EQ(b.len, 0);
	ASSERT_STR_EQ(buf_str(&b), "");

	/* The buffer is reusable after detach and p is independent. */
	ASSERT_EQ(buf_adds(&b, "second"), 0);
	ASSERT_STR_EQ(buf_str(&b), "second");
	ASSERT_STR_EQ(p, "abc");
	free(p);
	p = buf_detach(&b, NULL);
	ASSERT_STR_EQ(p, "second");
	free(p);

	/* Detach of a never-used buffer returns an owned "". */
	buf_init(&b, 16);
	p = buf_detach(&b, &len);
	ASSERT_NOT_NULL(p);
	ASSERT_EQ(len, 0);
	ASSERT_STR_EQ(p, "");
	free(p);

	/* Reset keeps the storage but empties the contents. */
	ASSERT_EQ(buf_adds(&b, "0123456789"), 0);
	buf_reset(&b);
	ASSERT_EQ(b.len, 0);
	ASSERT_STR_EQ(buf_str(&b), "");
	ASSERT_EQ(buf_adds(&b, "0123456789abcdef"), 0);
	ASSERT_EQ(buf_adds(&b, "!"), -1);
	buf_release(&b);

	/* Release of an empty buffer is harmless, and twice too. */
	buf_release(&b);
	buf_release(&b);
}
