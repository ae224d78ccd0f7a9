/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for paths.c: one folder for everything under COPILOT_GW_HOME
 * or --home (made absolute), the XDG directories otherwise (relative XDG
 * values ignored, no home at all an error), the config file override,
 * directories created 0700; files written atomically with mode 0600 and
 * read back within a size limit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "paths.h"
#include "xmalloc.h"

/* Clears the variables paths_init reads. */
static void
paths_test_clean_env(void)
{
	ASSERT_EQ(unsetenv("COPILOT_GW_HOME"), 0);
	ASSERT_EQ(unsetenv("COPILOT_GW_CONFIG"), 0);
	ASSERT_EQ(unsetenv("XDG_CONFIG_HOME"), 0);
	ASSERT_EQ(unsetenv("XDG_DATA_HOME"), 0);
	ASSERT_EQ(unsetenv("XDG_STATE_HOME"), 0);
	ASSERT_EQ(unsetenv("HOME"), 0);
}

/* Checks that p puts everything in the folder home. */
static void
paths_test_home(const struct paths *p, const char *home)
{
	char	*s;

	ASSERT_STR_EQ(p->home, home);
	ASSERT_STR_EQ(p->config_dir, home);
	ASSERT_STR_EQ(p->data_dir, home);
	ASSERT_STR_EQ(p->state_dir, home);
	s = xasprintf("%s/config.json", home);
	ASSERT_STR_EQ(p->config_file, s);
	free(s);
	s = xasprintf("%s/copilot-gw.db", home);
	ASSERT_STR_EQ(p->db_file, s);
	free(s);
	s = xasprintf("%s/copilot-gw.log", home);
	ASSERT_STR_EQ(p->log_file, s);
	free(s);
}

/* Checks that path is a directory with mode 0700. */
static void
paths_test_dir_0700(const char *path)
{
	struct stat	 sb;

	if (stat(path, &sb) != 0)
		TEST_FAIL("stat %s: %s", path, strerror(errno));
	ASSERT(S_ISDIR(sb.st_mode));
	if ((sb.st_mode & 0777) != 0700)
		TEST_FAIL("%s has mode %03o, want 0700", path,
		    (unsigned)(sb.st_mode & 0777));
}

/* Returns the owned contents of path. */
static char *
paths_test_slurp(const char *path, size_t *lenp)
{
	char	*data, *cause = NULL;

	if ((data = paths_read_file(path, 1024 * 1024, lenp, &cause)) == NULL)
		TEST_FAIL("paths_read_file %s: %s", path, cause);
	return (data);
}

