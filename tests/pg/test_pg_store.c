/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL store against a real server (tests/pg/pg-cluster.sh):
 * migrations run once and refuse a newer schema; claims by two
 * connections never share a job (SKIP LOCKED); a stale attempt cannot
 * finish a job (fencing); expired leases are rescued by the rules;
 * changes are announced on the jobd channel; and the real daemon loses
 * nothing it accepted while PostgreSQL is restarted under load.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "daemon/config/config.h"
#include "daemon/store/store.h"
#include "daemon/store/watch.h"
#include "harness.h"

static char dsn_buf[512];

/* A fresh database per test: no test sees another's jobs. */
static const char *fresh_db(const char *name)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "'%s/dropdb' --if-exists -h '%s' -p '%s' -U '%s' '%s' && "
	         "'%s/createdb' -h '%s' -p '%s' -U '%s' '%s'",
	         getenv("JOBD_TEST_PGBIN"), getenv("JOBD_TEST_PGHOST"),
	         getenv("JOBD_TEST_PGPORT"), getenv("JOBD_TEST_PGUSER"), name,
	         getenv("JOBD_TEST_PGBIN"), getenv("JOBD_TEST_PGHOST"),
	         getenv("JOBD_TEST_PGPORT"), getenv("JOBD_TEST_PGUSER"), name);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(dsn_buf, sizeof(dsn_buf), "host=%s port=%s user=%s dbname=%s",
	         getenv("JOBD_TEST_PGHOST"), getenv("JOBD_TEST_PGPORT"),
	         getenv("JOBD_TEST_PGUSER"), name);
	return dsn_buf;
}

