/* SPDX-License-Identifier: ISC */
/*
 * The unit-test runner (libuv test/runner.c): `gw-unit NAME` runs one test
 * in a child process with a timeout; `gw-unit` alone runs them all and
 * prints "N passed, N failed".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "test-list.h"

#define TEST_DECLARE(name, timeout) void test_##name(void);
TEST_LIST(TEST_DECLARE)

struct test_entry {
	const char	*name;
	void		(*fn)(void);
	int		 timeout;
};

#define TEST_ROW(name, timeout) { #name, test_##name, timeout },
static const struct test_entry test_entries[] = {
	TEST_LIST(TEST_ROW)
	{ NULL, NULL, 0 }
};

static char	test_tmp[256];

const char *
test_source_dir(void)
{
	const char	*s = getenv("GW_SOURCE_DIR");

	return (s != NULL ? s : GW_SOURCE_DIR);
}

const char *
test_tmpdir(void)
{
	const char	*base;

	if (test_tmp[0] == '\0') {
		base = getenv("TMPDIR");
		snprintf(test_tmp, sizeof test_tmp, "%s/gw-unit.XXXXXX",
		    base != NULL ? base : "/tmp");
		if (mkdtemp(test_tmp) == NULL)
			TEST_FAIL("mkdtemp: %s", strerror(errno));
	}
	return (test_tmp);
}

/* Runs one test in a child; returns 0 if it passed. */
static int
test_run(const struct test_entry *t)
{
	pid_t	 pid;
	int	 status;
	char	 cmd[512];

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		alarm((unsigned)t->timeout);
		t->fn();
		if (test_tmp[0] != '\0') {
			snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmp);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot remove %s\n", test_tmp);
		}
		/* exit, not _exit: LeakSanitizer runs at exit. */
		exit(0);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %s\n", t->name);
		return (0);
	}
	if (WIFSIGNALED(status))
		printf("not ok %s (signal %d%s)\n", t->name, WTERMSIG(status),
		    WTERMSIG(status) == SIGALRM ? ", timed out" : "");
	else
		printf("not ok %s (exit %d)\n", t->name, WEXITSTATUS(status));
	return (-1);
}

int
main(int argc, char **argv)
{
	const struct test_entry	*t;
	int			 passed = 0, failed = 0, i;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (t = test_entries; t->name != NULL; t++)
			printf("%s\n", t->name);
		return (0);
	}
	for (t = test_entries; t->name != NULL; t++) {
		if (argc > 1) {
			for (i = 1; i < argc; i++)
				if (strcmp(argv[i], t->name) == 0)
					break;
			if (i == argc)
				continue;
		}
		if (test_run(t) == 0)
			passed++;
		else
			failed++;
	}
	if (passed + failed == 0) {
		fprintf(stderr, "no test matched\n");
		return (2);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return (failed != 0);
}
