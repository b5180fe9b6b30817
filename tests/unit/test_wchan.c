/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for a worker socket end (src/ipc/wchan.c), over a real
 * socketpair: descriptors find their messages, frames arrive in any split,
 * partial writes keep descriptors with their message, and a peer that
 * breaks the protocol is told apart.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/wchan.h"
#include "wire/frame.h"

static int sv[2];
static struct wchan a, b; /* a: the daemon's end, b: the worker's */

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	                 0);
	wchan_init(&a, sv[0], 0);
	wchan_init(&b, sv[1], 0);
}

static void teardown(void)
{
	wchan_fini(&a);
	wchan_fini(&b);
	close(sv[0]);
	close(sv[1]);
}

/* A memfd holding text. */
static int memfd_of(const char *text)
{
	int fd = wchan_memfd("t", text, strlen(text));

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* What the memfd fd holds (static buffer). */
static const char *content(int fd)
{
	static char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

/* Reads on c until a message is whole. */
static void next(struct wchan *c, enum wmsg_from from, struct wmsg *m)
{
	struct wmsg_error err;
	int rc;

	for (int i = 0; i < 100000; i++) {
		rc = wchan_next(c, from, m, &err);
		ck_assert_msg(rc >= 0, "%s", err.text);
		if (rc == 1)
			return;
		ck_assert_int_gt(wchan_read(c, 0), 0);
	}
	ck_abort_msg("no message");
}

START_TEST(descriptors_find_their_message)
{
	json_t *opts = json_object(), *msg;
	int f1 = memfd_of("A"), f2[2] = {memfd_of("B"), memfd_of("C")};
	struct wmsg m;

	msg = wmsg_init("p.so", 0, opts, 0, 6, 0, 1);
	ck_assert_int_eq(wchan_send(&a, msg, &f1, 1), 0);
	json_decref(msg);
	msg = wmsg_cancel(3); /* none between */
	ck_assert_int_eq(wchan_send(&a, msg, NULL, 0), 0);
	json_decref(msg);
	msg = wmsg_job(4, NULL, 1, 1, 0, NULL, 2);
	ck_assert_int_eq(wchan_send(&a, msg, f2, 2), 0);
	json_decref(msg);
	/* The sender keeps its own descriptors. */
	ck_assert_str_eq(content(f1), "A");
	close(f1);
	close(f2[0]);
	close(f2[1]);

	next(&b, WMSG_FROM_DAEMON, &m);
	ck_assert_int_eq(m.type, WMSG_INIT);
	ck_assert_uint_eq(m.nfds, 1);
	ck_assert_str_eq(content(m.fds[0]), "A");
	ck_assert(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC);
	wmsg_fini(&m);
	next(&b, WMSG_FROM_DAEMON, &m);
	ck_assert_int_eq(m.type, WMSG_CANCEL);
	ck_assert_uint_eq(m.nfds, 0);
	wmsg_fini(&m);
	next(&b, WMSG_FROM_DAEMON, &m);
	ck_assert_int_eq(m.type, WMSG_JOB);
	ck_assert_str_eq(content(m.fds[0]), "B");
	ck_assert_str_eq(content(m.fds[1]), "C");
	f1 = wmsg_take_fd(&m, 1);
	ck_assert_int_ge(f1, 0);
	ck_assert_int_eq(m.fds[1], -1);
	wmsg_fini(&m);
	ck_assert_str_eq(content(f1), "C"); /* taken: still open */
	close(f1);
	json_decref(opts);
}
END_TEST

/* Frames written a byte at a time come out whole, once. */
START_TEST(byte_at_a_time)
{
	json_t *msg = wmsg_log(6, "one byte at a time");
	struct wmsg_error err;
	struct wmsg m;
	char *frame;
	size_t len;

	ck_assert_int_eq(frame_encode(msg, &frame, &len), 0);
	json_decref(msg);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(wchan_next(&a, WMSG_FROM_WORKER, &m, &err), 0);
		ck_assert(i == 0 || wchan_mid_frame(&a));
		ck_assert_int_eq(write(sv[1], frame + i, 1), 1);
		ck_assert_int_eq(wchan_read(&a, 0), 1);
	}
	ck_assert_int_eq(wchan_next(&a, WMSG_FROM_WORKER, &m, &err), 1);
	ck_assert_str_eq(m.text, "one byte at a time");
	wmsg_fini(&m);
	ck_assert_int_eq(wchan_next(&a, WMSG_FROM_WORKER, &m, &err), 0);
	ck_assert(!wchan_mid_frame(&a));
	free(frame);
}
END_TEST

/* A message larger than the socket buffer, with a descriptor, through
 * non-blocking ends: the descriptor goes with the first partial write. */
START_TEST(partial_writes)
{
	size_t big = 5u << 20;
	char *text = malloc(big + 1);
	json_t *in, *msg;
	int fd = memfd_of("D");
	struct wmsg m;
	int rc, rounds = 0;

	memset(text, 'y', big);
	text[big] = '\0';
	in = json_string(text);
	free(text);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	msg = wmsg_job(1, in, -1, 0, 0, NULL, 1);
	rc = wchan_send(&a, msg, &fd, 1);
	json_decref(msg);
	close(fd);
	ck_assert_int_eq(rc, -EAGAIN);
	ck_assert_uint_gt(wchan_pending(&a), 0);
	for (;;) {
		struct wmsg_error err;
		ssize_t n = wchan_read(&b, 0);

		ck_assert(n > 0 || n == -EAGAIN);
		rc = wchan_next(&b, WMSG_FROM_DAEMON, &m, &err);
		ck_assert_int_ge(rc, 0);
		if (rc == 1)
			break;
		rc = wchan_flush(&a);
		ck_assert(rc == 0 || rc == -EAGAIN);
		ck_assert_int_lt(++rounds, 100000);
	}
	ck_assert_int_eq(wchan_pending(&a), 0);
	ck_assert_uint_eq(json_string_length(m.input), big);
	ck_assert_str_eq(content(m.fds[0]), "D");
	wmsg_fini(&m);
	json_decref(in);
}
END_TEST

static void raw_frame(int fd, const char *body)
{
	uint8_t h[FRAME_HEADER_SIZE];

	frame_put_header(h, (uint32_t)strlen(body));
	ck_assert_int_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
}

static void expect_broken(struct wchan *c, const char *want)
{
	struct wmsg_error err;
	struct wmsg m;
	int rc = 0;

	for (int i = 0; i < 100 && rc == 0; i++) {
		rc = wchan_next(c, WMSG_FROM_WORKER, &m, &err);
		if (rc == 0)
			ck_assert_int_gt(wchan_read(c, MSG_DONTWAIT), 0);
	}
	ck_assert_int_eq(rc, -EPROTO);
	ck_assert_msg(strstr(err.text, want), "\"%s\" lacks \"%s\"", err.text,
	              want);
}

START_TEST(broken_peers)
{
	static const uint8_t zero[4] = {0, 0, 0, 0};
	struct wchan small;

	/* Announced descriptors that never came. */
	raw_frame(sv[1], "{\"type\":\"log\",\"level\":6,\"text\":\"x\","
	                 "\"fds\":1}");
	expect_broken(&a, "log announces 1 descriptors, 0 arrived");
	teardown();

	setup();
	raw_frame(sv[1], "{\"type\":\"job\"}");
	expect_broken(&a, "not a message the worker sends");
	teardown();

	setup();
	ck_assert_int_eq(write(sv[1], zero, 4), 4);
	expect_broken(&a, "frame of 0 bytes");
	teardown();

	/* Longer than this end accepts: refused from the header alone. */
	setup();
	wchan_init(&small, sv[0], 16);
	raw_frame(sv[1], "{\"type\":\"log\",\"level\":6,\"text\":\"long\"}");
	expect_broken(&small, "bytes (1..16 allowed)");
	wchan_fini(&small);

	/* End of stream, mid-frame. */
	ck_assert_int_eq(write(sv[1], zero, 2), 2);
	close(sv[1]);
	sv[1] = -1;
	wchan_init(&small, sv[0], 0);
	ck_assert_int_gt(wchan_read(&small, 0), 0);
	ck_assert_int_eq(wchan_read(&small, 0), 0);
	ck_assert(wchan_mid_frame(&small));
	wchan_fini(&small);
}
END_TEST

/* More descriptors than the queue holds: the peer is broken, and what did
 * not fit is closed, not leaked. */
START_TEST(descriptor_flood)
{
	int fds[WMSG_MAX_FDS];
	json_t *msg = wmsg_stop();
	ssize_t n = 0;

	json_object_set_new(msg, "fds", json_integer(WMSG_MAX_FDS));
	for (int i = 0; i < WMSG_MAX_FDS; i++)
		fds[i] = sv[0];
	for (int i = 0; i < WCHAN_MAX_QUEUED_FDS / WMSG_MAX_FDS + 1; i++)
		ck_assert_int_eq(wchan_send(&a, msg, fds, WMSG_MAX_FDS), 0);
	json_decref(msg);
	for (int i = 0; i < 100; i++) {
		n = wchan_read(&b, MSG_DONTWAIT);
		if (n < 0)
			break;
	}
	ck_assert_int_eq(n, -EPROTO);
	ck_assert_uint_eq(b.fdq_count, WCHAN_MAX_QUEUED_FDS);
}
END_TEST

START_TEST(memfd_map)
{
	int fd = memfd_of("hello"), loose;
	char *p;

	p = wchan_map(fd, 5);
	ck_assert_ptr_nonnull(p);
	ck_assert(!memcmp(p, "hello", 5));
	munmap(p, 5);
	/* Sealed: the sender cannot shrink or change it. */
	ck_assert_int_eq(ftruncate(fd, 1), -1);
	ck_assert_int_eq(pwrite(fd, "j", 1, 0), -1);
	errno = 0;
	ck_assert_ptr_null(wchan_map(fd, 6)); /* more than it holds */
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(wchan_map(fd, 0));
	close(fd);

	loose = memfd_create("loose", MFD_CLOEXEC);
	ck_assert_int_eq(write(loose, "hello", 5), 5);
	errno = 0;
	ck_assert_ptr_null(wchan_map(loose, 5));
	ck_assert_int_eq(errno, EPERM);
	close(loose);
}
END_TEST

static Suite *wchan_suite(void)
{
	Suite *s = suite_create("wchan");
	TCase *t = tcase_create("socket");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, descriptors_find_their_message);
	tcase_add_test(t, byte_at_a_time);
	tcase_add_test(t, partial_writes);
	tcase_add_test(t, broken_peers);
	tcase_add_test(t, descriptor_flood);
	tcase_add_test(t, memfd_map);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(wchan_suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
