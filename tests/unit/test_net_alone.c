/* SPDX-License-Identifier: MIT */
/*
 * The connection layer on its own: this program links src/daemon/net/ and
 * the layers below it, never proto/ or core/. If a connection ever calls up
 * by name again (dispatch_*, jobd_*), this program no longer links. It also
 * shows the layer working through what the layer above registers: a real
 * listener on an ephemeral loopback port, a real client socket, messages
 * delivered to net_ops, answers sent back through the session.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/config/config.h"
#include "daemon/net/listener.h"
#include "daemon/net/net.h"
#include "daemon/net/session.h"
#include "wire/frame.h"
#include "wire/message.h"

struct seen {
	int messages;
	int gone;
	int freed;
	enum msg_type last_type;
	uint32_t slot, gen; /* of the last session a message came from */
};

/* The layer above, as small as can be: answers ping with pong through the
 * session it came from. */
static void on_message(void *arg, struct session *s, struct msg *m)
{
	struct seen *seen = arg;

	seen->messages++;
	seen->last_type = m->type;
	seen->slot = s->slot;
	seen->gen = s->gen;
	if (m->type == MSG_PING)
		session_send_msg(s, msg_pong(m->has_id, m->id));
}

static void on_gone(void *arg, struct session *s)
{
	((struct seen *)arg)->gone++;
}

static void on_freed(void *arg)
{
	((struct seen *)arg)->freed++;
}

static const struct net_ops ops = {
        .message = on_message,
        .gone = on_gone,
        .slot_freed = on_freed,
};

struct rig {
	struct config cfg;
	struct event_base *base;
	struct net net;
	struct seen seen;
	int port;
};

static void rig_up(struct rig *r)
{
	char addrs[128], *colon;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(config_defaults(&r->cfg), 0);
	r->cfg.listen = calloc(1, sizeof(*r->cfg.listen));
	ck_assert_ptr_nonnull(r->cfg.listen);
	r->cfg.listen[0] = strdup("127.0.0.1:0");
	r->cfg.n_listen = 1;
	r->base = event_base_new();
	ck_assert_ptr_nonnull(r->base);
	ck_assert_int_eq(net_init(&r->net, r->base, &r->cfg), 0);
	net_set_ops(&r->net, &ops, &r->seen);
	ck_assert_int_eq(listeners_open(&r->net, &r->cfg, "test"), 0);
	listeners_describe(&r->net, addrs, sizeof(addrs));
	colon = strrchr(addrs, ':');
	ck_assert_ptr_nonnull(colon);
	r->port = atoi(colon + 1);
	ck_assert_int_gt(r->port, 0);
}

static void rig_down(struct rig *r)
{
	net_fini(&r->net);
	event_base_free(r->base);
	config_fini(&r->cfg);
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_msg(int fd, json_t *msg)
{
	char *frame;
	size_t len;

	ck_assert_int_eq(frame_encode(msg, &frame, &len), 0);
	ck_assert_int_eq(send(fd, frame, len, MSG_NOSIGNAL), (ssize_t)len);
	free(frame);
	json_decref(msg);
}

/* Turns the loop until *counter reaches want (bounded: 5 s). */
static void spin_until(struct rig *r, const int *counter, int want)
{
	int i;

	for (i = 0; i < 500 && *counter < want; i++) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		if (*counter < want)
			usleep(10 * 1000);
	}
	ck_assert_int_ge(*counter, want);
}

/* Reads one frame from fd while turning the loop (bounded: 5 s). */
static json_t *read_msg(struct rig *r, int fd)
{
	char buf[4096];
	size_t have = 0;
	uint32_t len;
	ssize_t n;
	int i;

	for (i = 0; i < 500; i++) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
		if (n > 0)
			have += (size_t)n;
		if (have >= 4) {
			len = ntohl(*(uint32_t *)(void *)buf);
			if (have >= 4 + len)
				return json_loadb(buf + 4, len, 0, NULL);
		}
		if (n <= 0)
			usleep(10 * 1000);
	}
	ck_abort_msg("no frame within 5 s");
	return NULL;
}

START_TEST(test_message_up_answer_down)
{
	struct rig r;
	json_t *answer;
	int fd;

	rig_up(&r);
	fd = dial(r.port);
	send_msg(fd, msg_ping(true, 7));
	spin_until(&r, &r.seen.messages, 1);
	ck_assert_int_eq(r.seen.last_type, MSG_PING);
	ck_assert_uint_eq(net_count(&r.net), 1);
	ck_assert_ptr_nonnull(
	        session_lookup(&r.net.sessions, r.seen.slot, r.seen.gen));

	answer = read_msg(&r, fd);
	ck_assert_ptr_nonnull(answer);
	ck_assert_str_eq(json_string_value(json_object_get(answer, "type")),
	                 "pong");
	ck_assert_int_eq(json_integer_value(json_object_get(answer, "id")), 7);
	json_decref(answer);

	/* The client leaves: the layer above hears it, and the session's
	 * name goes stale. */
	close(fd);
	spin_until(&r, &r.seen.freed, 1);
	ck_assert_int_ge(r.seen.gone, 1);
	ck_assert_uint_eq(net_count(&r.net), 0);
	ck_assert_ptr_null(
	        session_lookup(&r.net.sessions, r.seen.slot, r.seen.gen));
	rig_down(&r);
}
END_TEST

START_TEST(test_broken_frame_closes_without_going_up)
{
	static const char empty[4] = {0, 0, 0, 0}; /* length 0: bad_frame */
	struct rig r;
	json_t *answer;
	int fd;

	rig_up(&r);
	fd = dial(r.port);
	ck_assert_int_eq(send(fd, empty, sizeof(empty), MSG_NOSIGNAL), 4);
	answer = read_msg(&r, fd);
	ck_assert_ptr_nonnull(answer);
	ck_assert_str_eq(json_string_value(json_object_get(answer, "code")),
	                 "bad_frame");
	json_decref(answer);
	spin_until(&r, &r.seen.freed, 1);
	ck_assert_int_eq(r.seen.messages, 0);
	close(fd);
	rig_down(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net-alone");
	TCase *tc = tcase_create("net");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_message_up_answer_down);
	tcase_add_test(tc, test_broken_frame_closes_without_going_up);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
