/* SPDX-License-Identifier: ISC */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Allocation wrappers that never return NULL: on exhaustion (or a zero
 * size, which is always a bug here) they run the fatal hook and abort.
 * Any thread.
 */

/* Returns owned memory of size bytes. */
void	*xmalloc(size_t size);
/* Returns owned zeroed memory for nmemb * size bytes (overflow checked). */
void	*xcalloc(size_t nmemb, size_t size);
/* Resizes ptr (taken) to nmemb * size bytes; returns owned. */
void	*xreallocarray(void *ptr, size_t nmemb, size_t size);
/* Returns an owned copy of s. */
char	*xstrdup(const char *s);
/* Returns an owned copy of at most n bytes of s, NUL-terminated. */
char	*xstrndup(const char *s, size_t n);
/* Returns an owned formatted string. */
char	*xasprintf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* Returns an owned formatted string. */
char	*xvasprintf(const char *fmt, va_list ap)
	    __attribute__((format(printf, 1, 0)));

/*
 * Hook run once before the process dies on a fatal error, e.g. to restore
 * the terminal. Set it from the main thread before other threads start.
 */
void	 xmalloc_set_fatal_hook(void (*hook)(void));
/* Runs the fatal hook (at most once); called by fatal paths. Any thread. */
void	 xmalloc_run_fatal_hook(void);

#endif
