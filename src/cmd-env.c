/* SPDX-License-Identifier: ISC */
/*
 * cmd-env: `copilot-gw env claude|openai` prints the environment
 * variables that point Claude Code or an OpenAI client at this gateway,
 * quoted for the chosen shell (bash, zsh, fish, powershell), so that
 * `eval "$(copilot-gw env claude --key ...)"` just works. Main thread.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xmalloc.h"

static const char *const cmd_env_claude_options[] = {
	"--key", "--model", "--shell", "--small-model", NULL
};
static const char *const cmd_env_openai_options[] = {
	"--key", "--shell", NULL
};
static const char *const cmd_env_no_options[] = { NULL };

enum cmd_env_shell {
	ENV_SH,		/* bash, zsh, sh */
	ENV_FISH,
	ENV_PS,		/* PowerShell */
};

/* Prints one variable assignment, quoted for the shell. */
static void
cmd_env_print(enum cmd_env_shell sh, const char *name, const char *value)
{
	const char	*p;

	switch (sh) {
	case ENV_SH:
		printf("export %s='", name);
		for (p = value; *p != '\0'; p++) {
			if (*p == '\'')
				fputs("'\\''", stdout);
			else
				putchar(*p);
		}
		puts("'");
		break;
	case ENV_FISH:
		printf("set -gx %s '", name);
		for (p = value; *p != '\0'; p++) {
			if (*p == '\'' || *p == '\\')
				putchar('\\');
			putchar(*p);
		}
		puts("'");
		break;
	case ENV_PS:
		printf("$env:%s = '", name);
		for (p = value; *p != '\0'; p++) {
			if (*p == '\'')
				putchar('\'');
			putchar(*p);
		}
		puts("'");
		break;
	}
}

/* Parses the shared options; returns 0, or an exit status. */
static int
cmd_env_opts(struct cmd_ctx *ctx, int argc, char **argv, int claude,
    enum cmd_env_shell *sh, const char **key, const char **model,
    const char **small)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "model", required_argument, NULL, 'm' },
		{ "shell", required_argument, NULL, 's' },
		{ "small-model", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*shell;
	int		 ch;

	shell = getenv("SHELL");
	*sh = shell != NULL && strstr(shell, "fish") != NULL ? ENV_FISH :
	    ENV_SH;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			*key = optarg;
			break;
		case 'm':
			if (!claude)
				return (cmd_usage(ctx));
			*model = optarg;
			break;
		case 's':
			if (strcmp(optarg, "bash") == 0 ||
			    strcmp(optarg, "zsh") == 0 ||
			    strcmp(optarg, "sh") == 0)
				*sh = ENV_SH;
			else if (strcmp(optarg, "fish") == 0)
				*sh = ENV_FISH;
			else if (strcmp(optarg, "powershell") == 0 ||
			    strcmp(optarg, "pwsh") == 0)
				*sh = ENV_PS;
			else {
				fprintf(stderr, "copilot-gw: --shell must be "
				    "bash, zsh, fish or powershell\n");
				return (CMD_EXIT_USAGE);
			}
			break;
		case 'S':
			if (!claude)
				return (cmd_usage(ctx));
			*small = optarg;
			break;
		default:
			return (cmd_usage(ctx));
		}
	}
	if (optind != argc)
		return (cmd_usage(ctx));
	if (cmd_prepare(ctx) != 0)
		return (CMD_EXIT_FAIL);
	if (*key == NULL && ctx->cfg.auth_enabled)
		fprintf(stderr, "copilot-gw: no --key given: replace the "
		    "placeholder with a client key (copilot-gw keys create)\n");
	return (0);
}

/* Returns the owned base URL of the gateway, from the config. */
static char *
cmd_env_base(struct cmd_ctx *ctx)
{
	const char	*host = ctx->cfg.listen_host;

	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	if (strchr(host, ':') != NULL)
		return (xasprintf("http://[%s]:%llu", host,
		    (unsigned long long)ctx->cfg.listen_port));
	return (xasprintf("http://%s:%llu", host,
	    (unsigned long long)ctx->cfg.listen_port));
}

static int
cmd_env_claude_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	enum cmd_env_shell	 sh;
	const char		*key = NULL, *model = NULL, *small = NULL;
	char			*base;
	int			 rc;

	if ((rc = cmd_env_opts(ctx, argc, argv, 1, &sh, &key, &model,
	    &small)) != 0)
		return (rc);
	base = cmd_env_base(ctx);
	cmd_env_print(sh, "ANTHROPIC_BASE_URL", base);
	cmd_env_print(sh, "ANTHROPIC_AUTH_TOKEN", key != NULL ? key :
	    "sk-cgw-REPLACE-WITH-YOUR-KEY");
	if (model != NULL)
		cmd_env_print(sh, "ANTHROPIC_MODEL", model);
	if (small != NULL) {
		cmd_env_print(sh, "ANTHROPIC_SMALL_FAST_MODEL", small);
		cmd_env_print(sh, "ANTHROPIC_DEFAULT_HAIKU_MODEL", small);
	}
	cmd_env_print(sh, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
	free(base);
	return (CMD_EXIT_OK);
}

static int
cmd_env_openai_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	enum cmd_env_shell	 sh;
	const char		*key = NULL, *model = NULL, *small = NULL;
	char			*base, *v1;
	int			 rc;

	if ((rc = cmd_env_opts(ctx, argc, argv, 0, &sh, &key, &model,
	    &small)) != 0)
		return (rc);
	base = cmd_env_base(ctx);
	v1 = xasprintf("%s/v1", base);
	cmd_env_print(sh, "OPENAI_BASE_URL", v1);
	cmd_env_print(sh, "OPENAI_API_KEY", key != NULL ? key :
	    "sk-cgw-REPLACE-WITH-YOUR-KEY");
	free(v1);
	free(base);
	return (CMD_EXIT_OK);
}

static const struct cmd_entry cmd_env_claude_entry = {
	.name = "claude",
	.args = "[--key KEY] [--model MODEL] [--shell SHELL] "
	    "[--small-model MODEL]",
	.summary = "print the variables that point Claude Code at copilot-gw",
	.options = cmd_env_claude_options,
	.flags = CMD_CONFIG,
	.exec = cmd_env_claude_exec,
};

static const struct cmd_entry cmd_env_openai_entry = {
	.name = "openai",
	.args = "[--key KEY] [--shell SHELL]",
	.summary = "print the variables that point OpenAI clients at "
	    "copilot-gw",
	.options = cmd_env_openai_options,
	.flags = CMD_CONFIG,
	.exec = cmd_env_openai_exec,
};

static const struct cmd_entry *const cmd_env_sub[] = {
	&cmd_env_claude_entry,
	&cmd_env_openai_entry,
	NULL
};

const struct cmd_entry cmd_env_entry = {
	.name = "env",
	.args = "claude | openai [--key KEY] [--shell SHELL]",
	.summary = "print environment variables for Claude Code or OpenAI "
	    "clients",
	.options = cmd_env_no_options,
	.sub = cmd_env_sub,
};
