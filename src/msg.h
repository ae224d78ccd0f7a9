/* SPDX-License-Identifier: ISC */
#ifndef MSG_H
#define MSG_H

#include <stdint.h>

struct json_object;

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

	/* data: {provider, label?, account_type?, github_url?, api_url?,
	 *  token? (skip the device flow)} */
	MSG_CMD_LOGIN_START = 300,
	MSG_CMD_LOGIN_CANCEL = 301,
	/* data: {user_code, verification_uri, expires_in, interval} */
	MSG_EV_LOGIN_CODE = 310,
	/* text: "pending" or "slow_down"; i: the interval in seconds */
	MSG_EV_LOGIN_POLL = 311,
	/* i: 0 ok, -1 failed, -2 cancelled; text: the error;
	 * data: {account_id, label, login, provider} on success */
	MSG_EV_LOGIN_DONE = 312,
};

struct msg {
	struct msg	*next;		/* chan linkage */
	enum msg_type	 type;
	uint64_t	 corr;		/* correlation id, 0 if none */
	int64_t		 i;
	char		*text;		/* owned, may be NULL */
	struct json_object *data;	/* owned, may be NULL */
};

/* Returns a new owned message; text is copied (may be NULL). Any thread. */
struct msg	*msg_new(enum msg_type, int64_t i, const char *text);
/* As msg_new, and takes ownership of data (may be NULL). */
struct msg	*msg_new_data(enum msg_type, int64_t i, const char *text,
		    struct json_object *data);
/* Frees a message; NULL is a no-op. Any thread. */
void		 msg_free(struct msg *);
/* Returns a static name for a message type, for logs. */
const char	*msg_type_name(enum msg_type);

#endif
