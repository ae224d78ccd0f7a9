/* SPDX-License-Identifier: ISC */
/*
 * chan: the cross-thread mailbox (h2o lib/common/multithread.c, Redis
 * bio.c). Producers append under a mutex and wake the consumer only when
 * the queue goes from empty to non-empty; the consumer detaches the whole
 * list in one step and handles it without the lock. The proxy side wakes
 * through uv_async_send; the front end side through an eventfd polled with
 * stdin. Any thread.
 */
#include "chan.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xmalloc.h"

struct chan {
	pthread_mutex_t	 mtx;
	struct msg	*head;
	struct msg	*tail;
	chan_wake_cb	 wake;
	void		*arg;
};

struct chan *
chan_new(chan_wake_cb wake, void *arg)
{
	struct chan	*c = xcalloc(1, sizeof *c);

	pthread_mutex_init(&c->mtx, NULL);
	c->wake = wake;
	c->arg = arg;
	return (c);
}

void
chan_free(struct chan *c)
{
	struct msg	*m, *next;

	if (c == NULL)
		return;
	for (m = c->head; m != NULL; m = next) {
		next = m->next;
		msg_free(m);
	}
	pthread_mutex_destroy(&c->mtx);
	free(c);
}

void
chan_set_wake(struct chan *c, chan_wake_cb wake, void *arg)
{
	pthread_mutex_lock(&c->mtx);
	c->wake = wake;
	c->arg = arg;
	pthread_mutex_unlock(&c->mtx);
}

void
chan_post(struct chan *c, struct msg *m)
{
	chan_wake_cb	 wake;
	void		*arg;
	int		 was_empty;

	m->next = NULL;
	pthread_mutex_lock(&c->mtx);
	was_empty = c->head == NULL;
	if (was_empty)
		c->head = m;
	else
		c->tail->next = m;
	c->tail = m;
	wake = c->wake;
	arg = c->arg;
	pthread_mutex_unlock(&c->mtx);
	if (was_empty && wake != NULL)
		wake(arg);
}

struct msg *
chan_drain(struct chan *c)
{
	struct msg	*list;

	pthread_mutex_lock(&c->mtx);
	list = c->head;
	c->head = c->tail = NULL;
	pthread_mutex_unlock(&c->mtx);
	return (list);
}

int
chan_fd_init(struct chan_fd *f)
{
	f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return (f->fd == -1 ? -1 : 0);
}

void
chan_fd_release(struct chan_fd *f)
{
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
}

void
chan_fd_wake_cb(void *arg)
{
	struct chan_fd	*f = arg;
	uint64_t	 one = 1;

	while (write(f->fd, &one, sizeof one) == -1 && errno == EINTR)
		;
}

void
chan_fd_clear(struct chan_fd *f)
{
	uint64_t	 v;

	while (read(f->fd, &v, sizeof v) > 0)
		;
}
