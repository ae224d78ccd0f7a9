/* SPDX-License-Identifier: ISC */
/*
 * xmalloc: allocation that cannot fail from the caller's point of view
 * (tmux xmalloc.c, htop XUtils.c). Out of memory is fatal: the fatal hook
 * runs first so that a TUI can restore the terminal, then the process
 * aborts. Used from every thread; holds no state but the hook pointer.
 */
#include "xmalloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*xmalloc_fatal_hook)(void);
static atomic_flag xmalloc_hook_ran = ATOMIC_FLAG_INIT;

void
xmalloc_set_fatal_hook(void (*hook)(void))
{
	xmalloc_fatal_hook = hook;
}

void
xmalloc_run_fatal_hook(void)
{
	if (atomic_flag_test_and_set(&xmalloc_hook_ran))
		return;
	if (xmalloc_fatal_hook != NULL)
		xmalloc_fatal_hook();
}

/* Dies with a message about an allocation failure. */
static void __attribute__((noreturn))
xmalloc_die(const char *what, size_t n)
{
	xmalloc_run_fatal_hook();
	fprintf(stderr, "copilot-gw: fatal: %s of %zu bytes failed\n", what, n);
	abort();
}

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		xmalloc_die("zero-size xmalloc", size);
	if ((p = malloc(size)) == NULL)
		xmalloc_die("xmalloc", size);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		xmalloc_die("zero-size xcalloc", 0);
	if ((p = calloc(nmemb, size)) == NULL)
		xmalloc_die("xcalloc", nmemb * size);
	return (p);
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		xmalloc_die("zero-size xreallocarray", 0);
	if (size > SIZE_MAX / nmemb)
		xmalloc_die("overflowing xreallocarray", SIZE_MAX);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		xmalloc_die("xreallocarray", nmemb * size);
	return (p);
}

char *
xstrdup(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p = xmalloc(n);

	memcpy(p, s, n);
	return (p);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t	 len = strnlen(s, n);
	char	*p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return (p);
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;
	char	*p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		xmalloc_die("xvasprintf format", 0);
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return (p);
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return (p);
}
