/* SPDX-License-Identifier: ISC */
#ifndef MSG_H
#define MSG_H

#include <stdint.h>

/*
 * The protocol between the front end (TUI or the headless `serve` loop)
 * and the proxy thread (tmux-protocol.h). Messages are values: the sender
 * allocates, chan_post hands ownership over, the receiver calls msg_free.
 * Families: 100 commands (front end -> proxy), 200 events (proxy -> front
 * end), 300 login, 400 trace.
 */

#define MSG_PROTOCOL_VERSION 1

enum msg_type {
	MSG_CMD_SHUTDOWN = 100,	/* i: 1 = abort in-flight work now */
	MSG_CMD_RELOAD = 101,	/* reread the config file */

	MSG_EV_STARTED = 200,	/* text: "host:port" actually bound */
	MSG_EV_STOPPED = 201,	/* i: exit status (0 clean) */
	MSG_EV_CONFIG = 202,	/* i: 0 reloaded, -1 refused; text: why */
};

struct msg {
	struct msg	*next;		/* chan linkage */
	enum msg_type	 type;
	uint64_t	 corr;		/* correlation id, 0 if none */
	int64_t		 i;
	char		*text;		/* owned, may be NULL */
};

/* Returns a new owned message; text is copied (may be NULL). Any thread. */
struct msg	*msg_new(enum msg_type, int64_t i, const char *text);
/* Frees a message; NULL is a no-op. Any thread. */
void		 msg_free(struct msg *);
/* Returns a static name for a message type, for logs. */
const char	*msg_type_name(enum msg_type);

#endif
