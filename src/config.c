/* SPDX-License-Identifier: ISC */
/*
 * config: the one table of configuration keys and everything that reads
 * them: defaults, the JSON config file (json-c, strict: unknown keys and
 * wrong types are errors that name the key path), COPILOT_GW_* variables
 * and command-line overrides. `config show` and hot reload both work from
 * the same table. Pure functions over value types; any thread.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "buf.h"
#include "paths.h"
#include "xmalloc.h"

extern char **environ;

enum config_type {
	CONFIG_T_STR,
	CONFIG_T_URL,
	CONFIG_T_HOST,
	CONFIG_T_PORT,
	CONFIG_T_BOOL,
	CONFIG_T_LEVEL,
	CONFIG_T_SIZE,
	CONFIG_T_DURATION,
	CONFIG_T_COUNT,
	CONFIG_T_MAP,	/* "k=v,k=v"; a JSON object of strings in the file */
};

struct config_desc {
	const char		*key;
	enum config_type	 type;
	size_t			 offset;
	const char		*def;
	int			 flags;
	uint64_t		 min;
	uint64_t		 max;
};

static const struct config_desc config_descs[CONFIG_NKEYS] = {
#define CONFIG_DESC(id, k, t, member, d, f, mn, mx)			\
	[CONFIG_##id] = { k, CONFIG_T_##t, offsetof(struct config, member), \
	    d, f, mn, mx },
	CONFIG_KEYS(CONFIG_DESC)
#undef CONFIG_DESC
};

/* Variables that share the prefix but are not config keys. */
static const char *const config_env_reserved[] = {
	"COPILOT_GW_HOME", "COPILOT_GW_CONFIG", "COPILOT_GW_LISTEN",
};

static const char *const config_source_names[] = {
	[CONFIG_SRC_DEFAULT] = "default",
	[CONFIG_SRC_FILE] = "file",
	[CONFIG_SRC_ENV] = "env",
	[CONFIG_SRC_FLAG] = "flag",
};

#define CONFIG_FILE_MAX (1024 * 1024)

/* Returns 1 if the key holds a string (char *) rather than a number. */
static int
config_is_string(enum config_type t)
{
	return (t == CONFIG_T_STR || t == CONFIG_T_URL || t == CONFIG_T_HOST ||
	    t == CONFIG_T_MAP);
}

static char **
config_strp(struct config *c, int k)
{
	return ((char **)((char *)c + config_descs[k].offset));
}

static uint64_t *
config_nump(struct config *c, int k)
{
	return ((uint64_t *)((char *)c + config_descs[k].offset));
}

static const char *
config_cstr(const struct config *c, int k)
{
	return (*(char *const *)((const char *)c + config_descs[k].offset));
}

static uint64_t
config_cnum(const struct config *c, int k)
{
	return (*(const uint64_t *)((const char *)c +
	    config_descs[k].offset));
}

int
config_key_find(const char *key)
{
	int	 i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (strcmp(config_descs[i].key, key) == 0)
			return (i);
	}
	return (-1);
}

const char *
config_key_name(enum config_key k)
{
	return (config_descs[k].key);
}

int
config_key_flags(enum config_key k)
{
	return (config_descs[k].flags);
}

const char *
config_key_env(enum config_key k)
{
	static char	 names[CONFIG_NKEYS][96];
	char		*p;
	const char	*s;

	if (names[k][0] == '\0') {
		p = names[k];
		p += snprintf(p, sizeof names[k], "COPILOT_GW_");
		for (s = config_descs[k].key; *s != '\0' &&
		    p < names[k] + sizeof names[k] - 1; s++)
			*p++ = *s == '.' ? '_' : (char)toupper((unsigned char)*s);
		*p = '\0';
	}
	return (names[k]);
}

const char *
config_source_name(enum config_source s)
{
	return (config_source_names[s]);
}

