/* SPDX-License-Identifier: ISC */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "log.h"

/*
 * The effective configuration: defaults, then the config file (JSON),
 * then COPILOT_GW_* environment variables, then command-line flags. Every
 * key is described once in the table in config.c (CONFIG_KEYS below);
 * each value remembers where it came from. A value type: the main thread
 * builds one, the proxy thread gets its own copy (config_dup) and builds
 * fresh ones on reload.
 */

enum config_source {
	CONFIG_SRC_DEFAULT,
	CONFIG_SRC_FILE,
	CONFIG_SRC_ENV,
	CONFIG_SRC_FLAG,
};

/* X(id, "dotted.key", type, member, default, flags, min, max) */
#define CONFIG_KEYS(X)							\
	X(LISTEN_HOST, "listen.host", HOST, listen_host, "127.0.0.1",	\
	    CONFIG_F_RESTART, 0, 0)					\
	X(LISTEN_PORT, "listen.port", PORT, listen_port, "4141",	\
	    CONFIG_F_RESTART, 0, 65535)					\
	X(LISTEN_ALLOW_REMOTE, "listen.allow_remote", BOOL,		\
	    listen_allow_remote, "false", CONFIG_F_RESTART, 0, 1)	\
	X(AUTH_ENABLED, "auth.enabled", BOOL, auth_enabled, "true",	\
	    CONFIG_F_RESTART, 0, 1)					\
	X(LOG_LEVEL, "log.level", LEVEL, log_level, "info", 0, 0, 3)	\
	X(LIMITS_MAX_HEADER_BYTES, "limits.max_header_bytes", SIZE,	\
	    max_header_bytes, "64KiB", 0, 1024, 1048576)		\
	X(LIMITS_MAX_HEADERS, "limits.max_headers", COUNT, max_headers,	\
	    "100", 0, 1, 10000)						\
	X(LIMITS_MAX_BODY_BYTES, "limits.max_body_bytes", SIZE,		\
	    max_body_bytes, "32MiB", 0, 1024, 1073741824ULL)		\
	X(LIMITS_MAX_CONNECTIONS, "limits.max_connections", COUNT,	\
	    max_connections, "1024", 0, 1, 65536)			\
	X(LIMITS_ACCOUNT_CONCURRENCY, "limits.account_concurrency",	\
	    COUNT, account_concurrency, "4", 0, 1, 1024)		\
	X(LIMITS_ACCOUNT_QUEUE, "limits.account_queue", COUNT,		\
	    account_queue, "64", 0, 0, 100000)				\
	X(LIMITS_ACCOUNT_QUEUE_WAIT, "limits.account_queue_wait",	\
	    DURATION, account_queue_wait_ms, "30s", 0, 1, 3600000)	\
	X(TIMEOUTS_HEADER, "timeouts.header", DURATION,			\
	    header_timeout_ms, "10s", 0, 10, 3600000)			\
	X(TIMEOUTS_BODY, "timeouts.body", DURATION, body_timeout_ms,	\
	    "60s", 0, 10, 3600000)					\
	X(TIMEOUTS_IDLE, "timeouts.idle", DURATION, idle_timeout_ms,	\
	    "75s", 0, 10, 3600000)					\
	X(TIMEOUTS_WRITE, "timeouts.write", DURATION, write_timeout_ms,	\
	    "120s", 0, 10, 3600000)					\
	X(TIMEOUTS_SHUTDOWN, "timeouts.shutdown", DURATION,		\
	    shutdown_timeout_ms, "10s", 0, 0, 3600000)			\
	X(TIMEOUTS_UPSTREAM_CONNECT, "timeouts.upstream_connect",	\
	    DURATION, upstream_connect_timeout_ms, "10s", 0, 10, 600000) \
	X(TIMEOUTS_UPSTREAM_IDLE, "timeouts.upstream_idle", DURATION,	\
	    upstream_idle_timeout_ms, "300s", 0, 10, 3600000)		\
	X(TIMEOUTS_STREAM_KEEPALIVE, "timeouts.stream_keepalive",	\
	    DURATION, stream_keepalive_ms, "15s", 0, 100, 3600000)	\
	X(UPSTREAMS_GITHUB_GITHUB_URL, "upstreams.github.github_url",	\
	    URL, github_url, "https://github.com", 0, 0, 0)		\
	X(UPSTREAMS_GITHUB_API_URL, "upstreams.github.api_url", URL,	\
	    github_api_url, "https://api.github.com", 0, 0, 0)		\
	X(UPSTREAMS_GITHUB_COPILOT_URL, "upstreams.github.copilot_url",	\
	    URL, github_copilot_url, "https://api.githubcopilot.com", 0, 0, 0) \
	X(UPSTREAMS_GITHUB_CLIENT_ID, "upstreams.github.client_id", STR,	\
	    github_client_id, "Iv1.b507a08c87ecfe98", 0, 1, 256)	\
	X(UPSTREAMS_GITHUB_EDITOR_VERSION,				\
	    "upstreams.github.editor_version", STR, github_editor_version, \
	    "vscode/1.104.1", 0, 1, 128)				\
	X(UPSTREAMS_GITHUB_PLUGIN_VERSION,				\
	    "upstreams.github.plugin_version", STR, github_plugin_version, \
	    "copilot-chat/0.31.2", 0, 1, 128)				\
	X(UPSTREAMS_GITHUB_API_VERSION, "upstreams.github.api_version",	\
	    STR, github_api_version, "2025-04-01", 0, 1, 64)		\
	X(UPSTREAMS_GITHUB_MODELS_TTL, "upstreams.github.models_ttl",	\
	    DURATION, github_models_ttl_ms, "10m", 0, 0, 86400000)	\
	X(MODELS_ALIASES, "models.aliases", MAP, model_aliases, "", 0, 0, \
	    65536)							\
	X(UPSTREAMS_M365_LOGIN_URL, "upstreams.m365.login_url", URL,	\
	    m365_login_url, "https://login.microsoftonline.com", 0, 0, 0) \
	X(UPSTREAMS_M365_GRAPH_URL, "upstreams.m365.graph_url", URL,	\
	    m365_graph_url, "https://graph.microsoft.com", 0, 0, 0)	\
	X(UPSTREAMS_M365_TENANT, "upstreams.m365.tenant", STR,		\
	    m365_tenant, "organizations", 0, 1, 256)			\
	X(UPSTREAMS_M365_CLIENT_ID, "upstreams.m365.client_id", STR,	\
	    m365_client_id, "", 0, 0, 256)				\
	X(UPSTREAMS_M365_CLIENT_SECRET, "upstreams.m365.client_secret",	\
	    STR, m365_client_secret, "", CONFIG_F_SECRET, 0, 1024)

