/* SPDX-License-Identifier: ISC */
/*
 * paths: resolves and creates copilot-gw's directories and writes files
 * atomically with restrictive modes. Directories are 0700, and every
 * secret-bearing file 0600, created that way rather than chmod'ed after
 * the fact. Called from the main thread and CLI commands.
 */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

/* Returns an owned path for an XDG base directory plus "copilot-gw". */
static char *
paths_xdg(const char *var, const char *fallback, const char *home,
    char **cause)
{
	const char	*v = getenv(var);

	/* The XDG spec says relative values are to be ignored. */
	if (v != NULL && v[0] == '/')
		return (xasprintf("%s/copilot-gw", v));
	if (home == NULL || home[0] != '/') {
		*cause = xasprintf("cannot find a home directory: set HOME, "
		    "%s or COPILOT_GW_HOME", var);
		return (NULL);
	}
	return (xasprintf("%s/%s/copilot-gw", home, fallback));
}

/* Returns an owned absolute version of path. */
static char *
paths_absolute(const char *path)
{
	char	 cwd[4096];

	if (path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		return (xstrdup(path));
	return (xasprintf("%s/%s", cwd, path));
}

int
paths_init(struct paths *p, const char *home, const char *config_file,
    char **cause)
{
	const char	*h;

	memset(p, 0, sizeof *p);
	if (home == NULL && (h = getenv("COPILOT_GW_HOME")) != NULL &&
	    *h != '\0')
		home = h;
	if (config_file == NULL &&
	    (h = getenv("COPILOT_GW_CONFIG")) != NULL && *h != '\0')
		config_file = h;
	if (home != NULL) {
		p->home = paths_absolute(home);
		p->config_dir = xstrdup(p->home);
		p->data_dir = xstrdup(p->home);
		p->state_dir = xstrdup(p->home);
	} else {
		h = getenv("HOME");
		if ((p->config_dir = paths_xdg("XDG_CONFIG_HOME", ".config", h,
		    cause)) == NULL ||
		    (p->data_dir = paths_xdg("XDG_DATA_HOME", ".local/share", h,
		    cause)) == NULL ||
		    (p->state_dir = paths_xdg("XDG_STATE_HOME", ".local/state",
		    h, cause)) == NULL) {
			paths_release(p);
			return (-1);
		}
	}
	if (config_file != NULL)
		p->config_file = paths_absolute(config_file);
	else
		p->config_file = xasprintf("%s/config.json", p->config_dir);
	p->db_file = xasprintf("%s/copilot-gw.db", p->data_dir);
	p->log_file = xasprintf("%s/copilot-gw.log", p->state_dir);
	return (0);
}

/* Returns an owned copy of s, or NULL. */
static char *
paths_dup(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

void
paths_copy(struct paths *dst, const struct paths *src)
{
	dst->home = paths_dup(src->home);
	dst->config_dir = paths_dup(src->config_dir);
	dst->data_dir = paths_dup(src->data_dir);
	dst->state_dir = paths_dup(src->state_dir);
	dst->config_file = paths_dup(src->config_file);
	dst->db_file = paths_dup(src->db_file);
	dst->log_file = paths_dup(src->log_file);
}

void
paths_release(struct paths *p)
{
	free(p->home);
	free(p->config_dir);
	free(p->data_dir);
	free(p->state_dir);
	free(p->config_file);
	free(p->db_file);
	free(p->log_file);
	memset(p, 0, sizeof *p);
}

int
paths_mkdir_p(const char *dir, mode_t mode, char **cause)
{
	char		*copy, *s, c;
	struct stat	 sb;

	copy = xstrdup(dir);
	/* "a/b/" is "a/b": the last component gets the mode. */
	for (s = copy + strlen(copy); s > copy + 1 && s[-1] == '/'; s--)
		s[-1] = '\0';
	for (s = copy + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		/* Missing parents get the same mode (XDG: 0700). */
		if (mkdir(copy, mode) == -1 &&
		    errno != EEXIST) {
			*cause = xasprintf("cannot create directory '%s': %s",
			    copy, strerror(errno));
			free(copy);
			return (-1);
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(copy);
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		*cause = xasprintf("'%s' is not a directory", dir);
		return (-1);
	}
	return (0);
}

int
paths_ensure(const struct paths *p, char **cause)
{
	const char	*dirs[3] = { p->config_dir, p->data_dir, p->state_dir };
	int		 i;

	for (i = 0; i < 3; i++) {
		if (paths_mkdir_p(dirs[i], 0700, cause) != 0)
			return (-1);
	}
	return (0);
}

int
paths_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char **cause)
{
	char		*tmp;
	const char	*p = data;
	ssize_t		 w;
	int		 fd;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1) {
		*cause = xasprintf("cannot create '%s': %s", tmp,
		    strerror(errno));
		free(tmp);
		return (-1);
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, mode) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	return (0);
fail:
	*cause = xasprintf("cannot write '%s': %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return (-1);
}

char *
paths_read_file(const char *path, size_t max, size_t *lenp, char **cause)
{
	FILE	*f;
	char	*data;
	size_t	 len = 0, n;

	if ((f = fopen(path, "re")) == NULL) {
		*cause = xasprintf("cannot open '%s': %s", path,
		    strerror(errno));
		return (NULL);
	}
	data = xmalloc(max + 1);
	while ((n = fread(data + len, 1, max + 1 - len, f)) > 0) {
		len += n;
		if (len > max)
			break;
	}
	if (ferror(f) || len > max) {
		*cause = len > max ?
		    xasprintf("'%s' is larger than %zu bytes", path, max) :
		    xasprintf("cannot read '%s': %s", path, strerror(errno));
		fclose(f);
		free(data);
		return (NULL);
	}
	fclose(f);
	data[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (data);
}
