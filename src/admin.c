/* SPDX-License-Identifier: ISC */
/*
 * admin: JSON shapes of keys and accounts shared by the CLI and the HTTP
 * admin API, so both speak the same fields. Pure functions; any thread.
 */
#include "admin.h"

#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "store.h"

int64_t
admin_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

const char *
admin_key_status(const struct store_key *k)
{
	int64_t	 now = admin_now_ms();

	if (k->revoked_ms != 0)
		return ("revoked");
	if (k->expires_ms != 0 && k->expires_ms <= now)
		return ("expired");
	if (k->prev_hash != NULL && k->prev_expires_ms > now)
		return ("rotating");
	return ("active");
}

void
admin_time(int64_t ms, char *buf, size_t len)
{
	time_t		 t = (time_t)(ms / 1000);
	struct tm	 tm;

	if (ms == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
admin_add_time(struct json_object *o, const char *name, int64_t ms)
{
	char	 t[32];

	if (ms == 0) {
		json_object_object_add(o, name, NULL);
		return;
	}
	admin_time(ms, t, sizeof t);
	json_object_object_add(o, name, json_object_new_string(t));
}

/* Returns a JSON object for a key (never its hash). */
struct json_object *
admin_key_json(const struct store_key *k, const char *secret)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(k->id));
	if (secret != NULL)
		json_object_object_add(o, "secret",
		    json_object_new_string(secret));
	json_object_object_add(o, "prefix", json_object_new_string(k->prefix));
	json_object_object_add(o, "label", json_object_new_string(
	    k->label != NULL ? k->label : ""));
	json_object_object_add(o, "tier", json_object_new_string(k->tier));
	json_object_object_add(o, "status",
	    json_object_new_string(admin_key_status(k)));
	json_object_object_add(o, "account_id", k->account_id > 0 ?
	    json_object_new_int64(k->account_id) : NULL);
	json_object_object_add(o, "models", json_object_new_string(
	    k->models != NULL ? k->models : ""));
	json_object_object_add(o, "rpm", json_object_new_int64(k->rpm));
	json_object_object_add(o, "tpm", json_object_new_int64(k->tpm));
	json_object_object_add(o, "max_concurrent",
	    json_object_new_int64(k->max_concurrent));
	admin_add_time(o, "account_removed_at", k->account_removed_ms);
	admin_add_time(o, "expires_at", k->expires_ms);
	admin_add_time(o, "created_at", k->created_ms);
	admin_add_time(o, "last_used_at", k->last_used_ms);
	admin_add_time(o, "rotated_at", k->rotated_ms);
	admin_add_time(o, "revoked_at", k->revoked_ms);
	/*
	 * Without a grace period the previous hash is kept only so that a
	 * client presenting it hears "rotated" rather than "invalid"; it is
	 * valid until nothing.
	 */
	admin_add_time(o, "previous_secret_valid_until",
	    k->prev_hash != NULL && k->prev_expires_ms > admin_now_ms() ?
	    k->prev_expires_ms : 0);
	return (o);
}

/* Returns a JSON object for an account, without its token. */
struct json_object *
admin_account_json(const struct store_account *a)
{
	struct json_object	*o = json_object_new_object();
	char			 t[32];

	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_object_object_add(o, "label", json_object_new_string(a->label));
	json_object_object_add(o, "provider",
	    json_object_new_string(a->provider));
	json_object_object_add(o, "login", json_object_new_string(a->login));
	json_object_object_add(o, "account_type",
	    json_object_new_string(a->account_type));
	json_object_object_add(o, "github_url",
	    json_object_new_string(a->github_url));
	json_object_object_add(o, "api_url", json_object_new_string(a->api_url));
	if (a->copilot_url[0] != '\0')
		json_object_object_add(o, "copilot_url",
		    json_object_new_string(a->copilot_url));
	json_object_object_add(o, "created_at", json_object_new_string(
	    (admin_time(a->created_ms, t, sizeof t), t)));
	json_object_object_add(o, "updated_at", json_object_new_string(
	    (admin_time(a->updated_ms, t, sizeof t), t)));
	return (o);
}