#define CONFIG_F_SECRET		0x1	/* masked in `config show` */
#define CONFIG_F_RESTART	0x2	/* takes effect after a restart */

enum config_key {
#define CONFIG_ENUM(id, key, type, member, def, flags, min, max)	\
	CONFIG_##id,
	CONFIG_KEYS(CONFIG_ENUM)
#undef CONFIG_ENUM
	CONFIG_NKEYS
};

/* One key=value given on the command line, kept so a reload reapplies it. */
struct config_override {
	char	*key;
	char	*value;
};

struct config {
	char		*listen_host;
	uint64_t	 listen_port;
	uint64_t	 listen_allow_remote;
	uint64_t	 auth_enabled;
	uint64_t	 log_level;		/* enum log_level */
	uint64_t	 max_header_bytes;
	uint64_t	 max_headers;
	uint64_t	 max_body_bytes;
	uint64_t	 max_connections;
	uint64_t	 account_concurrency;
	uint64_t	 account_queue;
	uint64_t	 account_queue_wait_ms;
	uint64_t	 header_timeout_ms;
	uint64_t	 body_timeout_ms;
	uint64_t	 idle_timeout_ms;
	uint64_t	 write_timeout_ms;
	uint64_t	 shutdown_timeout_ms;
	uint64_t	 upstream_connect_timeout_ms;
	uint64_t	 upstream_idle_timeout_ms;
	uint64_t	 stream_keepalive_ms;
	char		*github_url;
	char		*github_api_url;
	char		*github_copilot_url;
	char		*github_client_id;
	char		*github_editor_version;
	char		*github_plugin_version;
	char		*github_api_version;
	uint64_t	 github_models_ttl_ms;
	char		*model_aliases;		/* "alias=model,..." */
	char		*m365_login_url;
	char		*m365_graph_url;
	char		*m365_tenant;
	char		*m365_client_id;
	char		*m365_client_secret;

