/* SPDX-License-Identifier: ISC */
/*
 * log: JSON-lines logging for every thread (relayd log.c, tmux log.c).
 * Lines go to stderr under `serve` and to a file in the state directory
 * when a TUI owns the terminal. A mutex guards the sink; each line is
 * built in memory and written with one write(2), so concurrent lines never
 * interleave. Secret-looking substrings are masked before writing.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "xmalloc.h"

static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		 log_fd = 2;
static int		 log_fd_owned;
static atomic_int	 log_level = LOG_LEVEL_INFO;
static _Thread_local const char *log_thread = "main";

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

void
log_open_stderr(void)
{
	log_close();
}

int
log_open_file(const char *path, char **cause)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		*cause = xasprintf("cannot open log file '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	(void)fchmod(fd, 0600);
	pthread_mutex_lock(&log_mtx);
	if (log_fd_owned)
		close(log_fd);
	log_fd = fd;
	log_fd_owned = 1;
	pthread_mutex_unlock(&log_mtx);
	return (0);
}

void
log_close(void)
{
	pthread_mutex_lock(&log_mtx);
	if (log_fd_owned)
		close(log_fd);
	log_fd = 2;
	log_fd_owned = 0;
	pthread_mutex_unlock(&log_mtx);
}

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level
log_get_level(void)
{
	return ((enum log_level)atomic_load(&log_level));
}

int
log_enabled(enum log_level level)
{
	return ((int)level >= atomic_load(&log_level));
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	 i;

	for (i = 0; i < sizeof log_level_names / sizeof log_level_names[0];
	    i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return (0);
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return (0);
	}
	return (-1);
}

const char *
log_level_name(enum log_level level)
{
	return (log_level_names[level]);
}

void
log_set_thread_name(const char *name)
{
	log_thread = name;
}

/* Secret shapes: a prefix and the characters that may follow it. */
static const char *const log_secret_prefixes[] = {
	"sk-cgw-", "ghu_", "gho_", "ghp_", "ghs_", "ghr_", "github_pat_",
	"tid=",
	"Bearer ", "bearer ",
	/* A generic word: see log_scrub (LOG_GENERIC_TOKEN). */
	"token ",
};
#define LOG_GENERIC_TOKEN 10

/* Returns 1 if c can be part of a token body. */
static int
log_secret_char(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	    c == '=' || c == '+' || c == '/' || c == ':' || c == ';');
}

char *
log_scrub(char *s)
{
	size_t	 i, plen, n;
	char	*p, *body, *end;

	for (i = 0; i < sizeof log_secret_prefixes /
	    sizeof log_secret_prefixes[0]; i++) {
		plen = strlen(log_secret_prefixes[i]);
		p = s;
		while ((p = strstr(p, log_secret_prefixes[i])) != NULL) {
			body = p + plen;
			end = body;
			while (log_secret_char((unsigned char)*end))
				end++;
			n = (size_t)(end - body);
			/*
			 * After the generic word "token ", only a long run
			 * with a digit is a credential; "token refreshed" is
			 * prose. Other prefixes always mask.
			 */
			if (n < 8 || (i == LOG_GENERIC_TOKEN &&
			    (n < 16 || strpbrk(body, "0123456789") == NULL ||
			    strpbrk(body, "0123456789") >= end))) {
				p = body;
				continue;
			}
			memcpy(body, "***", 3);
			memmove(body + 3, end, strlen(end) + 1);
			p = body + 3;
		}
	}
	return (s);
}

/* Adds one typed field to the line object. */
static void
log_add_field(struct json_object *o, const struct log_field *f)
{
	struct json_object	*v = NULL;

	switch (f->type) {
	case LOG_F_STR:
		if (f->s == NULL)
			return;		/* absent, not null */
		v = json_object_new_string(f->s);
		break;
	case LOG_F_INT:
		v = json_object_new_int64(f->i);
		break;
	case LOG_F_DBL:
		v = json_object_new_double(f->d);
		break;
	case LOG_F_BOOL:
		v = json_object_new_boolean(f->i != 0);
		break;
	case LOG_F_END:
		return;
	}
	json_object_object_add(o, f->key, v);
}

void
log_event(enum log_level level, const char *rid, const char *msg,
    const struct log_field *fields)
{
	struct json_object	*o;
	struct timespec		 ts;
	struct tm		 tm;
	char			 tbuf[64], *line;
	const char		*s;
	size_t			 len, off;
	ssize_t			 w;
	int			 saved = errno;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + len, sizeof tbuf - len, ".%03ldZ",
	    ts.tv_nsec / 1000000);

	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(tbuf));
	json_object_object_add(o, "level",
	    json_object_new_string(log_level_names[level]));
	json_object_object_add(o, "thread", json_object_new_string(log_thread));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (rid != NULL)
		json_object_object_add(o, "request_id",
		    json_object_new_string(rid));
	for (; fields != NULL && fields->type != LOG_F_END; fields++)
		log_add_field(o, fields);
	s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	line = xmalloc(len + 2);
	memcpy(line, s, len);
	line[len] = '\0';
	json_object_put(o);
	log_scrub(line);
	len = strlen(line);
	line[len++] = '\n';

	pthread_mutex_lock(&log_mtx);
	for (off = 0; off < len; off += (size_t)w) {
		w = write(log_fd, line + off, len - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w < 0)
			w = 0;
	}
	pthread_mutex_unlock(&log_mtx);
	free(line);
	errno = saved;
}

/* Formats and logs a plain message, optionally with strerror appended. */
static void
log_vplain(enum log_level level, int with_errno, const char *fmt,
    va_list ap)
{
	char	*msg, *full;
	int	 saved = errno;

	if (!log_enabled(level))
		return;
	msg = xvasprintf(fmt, ap);
	if (with_errno) {
		full = xasprintf("%s: %s", msg, strerror(saved));
		free(msg);
		msg = full;
	}
	log_event(level, NULL, msg, NULL);
	free(msg);
	errno = saved;
}

#define LOG_PLAIN_FN(name, level, with_errno)				\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	 ap;							\
									\
	va_start(ap, fmt);						\
	log_vplain(level, with_errno, fmt, ap);				\
	va_end(ap);							\
}

LOG_PLAIN_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_PLAIN_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_PLAIN_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_PLAIN_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_PLAIN_FN(log_error, LOG_LEVEL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vplain(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	xmalloc_run_fatal_hook();
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vplain(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	xmalloc_run_fatal_hook();
	exit(1);
}

void
log_bug(const char *file, int line, const char *msg)
{
	log_ev(LOG_LEVEL_ERROR, NULL, "BUG", LF_STR("what", msg),
	    LF_STR("file", file), LF_INT("line", line));
	xmalloc_run_fatal_hook();
	abort();
}
