/* SPDX-License-Identifier: ISC */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growing byte buffer with a hard cap (curl dynbuf "toobig"). Data is
 * always NUL-terminated for convenience; len excludes the NUL. Exceeding
 * the cap is an error reported to the caller, never a bigger buffer.
 * A value type embedded in its owner; not thread-safe.
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;	/* allocated bytes */
	size_t	 max;	/* hard limit on len */
};

/* Initialises an empty buffer that may hold at most max bytes. */
void	 buf_init(struct buf *, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void	 buf_release(struct buf *);
/* Empties the buffer, keeping its storage. */
void	 buf_reset(struct buf *);
/* Appends n bytes; returns 0, or -1 (buffer unchanged) past the cap. */
int	 buf_add(struct buf *, const void *, size_t n);
/* Appends a NUL-terminated string; 0 or -1 as buf_add. */
int	 buf_adds(struct buf *, const char *);
/* Appends formatted text; 0 or -1 as buf_add. */
int	 buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void	 buf_consume(struct buf *, size_t n);
/* Returns the owned contents (never NULL) and leaves the buffer empty. */
char	*buf_detach(struct buf *, size_t *lenp);
/* Returns the contents (borrowed, valid until the next change). */
const char *buf_str(const struct buf *);

#endif