	enum config_source	 source[CONFIG_NKEYS];
	char			*file;		/* path read, owned */
	int			 file_found;	/* 0 if the file was absent */
	struct config_override	*flags;		/* owned */
	size_t			 nflags;
};

/* Sets every key to its default. The config must be zeroed or released. */
void	 config_defaults(struct config *);
/* Frees everything a config owns and zeroes it. */
void	 config_release(struct config *);
/* Deep-copies src into dst (dst is overwritten, not released). */
void	 config_dup(struct config *dst, const struct config *src);

/*
 * Records a command-line override ("key", "value") to be applied by
 * config_load. The key is checked later, by config_load.
 */
void	 config_add_flag(struct config *, const char *key, const char *value);

/*
 * Builds the effective config in c: defaults, then the file at path (a
 * missing file is not an error), then the environment, then the flags
 * already recorded in c. Returns 0, or -1 with *cause (owned) naming the
 * key path and the reason; c then holds the defaults and whatever was
 * applied before the error, and must not be used as a config.
 */
int	 config_load(struct config *c, const char *path, char **cause);

/* Sets one key from text, with its source. 0, or -1 with *cause. */
int	 config_set(struct config *, const char *key, const char *value,
	    enum config_source, char **cause);

/* Returns the key index for a dotted name, or -1. */
int	 config_key_find(const char *key);
/* Returns the dotted name of a key (static). */
const char *config_key_name(enum config_key);
/* Returns the CONFIG_F_* flags of a key. */
int	 config_key_flags(enum config_key);
/* Returns the environment variable that sets a key (static buffer per key). */
const char *config_key_env(enum config_key);
/* Returns "default", "file", "env" or "flag". */
const char *config_source_name(enum config_source);
/* Returns an owned text form of a key's value; secrets masked if mask. */
char	*config_value_text(const struct config *, enum config_key, int mask);

/* Prints every key, its value (secrets masked) and its source. */
void	 config_show(const struct config *, FILE *, int json);

/* Returns 1 if host names a loopback address (127/8, ::1, localhost). */
int	 config_host_is_loopback(const char *host);
/*
 * Returns why the gateway must not listen on host with this config (a
 * non-loopback address without listen.allow_remote, or with auth off),
 * allocated, or NULL if it may.
 */
char	*config_listen_refusal(const struct config *, const char *host);
/*
 * Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into owned *host (NULL if
 * absent) and *port. 0 or -1 with *cause.
 */
int	 config_parse_listen(const char *, char **host, char **port,
	    char **cause);
/* Parses a size ("65536", "64KiB", "32M"); 0 or -1. */
int	 config_parse_size(const char *, uint64_t *);
/* Parses a duration into ms ("10s", "250ms", "2m", "1h", "1.5"=s); 0/-1. */
int	 config_parse_duration(const char *, uint64_t *);

/*
 * Looks name up in models.aliases; returns the target (borrowed from the
 * config, valid until the config changes) or NULL.
 */
const char *config_alias_lookup(const struct config *, const char *name,
	    char *buf, size_t len);

/* Returns 1 if the values of key differ between two configs. */
int	 config_key_differs(const struct config *, const struct config *,
	    enum config_key);

#endif
