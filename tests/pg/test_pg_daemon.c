/* SPDX-License-Identifier: MIT */
/*
 * The real jobd on the postgresql store (tests/pg/pg-cluster.sh).
 *
 * PostgreSQL restarted under load: while a client submits a stream of
 * detached jobs the server is stopped at once (as by a crash) and started
 * again. Every job that was `accepted` must be in the database afterwards
 * and end done: the store waited for the database and ran its requests
 * again instead of losing them.
 *
 * Two hosts on one database: a job submitted on A is seen by B (status,
 * result, jobs), and each host names itself in the store.
 *
 * PostgreSQL down when jobd is asked to stop, with a submission waiting
 * for it: jobd still stops, promptly, instead of waiting for the database
 * for ever.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define N_JOBS 240

struct submitter {
	const struct jobd_proc *p;
	char jobs[N_JOBS][32];
	atomic_int accepted;
	int refused;
	char first_refusal[200];
};

static void *submit_all(void *arg)
{
	struct submitter *s = arg;
	int fd = harness_connect(s->p), i;
	char text[200];

	for (i = 0; i < N_JOBS && fd >= 0; i++) {
		json_t *m;
		const char *type, *job;

		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":%d},\"detach\":true}",
		         i + 1, i % 7);
		if (harness_send_text(fd, text) < 0)
			break;
		/* Long enough for a restart: the answer waits for it. */
		m = harness_recv_answer(fd, 60000);
		type = m ? json_string_value(json_object_get(m, "type")) : NULL;
		job = m ? json_string_value(json_object_get(m, "job")) : NULL;
		if (type && !strcmp(type, "accepted") && job) {
			snprintf(s->jobs[atomic_load(&s->accepted)], 32, "%s",
			         job);
			atomic_fetch_add(&s->accepted, 1);
		} else if (!s->refused++) {
			char *d = m ? json_dumps(m, JSON_COMPACT) : NULL;

			snprintf(s->first_refusal, sizeof(s->first_refusal),
			         "%s", d ? d : "no answer");
			free(d);
		}
		json_decref(m);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* The job's final state as `status` reports it, waiting up to 60 s. */
static char *final_state(int fd, const char *job, int64_t id)
{
	uint64_t end = harness_now_ms() + 60000;
	char text[200];

	while (harness_now_ms() < end) {
		json_t *m;
		const char *st;
		char *out;

		snprintf(text, sizeof(text),
		         "{\"type\":\"status\",\"id\":%lld,\"job\":\"%s\"}",
		         (long long)id, job);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
		m = harness_recv_answer(fd, 30000);
		ck_assert_ptr_nonnull(m);
		st = json_string_value(json_object_get(m, "state"));
		if (!st)
			st = json_string_value(json_object_get(m, "code"));
		out = strdup(st ? st : "?");
		json_decref(m);
		if (strcmp(out, "queued") && strcmp(out, "running"))
			return out;
		free(out);
		usleep(50000);
	}
	return strdup("still unfinished");
}

START_TEST(restart_under_load_loses_nothing)
{
	const char *restart = getenv("JOBD_TEST_PG_RESTART");
	static struct submitter s;
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 4\n",
	};
	struct jobd_proc p;
	pthread_t t;
	char *log, *st;
	int fd, i, n;

	ck_assert_ptr_nonnull(restart);
	ck_assert_int_eq(harness_start(&p, &o), 0);
	memset(&s, 0, sizeof(s));
	s.p = &p;
	pthread_create(&t, NULL, submit_all, &s);
	for (i = 0; i < 2000 && atomic_load(&s.accepted) < N_JOBS / 3; i++)
		usleep(10000);
	ck_assert_int_ge(atomic_load(&s.accepted), N_JOBS / 3);
	ck_assert_int_eq(system(restart), 0);
	pthread_join(t, NULL);
	ck_assert_msg(s.refused == 0, "%d call(s) not accepted, first: %s",
	              s.refused, s.first_refusal);
	n = atomic_load(&s.accepted);
	ck_assert_int_eq(n, N_JOBS);

	fd = harness_connect(&p);
	for (i = 0; i < n; i++) {
		st = final_state(fd, s.jobs[i], 100000 + i);
		ck_assert_msg(!strcmp(st, "done"), "job %s: %s", s.jobs[i], st);
		free(st);
	}
	close(fd);
	log = harness_log(&p);
	ck_assert_msg(strstr(log, "connection lost") &&
	                      strstr(log, "connected again"),
	              "the restart was not noticed:\n%s", log);
	free(log);
	ck_assert_int_eq(harness_stop(&p, 0, 20000), 0);
}
END_TEST