int
config_parse_size(const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mult = 1;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	while (*end == ' ')
		end++;
	if (*end == '\0' || strcmp(end, "B") == 0)
		mult = 1;
	else if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0 ||
	    strcasecmp(end, "kib") == 0)
		mult = 1024;
	else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0 ||
	    strcasecmp(end, "mib") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0 ||
	    strcasecmp(end, "gib") == 0)
		mult = 1024 * 1024 * 1024;
	else
		return (-1);
	if (v > UINT64_MAX / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

int
config_parse_duration(const char *s, uint64_t *out)
{
	char	*end;
	double	 v, mult;

	/* Decimal only: strtod would also take hex, "inf" and exponents. */
	if (strspn(s, "0123456789.") == 0 ||
	    (s[strspn(s, "0123456789.")] != '\0' &&
	    !isalpha((unsigned char)s[strspn(s, "0123456789.")]) &&
	    s[strspn(s, "0123456789.")] != ' '))
		return (-1);
	if (strchr(s, 'x') != NULL || strchr(s, 'X') != NULL ||
	    strpbrk(s, "eE") != NULL)
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !isfinite(v) || v < 0)
		return (-1);
	while (*end == ' ')
		end++;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return (-1);
	v *= mult;
	if (v > 1e15)
		return (-1);
	/* "d" would have passed the letter check above only as a unit. */
	*out = (uint64_t)llround(v);
	return (0);
}

/* Returns 1 if s is a usable http(s) base URL. */
static int
config_url_ok(const char *s)
{
	const char	*host;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return (0);
	if (*host == '\0' || *host == '/' || strpbrk(s, " \t\r\n") != NULL)
		return (0);
	return (1);
}

/* Returns 1 if s is a plausible host name or address literal. */
static int
config_host_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 253)
		return (0);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr(".-:_", *s) == NULL)
			return (0);
	}
	return (1);
}

/* Checks "name=target,..." (names and targets are model ids). */
static int
config_map_check(const char *s, char **cause)
{
	const char	*p, *eq, *end;

	for (p = s; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || eq == p || eq + 1 == end) {
			*cause = xasprintf("expected NAME=MODEL pairs separated "
			    "by commas, got '%.*s'", (int)(end - p), p);
			return (-1);
		}
		if (strcspn(p, " \t\"'") < (size_t)(end - p)) {
			*cause = xasprintf("'%.*s': model names cannot hold "
			    "spaces or quotes", (int)(end - p), p);
			return (-1);
		}
	}
	return (0);
}

const char *
config_alias_lookup(const struct config *c, const char *name, char *buf,
    size_t len)
{
	const char	*p, *eq, *end;
	size_t		 n = strlen(name);

	for (p = c->model_aliases; p != NULL && *p != '\0';
	    p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || (size_t)(eq - p) != n ||
		    strncmp(p, name, n) != 0)
			continue;
		snprintf(buf, len, "%.*s", (int)(end - eq - 1), eq + 1);
		return (buf);
	}
	return (NULL);
}

int
config_set(struct config *c, const char *key, const char *value,
    enum config_source src, char **cause)
{
	const struct config_desc	*d;
	enum log_level			 lvl;
	uint64_t			 v = 0;
	size_t				 n;
	char				*end, *copy;
	int				 k;

	if ((k = config_key_find(key)) == -1) {
		*cause = xasprintf("unknown key '%s'", key);
		return (-1);
	}
	d = &config_descs[k];
	switch (d->type) {
	case CONFIG_T_STR:
		n = strlen(value);
		if (n < d->min || n > d->max) {
			*cause = xasprintf("'%s': must be %llu to %llu "
			    "characters", key, (unsigned long long)d->min,
			    (unsigned long long)d->max);
			return (-1);
		}
		break;
	case CONFIG_T_URL:
		if (!config_url_ok(value)) {
			*cause = xasprintf("'%s': '%s' is not an http:// or "
			    "https:// URL", key, value);
			return (-1);
		}
		break;
	case CONFIG_T_MAP:
		if (config_map_check(value, cause) != 0) {
			copy = *cause;
			*cause = xasprintf("'%s': %s", key, copy);
			free(copy);
			return (-1);
		}
		break;
	case CONFIG_T_HOST:
		if (!config_host_ok(value)) {
			*cause = xasprintf("'%s': '%s' is not a host name or "
			    "address", key, value);
			return (-1);
		}
		break;
	case CONFIG_T_PORT:
	case CONFIG_T_COUNT:
		errno = 0;
		if (!isdigit((unsigned char)*value) ||
		    (v = strtoull(value, &end, 10), errno != 0) ||
		    *end != '\0' || v < d->min || v > d->max) {
			*cause = xasprintf("'%s': must be an integer from "
			    "%llu to %llu", key, (unsigned long long)d->min,
			    (unsigned long long)d->max);
			return (-1);
		}
		break;
	case CONFIG_T_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
		    strcmp(value, "yes") == 0 || strcmp(value, "on") == 0)
			v = 1;
		else if (strcmp(value, "false") == 0 ||
		    strcmp(value, "0") == 0 || strcmp(value, "no") == 0 ||
		    strcmp(value, "off") == 0)
			v = 0;
		else {
			*cause = xasprintf("'%s': must be true or false", key);
			return (-1);
		}
		break;
	case CONFIG_T_LEVEL:
		if (log_level_parse(value, &lvl) != 0) {
			*cause = xasprintf("'%s': must be one of debug, info, "
			    "warn, error", key);
			return (-1);
		}
		v = (uint64_t)lvl;
		break;
	case CONFIG_T_SIZE:
		if (config_parse_size(value, &v) != 0 || v < d->min ||
		    v > d->max) {
			*cause = xasprintf("'%s': must be a size from %llu "
			    "to %llu bytes (e.g. 65536, 64KiB, 32MiB)", key,
			    (unsigned long long)d->min,
			    (unsigned long long)d->max);
			return (-1);
		}
		break;
	case CONFIG_T_DURATION:
		if (config_parse_duration(value, &v) != 0 || v < d->min ||
		    v > d->max) {
			*cause = xasprintf("'%s': must be a duration from "
			    "%llums to %llums (e.g. 250ms, 10s, 5m)", key,
			    (unsigned long long)d->min,
			    (unsigned long long)d->max);
			return (-1);
		}
		break;
	}
	if (config_is_string(d->type)) {
		copy = xstrdup(value);
		/* Base URLs are joined with paths: drop a trailing slash. */
		n = strlen(copy);
		while (d->type == CONFIG_T_URL && n > 0 && copy[n - 1] == '/')
			copy[--n] = '\0';
		free(*config_strp(c, k));
		*config_strp(c, k) = copy;
	} else
		*config_nump(c, k) = v;
	c->source[k] = src;
	return (0);
}

