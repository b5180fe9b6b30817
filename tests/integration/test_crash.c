/* SPDX-License-Identifier: MIT */
/* Crash safety: submit detached jobs in a stream and kill -9 the daemon at
 * random moments, many times over, restarting on the same state_dir. Every
 * job that was answered `accepted` must exist afterwards and end exactly
 * once: it reaches a final state, and another restart changes nothing. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ROUNDS   20
#define SEED     20261124u
#define MAX_JOBS 4096

static const char *type_of(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "type"));

	return t ? t : "";
}

static const char *str_of(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

struct accepted {
	char job[32];
	bool retry_safe;
	char state[16];
	char finished[32];
};

static struct accepted jobs[MAX_JOBS];
static size_t n_jobs;
static size_t n_busy;

/* Takes in any answers that have arrived; records the accepted ones. */
static void take_answers(int fd, int wait_ms, bool *retry_safe_of)
{
	json_t *m;

	while ((m = harness_recv(fd, wait_ms))) {
		if (!strcmp(type_of(m), "accepted")) {
			int64_t id =
			        json_integer_value(json_object_get(m, "id"));

			ck_assert_uint_lt(n_jobs, MAX_JOBS);
			snprintf(jobs[n_jobs].job, sizeof(jobs[0].job), "%s",
			         str_of(m, "job"));
			jobs[n_jobs].retry_safe = retry_safe_of[id];
			n_jobs++;
		} else {
			/* busy is fine (not accepted); nothing else is. */
			n_busy++;
			ck_assert_msg(!strcmp(harness_error_code(m), "busy"),
			              "unexpected answer %s %s", type_of(m),
			              str_of(m, "message"));
		}
		json_decref(m);
		wait_ms = 1; /* harness_recv needs > 0 to look at all */
	}
}

static json_t *ask(int fd, const char *type, const char *job)
{
	char text[160];

	snprintf(text, sizeof(text),
	         "{\"type\":\"%s\",\"id\":1,\"job\":\"%s\"}", type, job);
	ck_assert_int_eq(harness_send_text(fd, text), 0);
	return harness_recv_answer(fd, 20000);
}