static int start_host(struct jobd_proc *p, const char *dir, const char *name,
                      const char *db)
{
	char path[300];
	struct harness_opts o = {.config_file = path};
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	        "plugin_dirs: [\"%s\"]\nstate_dir: \"%s/%s\"\n"
	        "log_level: debug\n"
	        "store:\n  backend: postgresql\n  host: %s\n"
	        "  dsn: \"host=%s port=%s user=%s dbname=%s\"\n",
	        getenv("JOBD_PLUGIN_DIR"), dir, name, name,
	        getenv("JOBD_TEST_PGHOST"), getenv("JOBD_TEST_PGPORT"),
	        getenv("JOBD_TEST_PGUSER"), db);
	fclose(f);
	return harness_start(p, &o);
}

static json_t *ask(int fd, const char *type, int64_t id, const char *job)
{
	char text[200];

	snprintf(text, sizeof(text),
	         "{\"type\":\"%s\",\"id\":%lld,\"job\":\"%s\"}", type,
	         (long long)id, job);
	ck_assert_int_eq(harness_send_text(fd, text), 0);
	return harness_recv_answer(fd, 20000);
}

START_TEST(two_hosts_share_the_jobs)
{
	char dir[] = "/tmp/jobd-pg2-XXXXXX", cmd[600], job[32];
	struct jobd_proc a, b;
	json_t *m;
	const char *s;
	int fa, fb;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "'%s/createdb' -h '%s' -p '%s' -U '%s' two",
	         getenv("JOBD_TEST_PGBIN"), getenv("JOBD_TEST_PGHOST"),
	         getenv("JOBD_TEST_PGPORT"), getenv("JOBD_TEST_PGUSER"));
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(start_host(&a, dir, "hosta", "two"), 0);
	ck_assert_int_eq(start_host(&b, dir, "hostb", "two"), 0);
	fa = harness_connect(&a);
	fb = harness_connect(&b);
	ck_assert_int_eq(harness_send_text(fa, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\",\"input\":"
	                                       "{\"ms\":300},\"detach\":true}"),
	                 0);
	m = harness_recv_answer(fa, 20000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
	                 "accepted");
	snprintf(job, sizeof(job), "%s",
	         json_string_value(json_object_get(m, "job")));
	json_decref(m);

	/* B knows the job A accepted, while it runs and once it is done. */
	m = ask(fb, "status", 2, job);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
	                 "status");
	s = json_string_value(json_object_get(m, "state"));
	ck_assert_msg(!strcmp(s, "queued") || !strcmp(s, "running"), "%s", s);
	json_decref(m);
	free(final_state(fb, job, 3));
	m = ask(fb, "result", 4, job);
	ck_assert_str_eq(json_string_value(json_object_get(m, "type")),
	                 "result");
	json_decref(m);
	ck_assert_int_eq(harness_send_text(fb, "{\"type\":\"jobs\",\"id\":5}"),
	                 0);
	m = harness_recv_answer(fb, 20000);
	{
		char *text = json_dumps(m, JSON_COMPACT);

		ck_assert_msg(text && strstr(text, job), "jobs on B: %s", text);
		free(text);
	}
	json_decref(m);
	close(fa);
	close(fb);
	ck_assert_int_eq(harness_stop(&b, 0, 20000), 0);
	ck_assert_int_eq(harness_stop(&a, 0, 20000), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static void pg_ctl(const char *what)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "'%s' %s '%s'", getenv("JOBD_TEST_PG_CTL"),
	         what, getenv("JOBD_TEST_PGHOST"));
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(stops_while_the_database_is_down)
{
	struct jobd_proc p;
	uint64_t t0;
	json_t *m;
	int fd, st;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	fd = harness_connect(&p);
	pg_ctl("stop");
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\",\"input\":"
	                                       "{\"ms\":1},\"detach\":true}"),
	                 0);
	/* It waits for the database: no answer yet. */
	m = harness_recv_answer(fd, 1500);
	ck_assert_ptr_null(m);
	t0 = harness_now_ms();
	st = harness_stop(&p, 0, 20000);
	ck_assert_msg(st >= 0, "jobd had to be killed");
	ck_assert_msg(harness_now_ms() - t0 < 15000, "stopping took %llu ms",
	              (unsigned long long)(harness_now_ms() - t0));
	close(fd);
	pg_ctl("start");
}
END_TEST

int main(void)
{
	Suite *su = suite_create("pg-daemon");
	TCase *tc = tcase_create("restart");
	SRunner *sr;
	int failed;

	if (!getenv("JOBD_TEST_PGHOST")) {
		fprintf(stderr,
		        "test-pg-daemon: run it through "
		        "tests/pg/pg-cluster.sh run (meson test does)\n");
		return 77;
	}
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, restart_under_load_loses_nothing);
	tcase_add_test(tc, two_hosts_share_the_jobs);
	tcase_add_test(tc, stops_while_the_database_is_down);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