void
config_defaults(struct config *c)
{
	char	*cause = NULL;
	int	 k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (config_set(c, config_descs[k].key, config_descs[k].def,
		    CONFIG_SRC_DEFAULT, &cause) != 0)
			BUG("bad config default");
	}
}

void
config_release(struct config *c)
{
	size_t	 i;
	int	 k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (config_is_string(config_descs[k].type))
			free(*config_strp(c, k));
	}
	for (i = 0; i < c->nflags; i++) {
		free(c->flags[i].key);
		free(c->flags[i].value);
	}
	free(c->flags);
	free(c->file);
	memset(c, 0, sizeof *c);
}

void
config_dup(struct config *dst, const struct config *src)
{
	size_t	 i;
	int	 k;

	memcpy(dst, src, sizeof *dst);
	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (config_is_string(config_descs[k].type) &&
		    config_cstr(src, k) != NULL)
			*config_strp(dst, k) = xstrdup(config_cstr(src, k));
	}
	dst->file = src->file != NULL ? xstrdup(src->file) : NULL;
	dst->flags = NULL;
	dst->nflags = 0;
	for (i = 0; i < src->nflags; i++)
		config_add_flag(dst, src->flags[i].key, src->flags[i].value);
}

void
config_add_flag(struct config *c, const char *key, const char *value)
{
	c->flags = xreallocarray(c->flags, c->nflags + 1, sizeof *c->flags);
	c->flags[c->nflags].key = xstrdup(key);
	c->flags[c->nflags].value = xstrdup(value);
	c->nflags++;
}

/* Returns 1 if prefix (without trailing dot) starts some key. */
static int
config_is_section(const char *prefix)
{
	size_t	 n = strlen(prefix);
	int	 k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (strncmp(config_descs[k].key, prefix, n) == 0 &&
		    config_descs[k].key[n] == '.')
			return (1);
	}
	return (0);
}

/* Applies a JSON object of strings as a MAP value. */
static int
config_apply_map(struct config *c, const char *path, struct json_object *v,
    char **cause)
{
	struct buf	 b;
	int		 rc;

	if (!json_object_is_type(v, json_type_object)) {
		*cause = xasprintf("'%s': must be an object of \"name\": "
		    "\"model\" pairs", path);
		return (-1);
	}
	buf_init(&b, 65536);
	json_object_object_foreach(v, key, val) {
		if (!json_object_is_type(val, json_type_string)) {
			*cause = xasprintf("'%s.%s': must be a string", path,
			    key);
			buf_release(&b);
			return (-1);
		}
		if (strchr(key, ',') != NULL || strchr(key, '=') != NULL ||
		    strchr(json_object_get_string(val), ',') != NULL) {
			*cause = xasprintf("'%s.%s': names cannot hold ',' or "
			    "'='", path, key);
			buf_release(&b);
			return (-1);
		}
		if (buf_addf(&b, "%s%s=%s", b.len > 0 ? "," : "", key,
		    json_object_get_string(val)) != 0) {
			*cause = xasprintf("'%s': too long", path);
			buf_release(&b);
			return (-1);
		}
	}
	rc = config_set(c, path, buf_str(&b), CONFIG_SRC_FILE, cause);
	buf_release(&b);
	return (rc);
}