START_TEST(kill_nine_many_times)
{
	char tmpl[] = "/tmp/jobd-crash-XXXXXX";
	struct harness_opts o = {
	        .yaml = "plugins:\n"
	                "  sleep:\n    workers: 2\n    max_attempts: 100\n"
	                "  misbehave:\n    workers: 1\n",
	};
	static bool retry_safe_of[100000];
	struct jobd_proc p;
	int round, fd, interrupted = 0, done = 0;
	int64_t next_id = 1;
	size_t i, listed;
	char text[400], cmd[300];
	json_t *m, *list;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	o.state_dir = tmpl;
	srand(SEED);
	for (round = 0; round < ROUNDS; round++) {
		uint64_t kill_at;

		ck_assert_int_eq(harness_start(&p, &o), 0);
		fd = harness_connect(&p);
		ck_assert_int_ge(fd, 0);
		kill_at = harness_now_ms() + 20 + (uint64_t)(rand() % 300);
		while (harness_now_ms() < kill_at) {
			bool safe = rand() % 10 < 7;

			snprintf(text, sizeof(text),
			         "{\"type\":\"call\",\"id\":%lld,\"plugin\":"
			         "\"%s\",\"input\":{\"do\":\"sleep\","
			         "\"ms\":%d},\"detach\":true}",
			         (long long)next_id,
			         safe ? "sleep" : "misbehave", rand() % 40);
			retry_safe_of[next_id++] = safe;
			if (harness_send_text(fd, text) < 0)
				break;
			usleep(3000); /* a stream, not a flood */
			take_answers(fd, 1, retry_safe_of);
		}
		kill(p.pid, SIGKILL);
		/* What the daemon sent before it died can still be read. */
		take_answers(fd, 200, retry_safe_of);
		close(fd);
		harness_stop(&p, SIGKILL, 5000);
	}
	fprintf(stderr,
	        "crash: %d kills, %zu jobs accepted, %zu busy, of %lld sent\n",
	        ROUNDS, n_jobs, n_busy, (long long)next_id - 1);
	ck_assert_uint_gt(n_jobs, 20);

	/* Every accepted job exists and ends. */
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	for (i = 0; i < n_jobs; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"attach\",\"id\":2,\"job\":\"%.16s\"}",
		         jobs[i].job);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
		m = harness_recv_answer(fd, 20000);
		ck_assert_ptr_nonnull(m);
		ck_assert_msg(strcmp(harness_error_code(m), "not_found"),
		              "accepted job %s is lost", jobs[i].job);
		json_decref(m);
		m = ask(fd, "status", jobs[i].job);
		ck_assert_str_eq(type_of(m), "status");
		snprintf(jobs[i].state, sizeof(jobs[i].state), "%s",
		         str_of(m, "state"));
		snprintf(jobs[i].finished, sizeof(jobs[i].finished), "%s",
		         str_of(m, "finished_at"));
		if (jobs[i].retry_safe)
			ck_assert_msg(!strcmp(jobs[i].state, "done"),
			              "retry-safe job %s ended %s", jobs[i].job,
			              jobs[i].state);
		else
			ck_assert_msg(
			        !strcmp(jobs[i].state, "done") ||
			                !strcmp(jobs[i].state, "interrupted"),
			        "job %s ended %s", jobs[i].job, jobs[i].state);
		interrupted += !strcmp(jobs[i].state, "interrupted");
		done += !strcmp(jobs[i].state, "done");
		ck_assert_int_eq(strlen(jobs[i].finished), 24);
		json_decref(m);
	}
	fprintf(stderr, "crash: %d done, %d interrupted\n", done, interrupted);
	/* Stored jobs whose `accepted` we never read run too: wait for
	 * them, then each accepted job is listed once and nothing is left
	 * unfinished. */
	for (i = 0; i < 200; i++) {
		size_t left;

		ck_assert_int_eq(
		        harness_send_text(fd, "{\"type\":\"jobs\",\"id\":3,"
		                              "\"state\":\"queued\"}"),
		        0);
		list = harness_recv_answer(fd, 20000);
		left = json_array_size(json_object_get(list, "jobs"));
		json_decref(list);
		ck_assert_int_eq(
		        harness_send_text(fd, "{\"type\":\"jobs\",\"id\":3,"
		                              "\"state\":\"running\"}"),
		        0);
		list = harness_recv_answer(fd, 20000);
		left += json_array_size(json_object_get(list, "jobs"));
		json_decref(list);
		if (!left)
			break;
		usleep(100000);
	}
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"jobs\",\"id\":3,"
	                                       "\"limit\":100000}"),
	                 0);
	list = harness_recv_answer(fd, 20000);
	ck_assert_str_eq(type_of(list), "jobs");
	listed = json_array_size(json_object_get(list, "jobs"));
	ck_assert_uint_ge(listed, n_jobs);
	for (i = 0; i < n_jobs; i++) {
		size_t k, seen = 0;

		for (k = 0; k < listed; k++) {
			json_t *e = json_array_get(
			        json_object_get(list, "jobs"), k);

			if (!strcmp(str_of(e, "job"), jobs[i].job))
				seen++;
		}
		ck_assert_uint_eq(seen, 1);
	}
	for (i = 0; i < listed; i++) {
		const char *st =
		        str_of(json_array_get(json_object_get(list, "jobs"), i),
		               "state");

		ck_assert(strcmp(st, "queued") && strcmp(st, "running"));
	}
	json_decref(list);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);

	/* Ended exactly once: a further restart changes nothing. */
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fd = harness_connect(&p);
	for (i = 0; i < n_jobs; i++) {
		m = ask(fd, "status", jobs[i].job);
		ck_assert_str_eq(str_of(m, "state"), jobs[i].state);
		ck_assert_str_eq(str_of(m, "finished_at"), jobs[i].finished);
		json_decref(m);
	}
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (!getenv("JOBD_TEST_KEEP"))
		ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("kill9");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, kill_nine_many_times);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
