/* SPDX-License-Identifier: MIT */
/*
 * libjobd-client's binary arrays (protocol version 2, docs/protocol.md
 * §12) over real TCP on loopback.
 *
 * Against the real jobd and its echo plugin: an 8 MB f64 matrix and four
 * other arrays go out and come back intact, in every API (call,
 * submit/receive, request); arrays that break a rule or pass the server's
 * max_array_bytes are refused before anything is sent. Against a small
 * server forked here (fake_v2.h) for what jobd never does: one that
 * answers hello with version 1 (an older jobd), where the client refuses
 * arrays locally with JOBD_CLIENT_E_UNSUPPORTED and serves everything else
 * as before; and one that sends broken arrays, which costs the connection,
 * not memory safety.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jobd/client.h>

#include "fake_v2.h"
#include "harness.h"

struct fake {
	pid_t pid;
	uint16_t port;
};

static void fake_start(struct fake *f, enum fake_v2_mode mode)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0)
		fake_v2_serve(fd, mode);
	close(fd);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

/* The real jobd, with a 16 MiB max_array_bytes. */
static void jobd_start(struct jobd_proc *p)
{
	struct harness_opts o = {.yaml = "limits:\n  max_array_bytes: 16MiB\n"};

	ck_assert_int_eq(harness_start(p, &o), 0);
}

static struct jobd_client *client_for_port(uint16_t port)
{
	struct jobd_client *c = jobd_client_new();
	char s[64];

	ck_assert_ptr_nonnull(c);
	snprintf(s, sizeof(s), "127.0.0.1:%u", port);
	ck_assert_int_eq(jobd_client_set_servers(c, s), JOBD_CLIENT_OK);
	return c;
}

/* Five arrays: an 8 MB matrix, labels, an empty one, bytes, a scalar. */
struct sample {
	double *m;
	int32_t labels[1000];
	uint8_t raw[5];
	int64_t scalar;
	struct jobd_array a[5];
};

static void sample_init(struct sample *s)
{
	s->m = malloc(1000 * 1000 * sizeof(double));
	ck_assert_ptr_nonnull(s->m);
	for (size_t i = 0; i < 1000 * 1000; i++)
		s->m[i] = (double)i * 0.5 - 3.0;
	for (int i = 0; i < 1000; i++)
		s->labels[i] = i % 7 - 3;
	memcpy(s->raw, "a\0b\xff\n", 5);
	s->scalar = -42;
	s->a[0] = (struct jobd_array){"matrix",     JOBD_DTYPE_F64, 2,
	                              {1000, 1000}, s->m,           8000000};
	s->a[1] = (struct jobd_array){"labels",  JOBD_DTYPE_I32,   1, {1000},
	                              s->labels, sizeof(s->labels)};
	s->a[2] = (struct jobd_array){"empty", JOBD_DTYPE_U16, 2,
	                              {0, 3},  NULL,           0};
	s->a[3] =
	        (struct jobd_array){"raw", JOBD_DTYPE_BYTES, 1, {5}, s->raw, 5};
	s->a[4] = (struct jobd_array){"scalar", JOBD_DTYPE_I64, 0,
	                              {0},      &s->scalar,     8};
}

static void check_sample(const struct sample *s,
                         const struct jobd_client_answer *a)
{
	ck_assert_int_eq(jobd_client_answer_kind(a), JOBD_CLIENT_ANSWER_RESULT);
	ck_assert_uint_eq(jobd_client_answer_array_count(a), 5);
	for (size_t i = 0; i < 5; i++) {
		const struct jobd_array *g = jobd_client_answer_array(a, i);

		ck_assert_ptr_nonnull(g);
		ck_assert_str_eq(g->name, s->a[i].name);
		ck_assert_uint_eq(g->dtype, s->a[i].dtype);
		ck_assert_uint_eq(g->ndim, s->a[i].ndim);
		ck_assert_mem_eq(g->shape, s->a[i].shape,
		                 g->ndim * sizeof(uint64_t));
		ck_assert_uint_eq(g->nbytes, s->a[i].nbytes);
		if (g->nbytes) {
			ck_assert_mem_eq(g->data, s->a[i].data, g->nbytes);
			ck_assert_uint_eq((uintptr_t)g->data % 64, 0);
		}
		ck_assert_ptr_eq(jobd_client_answer_array_by_name(a, g->name),
		                 g);
	}
	ck_assert_ptr_null(jobd_client_answer_array(a, 5));
	ck_assert_ptr_null(jobd_client_answer_array_by_name(a, "nope"));
}