/* Applies one JSON value at dotted path; 0 or -1 with *cause. */
static int
config_apply_json(struct config *c, const char *path,
    struct json_object *v, char **cause)
{
	const struct config_desc	*d;
	enum json_type			 jt = json_object_get_type(v);
	char				 num[64];
	const char			*text;
	int				 k;

	if ((k = config_key_find(path)) == -1) {
		*cause = xasprintf("unknown key '%s'", path);
		return (-1);
	}
	d = &config_descs[k];
	switch (d->type) {
	case CONFIG_T_MAP:
		return (config_apply_map(c, path, v, cause));
	case CONFIG_T_STR:
	case CONFIG_T_URL:
	case CONFIG_T_HOST:
	case CONFIG_T_LEVEL:
		if (jt != json_type_string) {
			*cause = xasprintf("'%s': must be a string", path);
			return (-1);
		}
		text = json_object_get_string(v);
		break;
	case CONFIG_T_PORT:
	case CONFIG_T_COUNT:
		if (jt != json_type_int || json_object_get_int64(v) < 0) {
			*cause = xasprintf("'%s': must be a non-negative "
			    "integer", path);
			return (-1);
		}
		snprintf(num, sizeof num, "%lld",
		    (long long)json_object_get_int64(v));
		text = num;
		break;
	case CONFIG_T_BOOL:
		if (jt != json_type_boolean) {
			*cause = xasprintf("'%s': must be true or false", path);
			return (-1);
		}
		text = json_object_get_boolean(v) ? "true" : "false";
		break;
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
		if (jt == json_type_string)
			text = json_object_get_string(v);
		else if (jt == json_type_int && d->type == CONFIG_T_SIZE &&
		    json_object_get_int64(v) >= 0) {
			snprintf(num, sizeof num, "%lld",
			    (long long)json_object_get_int64(v));
			text = num;
		} else if ((jt == json_type_int || jt == json_type_double) &&
		    d->type == CONFIG_T_DURATION &&
		    json_object_get_double(v) >= 0) {
			snprintf(num, sizeof num, "%.6f",
			    json_object_get_double(v));
			text = num;
		} else {
			*cause = xasprintf("'%s': must be a %s", path,
			    d->type == CONFIG_T_SIZE ?
			    "number of bytes or a string like \"64KiB\"" :
			    "number of seconds or a string like \"10s\"");
			return (-1);
		}
		break;
	default:
		BUG("config type");
	}
	return (config_set(c, path, text, CONFIG_SRC_FILE, cause));
}

/* Walks a JSON object, applying its leaves; 0 or -1 with *cause. */
static int
config_walk(struct config *c, const char *prefix, struct json_object *o,
    char **cause)
{
	char	*path;
	int	 rc = 0;

	json_object_object_foreach(o, key, v) {
		path = prefix == NULL ? xstrdup(key) :
		    xasprintf("%s.%s", prefix, key);
		if (config_is_section(path)) {
			if (!json_object_is_type(v, json_type_object)) {
				*cause = xasprintf("'%s': must be an object",
				    path);
				rc = -1;
			} else
				rc = config_walk(c, path, v, cause);
		} else
			rc = config_apply_json(c, path, v, cause);
		free(path);
		if (rc != 0)
			return (-1);
	}
	return (0);
}