/* Returns the number of entries in dir (without . and ..). */
static int
paths_test_count_entries(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	ASSERT_NOT_NULL(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return (n);
}

TEST_IMPL(paths_home_and_xdg)
{
	struct paths	 p, q;
	char		 cwd[PATH_MAX];
	char		*tmp, *home, *s, *cause = NULL;

	paths_test_clean_env();
	ASSERT_NOT_NULL(realpath(test_tmpdir(), cwd));
	tmp = xstrdup(cwd);
	ASSERT_EQ(chdir(tmp), 0);

	/* The home argument puts everything in one folder. */
	home = xasprintf("%s/arg-home", tmp);
	ASSERT_EQ(paths_init(&p, home, NULL, &cause), 0);
	paths_test_home(&p, home);

	/* paths_copy is deep. */
	paths_copy(&q, &p);
	ASSERT(q.db_file != p.db_file);
	paths_test_home(&q, home);
	paths_release(&q);
	paths_release(&p);
	ASSERT_NULL(p.home);

	/* COPILOT_GW_HOME does the same; the argument wins over it. */
	s = xasprintf("%s/env-home", tmp);
	ASSERT_EQ(setenv("COPILOT_GW_HOME", s, 1), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	paths_test_home(&p, s);
	paths_release(&p);
	ASSERT_EQ(paths_init(&p, home, NULL, &cause), 0);
	paths_test_home(&p, home);
	paths_release(&p);
	free(s);

	/* A relative home becomes absolute (from the current directory). */
	ASSERT_EQ(setenv("COPILOT_GW_HOME", "rel/gw", 1), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
	s = xasprintf("%s/rel/gw", cwd);
	paths_test_home(&p, s);
	paths_release(&p);
	free(s);
	ASSERT_EQ(paths_init(&p, "arg", NULL, &cause), 0);
	ASSERT_EQ(p.home[0], '/');
	s = xasprintf("%s/arg", cwd);
	paths_test_home(&p, s);
	paths_release(&p);
	free(s);

	/* The config file override, as argument or COPILOT_GW_CONFIG. */
	s = xasprintf("%s/other.json", tmp);
	ASSERT_EQ(paths_init(&p, home, s, &cause), 0);
	ASSERT_STR_EQ(p.config_file, s);
	ASSERT_STR_EQ(p.config_dir, home);
	paths_release(&p);
	ASSERT_EQ(setenv("COPILOT_GW_CONFIG", s, 1), 0);
	ASSERT_EQ(paths_init(&p, home, NULL, &cause), 0);
	ASSERT_STR_EQ(p.config_file, s);
	paths_release(&p);
	free(s);
	ASSERT_EQ(paths_init(&p, home, "my.json", &cause), 0);
	s = xasprintf("%s/my.json", cwd);
	ASSERT_STR_EQ(p.config_file, s);
	paths_release(&p);
	free(s);
	ASSERT_EQ(unsetenv("COPILOT_GW_CONFIG"), 0);
	ASSERT_EQ(unsetenv("COPILOT_GW_HOME"), 0);

	/* No home anywhere: an error that says what to set. */
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), -1);
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "HOME");
	free(cause);
	cause = NULL;
	ASSERT_NULL(p.config_dir);
	ASSERT_NULL(p.db_file);
	/* A relative HOME is no home either. */
	ASSERT_EQ(setenv("HOME", "relative", 1), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), -1);
	ASSERT_NOT_NULL(cause);
	free(cause);
	cause = NULL;

	/* HOME alone: the XDG defaults under it. */
	s = xasprintf("%s/home", tmp);
	ASSERT_EQ(setenv("HOME", s, 1), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	ASSERT_NULL(p.home);
	free(s);
	s = xasprintf("%s/home/.config/copilot-gw", tmp);
	ASSERT_STR_EQ(p.config_dir, s);
	free(s);
	s = xasprintf("%s/home/.local/share/copilot-gw", tmp);
	ASSERT_STR_EQ(p.data_dir, s);
	free(s);
	s = xasprintf("%s/home/.local/state/copilot-gw", tmp);
	ASSERT_STR_EQ(p.state_dir, s);
	free(s);
	s = xasprintf("%s/home/.config/copilot-gw/config.json", tmp);
	ASSERT_STR_EQ(p.config_file, s);
	free(s);
	s = xasprintf("%s/home/.local/share/copilot-gw/copilot-gw.db", tmp);
	ASSERT_STR_EQ(p.db_file, s);
	free(s);
	s = xasprintf("%s/home/.local/state/copilot-gw/copilot-gw.log", tmp);
	ASSERT_STR_EQ(p.log_file, s);
	free(s);
	/* paths_ensure creates them (and their parents), mode 0700. */
	umask(0);
	if (paths_ensure(&p, &cause) != 0)
		TEST_FAIL("paths_ensure: %s", cause);
	paths_test_dir_0700(p.config_dir);
	paths_test_dir_0700(p.data_dir);
	paths_test_dir_0700(p.state_dir);
	/* Running it again on existing directories is fine. */
	if (paths_ensure(&p, &cause) != 0)
		TEST_FAIL("paths_ensure again: %s", cause);
	paths_release(&p);

	/* Absolute XDG variables win over HOME. */
	s = xasprintf("%s/xc", tmp);
	ASSERT_EQ(setenv("XDG_CONFIG_HOME", s, 1), 0);
	free(s);
	s = xasprintf("%s/xd", tmp);
	ASSERT_EQ(setenv("XDG_DATA_HOME", s, 1), 0);
	free(s);
	s = xasprintf("%s/xs", tmp);
	ASSERT_EQ(setenv("XDG_STATE_HOME", s, 1), 0);
	free(s);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	s = xasprintf("%s/xc/copilot-gw", tmp);
	ASSERT_STR_EQ(p.config_dir, s);
	free(s);
	s = xasprintf("%s/xd/copilot-gw/copilot-gw.db", tmp);
	ASSERT_STR_EQ(p.db_file, s);
	free(s);
	s = xasprintf("%s/xs/copilot-gw/copilot-gw.log", tmp);
	ASSERT_STR_EQ(p.log_file, s);
	free(s);
	s = xasprintf("%s/xc/copilot-gw/config.json", tmp);
	ASSERT_STR_EQ(p.config_file, s);
	free(s);
	if (paths_ensure(&p, &cause) != 0)
		TEST_FAIL("paths_ensure: %s", cause);
	paths_test_dir_0700(p.config_dir);
	paths_test_dir_0700(p.data_dir);
	paths_test_dir_0700(p.state_dir);
	paths_release(&p);
	/* ... and then HOME is not needed at all. */
	ASSERT_EQ(unsetenv("HOME"), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	paths_release(&p);

	/* Relative XDG values are ignored in favour of HOME. */
	s = xasprintf("%s/home", tmp);
	ASSERT_EQ(setenv("HOME", s, 1), 0);
	free(s);
	ASSERT_EQ(setenv("XDG_CONFIG_HOME", "rel/config", 1), 0);
	ASSERT_EQ(setenv("XDG_DATA_HOME", "rel/data", 1), 0);
	ASSERT_EQ(setenv("XDG_STATE_HOME", "", 1), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), 0);
	s = xasprintf("%s/home/.config/copilot-gw", tmp);
	ASSERT_STR_EQ(p.config_dir, s);
	free(s);
	s = xasprintf("%s/home/.local/share/copilot-gw", tmp);
	ASSERT_STR_EQ(p.data_dir, s);
	free(s);
	s = xasprintf("%s/home/.local/state/copilot-gw", tmp);
	ASSERT_STR_EQ(p.state_dir, s);
	free(s);
	paths_release(&p);
	/* A relative XDG value with no HOME is an error. */
	ASSERT_EQ(unsetenv("HOME"), 0);
	ASSERT_EQ(paths_init(&p, NULL, NULL, &cause), -1);
	ASSERT_STR_CONTAINS(cause, "XDG_CONFIG_HOME");
	free(cause);
	cause = NULL;

	/* A one-folder home is created 0700 too, parents included. */
	free(home);
	home = xasprintf("%s/a/b/gw", tmp);
	ASSERT_EQ(paths_init(&p, home, NULL, &cause), 0);
	if (paths_ensure(&p, &cause) != 0)
		TEST_FAIL("paths_ensure: %s", cause);
	paths_test_dir_0700(home);
	paths_release(&p);
	free(home);

	/*
	 * The same with a trailing slash, as shell completion writes it
	 * (COPILOT_GW_HOME=~/gw/): the folder must still be 0700.
	 */
	home = xasprintf("%s/slash/", tmp);
	ASSERT_EQ(paths_init(&p, home, NULL, &cause), 0);
	if (paths_ensure(&p, &cause) != 0)
		TEST_FAIL("paths_ensure: %s", cause);
	paths_test_dir_0700(home);
	paths_release(&p);
	free(home);
	free(tmp);
}

