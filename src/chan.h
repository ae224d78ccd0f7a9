/* SPDX-License-Identifier: ISC */
#ifndef CHAN_H
#define CHAN_H

#include "msg.h"

/*
 * A cross-thread mailbox: a mutex-protected FIFO of struct msg plus a
 * wake hook (h2o multithread.c). chan_post wakes the consumer only on the
 * empty -> non-empty transition, after unlocking; chan_drain detaches the
 * whole list under the lock. The only shared mutable structure between
 * the proxy thread and the front end.
 */

struct chan;

/* Called (outside the lock) when a post makes the chan non-empty. */
typedef void (*chan_wake_cb)(void *arg);

/* Returns an owned chan; wake may be NULL and set later. Any thread. */
struct chan	*chan_new(chan_wake_cb wake, void *arg);
/* Frees the chan and any messages still queued; NULL is a no-op. */
void		 chan_free(struct chan *);
/* Sets the wake hook; call before anyone posts. */
void		 chan_set_wake(struct chan *, chan_wake_cb wake, void *arg);
/* Takes m and appends it. Any thread. */
void		 chan_post(struct chan *, struct msg *m);
/* Returns the owned list of all queued messages, oldest first, or NULL. */
struct msg	*chan_drain(struct chan *);

/*
 * An eventfd-backed wake hook for a poll(2) loop: chan_fd_new returns an
 * owned descriptor pair; chan_fd_wake_cb(arg = the struct) makes the fd
 * readable; chan_fd_clear reads it dry.
 */
struct chan_fd {
	int	fd;
};
int		 chan_fd_init(struct chan_fd *);
void		 chan_fd_release(struct chan_fd *);
void		 chan_fd_wake_cb(void *arg);
void		 chan_fd_clear(struct chan_fd *);

#endif