/* Reads and applies the config file; a missing file is fine. */
static int
config_load_file(struct config *c, const char *path, char **cause)
{
	struct json_tokener	*tok;
	struct json_object	*root;
	enum json_tokener_error	 jerr;
	struct stat		 sb;
	char			*data, *why = NULL;
	size_t			 len, i, off;
	int			 line = 1, rc;

	c->file_found = 0;
	if (stat(path, &sb) == -1 && errno == ENOENT)
		return (0);
	if ((data = paths_read_file(path, CONFIG_FILE_MAX, &len, &why)) ==
	    NULL) {
		*cause = xasprintf("config: %s", why);
		free(why);
		return (-1);
	}
	c->file_found = 1;
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, data, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok);
	if (root == NULL || jerr != json_tokener_success) {
		for (i = 0; i < off && i < len; i++)
			if (data[i] == '\n')
				line++;
		*cause = xasprintf("config: '%s' line %d: invalid JSON: %s",
		    path, line, json_tokener_error_desc(jerr));
		json_object_put(root);
		json_tokener_free(tok);
		free(data);
		return (-1);
	}
	json_tokener_free(tok);
	for (i = off; i < len; i++) {
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' &&
		    data[i] != '\r') {
			for (off = 0; off < i; off++)
				if (data[off] == '\n')
					line++;
			*cause = xasprintf("config: '%s' line %d: invalid JSON: "
			    "unexpected text after the JSON object", path,
			    line);
			json_object_put(root);
			free(data);
			return (-1);
		}
	}
	free(data);
	if (!json_object_is_type(root, json_type_object)) {
		*cause = xasprintf("config: '%s': must hold a JSON object",
		    path);
		json_object_put(root);
		return (-1);
	}
	rc = config_walk(c, NULL, root, &why);
	json_object_put(root);
	if (rc != 0) {
		*cause = xasprintf("config: '%s': %s", path, why);
		free(why);
		return (-1);
	}
	return (0);
}

/* Applies host and port from "HOST:PORT" with a source. */
static int
config_set_listen(struct config *c, const char *spec,
    enum config_source src, char **cause)
{
	char	*host = NULL, *port = NULL;
	int	 rc = 0;

	if (config_parse_listen(spec, &host, &port, cause) != 0)
		return (-1);
	if (host != NULL)
		rc = config_set(c, "listen.host", host, src, cause);
	if (rc == 0)
		rc = config_set(c, "listen.port", port, src, cause);
	free(host);
	free(port);
	return (rc);
}

/* Applies COPILOT_GW_* variables; unknown ones are errors. */
static int
config_load_env(struct config *c, char **cause)
{
	char		**e, *name, *why = NULL;
	const char	 *eq;
	size_t		  i;
	int		  k, reserved;

	for (e = environ; *e != NULL; e++) {
		if (strncmp(*e, "COPILOT_GW_", 11) != 0 ||
		    (eq = strchr(*e, '=')) == NULL)
			continue;
		name = xstrndup(*e, (size_t)(eq - *e));
		reserved = 0;
		for (i = 0; i < sizeof config_env_reserved /
		    sizeof config_env_reserved[0]; i++)
			if (strcmp(name, config_env_reserved[i]) == 0)
				reserved = 1;
		if (reserved) {
			free(name);
			continue;
		}
		for (k = 0; k < CONFIG_NKEYS; k++)
			if (strcmp(name, config_key_env(k)) == 0)
				break;
		if (k == CONFIG_NKEYS) {
			*cause = xasprintf("environment: unknown variable "
			    "'%s'", name);
			free(name);
			return (-1);
		}
		if (config_set(c, config_descs[k].key, eq + 1, CONFIG_SRC_ENV,
		    &why) != 0) {
			*cause = xasprintf("environment: %s: %s", name, why);
			free(why);
			free(name);
			return (-1);
		}
		free(name);
	}
	if ((eq = getenv("COPILOT_GW_LISTEN")) != NULL && *eq != '\0' &&
	    config_set_listen(c, eq, CONFIG_SRC_ENV, &why) != 0) {
		*cause = xasprintf("environment: COPILOT_GW_LISTEN: %s", why);
		free(why);
		return (-1);
	}
	return (0);
}

int
config_load(struct config *c, const char *path, char **cause)
{
	struct config_override	*flags = c->flags;
	size_t			 nflags = c->nflags, i;
	char			*why = NULL;
	int			 rc = 0;

	c->flags = NULL;
	c->nflags = 0;
	config_release(c);
	c->flags = flags;
	c->nflags = nflags;
	c->file = xstrdup(path);
	config_defaults(c);
	if (config_load_file(c, path, cause) != 0 ||
	    config_load_env(c, cause) != 0)
		rc = -1;
	for (i = 0; rc == 0 && i < nflags; i++) {
		if (strcmp(flags[i].key, "listen") == 0)
			rc = config_set_listen(c, flags[i].value,
			    CONFIG_SRC_FLAG, &why);
		else
			rc = config_set(c, flags[i].key, flags[i].value,
			    CONFIG_SRC_FLAG, &why);
		if (rc != 0) {
			*cause = xasprintf("command line: %s", why);
			free(why);
		}
	}
	return (rc);
}