START_TEST(v1_server_refuses_locally)
{
	struct fake f;
	struct jobd_client *c;
	struct jobd_client_answer *a = NULL;
	struct sample s;
	json_t *in = json_pack("{si}", "k", 1), *out = NULL;
	uint64_t id;

	sample_init(&s);
	fake_start(&f, FAKE_V2_AS_V1);
	c = client_for_port(f.port);
	ck_assert_int_eq(jobd_client_protocol_version(c), 0);
	ck_assert_int_eq(jobd_client_connect(c, 5000), JOBD_CLIENT_OK);
	/* Asked for 2; a jobd older than arrays answers 1. */
	ck_assert_int_eq(jobd_client_protocol_version(c), 1);
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 5000, &a),
	        JOBD_CLIENT_E_UNSUPPORTED);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "version 2"));
	ck_assert_int_eq(
	        jobd_client_submit_arrays(c, "echo", in, s.a, 1, 0, &id),
	        JOBD_CLIENT_E_UNSUPPORTED);
	ck_assert_uint_eq(jobd_client_inflight(c), 0);
	/* Nothing was sent: the connection serves the JSON path as ever. */
	ck_assert_int_eq(jobd_client_call(c, "echo", in, 5000, &out),
	                 JOBD_CLIENT_OK);
	ck_assert(json_equal(in, out));
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, NULL, 0, 5000, &a),
	        JOBD_CLIENT_OK);
	ck_assert(json_equal(in, jobd_client_answer_output(a)));
	ck_assert_uint_eq(jobd_client_answer_array_count(a), 0);
	jobd_client_answer_free(a);
	ck_assert_int_eq(
	        jobd_client_request_arrays(c, "ping", NULL, NULL, 0, 5000, &a),
	        JOBD_CLIENT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(
	                         jobd_client_answer_message(a), "type")),
	                 "pong");
	jobd_client_answer_free(a);
	ck_assert_int_eq(jobd_client_protocol_version(c), 1);
	jobd_client_free(c);
	fake_stop(&f);
	json_decref(in);
	json_decref(out);
	free(s.m);
}
END_TEST

START_TEST(v2_round_trip)
{
	struct jobd_proc p;
	struct jobd_client *c;
	struct jobd_client_answer *a = NULL;
	struct sample s;
	json_t *in = json_pack("{ss}", "what", "matrix"), *fields;
	uint64_t ids[3];
	int seen = 0;

	sample_init(&s);
	jobd_start(&p);
	c = client_for_port(p.port);
	ck_assert_int_eq(jobd_client_connect(c, 5000), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_protocol_version(c), 2);

	/* Call and response. */
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 20000, &a),
	        JOBD_CLIENT_OK);
	ck_assert(json_equal(jobd_client_answer_output(a), in));
	check_sample(&s, a);
	jobd_client_answer_free(a);

	/* Any order: three in flight, answers carry their arrays. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(jobd_client_submit_arrays(c, "echo", in, s.a,
		                                           5, 0, &ids[i]),
		                 JOBD_CLIENT_OK);
	while (seen < 3) {
		ck_assert_int_eq(jobd_client_receive(c, 20000, &a),
		                 JOBD_CLIENT_OK);
		check_sample(&s, a);
		jobd_client_answer_free(a);
		seen++;
	}

	/* A request with arrays (as a detached call is sent). */
	fields = json_pack("{ss s{}}", "plugin", "echo", "input");
	ck_assert_int_eq(jobd_client_request_arrays(c, "call", fields, s.a, 5,
	                                            20000, &a),
	                 JOBD_CLIENT_OK);
	check_sample(&s, a);
	jobd_client_answer_free(a);
	json_decref(fields);

	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	json_decref(in);
	free(s.m);
}
END_TEST

