/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for chan.c, the cross-thread mailbox: messages come out in
 * the order they were posted, the consumer is woken only when the queue
 * goes from empty to non-empty, the eventfd hook becomes readable and is
 * cleared, undrained messages are freed with the chan, and several
 * producer threads racing one consumer lose and duplicate nothing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "chan.h"
#include "msg.h"

#define CHAN_PRODUCERS	4
#define CHAN_PER	10000

struct chan_counter {
	atomic_int	 wakes;
	struct chan_fd	*fd;
};

static void
chan_test_wake_cb(void *arg)
{
	struct chan_counter	*cc = arg;

	atomic_fetch_add(&cc->wakes, 1);
	if (cc->fd != NULL)
		chan_fd_wake_cb(cc->fd);
}

/* Returns 1 if fd is readable right now. */
static int
chan_test_readable(int fd)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	while ((n = poll(&pfd, 1, 0)) == -1 && errno == EINTR)
		;
	ASSERT(n >= 0);
	return (n == 1 && (pfd.revents & POLLIN) != 0);
}

/* Frees a drained list; returns how many messages it held. */
static int
chan_test_free_list(struct msg *m)
{
	struct msg	*next;
	int		 n = 0;

	for (; m != NULL; m = next) {
		next = m->next;
		msg_free(m);
		n++;
	}
	return (n);
}

TEST_IMPL(chan_order_and_wake)
{
	struct chan_counter	 cc;
	struct chan_fd		 cf;
	struct chan		*c;
	struct msg		*list, *m;
	int			 i;

	ASSERT_EQ(chan_fd_init(&cf), 0);
	ASSERT(cf.fd >= 0);
	atomic_init(&cc.wakes, 0);
	cc.fd = &cf;
	c = chan_new(chan_test_wake_cb, &cc);
	ASSERT_NOT_NULL(c);

	/* Nothing queued: drain is empty and nothing woke. */
	ASSERT_NULL(chan_drain(c));
	ASSERT_EQ(atomic_load(&cc.wakes), 0);
	ASSERT(!chan_test_readable(cf.fd));

	/* Three posts without a drain: one wake. */
	chan_post(c, msg_new(MSG_EV_STARTED, 1, "127.0.0.1:4141"));
	ASSERT_EQ(atomic_load(&cc.wakes), 1);
	ASSERT(chan_test_readable(cf.fd));
	chan_post(c, msg_new(MSG_EV_CONFIG, 2, NULL));
	chan_post(c, msg_new(MSG_EV_STOPPED, 3, "bye"));
	ASSERT_EQ(atomic_load(&cc.wakes), 1);

	/* The eventfd is emptied by chan_fd_clear. */
	chan_fd_clear(&cf);
	ASSERT(!chan_test_readable(cf.fd));

	/* FIFO order, with the payloads intact. */
	list = chan_drain(c);
	ASSERT_NOT_NULL(list);
	m = list;
	ASSERT_EQ(m->type, MSG_EV_STARTED);
	ASSERT_EQ(m->i, 1);
	ASSERT_STR_EQ(m->text, "127.0.0.1:4141");
	m = m->next;
	ASSERT_NOT_NULL(m);
	ASSERT_EQ(m->type, MSG_EV_CONFIG);
	ASSERT_EQ(m->i, 2);
	ASSERT_NULL(m->text);
	m = m->next;
	ASSERT_NOT_NULL(m);
	ASSERT_EQ(m->type, MSG_EV_STOPPED);
	ASSERT_EQ(m->i, 3);
	ASSERT_STR_EQ(m->text, "bye");
	ASSERT_NULL(m->next);
	ASSERT_EQ(chan_test_free_list(list), 3);

	/* Drained: the queue is empty again. */
	ASSERT_NULL(chan_drain(c));
	ASSERT_EQ(atomic_load(&cc.wakes), 1);

	/* The next post is an empty -> non-empty transition: wake 2. */
	chan_post(c, msg_new(MSG_CMD_RELOAD, 0, NULL));
	ASSERT_EQ(atomic_load(&cc.wakes), 2);
	ASSERT(chan_test_readable(cf.fd));
	chan_post(c, msg_new(MSG_CMD_SHUTDOWN, 0, NULL));
	ASSERT_EQ(atomic_load(&cc.wakes), 2);
	chan_fd_clear(&cf);
	ASSERT(!chan_test_readable(cf.fd));
	list = chan_drain(c);
	ASSERT_NOT_NULL(list);
	ASSERT_EQ(list->type, MSG_CMD_RELOAD);
	ASSERT_NOT_NULL(list->next);
	ASSERT_EQ(list->next->type, MSG_CMD_SHUTDOWN);
	ASSERT_EQ(chan_test_free_list(list), 2);

	/* Many posts keep their order. */
	for (i = 0; i < 1000; i++)
		chan_post(c, msg_new(MSG_EV_CONFIG, i, NULL));
	ASSERT_EQ(atomic_load(&cc.wakes), 3);
	list = chan_drain(c);
	for (i = 0, m = list; m != NULL; m = m->next, i++)
		ASSERT_EQ(m->i, i);
	ASSERT_EQ(i, 1000);
	ASSERT_EQ(chan_test_free_list(list), 1000);

	/* A hook set later is used for the next transition. */
	chan_set_wake(c, NULL, NULL);
	chan_post(c, msg_new(MSG_EV_CONFIG, 0, NULL));
	ASSERT_EQ(atomic_load(&cc.wakes), 3);
	ASSERT_EQ(chan_test_free_list(chan_drain(c)), 1);
	chan_set_wake(c, chan_test_wake_cb, &cc);
	chan_post(c, msg_new(MSG_EV_CONFIG, 0, NULL));
	ASSERT_EQ(atomic_load(&cc.wakes), 4);

	/* chan_free frees what was never drained (ASan checks leaks). */
	chan_post(c, msg_new(MSG_EV_STARTED, 0, "left behind"));
	chan_post(c, msg_new(MSG_EV_STOPPED, 0, "also left"));
	chan_free(c);
	chan_free(NULL);
	msg_free(NULL);
	chan_fd_release(&cf);
	ASSERT_EQ(cf.fd, -1);
}