/* store_open leaves its lock file in the directory even when it fails. */
static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static PGconn *sql_conn(const char *dsn)
{
	PGconn *c = PQconnectdb(dsn);

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* One value of a query, as text (static buffer). */
static const char *sql1(PGconn *c, const char *q)
{
	static char out[256];
	PGresult *res = PQexec(c, q);

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK ||
	                      PQresultStatus(res) == PGRES_COMMAND_OK,
	              "%s: %s", q, PQerrorMessage(c));
	out[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(out, sizeof(out), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

struct host {
	char dir[64];
	struct config_store cs;
	struct store *s;
};

static void host_open(struct host *h, const char *dsn, const char *name)
{
	char *why = NULL;
	int rc;

	snprintf(h->dir, sizeof(h->dir), "/tmp/jobd-pgstore-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
	memset(&h->cs, 0, sizeof(h->cs));
	h->cs.backend = CONFIG_STORE_POSTGRESQL;
	h->cs.dsn = (char *)dsn;
	h->cs.host = (char *)name;
	h->cs.lease_ms = 30000;
	rc = store_open(h->dir, &h->cs, &h->s, &why);
	ck_assert_msg(rc == 0, "store_open: %s", why ? why : "?");
}

static void host_close(struct host *h)
{
	char cmd[128];

	store_close(h->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int run(struct host *h, struct store_req *r)
{
	return store_run_now(h->s, r);
}

static void insert(struct host *h, const char *id, const char *plugin,
                   bool retry_safe, unsigned max_attempts)
{
	struct store_req *r = store_req_new(STORE_INSERT);

	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->rec.plugin = strdup(plugin);
	r->rec.input = json_pack("{s:i}", "ms", 1);
	r->rec.state = JOB_QUEUED;
	r->rec.created_ms = 1000;
	r->rec.retry_safe = retry_safe;
	r->rec.max_attempts = max_attempts;
	ck_assert_int_eq(run(h, r), 0);
	store_req_free(r);
}

static struct store_req *claim(struct host *h, const char *plugin, unsigned n)
{
	struct store_req *r = store_req_new(STORE_CLAIM);

	r->claim_plugins = calloc(1, sizeof(char *));
	r->claim_plugins[0] = strdup(plugin);
	r->n_claim = 1;
	r->list_limit = n;
	ck_assert_int_ge(run(h, r), 0);
	return r;
}

static int finish(struct host *h, const char *id, unsigned fence,
                  const char *out)
{
	struct store_req *r = store_req_new(STORE_FINISH);
	int rc;

	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->rec.state = JOB_DONE;
	r->rec.output = json_string(out);
	r->fence = fence;
	rc = run(h, r);
	store_req_free(r);
	return rc;
}

static int renew(struct host *h, const char *id, unsigned fence)
{
	struct store_req *r = store_req_new(STORE_RENEW);
	int rc;

	snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	r->fence = fence;
	rc = run(h, r);
	store_req_free(r);
	return rc;
}

static struct store_req *rescue(struct host *h)
{
	struct store_req *r = store_req_new(STORE_RESCUE);

	ck_assert_int_ge(run(h, r), 0);
	return r;
}

START_TEST(migrations_once_and_checked)
{
	const char *dsn = fresh_db("t_migrations");
	struct host a, b;
	struct config_store cs;
	struct store *s = NULL;
	char *why = NULL;
	PGconn *c;

	host_open(&a, dsn, "a");
	host_open(&b, dsn, "b"); /* a second start: nothing to apply */
	c = sql_conn(dsn);
	ck_assert_str_eq(sql1(c, "SELECT count(*) FROM jobd_migrations"), "3");
	ck_assert_str_eq(sql1(c, "SELECT string_agg(version::text || ':' || "
	                         "applied_by, ',' ORDER BY version) FROM "
	                         "jobd_migrations"),
	                 "1:a,2:a,3:a");
	host_close(&b);
	host_close(&a);

	/* A newer jobd was here: refuse, and say so. */
	sql1(c, "INSERT INTO jobd_migrations(version, what) VALUES (4, "
	        "'from the future')");
	cs = a.cs;
	ck_assert_ptr_nonnull(mkdtemp(strcpy(a.dir, "/tmp/jobd-pgst-XXXXXX")));
	ck_assert_int_eq(store_open(a.dir, &cs, &s, &why), -EPROTO);
	ck_assert_msg(strstr(why, "schema version 4, newer than this jobd's 3"),
	              "%s", why);
	ck_assert_ptr_null(strstr(why, "password"));
	free(why);
	rm_rf(a.dir);
	PQfinish(c);
}
END_TEST

START_TEST(bad_dsn_is_refused_without_quoting_it)
{
	struct config_store cs = {.backend = CONFIG_STORE_POSTGRESQL,
	                          .dsn = "host=/nonexistent password=hunter2 "
	                                 "dbname=x",
	                          .lease_ms = 30000};
	char dir[] = "/tmp/jobd-pgst-XXXXXX";
	struct store *s = NULL;
	char *why = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_lt(store_open(dir, &cs, &s, &why), 0);
	ck_assert_msg(strstr(why, "cannot connect") &&
	                      strstr(why, "host=/nonexistent") &&
	                      !strstr(why, "hunter2"),
	              "%s", why);
	free(why);
	cs.dsn = "host=x password=hunter2 nonsense";
	ck_assert_int_eq(store_open(dir, &cs, &s, &why), -EINVAL);
	ck_assert_msg(strstr(why, "store.dsn") && !strstr(why, "hunter2"), "%s",
	              why);
	free(why);
	rm_rf(dir);
}
END_TEST

struct claimer {
	struct host *h;
	char ids[400][STORE_ID_LEN + 1];
	size_t n;
};

static void *claim_loop(void *arg)
{
	struct claimer *c = arg;
	int empty = 0;

	while (empty < 3) {
		struct store_req *r = claim(c->h, "sleep", 3);
		size_t i;

		for (i = 0; i < r->n_rows && c->n < 400; i++) {
			ck_assert_int_eq(r->rows[i].attempts, 1);
			ck_assert_str_eq(r->rows[i].host, c->h->cs.host);
			memcpy(c->ids[c->n++], r->rows[i].id, STORE_ID_LEN + 1);
		}
		empty = r->n_rows ? 0 : empty + 1;
		store_req_free(r);
	}
	return NULL;
}

START_TEST(claims_never_share_a_job)
{
	const char *dsn = fresh_db("t_claims");
	static struct claimer ca, cb;
	struct host a, b;
	pthread_t ta, tb;
	char id[STORE_ID_LEN + 1];
	size_t i, j;

	host_open(&a, dsn, "a");
	host_open(&b, dsn, "b");
	for (i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "%016zx", i);
		insert(&a, id, "sleep", false, 1);
	}
	insert(&a, "00000000000fffff", "other", false, 1); /* not claimed */
	memset(&ca, 0, sizeof(ca));
	memset(&cb, 0, sizeof(cb));
	ca.h = &a;
	cb.h = &b;
	pthread_create(&ta, NULL, claim_loop, &ca);
	pthread_create(&tb, NULL, claim_loop, &cb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_uint_eq(ca.n + cb.n, 300);
	ck_assert_msg(ca.n > 0 && cb.n > 0, "one host took all: %zu/%zu", ca.n,
	              cb.n);
	for (i = 0; i < ca.n; i++)
		for (j = 0; j < cb.n; j++)
			ck_assert_str_ne(ca.ids[i], cb.ids[j]);
	host_close(&b);
	host_close(&a);
}
END_TEST

START_TEST(fencing_refuses_a_stale_attempt)
{
	const char *dsn = fresh_db("t_fencing");
	struct host a, b;
	struct store_req *r;
	PGconn *c;

	host_open(&a, dsn, "a");
	host_open(&b, dsn, "b");
	c = sql_conn(dsn);
	insert(&a, "00000000000000f1", "sleep", true, 3);
	r = claim(&a, "sleep", 10);
	ck_assert_uint_eq(r->n_rows, 1);
	ck_assert_uint_eq(r->rows[0].attempts, 1);
	store_req_free(r);
	ck_assert_int_eq(renew(&a, "00000000000000f1", 1), 1);
	ck_assert_int_eq(renew(&b, "00000000000000f1", 1), 0); /* not b's */

	/* a goes quiet: its lease runs out, b rescues and runs it again. */
	sql1(c, "UPDATE jobs SET lease_until = now() - interval '1 s'");
	r = rescue(&b);
	ck_assert_uint_eq(r->n_rows, 1);
	ck_assert_int_eq(r->rows[0].state, JOB_QUEUED);
	ck_assert_str_eq(r->rows[0].host, "a");
	store_req_free(r);
	r = claim(&b, "sleep", 10);
	ck_assert_uint_eq(r->n_rows, 1);
	ck_assert_uint_eq(r->rows[0].attempts, 2);
	store_req_free(r);

	/* a was only slow: its renewal and its result are refused. */
	ck_assert_int_eq(renew(&a, "00000000000000f1", 1), 0);
	ck_assert_int_eq(finish(&a, "00000000000000f1", 1, "from a"), 0);
	ck_assert_int_eq(finish(&b, "00000000000000f1", 2, "from b"), 1);
	ck_assert_int_eq(finish(&b, "00000000000000f1", 2, "again"), 0);
	ck_assert_str_eq(sql1(c, "SELECT output || ' ' || host || ' ' || state "
	                         "FROM jobs"),
	                 "\"from b\" b done");
	PQfinish(c);
	host_close(&b);
	host_close(&a);
}
END_TEST

START_TEST(rescue_follows_the_rules)
{
	const char *dsn = fresh_db("t_rescue");
	struct host a;
	struct store_req *r;
	PGconn *c;
	size_t i;

	host_open(&a, dsn, "a");
	c = sql_conn(dsn);
	insert(&a, "0000000000000001", "sleep", true, 2);  /* re-run */
	insert(&a, "0000000000000002", "sleep", false, 3); /* not safe */
	insert(&a, "0000000000000003", "sleep", true, 1);  /* no attempts */
	insert(&a, "0000000000000004", "sleep", true, 3);  /* cancelled */
	insert(&a, "0000000000000005", "sleep", true, 3);  /* lease alive */
	r = claim(&a, "sleep", 10);
	ck_assert_uint_eq(r->n_rows, 5);
	store_req_free(r);
	r = store_req_new(STORE_CANCEL);
	snprintf(r->rec.id, sizeof(r->rec.id), "0000000000000004");
	r->rec.message = strdup("cancelled by a client");
	ck_assert_int_eq(run(&a, r), 2); /* running: asked of its host */
	ck_assert_str_eq(r->rec.host, "a");
	store_req_free(r);
	ck_assert_int_eq(renew(&a, "0000000000000004", 1), 2);
	sql1(c, "UPDATE jobs SET lease_until = now() - interval '1 s' WHERE "
	        "id <> '0000000000000005'");
	r = rescue(&a);
	ck_assert_uint_eq(r->n_rows, 4);
	for (i = 0; i < r->n_rows; i++) {
		const char *id = r->rows[i].id;
		enum job_state want =
		        !strcmp(id, "0000000000000001")   ? JOB_QUEUED
		        : !strcmp(id, "0000000000000004") ? JOB_CANCELLED
		                                          : JOB_INTERRUPTED;

		ck_assert_msg(r->rows[i].state == want, "%s: %s", id,
		              job_state_name(r->rows[i].state));
	}
	store_req_free(r);
	ck_assert_str_eq(sql1(c,
	                      "SELECT string_agg(id || ':' || state || ':' "
	                      "|| coalesce(code, '-'), ',' ORDER BY id) FROM "
	                      "jobs"),
	                 "0000000000000001:queued:-,"
	                 "0000000000000002:interrupted:interrupted,"
	                 "0000000000000003:interrupted:interrupted,"
	                 "0000000000000004:cancelled:cancelled,"
	                 "0000000000000005:running:-");
	/* Nothing left to rescue: a second pass is a no-op. */
	r = rescue(&a);
	ck_assert_uint_eq(r->n_rows, 0);
	store_req_free(r);
	PQfinish(c);
	host_close(&a);
}
END_TEST

/* Waits for a notification on channel jobd whose payload has needle. */
static bool heard(PGconn *l, const char *needle, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	PGnotify *n;

	while (harness_now_ms() < end) {
		struct pollfd p = {.fd = PQsocket(l), .events = POLLIN};

		poll(&p, 1, 100);
		PQconsumeInput(l);
		while ((n = PQnotifies(l))) {
			bool hit = !strcmp(n->relname, "jobd") &&
			           strstr(n->extra, needle);

			PQfreemem(n);
			if (hit)
				return true;
		}
	}
	return false;
}

START_TEST(changes_are_announced)
{
	const char *dsn = fresh_db("t_notify");
	struct host a;
	struct store_req *r;
	PGconn *l;

	host_open(&a, dsn, "a");
	l = sql_conn(dsn);
	sql1(l, "LISTEN jobd");
	insert(&a, "00000000000000a1", "sleep", false, 1);
	ck_assert(heard(l, "\"state\" : \"queued\"", 5000));
	r = claim(&a, "sleep", 1);
	store_req_free(r);
	ck_assert(heard(l, "\"host\" : \"a\"", 5000));
	r = store_req_new(STORE_PROGRESS);
	snprintf(r->rec.id, sizeof(r->rec.id), "00000000000000a1");
	r->fence = 1;
	r->rec.fraction = 0.5;
	r->rec.progress_message = strdup("half way");
	ck_assert_int_eq(run(&a, r), 1);
	store_req_free(r);
	ck_assert(heard(l, "half way", 5000));
	ck_assert_int_eq(finish(&a, "00000000000000a1", 1, "x"), 1);
	ck_assert(heard(l, "\"state\" : \"done\"", 5000));
	PQfinish(l);
	host_close(&a);
}
END_TEST

START_TEST(a_lost_connection_loses_no_request)
{
	const char *dsn = fresh_db("t_lost");
	struct host a;
	struct store_req *r;
	PGconn *c;

	host_open(&a, dsn, "a");
	c = sql_conn(dsn);
	/* The store's connection dies under it (as in a server restart). */
	ck_assert_str_eq(sql1(c, "SELECT count(pg_terminate_backend(pid)) "
	                         "FROM pg_stat_activity WHERE "
	                         "application_name = 'jobd'"),
	                 "1");
	insert(&a, "00000000000000b1", "sleep", false, 1);
	ck_assert_str_eq(sql1(c, "SELECT count(*) FROM jobs"), "1");
	sql1(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	        "application_name = 'jobd'");
	r = claim(&a, "sleep", 5);
	ck_assert_uint_eq(r->n_rows, 1);
	store_req_free(r);
	sql1(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	        "application_name = 'jobd'");
	ck_assert_int_eq(finish(&a, "00000000000000b1", 1, "ok"), 1);
	ck_assert_str_eq(sql1(c, "SELECT state FROM jobs"), "done");
	PQfinish(c);
	host_close(&a);
}
END_TEST

struct heard_log {
	char jobs[16][STORE_ID_LEN + 1];
	enum job_state states[16];
	int n;
	int resyncs;
};

static void on_event(void *arg, const struct store_event *ev)
{
	struct heard_log *h = arg;

	if (h->n < 16) {
		snprintf(h->jobs[h->n], sizeof(h->jobs[0]), "%s", ev->job);
		h->states[h->n++] = ev->state;
	}
}

/* Drives the watch as the loop would, until want events or resyncs. */
static void watch_until(struct store_watch *w, struct heard_log *h,
                        int want_events, int want_resyncs)
{
	uint64_t end = harness_now_ms() + 20000;
	enum store_watch_wait wait = STORE_WATCH_READ;
	unsigned retry_ms = 0;
	bool resync;

	while ((h->n < want_events || h->resyncs < want_resyncs) &&
	       harness_now_ms() < end) {
		struct pollfd p = {.fd = store_watch_fd(w)};

		if (wait == STORE_WATCH_TIMER || p.fd < 0) {
			usleep(retry_ms * 1000);
		} else {
			p.events = wait == STORE_WATCH_WRITE ? POLLOUT : POLLIN;
			poll(&p, 1, 100);
		}
		wait = store_watch_step(w, on_event, h, &retry_ms, &resync);
		if (resync)
			h->resyncs++;
	}
	ck_assert_msg(h->n >= want_events && h->resyncs >= want_resyncs,
	              "heard %d event(s), %d resync(s)", h->n, h->resyncs);
}

START_TEST(the_watch_hears_and_comes_back)
{
	const char *dsn = fresh_db("t_watch");
	static struct heard_log h;
	struct store_watch *w = NULL;
	struct host a;
	char *why = NULL;
	PGconn *c;

	memset(&h, 0, sizeof(h));
	host_open(&a, dsn, "a");
	c = sql_conn(dsn);
	ck_assert_msg(store_watch_open(&a.cs, &w, &why) == 0, "%s", why);
	watch_until(w, &h, 0, 1); /* listening: read the state once */
	insert(&a, "00000000000000c1", "sleep", false, 1);
	watch_until(w, &h, 1, 1);
	ck_assert_str_eq(h.jobs[0], "00000000000000c1");
	ck_assert_int_eq(h.states[0], JOB_QUEUED);

	/* Its connection dies: it connects again by itself, says that
	 * something may have been missed, and hears again. */
	ck_assert_str_eq(sql1(c, "SELECT count(pg_terminate_backend(pid)) "
	                         "FROM pg_stat_activity WHERE "
	                         "application_name = 'jobd-watch'"),
	                 "1");
	watch_until(w, &h, 1, 2);
	insert(&a, "00000000000000c2", "sleep", false, 1);
	watch_until(w, &h, 2, 2);
	ck_assert_str_eq(h.jobs[1], "00000000000000c2");
	store_watch_close(w);
	PQfinish(c);
	host_close(&a);
}
END_TEST

Suite *pg_suite(void);
Suite *pg_suite(void)
{
	Suite *s = suite_create("pg-store");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, migrations_once_and_checked);
	tcase_add_test(tc, bad_dsn_is_refused_without_quoting_it);
	tcase_add_test(tc, claims_never_share_a_job);
	tcase_add_test(tc, fencing_refuses_a_stale_attempt);
	tcase_add_test(tc, rescue_follows_the_rules);
	tcase_add_test(tc, changes_are_announced);
	tcase_add_test(tc, a_lost_connection_loses_no_request);
	tcase_add_test(tc, the_watch_hears_and_comes_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!getenv("JOBD_TEST_PGHOST")) {
		fprintf(stderr,
		        "test-pg-store: run it through "
		        "tests/pg/pg-cluster.sh run (meson test does)\n");
		return 77;
	}
	sr = srunner_create(pg_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