TEST_IMPL(paths_write_atomic_mode)
{
	struct stat	 sb, sb2;
	char		*dir, *path, *data, *cause = NULL, buf[64];
	size_t		 len;
	ssize_t		 n;
	int		 fd;

	umask(0);
	dir = xasprintf("%s/w", test_tmpdir());
	ASSERT_EQ(paths_mkdir_p(dir, 0700, &cause), 0);
	path = xasprintf("%s/secret.json", dir);

	/* A new file gets exactly the mode asked for, whatever the umask. */
	if (paths_write_atomic(path, "first version\n", 14, 0600, &cause) != 0)
		TEST_FAIL("paths_write_atomic: %s", cause);
	ASSERT_EQ(stat(path, &sb), 0);
	ASSERT_EQ(sb.st_mode & 0777, 0600);
	ASSERT(S_ISREG(sb.st_mode));
	data = paths_test_slurp(path, &len);
	ASSERT_EQ(len, 14);
	ASSERT_STR_EQ(data, "first version\n");
	free(data);

	/*
	 * Replacing: a reader holding the old file keeps seeing all of the
	 * old content, a new reader sees all of the new, and no temporary
	 * file is left in the directory.
	 */
	ASSERT((fd = open(path, O_RDONLY)) >= 0);
	if (paths_write_atomic(path, "v2", 2, 0600, &cause) != 0)
		TEST_FAIL("paths_write_atomic: %s", cause);
	n = read(fd, buf, sizeof buf);
	ASSERT_EQ(n, 14);
	ASSERT(memcmp(buf, "first version\n", 14) == 0);
	ASSERT_EQ(fstat(fd, &sb2), 0);
	close(fd);
	ASSERT_EQ(stat(path, &sb), 0);
	ASSERT(sb.st_ino != sb2.st_ino);
	ASSERT_EQ(sb.st_mode & 0777, 0600);
	data = paths_test_slurp(path, &len);
	ASSERT_EQ(len, 2);
	ASSERT_STR_EQ(data, "v2");
	free(data);
	ASSERT_EQ(paths_test_count_entries(dir), 1);

	/* A world-readable file is replaced by a 0600 one. */
	ASSERT_EQ(chmod(path, 0644), 0);
	if (paths_write_atomic(path, "v3\n", 3, 0600, &cause) != 0)
		TEST_FAIL("paths_write_atomic: %s", cause);
	ASSERT_EQ(stat(path, &sb), 0);
	ASSERT_EQ(sb.st_mode & 0777, 0600);
	ASSERT_EQ(paths_test_count_entries(dir), 1);

	/* Empty and binary contents round-trip exactly. */
	ASSERT_EQ(paths_write_atomic(path, "", 0, 0600, &cause), 0);
	data = paths_test_slurp(path, &len);
	ASSERT_EQ(len, 0);
	ASSERT_STR_EQ(data, "");
	free(data);
	ASSERT_EQ(paths_write_atomic(path, "a\0b\0c", 5, 0600, &cause), 0);
	data = paths_test_slurp(path, &len);
	ASSERT_EQ(len, 5);
	ASSERT(memcmp(data, "a\0b\0c", 5) == 0);
	free(data);

	/* Failure leaves nothing behind and says why. */
	free(path);
	path = xasprintf("%s/missing/x.json", dir);
	ASSERT_EQ(paths_write_atomic(path, "x", 1, 0600, &cause), -1);
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "missing");
	free(cause);
	cause = NULL;
	ASSERT_EQ(paths_test_count_entries(dir), 1);
	free(path);

	/* paths_read_file respects its maximum. */
	path = xasprintf("%s/secret.json", dir);
	ASSERT_EQ(paths_write_atomic(path, "0123456789", 10, 0600, &cause),
	    0);
	ASSERT_NOT_NULL(data = paths_read_file(path, 10, &len, &cause));
	ASSERT_EQ(len, 10);
	ASSERT_STR_EQ(data, "0123456789");
	free(data);
	ASSERT_NULL(paths_read_file(path, 9, &len, &cause));
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "larger than 9 bytes");
	free(cause);
	cause = NULL;
	ASSERT_NULL(paths_read_file(path, 0, NULL, &cause));
	ASSERT_NOT_NULL(cause);
	free(cause);
	cause = NULL;
	free(path);
	path = xasprintf("%s/nope.json", dir);
	ASSERT_NULL(paths_read_file(path, 10, &len, &cause));
	ASSERT_NOT_NULL(cause);
	ASSERT_STR_CONTAINS(cause, "nope.json");
	free(cause);
	free(path);
	free(dir);
}
