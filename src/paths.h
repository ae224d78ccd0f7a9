/* SPDX-License-Identifier: ISC */
#ifndef PATHS_H
#define PATHS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Where copilot-gw keeps its files: XDG config, data and state
 * directories, or one folder for everything when COPILOT_GW_HOME or
 * --home is given. A value type; main thread builds it, others borrow.
 */
struct paths {
	char	*home;		/* override folder, or NULL */
	char	*config_dir;
	char	*data_dir;
	char	*state_dir;
	char	*config_file;	/* config.json, or --config */
	char	*db_file;	/* copilot-gw.db in data_dir */
	char	*log_file;	/* copilot-gw.log in state_dir */
};

/*
 * Fills p from the environment. home (may be NULL) overrides
 * COPILOT_GW_HOME; config_file (may be NULL) overrides COPILOT_GW_CONFIG.
 * Returns 0, or -1 with *cause set (owned by the caller).
 */
int	 paths_init(struct paths *p, const char *home, const char *config_file,
	    char **cause);
/* Deep-copies src into dst. */
void	 paths_copy(struct paths *dst, const struct paths *src);
/* Frees the strings of p. */
void	 paths_release(struct paths *p);
/* Creates the three directories (mode 0700) if missing; 0 or -1. */
int	 paths_ensure(const struct paths *p, char **cause);
/* Creates dir and its parents; new directories get mode. 0 or -1. */
int	 paths_mkdir_p(const char *dir, mode_t mode, char **cause);
/*
 * Replaces path atomically with len bytes of data (temporary file in the
 * same directory created with mode, fsync, rename). 0 or -1.
 */
int	 paths_write_atomic(const char *path, const void *data, size_t len,
	    mode_t mode, char **cause);
/* Reads a whole file up to max bytes; returns owned data or NULL. */
char	*paths_read_file(const char *path, size_t max, size_t *lenp,
	    char **cause);

#endif
