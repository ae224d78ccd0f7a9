/* SPDX-License-Identifier: ISC */
/*
 * rnd: random bytes for ids, from OpenSSL's CSPRNG, buffered per thread.
 * RAND_bytes costs a lock round and a DRBG call however few bytes it
 * returns; every request needs 16 (its id), so one call fills a pool
 * that serves a few hundred requests. Bytes handed out are wiped from
 * the pool, so that it never holds a value that was already used.
 */
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "server.h"

#define RND_POOL	4096

static _Thread_local unsigned char	rnd_pool[RND_POOL];
static _Thread_local size_t		rnd_left;

void
rnd_bytes(void *out, size_t len)
{
	unsigned char	*p = out;
	size_t		 n;

	while (len > 0) {
		if (rnd_left == 0) {
			if (RAND_bytes(rnd_pool, sizeof rnd_pool) != 1)
				fatalx("RAND_bytes failed");
			rnd_left = sizeof rnd_pool;
		}
		n = len < rnd_left ? len : rnd_left;
		memcpy(p, rnd_pool + sizeof rnd_pool - rnd_left, n);
		explicit_bzero(rnd_pool + sizeof rnd_pool - rnd_left, n);
		rnd_left -= n;
		p += n;
		len -= n;
	}
}
