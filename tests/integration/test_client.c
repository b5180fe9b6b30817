/* SPDX-License-Identifier: MIT */
/*
 * libjobd-client against the real jobd: blocking calls, 1,000 calls in any
 * order, timeouts, progress, cancel, busy, and the failure cases (a server
 * that is down, one that closes in the middle of an answer, failover to the
 * next server of a list). The misbehaving servers are tiny fakes forked
 * here, speaking just enough of the protocol.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jobd/client.h>

#include "client_wait.h"
#include "harness.h"

/* ---- helpers ---------------------------------------------------------- */

static struct jobd_client *client_for(const char *servers)
{
	struct jobd_client *c = jobd_client_new();

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(jobd_client_set_servers(c, servers), JOBD_CLIENT_OK);
	return c;
}

static struct jobd_client *client_for_port(uint16_t port)
{
	char s[64];

	snprintf(s, sizeof(s), "127.0.0.1:%u", port);
	return client_for(s);
}

/* A loopback port with nothing listening: bound once, then closed. */
static uint16_t dead_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

enum fake_mode {
	FAKE_HALF_FRAME, /* hello, read the call, send half an answer, close */
	FAKE_SILENT,     /* hello, then read and never answer */
	FAKE_HELLO_ECHO, /* hello, then answer every call with its input */
};

struct fake {
	pid_t pid;
	uint16_t port;
};

/* Serves one connection after another in a child process, until killed. */
static void fake_serve(int lfd, enum fake_mode mode)
{
	json_t *m, *reply;
	int fd;

	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		m = harness_recv(fd, 10000);
		if (m && !strcmp(json_string_value(json_object_get(m, "type")),
		                 "hello")) {
			json_decref(m);
			harness_send_text(fd,
			                  "{\"type\":\"hello\",\"version\":1,"
			                  "\"server\":\"fake\","
			                  "\"max_frame_size\":1000000}");
			m = harness_recv(fd, 10000);
		}
		switch (mode) {
		case FAKE_HALF_FRAME:
			/* Announce 40 bytes, send 10 of them, hang up. */
			harness_send_raw(fd, "\0\0\0\x28{\"type\":\"r", 14);
			break;
		case FAKE_SILENT:
			while (m) {
				json_decref(m);
				m = harness_recv(fd, 60000);
			}
			break;
		case FAKE_HELLO_ECHO:
			while (m) {
				reply = json_pack(
				        "{s:s, s:O, s:O}", "type", "result",
				        "id", json_object_get(m, "id"),
				        "output", json_object_get(m, "input"));
				harness_send(fd, reply);
				json_decref(reply);
				json_decref(m);
				m = harness_recv(fd, 60000);
			}
			break;
		}
		json_decref(m);
		close(fd);
	}
}

/* Starts a fake server on loopback (IPv4, or IPv6 when v6). Returns -1
 * when the address family is not available (IPv6 in some containers). */
static int fake_start(struct fake *f, enum fake_mode mode, int v6)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = v6 ? sizeof(*s6) : sizeof(*s4);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (v6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
	} else {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return -1;
	}
	f->port = ntohs(v6 ? s6->sin6_port : s4->sin_port);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0)
		fake_serve(fd, mode);
	close(fd);
	return 0;
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

static json_t *json_of(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	ck_assert_ptr_nonnull(v);
	return v;
}

/* ---- blocking calls --------------------------------------------------- */

