/* SPDX-License-Identifier: ISC */
#ifndef TEST_H
#define TEST_H

/*
 * A small unit-test harness (libuv test/task.h): tests are listed in
 * test-list.h, each runs in its own process with a timeout, and CTest
 * registers every test by name (ctest -R unit.buf_cap).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_IMPL(name) void test_##name(void); void test_##name(void)

#define TEST_FAIL(...) do {						\
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);			\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

#define ASSERT(expr) do {						\
	if (!(expr))							\
		TEST_FAIL("assertion failed: %s", #expr);		\
} while (0)

#define ASSERT_EQ(a, b) do {						\
	int64_t _a = (int64_t)(a), _b = (int64_t)(b);			\
	if (_a != _b)							\
		TEST_FAIL("%s == %s: %" PRId64 " != %" PRId64,		\
		    #a, #b, _a, _b);					\
} while (0)

#define ASSERT_NE(a, b) do {						\
	int64_t _a = (int64_t)(a), _b = (int64_t)(b);			\
	if (_a == _b)							\
		TEST_FAIL("%s != %s: both %" PRId64, #a, #b, _a);	\
} while (0)

#define ASSERT_LE(a, b) do {						\
	int64_t _a = (int64_t)(a), _b = (int64_t)(b);			\
	if (!(_a <= _b))						\
		TEST_FAIL("%s <= %s: %" PRId64 " > %" PRId64,		\
		    #a, #b, _a, _b);					\
} while (0)

#define ASSERT_STR_EQ(a, b) do {					\
	const char *_a = (a), *_b = (b);				\
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0)		\
		TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,	\
		    _a ? _a : "(null)", _b ? _b : "(null)");		\
} while (0)

#define ASSERT_STR_CONTAINS(hay, needle) do {				\
	const char *_h = (hay), *_n = (needle);				\
	if (_h == NULL || strstr(_h, _n) == NULL)			\
		TEST_FAIL("%s does not contain \"%s\": \"%s\"", #hay,	\
		    _n, _h ? _h : "(null)");				\
} while (0)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

/* Returns the source directory (GW_SOURCE_DIR) for locating fixtures. */
const char	*test_source_dir(void);
/* Returns a fresh temporary directory (owned by the test process). */
const char	*test_tmpdir(void);

#endif
