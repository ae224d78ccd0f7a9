/* SPDX-License-Identifier: ISC */
/*
 * msg: constructors and destructor for the value messages that cross the
 * thread boundary. Any thread.
 */
#include "msg.h"

#include <stdlib.h>

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

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
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
	}
	return ("unknown");
}