START_TEST(blocking_calls)
{
	struct jobd_proc p;
	struct jobd_client *c;
	json_t *in, *out = NULL, *stats = NULL;
	char want[64];

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	c = client_for_port(p.port);
	ck_assert_int_eq(jobd_client_fd(c), -1);
	ck_assert_ptr_null(jobd_client_server(c));

	in = json_of("{\"x\":[1,2,{\"y\":null}],\"s\":\"a\\u0000b\"}");
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert(json_equal(in, out));
	ck_assert_str_eq(jobd_client_errmsg(c), "");
	json_decref(out);
	json_decref(in);

	snprintf(want, sizeof(want), "127.0.0.1:%u", p.port);
	ck_assert_str_eq(jobd_client_server(c), want);
	ck_assert_ptr_nonnull(strstr(jobd_client_server_name(c), "jobd"));
	ck_assert_int_ge(jobd_client_fd(c), 0);

	/* Many in a row on the same connection, no timeout. */
	for (int i = 0; i < 200; i++) {
		in = json_integer(i);
		ck_assert_int_eq(jobd_client_call(c, "echo", in,
		                                  JOBD_CLIENT_FOREVER, &out),
		                 JOBD_CLIENT_OK);
		ck_assert_int_eq(json_integer_value(out), i);
		json_decref(out);
		json_decref(in);
	}

	ck_assert_int_eq(jobd_client_ping(c, 5000), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_stats(c, 5000, &stats), JOBD_CLIENT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(stats, "type")),
	                 "stats");
	ck_assert_ptr_nonnull(
	        json_object_get(json_object_get(stats, "plugins"), "echo"));
	json_decref(stats);

	/* A server error: typed, with the server's own words. */
	in = json_null();
	ck_assert_int_eq(jobd_client_call(c, "nbdy", in, 5000, &out),
	                 JOBD_CLIENT_E_SERVER);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_UNKNOWN_PLUGIN);
	ck_assert_str_eq(jobd_client_error_name(c), "unknown_plugin");
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "\"nbdy\""));
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "echo"));
	ck_assert_int_eq(jobd_client_retry_after_ms(c), -1);
	json_decref(in);

	/* The plugin's own failure. */
	in = json_string("x");
	ck_assert_int_eq(jobd_client_call(c, "sleep", in, 5000, &out),
	                 JOBD_CLIENT_E_SERVER);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_BAD_REQUEST);
	json_decref(in);

	/* Generic request: a type the server does not know. */
	ck_assert_int_eq(jobd_client_request(c, "frobnicate", NULL, 5000, &out),
	                 JOBD_CLIENT_E_SERVER);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_UNKNOWN_TYPE);

	/* Bad arguments are refused locally. */
	ck_assert_int_eq(jobd_client_call(c, "echo", NULL, 5000, &out),
	                 JOBD_CLIENT_E_INVALID);
	in = json_null();
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 0, &out),
	                 JOBD_CLIENT_E_INVALID);
	json_decref(in);

	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(server_lists)
{
	struct jobd_client *c = jobd_client_new();

	ck_assert_int_eq(jobd_client_set_servers(c, "a:1, [::1]:7878 ,b"),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_servers(c, "::1:7878"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "brackets"));
	ck_assert_int_eq(jobd_client_set_servers(c, "a:0"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, "a:65536"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, "a:1,,b:2"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, "[::1:7878"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, ":7878"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, "a:x"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_io_timeout(c, 0),
	                 JOBD_CLIENT_E_INVALID);
	jobd_client_free(c);
	jobd_client_free(NULL);
}
END_TEST

/* An IPv6 literal in brackets reaches a server on ::1. */
START_TEST(ipv6_server)
{
	struct fake f;
	struct jobd_client *c;
	char s[64];
	json_t *in = json_integer(6), *out = NULL;

	if (fake_start(&f, FAKE_HELLO_ECHO, 1) < 0) {
		json_decref(in);
		return; /* no IPv6 loopback here */
	}
	snprintf(s, sizeof(s), "[::1]:%u", f.port);
	c = client_for(s);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(json_integer_value(out), 6);
	ck_assert_str_eq(jobd_client_server(c), s);
	ck_assert_str_eq(jobd_client_server_name(c), "fake");
	json_decref(out);
	json_decref(in);
	jobd_client_free(c);
	fake_stop(&f);
}
END_TEST

/* ---- any order -------------------------------------------------------- */

/* 1,000 calls to `sleep` with random durations, all submitted at once:
 * every id comes back exactly once, with its own output, in completion
 * order (not submission order). */
START_TEST(thousand_any_order)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 8\n"
	                "    queue_bound: 2000\n",
	};
	enum { N = 1000 };
	static uint64_t ids[N];
	static int ms_of[N + 1], seen[N + 1];
	struct jobd_proc p;
	struct jobd_client *c;
	struct jobd_client_answer *a;
	int i, answered = 0, progress = 0, inversions = 0;
	uint64_t last = 0;
	char text[32];

	ck_assert_int_eq(harness_start(&p, &o), 0);
	c = client_for_port(p.port);
	srand(4242);
	for (i = 0; i < N; i++) {
		json_t *in;

		ms_of[i + 1] = rand() % 20;
		snprintf(text, sizeof(text), "{\"ms\":%d}", ms_of[i + 1]);
		in = json_of(text);
		ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &ids[i]),
		                 JOBD_CLIENT_OK);
		/* Ids are fresh: here 1..N in order, which lets ms_of[] be
		 * indexed by id. */
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
		json_decref(in);
	}
	while (answered < N) {
		ck_assert_int_eq(jobd_client_receive(c, 30000, &a),
		                 JOBD_CLIENT_OK);
		ck_assert_uint_ge(jobd_client_answer_id(a), 1);
		ck_assert_uint_le(jobd_client_answer_id(a), N);
		if (jobd_client_answer_kind(a) == JOBD_CLIENT_ANSWER_PROGRESS) {
			ck_assert(jobd_client_answer_fraction(a) >= 0 &&
			          jobd_client_answer_fraction(a) <= 1);
			ck_assert_int_eq(seen[jobd_client_answer_id(a)], 0);
			progress++;
		} else {
			uint64_t id = jobd_client_answer_id(a);

			ck_assert_int_eq(jobd_client_answer_kind(a),
			                 JOBD_CLIENT_ANSWER_RESULT);
			ck_assert_int_eq(seen[id]++, 0);
			ck_assert_int_eq(json_integer_value(json_object_get(
			                         jobd_client_answer_output(a),
			                         "slept_ms")),
			                 ms_of[id]);
			if (id < last)
				inversions++;
			last = id;
			answered++;
		}
		jobd_client_answer_free(a);
	}
	for (i = 1; i <= N; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert_int_gt(inversions, 0); /* completion order, not send order */
	ck_assert_uint_eq(jobd_client_inflight(c), 0);
	ck_assert_int_eq(jobd_client_receive(c, 1000, &a), JOBD_CLIENT_E_IDLE);
	(void)progress;
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* A slow call submitted first does not hold back a fast one; the fd works
 * in the caller's own poll(). */
START_TEST(completion_order_and_fd)
{
	struct jobd_proc p;
	struct jobd_client *c;
	struct jobd_client_answer *a;
	json_t *slow = json_of("{\"ms\":1500}"), *fast = json_of("{\"ms\":0}");
	uint64_t id_slow, id_fast, got = 0;
	struct pollfd pfd;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	c = client_for_port(p.port);
	ck_assert_int_eq(jobd_client_submit(c, "sleep", slow, 0, &id_slow),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_submit(c, "sleep", fast, 0, &id_fast),
	                 JOBD_CLIENT_OK);
	ck_assert_uint_ne(id_slow, id_fast);
	ck_assert_uint_eq(jobd_client_inflight(c), 2);
	/* Wait in our own poll, as an event loop would. */
	while (!got) {
		while (jobd_client_queued(c) == 0) {
			pfd.fd = jobd_client_fd(c);
			pfd.events = POLLIN;
			ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
			if (jobd_client_receive(c, 0, &a) == JOBD_CLIENT_OK)
				goto have;
		}
		ck_assert_int_eq(jobd_client_receive(c, 0, &a), JOBD_CLIENT_OK);
	have:
		if (jobd_client_answer_kind(a) != JOBD_CLIENT_ANSWER_PROGRESS)
			got = jobd_client_answer_id(a);
		jobd_client_answer_free(a);
	}
	ck_assert_uint_eq(got, id_fast);
	/* Nothing ready yet: receive(0) does not wait. */
	{
		uint64_t t0 = harness_now_ms();
		int r;

		do {
			r = jobd_client_receive(c, 0, &a);
			if (r == JOBD_CLIENT_OK) {
				ck_assert_int_eq(jobd_client_answer_kind(a),
				                 JOBD_CLIENT_ANSWER_PROGRESS);
				jobd_client_answer_free(a);
			}
		} while (r == JOBD_CLIENT_OK);
		ck_assert_int_eq(r, JOBD_CLIENT_E_TIMEOUT);
		ck_assert_uint_lt(harness_now_ms() - t0, 500);
	}
	do {
		ck_assert_int_eq(jobd_client_receive(c, 10000, &a),
		                 JOBD_CLIENT_OK);
		got = jobd_client_answer_kind(a) == JOBD_CLIENT_ANSWER_RESULT
		              ? jobd_client_answer_id(a)
		              : 0;
		jobd_client_answer_free(a);
	} while (!got);
	ck_assert_uint_eq(got, id_slow);
	json_decref(slow);
	json_decref(fast);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

struct progress_seen {
	int count;
	uint64_t id;
	double last;
	int bad;
};

static void on_progress(void *ud, uint64_t id, double fraction,
                        const char *message)
{
	struct progress_seen *s = ud;

	s->count++;
	s->id = id;
	if (fraction < 0 || fraction > 1 || fraction < s->last)
		s->bad++;
	s->last = fraction;
	(void)message;
}

START_TEST(progress_callback)
{
	struct jobd_proc p;
	struct jobd_client *c;
	struct progress_seen s = {0};
	json_t *in = json_of("{\"ms\":300}"), *out = NULL;
	struct jobd_client_answer *a;
	uint64_t id;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	c = client_for_port(p.port);
	jobd_client_set_progress(c, on_progress, &s);
	ck_assert_int_eq(jobd_client_call(c, "sleep", in, 10000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert_int_gt(s.count, 0);
	ck_assert_int_eq(s.bad, 0);
	json_decref(out);

	/* With a callback, receive() yields only final answers. */
	s.count = 0;
	s.last = 0;
	ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_receive(c, 10000, &a), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_answer_kind(a), JOBD_CLIENT_ANSWER_RESULT);
	ck_assert_int_gt(s.count, 0);
	ck_assert_uint_eq(s.id, id);
	jobd_client_answer_free(a);
	json_decref(in);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* ---- timeouts, cancel, busy ------------------------------------------- */

START_TEST(timeouts)
{
	struct jobd_proc p;
	struct jobd_client *c;
	struct jobd_client_answer *a;
	json_t *in = json_of("{\"ms\":5000}"), *echo = json_integer(1);
	json_t *out = NULL;
	struct progress_seen seen = {0};
	uint64_t t0, id;
	int r;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	c = client_for_port(p.port);

	/* The deadline goes to the server too: whichever side notices
	 * first, the call ends as a timeout, long before 5 s. */
	t0 = harness_now_ms();
	r = jobd_client_call(c, "sleep", in, 300, &out);
	ck_assert(r == JOBD_CLIENT_E_TIMEOUT ||
	          (r == JOBD_CLIENT_E_SERVER &&
	           jobd_client_error_code(c) == JOBD_E_TIMEOUT));
	ck_assert_uint_lt(harness_now_ms() - t0, 3000);
	ck_assert_ptr_null(out);
	/* The handle is fine afterwards; a late answer is not mistaken for
	 * this one. */
	ck_assert_int_eq(jobd_client_call(c, "echo", echo, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(json_integer_value(out), 1);
	json_decref(out);

	/* receive() with a timeout, then cancel the call. Progress goes to
	 * a callback here, or it would keep receive() from timing out. */
	jobd_client_set_progress(c, on_progress, &seen);
	ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
	                 JOBD_CLIENT_OK);
	t0 = harness_now_ms();
	ck_assert_int_eq(jobd_client_receive(c, 200, &a),
	                 JOBD_CLIENT_E_TIMEOUT);
	ck_assert_uint_ge(harness_now_ms() - t0, 190);
	ck_assert_int_eq(jobd_client_cancel(c, id), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_cancel(c, id + 100),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_receive(c, 5000, &a), JOBD_CLIENT_OK);
	ck_assert_uint_eq(jobd_client_answer_id(a), id);
	ck_assert_int_eq(jobd_client_answer_kind(a), JOBD_CLIENT_ANSWER_ERROR);
	ck_assert_int_eq(jobd_client_answer_status(a), JOBD_CLIENT_E_SERVER);
	ck_assert_int_eq(jobd_client_answer_error_code(a), JOBD_E_CANCELLED);
	jobd_client_answer_free(a);
	ck_assert_uint_lt(harness_now_ms() - t0, 3000);

	json_decref(in);
	json_decref(echo);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* A server that takes the call and never answers: only the client's own
 * deadline ends it. */
START_TEST(timeout_silent_server)
{
	struct fake f;
	struct jobd_client *c;
	json_t *in = json_integer(1), *out = NULL;
	uint64_t t0;

	ck_assert_int_eq(fake_start(&f, FAKE_SILENT, 0), 0);
	c = client_for_port(f.port);
	t0 = harness_now_ms();
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 400, &out),
	                 JOBD_CLIENT_E_TIMEOUT);
	ck_assert_uint_ge(harness_now_ms() - t0, 390);
	ck_assert_uint_lt(harness_now_ms() - t0, 5000);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "400 ms"));
	ck_assert_int_eq(jobd_client_ping(c, 300), JOBD_CLIENT_E_TIMEOUT);
	json_decref(in);
	jobd_client_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(busy_retry_after)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n"
	                "    queue_bound: 1\n",
	};
	struct jobd_proc p;
	struct jobd_client *c, *c2;
	struct jobd_client_answer *a;
	json_t *in = json_of("{\"ms\":2000}"), *out = NULL;
	uint64_t id;
	int i, busy = 0, finals = 0;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	c = client_for_port(p.port);
	/* One running (wait until the worker has it), then three more: one
	 * is queued, the others find the queue full. */
	ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
	                 JOBD_CLIENT_OK);
	c2 = client_for_port(p.port);
	wait_stat(c2, "sleep", "running", 1);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
		                 JOBD_CLIENT_OK);
	wait_stat(c2, "sleep", "busy", 2);

	ck_assert_int_eq(jobd_client_call(c2, "sleep", in, 10000, &out),
	                 JOBD_CLIENT_E_SERVER);
	ck_assert_int_eq(jobd_client_error_code(c2), JOBD_E_BUSY);
	ck_assert_int_ge(jobd_client_retry_after_ms(c2), 1);
	while (finals < 4) {
		ck_assert_int_eq(jobd_client_receive(c, 10000, &a),
		                 JOBD_CLIENT_OK);
		if (jobd_client_answer_kind(a) == JOBD_CLIENT_ANSWER_ERROR) {
			ck_assert_int_eq(jobd_client_answer_error_code(a),
			                 JOBD_E_BUSY);
			ck_assert_int_ge(jobd_client_answer_retry_after_ms(a),
			                 1);
			busy++;
		}
		if (jobd_client_answer_kind(a) != JOBD_CLIENT_ANSWER_PROGRESS)
			finals++;
		jobd_client_answer_free(a);
	}
	ck_assert_int_ge(busy, 2); /* 1 running + 1 queued, the rest busy */
	json_decref(in);
	jobd_client_free(c);
	jobd_client_free(c2);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* ---- failures and failover -------------------------------------------- */