struct chan_producer {
	struct chan	*c;
	uint64_t	 id;
};

struct chan_consumer {
	struct chan	*c;
	struct chan_fd	*fd;
	int64_t		 next[CHAN_PRODUCERS];
	int		 total;
	int		 failed;
	const char	*why;
};

static void *
chan_producer_main(void *arg)
{
	struct chan_producer	*p = arg;
	struct msg		*m;
	int			 i;

	for (i = 0; i < CHAN_PER; i++) {
		m = msg_new(MSG_EV_CONFIG, i, NULL);
		m->corr = p->id;
		chan_post(p->c, m);
	}
	return (NULL);
}

static void *
chan_consumer_main(void *arg)
{
	struct chan_consumer	*cs = arg;
	struct pollfd		 pfd;
	struct msg		*list, *m, *next;
	int			 n;

	while (cs->total < CHAN_PRODUCERS * CHAN_PER && !cs->failed) {
		pfd.fd = cs->fd->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* A lost wake-up shows up as a long silence. */
		n = poll(&pfd, 1, 10000);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != 1) {
			cs->failed = 1;
			cs->why = n == 0 ? "no wake-up for 10s" : "poll failed";
			break;
		}
		/* Clear before draining, so a post after it wakes again. */
		chan_fd_clear(cs->fd);
		list = chan_drain(cs->c);
		for (m = list; m != NULL; m = next) {
			next = m->next;
			if (m->corr < 1 || m->corr > CHAN_PRODUCERS) {
				cs->failed = 1;
				cs->why = "bad producer id";
			} else if (m->i != cs->next[m->corr - 1]) {
				cs->failed = 1;
				cs->why = "out of order, lost or duplicated";
			} else
				cs->next[m->corr - 1]++;
			cs->total++;
			msg_free(m);
		}
	}
	return (NULL);
}

TEST_IMPL(chan_threads)
{
	struct chan_producer	 prod[CHAN_PRODUCERS];
	struct chan_consumer	 cons;
	struct chan_fd		 cf;
	pthread_t		 pt[CHAN_PRODUCERS], ct;
	struct chan		*c;
	int			 i;

	ASSERT_EQ(chan_fd_init(&cf), 0);
	c = chan_new(chan_fd_wake_cb, &cf);
	memset(&cons, 0, sizeof cons);
	cons.c = c;
	cons.fd = &cf;
	ASSERT_EQ(pthread_create(&ct, NULL, chan_consumer_main, &cons), 0);
	for (i = 0; i < CHAN_PRODUCERS; i++) {
		prod[i].c = c;
		prod[i].id = (uint64_t)i + 1;
		ASSERT_EQ(pthread_create(&pt[i], NULL, chan_producer_main,
		    &prod[i]), 0);
	}
	for (i = 0; i < CHAN_PRODUCERS; i++)
		ASSERT_EQ(pthread_join(pt[i], NULL), 0);
	ASSERT_EQ(pthread_join(ct, NULL), 0);

	if (cons.failed)
		TEST_FAIL("consumer: %s", cons.why);
	ASSERT_EQ(cons.total, CHAN_PRODUCERS * CHAN_PER);
	for (i = 0; i < CHAN_PRODUCERS; i++)
		ASSERT_EQ(cons.next[i], CHAN_PER);
	/* Nothing is left behind. */
	ASSERT_NULL(chan_drain(c));
	chan_free(c);
	chan_fd_release(&cf);
}
