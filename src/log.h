/* SPDX-License-Identifier: ISC */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

/*
 * Structured logs: one JSON object per line with time, level, thread,
 * msg, request_id and typed fields (relayd log.h, tmux log.c). Every
 * function here is safe to call from any thread; a line is written with
 * one write(2). Known secret shapes (client keys, GitHub tokens, bearer
 * credentials) are masked as a last line of defence; callers must still
 * never pass a secret.
 */

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_ftype {
	LOG_F_END,
	LOG_F_STR,
	LOG_F_INT,
	LOG_F_DBL,
	LOG_F_BOOL,
};

/* One typed field of a log line; strings are borrowed. */
struct log_field {
	const char	*key;
	enum log_ftype	 type;
	const char	*s;
	long long	 i;
	double		 d;
};

#define LF_STR(k, v)	{ (k), LOG_F_STR, (v), 0, 0 }
#define LF_INT(k, v)	{ (k), LOG_F_INT, NULL, (long long)(v), 0 }
#define LF_DBL(k, v)	{ (k), LOG_F_DBL, NULL, 0, (double)(v) }
#define LF_BOOL(k, v)	{ (k), LOG_F_BOOL, NULL, (v) ? 1 : 0, 0 }
#define LF_END		{ NULL, LOG_F_END, NULL, 0, 0 }

/* Logs msg with request id rid (may be NULL) and the fields given. */
#define log_ev(lvl, rid, msg, ...)					\
	log_event((lvl), (rid), (msg),					\
	    (const struct log_field[]){ __VA_ARGS__, LF_END })

/* Sends logs to standard error (the default). */
void	log_open_stderr(void);
/*
 * Sends logs to path (appended, created 0600). Returns 0, or -1 with
 * *cause set (owned by the caller).
 */
int	log_open_file(const char *path, char **cause);
/* Closes a log file and goes back to standard error. */
void	log_close(void);
/* Sets the lowest level written. */
void	log_set_level(enum log_level);
/* Returns the lowest level written. */
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn" or "error"; 0 or -1. */
int	log_level_parse(const char *, enum log_level *);
/* Returns the name of a level (static string). */
const char *log_level_name(enum log_level);
/* Names the calling thread in its log lines (string must be static). */
void	log_set_thread_name(const char *);
/* Returns 1 if a line at this level would be written. */
int	log_enabled(enum log_level);

/* Writes one structured line; fields ends with LF_END (may be NULL). */
void	log_event(enum log_level, const char *rid, const char *msg,
	    const struct log_field *fields);

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Logs a warning with ": strerror(errno)" appended. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Logs at error level with strerror(errno), runs the fatal hook, exits 1. */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* Logs at error level, runs the fatal hook, exits 1. */
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* Reports an impossible state and aborts. */
#define BUG(msg) log_bug(__FILE__, __LINE__, (msg))
void	log_bug(const char *, int, const char *) __attribute__((noreturn));

/*
 * Masks known secret shapes in s in place (each secret body becomes
 * "***"); returns s. Exposed for tests and for trace redaction.
 */
char	*log_scrub(char *s);

#endif
