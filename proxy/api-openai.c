/* SPDX-License-Identifier: ISC */
/*
 * api-openai: the OpenAI dialect as clients see it. For now, its error
 * shape: {"error":{"message","type","code","param"}} with a type chosen
 * from the HTTP status, as the OpenAI SDKs expect. Proxy thread.
 */
#include "server.h"

/* Maps a status to the OpenAI error type the SDKs key on. */
static const char *
api_openai_error_type(int status)
{
	switch (status) {
	case 401:
		return ("authentication_error");
	case 403:
		return ("permission_error");
	case 404:
		return ("not_found_error");
	case 408:
	case 504:
		return ("timeout_error");
	case 413:
	case 431:
		return ("request_too_large");
	case 429:
		return ("rate_limit_error");
	default:
		if (status >= 500)
			return ("api_error");
		return ("invalid_request_error");
	}
}

struct json_object *
api_openai_error(int status, const char *code, const char *message)
{
	struct json_object	*o, *e;

	e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "type",
	    json_object_new_string(api_openai_error_type(status)));
	json_object_object_add(e, "code",
	    code != NULL ? json_object_new_string(code) : NULL);
	json_object_object_add(e, "param", NULL);
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	return (o);
}