int
config_parse_listen(const char *s, char **host, char **port, char **cause)
{
	const char	*colon, *end;

	*host = NULL;
	*port = NULL;
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
			*cause = xasprintf("'%s': expected [ADDRESS]:PORT", s);
			return (-1);
		}
		*host = xstrndup(s + 1, (size_t)(end - s - 1));
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			*cause = xasprintf("'%s': expected HOST:PORT", s);
			return (-1);
		}
		if (colon != s)
			*host = xstrndup(s, (size_t)(colon - s));
	}
	if (colon[1] == '\0') {
		*cause = xasprintf("'%s': missing port", s);
		free(*host);
		*host = NULL;
		return (-1);
	}
	*port = xstrdup(colon + 1);
	return (0);
}

int
config_host_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	/* Parse, never match text: "127.example.com" is a host name. */
	if (strcmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6));
	return (0);
}

char *
config_value_text(const struct config *c, enum config_key k, int mask)
{
	const struct config_desc	*d = &config_descs[k];
	uint64_t			 v;

	if (config_is_string(d->type)) {
		if (mask && (d->flags & CONFIG_F_SECRET) &&
		    *config_cstr(c, k) != '\0')
			return (xstrdup("********"));
		return (xstrdup(config_cstr(c, k)));
	}
	v = config_cnum(c, k);
	switch (d->type) {
	case CONFIG_T_BOOL:
		return (xstrdup(v ? "true" : "false"));
	case CONFIG_T_LEVEL:
		return (xstrdup(log_level_name((enum log_level)v)));
	case CONFIG_T_SIZE:
		if (v != 0 && v % (1024 * 1024) == 0)
			return (xasprintf("%lluMiB",
			    (unsigned long long)(v / (1024 * 1024))));
		if (v != 0 && v % 1024 == 0)
			return (xasprintf("%lluKiB",
			    (unsigned long long)(v / 1024)));
		return (xasprintf("%llu", (unsigned long long)v));
	case CONFIG_T_DURATION:
		if (v % 1000 == 0)
			return (xasprintf("%llus", (unsigned long long)
			    (v / 1000)));
		return (xasprintf("%llums", (unsigned long long)v));
	default:
		return (xasprintf("%llu", (unsigned long long)v));
	}
}

void
config_show(const struct config *c, FILE *f, int json)
{
	struct json_object	*root, *e;
	char			*text;
	int			 k;

	if (json) {
		root = json_object_new_object();
		for (k = 0; k < CONFIG_NKEYS; k++) {
			text = config_value_text(c, k, 1);
			e = json_object_new_object();
			json_object_object_add(e, "value",
			    json_object_new_string(text));
			json_object_object_add(e, "source",
			    json_object_new_string(
			    config_source_names[c->source[k]]));
			json_object_object_add(e, "env",
			    json_object_new_string(config_key_env(k)));
			json_object_object_add(root, config_descs[k].key, e);
			free(text);
		}
		fprintf(f, "%s\n", json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
		return;
	}
	fprintf(f, "# config file: %s (%s)\n", c->file != NULL ? c->file : "-",
	    c->file_found ? "read" : "not present, defaults apply");
	for (k = 0; k < CONFIG_NKEYS; k++) {
		text = config_value_text(c, k, 1);
		fprintf(f, "%-32s %-40s %s\n", config_descs[k].key,
		    *text == '\0' ? "\"\"" : text,
		    config_source_names[c->source[k]]);
		free(text);
	}
}

int
config_key_differs(const struct config *a, const struct config *b,
    enum config_key k)
{
	if (config_is_string(config_descs[k].type))
		return (strcmp(config_cstr(a, k), config_cstr(b, k)) != 0);
	return (config_cnum(a, k) != config_cnum(b, k));
}

char *
config_listen_refusal(const struct config *cfg, const char *host)
{
	if (config_host_is_loopback(host))
		return (NULL);
	if (!cfg->listen_allow_remote)
		return (xasprintf("refusing to listen on '%s': not a loopback "
		    "address; pass --allow-remote (or set listen.allow_remote) "
		    "to expose the gateway to the network", host));
	if (!cfg->auth_enabled)
		return (xasprintf("refusing to listen on '%s' with auth turned "
		    "off: anyone on the network could spend your Copilot "
		    "account; set auth.enabled to true", host));
	return (NULL);
}