START_TEST(server_down)
{
	struct jobd_client *c;
	uint16_t d1 = dead_port(), d2 = dead_port();
	char s[80], n1[32], n2[32];
	json_t *in = json_null(), *out = NULL;
	struct jobd_client_answer *a;
	uint64_t id;

	snprintf(n1, sizeof(n1), "127.0.0.1:%u", d1);
	snprintf(n2, sizeof(n2), "127.0.0.1:%u", d2);
	snprintf(s, sizeof(s), "%s,%s", n1, n2);
	c = client_for(s);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_E_CONNECT);
	/* Every server tried is named, with why. */
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), n1));
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), n2));
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "refused"));
	ck_assert_int_eq(jobd_client_submit(c, "echo", in, 0, &id),
	                 JOBD_CLIENT_E_CONNECT);
	ck_assert_int_eq(jobd_client_connect(c, 5000), JOBD_CLIENT_E_CONNECT);
	ck_assert_int_eq(jobd_client_ping(c, 5000), JOBD_CLIENT_E_CONNECT);
	ck_assert_int_eq(jobd_client_receive(c, 100, &a), JOBD_CLIENT_E_IDLE);

	/* A name that does not resolve is a connect failure too. */
	ck_assert_int_eq(jobd_client_set_servers(c, "no-such-host.invalid:1"),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_E_CONNECT);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "no-such-host.invalid:1"));
	json_decref(in);
	jobd_client_free(c);
}
END_TEST

