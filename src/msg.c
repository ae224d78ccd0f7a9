/* SPDX-License-Identifier: ISC */
/*
 * msg: constructors and destructor for the value messages that cross the
 * thread boundary. Any thread.
 */
#include "msg.h"

#include <stdlib.h>

#include <json-c/json.h>

#include "xmalloc.h"

struct msg *
msg_new(enum msg_type type, int64_t i, const char *text)
{
	struct msg	*m = xcalloc(1, sizeof *m);

	m->type = type;
	m->i = i;
	m->text = text != NULL ? xstrdup(text) : NULL;
	return (m);
}

struct msg *
msg_new_data(enum msg_type type, int64_t i, const char *text,
    struct json_object *data)
{
	struct msg	*m = msg_new(type, i, text);

	m->data = data;
	return (m);
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	json_object_put(m->data);
	free(m->text);
	free(m);
}

const char *
msg_type_name(enum msg_type type)
{
	switch (type) {
	case MSG_CMD_SHUTDOWN:
		return ("cmd_shutdown");
	case MSG_CMD_RELOAD:
		return ("cmd_reload");
	case MSG_EV_STARTED:
		return ("ev_started");
	case MSG_EV_STOPPED:
		return ("ev_stopped");
	case MSG_EV_CONFIG:
		return ("ev_config");
	case MSG_CMD_LOGIN_START:
		return ("cmd_login_start");
	case MSG_CMD_LOGIN_CANCEL:
		return ("cmd_login_cancel");
	case MSG_EV_LOGIN_CODE:
		return ("ev_login_code");
	case MSG_EV_LOGIN_POLL:
		return ("ev_login_poll");
	case MSG_EV_LOGIN_DONE:
		return ("ev_login_done");
	}
	return ("unknown");
}