/* Arrays that break a rule, or pass the server's limit, never leave. */
START_TEST(v2_refused_before_sending)
{
	struct jobd_proc p;
	struct jobd_client *c;
	struct jobd_client_answer *a = NULL;
	struct sample s;
	struct jobd_array big, bad[JOBD_ARRAYS_MAX + 1];
	json_t *in = json_object();
	char names[JOBD_ARRAYS_MAX + 1][8];

	sample_init(&s);
	jobd_start(&p);
	c = client_for_port(p.port);

	s.a[1].nbytes = 3999; /* not 1000 x 4 */
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 5000, &a),
	        JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "labels"));
	s.a[1].nbytes = 4000;
	s.a[3].name = "raw/../x";
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 5000, &a),
	        JOBD_CLIENT_E_INVALID);
	s.a[3].name = "labels";
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 5000, &a),
	        JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "twice"));
	s.a[3].name = "raw";

	/* 17 MiB against the server's 16 MiB. */
	big = s.a[0];
	big.shape[0] = 17 * 1024 * 1024 / 8 / 1000 + 1;
	big.nbytes = big.shape[0] * 1000 * 8;
	big.data = calloc(1, big.nbytes);
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, &big, 1, 5000, &a),
	        JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "max_array_bytes of 16777216"));
	free((void *)big.data);

	for (int i = 0; i <= JOBD_ARRAYS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "a%d", i);
		bad[i] = (struct jobd_array){names[i], JOBD_DTYPE_U8, 1,
		                             {0},      NULL,          0};
	}
	ck_assert_int_eq(jobd_client_call_arrays(c, "echo", in, bad,
	                                         JOBD_ARRAYS_MAX + 1, 5000, &a),
	                 JOBD_CLIENT_E_INVALID);
	/* 64 empty arrays are fine. */
	ck_assert_int_eq(jobd_client_call_arrays(c, "echo", in, bad,
	                                         JOBD_ARRAYS_MAX, 5000, &a),
	                 JOBD_CLIENT_OK);
	ck_assert_uint_eq(jobd_client_answer_array_count(a), JOBD_ARRAYS_MAX);
	jobd_client_answer_free(a);

	/* Nothing broken went out: the connection still works. */
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, s.a, 5, 20000, &a),
	        JOBD_CLIENT_OK);
	check_sample(&s, a);
	jobd_client_answer_free(a);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	json_decref(in);
	free(s.m);
}
END_TEST

START_TEST(v2_server_sends_bad_arrays)
{
	struct fake f;
	struct jobd_client *c;
	struct jobd_client_answer *a = NULL;
	json_t *in = json_object();

	fake_start(&f, FAKE_V2_BAD_ARRAYS);
	c = client_for_port(f.port);
	ck_assert_int_eq(
	        jobd_client_call_arrays(c, "echo", in, NULL, 0, 5000, &a),
	        JOBD_CLIENT_E_PROTOCOL);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "invalid arrays from server"));
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "nbytes is 8"));
	jobd_client_free(c);
	fake_stop(&f);
	json_decref(in);
}
END_TEST

static Suite *client_arrays_suite(void)
{
	Suite *s = suite_create("client_arrays");
	TCase *tc = tcase_create("client_arrays");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, v1_server_refuses_locally);
	tcase_add_test(tc, v2_round_trip);
	tcase_add_test(tc, v2_refused_before_sending);
	tcase_add_test(tc, v2_server_sends_bad_arrays);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_arrays_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