START_TEST(closes_mid_answer)
{
	struct fake f;
	struct jobd_client *c;
	struct jobd_client_answer *a;
	json_t *in = json_integer(3), *out = NULL;
	uint64_t id;

	ck_assert_int_eq(fake_start(&f, FAKE_HALF_FRAME, 0), 0);
	c = client_for_port(f.port);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_E_CONNECTION_LOST);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "middle of a frame"));
	ck_assert_int_eq(jobd_client_fd(c), -1);

	/* Any order: the lost call comes out as an error answer. */
	ck_assert_int_eq(jobd_client_submit(c, "echo", in, 0, &id),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_receive(c, 5000, &a), JOBD_CLIENT_OK);
	ck_assert_uint_eq(jobd_client_answer_id(a), id);
	ck_assert_int_eq(jobd_client_answer_kind(a), JOBD_CLIENT_ANSWER_ERROR);
	ck_assert_int_eq(jobd_client_answer_status(a),
	                 JOBD_CLIENT_E_CONNECTION_LOST);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_answer_text(a), "middle of a frame"));
	jobd_client_answer_free(a);
	ck_assert_uint_eq(jobd_client_inflight(c), 0);
	json_decref(in);
	jobd_client_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(failover)
{
	struct jobd_proc p;
	struct fake f;
	struct jobd_client *c;
	struct jobd_client_answer *a;
	json_t *in = json_of("{\"k\":\"v\"}"), *out = NULL;
	char s[128], real[32];
	uint16_t d = dead_port();
	uint64_t id;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	snprintf(real, sizeof(real), "127.0.0.1:%u", p.port);

	/* First server down: the second answers. */
	snprintf(s, sizeof(s), "127.0.0.1:%u,%s", d, real);
	c = client_for(s);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert(json_equal(in, out));
	ck_assert_str_eq(jobd_client_server(c), real);
	json_decref(out);
	jobd_client_free(c);

	/* First server loses the connection mid-answer: the blocking call
	 * is sent again to the second. */
	ck_assert_int_eq(fake_start(&f, FAKE_HALF_FRAME, 0), 0);
	snprintf(s, sizeof(s), "127.0.0.1:%u,%s", f.port, real);
	c = client_for(s);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert(json_equal(in, out));
	ck_assert_str_eq(jobd_client_server(c), real);
	json_decref(out);
	jobd_client_free(c);

	/* Any order: the lost call is reported; the next submit goes to the
	 * next server. */
	c = client_for(s);
	ck_assert_int_eq(jobd_client_submit(c, "echo", in, 0, &id),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_receive(c, 5000, &a), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_answer_status(a),
	                 JOBD_CLIENT_E_CONNECTION_LOST);
	jobd_client_answer_free(a);
	ck_assert_int_eq(jobd_client_submit(c, "echo", in, 0, &id),
	                 JOBD_CLIENT_OK);
	ck_assert_str_eq(jobd_client_server(c), real);
	ck_assert_int_eq(jobd_client_receive(c, 5000, &a), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_answer_kind(a), JOBD_CLIENT_ANSWER_RESULT);
	ck_assert(json_equal(jobd_client_answer_output(a), in));
	jobd_client_answer_free(a);
	jobd_client_free(c);

	/* The server goes away between calls: the handle finds another. */
	snprintf(s, sizeof(s), "%s,127.0.0.1:%u", real, f.port);
	c = client_for(s);
	ck_assert_int_eq(jobd_client_ping(c, 5000), JOBD_CLIENT_OK);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_E_CONNECTION_LOST);
	/* Both named: the real one refused, the fake broke mid-frame. */
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), real));
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "middle of a frame"));
	jobd_client_free(c);
	fake_stop(&f);
	json_decref(in);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, blocking_calls);
	tcase_add_test(tc, server_lists);
	tcase_add_test(tc, ipv6_server);
	tcase_add_test(tc, thousand_any_order);
	tcase_add_test(tc, completion_order_and_fd);
	tcase_add_test(tc, progress_callback);
	tcase_add_test(tc, timeouts);
	tcase_add_test(tc, timeout_silent_server);
	tcase_add_test(tc, busy_retry_after);
	tcase_add_test(tc, server_down);
	tcase_add_test(tc, closes_mid_answer);
	tcase_add_test(tc, failover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
