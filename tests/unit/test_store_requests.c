/* SPDX-License-Identifier: MIT */
/*
 * The store's request kinds, the same contract on both backends: SQLite in
 * a temporary state_dir, or, with JOBD_TEST_PGHOST set (tests/pg runs it
 * so), PostgreSQL in a fresh database. START's attempt, CLAIM, RENEW,
 * fenced FINISH, CANCEL in each state, PROGRESS and an idle RESCUE.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jobd/error.h>

#include "daemon/config/config.h"
#include "daemon/store/store.h"

static char dir[64];
static struct config_store cs;
static struct store *st;

static void open_store(void)
{
	const char *pg = getenv("JOBD_TEST_PGHOST");
	char *why = NULL, cmd[1024], dsn[512];

	snprintf(dir, sizeof(dir), "/tmp/jobd-storereq-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&cs, 0, sizeof(cs));
	cs.lease_ms = 30000;
	if (pg) {
		/* The temporary directory's name is unique: so is the
		 * database's. */
		const char *db = strrchr(dir, '-') + 1;

		snprintf(cmd, sizeof(cmd),
		         "'%s/createdb' -h '%s' -p '%s' -U '%s' 'r%s'",
		         getenv("JOBD_TEST_PGBIN"), pg,
		         getenv("JOBD_TEST_PGPORT"), getenv("JOBD_TEST_PGUSER"),
		         db);
		ck_assert_int_eq(system(cmd), 0);
		snprintf(dsn, sizeof(dsn), "host=%s port=%s user=%s dbname=r%s",
		         pg, getenv("JOBD_TEST_PGPORT"),
		         getenv("JOBD_TEST_PGUSER"), db);
		cs.backend = CONFIG_STORE_POSTGRESQL;
		cs.dsn = strdup(dsn);
		cs.host = "here";
	}
	ck_assert_msg(store_open(dir, &cs, &st, &why) == 0, "%s", why);
}

static void close_store(void)
{
	char cmd[128];

	store_close(st);
	free(cs.dsn);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct store_req *req(enum store_op op, const char *id)
{
	struct store_req *r = store_req_new(op);

	ck_assert_ptr_nonnull(r);
	if (id)
		snprintf(r->rec.id, sizeof(r->rec.id), "%s", id);
	return r;
}

/* Runs r, frees it, returns its rc. */
static int run(struct store_req *r)
{
	int rc = store_run_now(st, r);

	store_req_free(r);
	return rc;
}

static void insert(const char *id, const char *plugin, int64_t created)
{
	struct store_req *r = req(STORE_INSERT, id);

	r->rec.plugin = strdup(plugin);
	r->rec.input = json_pack("{s:i}", "n", 1);
	r->rec.state = JOB_QUEUED;
	r->rec.created_ms = created;
	ck_assert_int_eq(run(r), 0);
}

static enum job_state state_of(const char *id)
{
	struct store_req *r = req(STORE_GET, id);
	enum job_state s;

	ck_assert_int_eq(store_run_now(st, r), 0);
	s = r->rec.state;
	store_req_free(r);
	return s;
}

static int fenced(enum store_op op, const char *id, unsigned fence)
{
	struct store_req *r = req(op, id);

	r->fence = fence;
	if (op == STORE_FINISH) {
		r->rec.state = JOB_DONE;
		r->rec.output = json_string("out");
	}
	if (op == STORE_PROGRESS) {
		r->rec.fraction = 0.25;
		r->rec.progress_message = strdup("a quarter");
	}
	return run(r);
}

START_TEST(start_gives_the_attempt)
{
	struct store_req *r;

	open_store();
	insert("0000000000000001", "a", 1);
	r = req(STORE_START, "0000000000000001");
	r->rec.started_ms = 5;
	ck_assert_int_eq(store_run_now(st, r), 0);
	ck_assert_uint_eq(r->rec.attempts, 1);
	store_req_free(r);
	/* Already running: still fine, same attempt. */
	r = req(STORE_START, "0000000000000001");
	ck_assert_int_eq(store_run_now(st, r), 0);
	ck_assert_uint_eq(r->rec.attempts, 1);
	store_req_free(r);
	ck_assert_int_eq(fenced(STORE_FINISH, "0000000000000001", 1), 1);
	ck_assert_int_eq(run(req(STORE_START, "0000000000000001")),
	                 JOBD_E_NOT_FOUND);
	close_store();
}
END_TEST

START_TEST(claim_renew_finish)
{
	struct store_req *r;
	size_t i;

	open_store();
	insert("00000000000000a1", "a", 1);
	insert("00000000000000a2", "a", 2);
	insert("00000000000000a3", "a", 3);
	insert("00000000000000b1", "b", 4);
	r = req(STORE_CLAIM, NULL);
	r->claim_plugins = calloc(2, sizeof(char *));
	r->claim_plugins[0] = strdup("a");
	r->n_claim = 1;
	r->list_limit = 2;
	ck_assert_int_eq(store_run_now(st, r), 2);
	for (i = 0; i < r->n_rows; i++) {
		/* The oldest two, running, first attempt, with input. */
		ck_assert(!strcmp(r->rows[i].id, "00000000000000a1") ||
		          !strcmp(r->rows[i].id, "00000000000000a2"));
		ck_assert_int_eq(r->rows[i].state, JOB_RUNNING);
		ck_assert_uint_eq(r->rows[i].attempts, 1);
		ck_assert_ptr_nonnull(r->rows[i].input);
	}
	store_req_free(r);
	r = req(STORE_CLAIM, NULL);
	r->claim_plugins = calloc(2, sizeof(char *));
	r->claim_plugins[0] = strdup("a");
	r->claim_plugins[1] = strdup("b");
	r->n_claim = 2;
	r->list_limit = 10;
	ck_assert_int_eq(store_run_now(st, r), 2);
	store_req_free(r);
	ck_assert_int_eq(state_of("00000000000000b1"), JOB_RUNNING);

	ck_assert_int_eq(fenced(STORE_RENEW, "00000000000000a1", 1), 1);
	ck_assert_int_eq(fenced(STORE_RENEW, "00000000000000a1", 2), 0);
	ck_assert_int_eq(fenced(STORE_PROGRESS, "00000000000000a1", 1), 1);
	ck_assert_int_eq(fenced(STORE_FINISH, "00000000000000a1", 2), 0);
	ck_assert_int_eq(state_of("00000000000000a1"), JOB_RUNNING);
	ck_assert_int_eq(fenced(STORE_FINISH, "00000000000000a1", 1), 1);
	ck_assert_int_eq(fenced(STORE_FINISH, "00000000000000a1", 1), 0);
	ck_assert_int_eq(fenced(STORE_RENEW, "00000000000000a1", 1), 0);
	ck_assert_int_eq(state_of("00000000000000a1"), JOB_DONE);
	/* Nothing has expired: nothing to rescue. */
	r = req(STORE_RESCUE, NULL);
	ck_assert_int_eq(store_run_now(st, r), 0);
	ck_assert_uint_eq(r->n_rows, 0);
	store_req_free(r);
	close_store();
}
END_TEST

START_TEST(cancel_in_each_state)
{
	struct store_req *r;

	open_store();
	insert("00000000000000c1", "a", 1);
	insert("00000000000000c2", "a", 2);
	ck_assert_int_eq(run(req(STORE_START, "00000000000000c2")), 0);
	r = req(STORE_CANCEL, "00000000000000c1");
	r->rec.message = strdup("cancelled by a client");
	ck_assert_int_eq(run(r), 1); /* queued: ended now */
	ck_assert_int_eq(state_of("00000000000000c1"), JOB_CANCELLED);
	ck_assert_int_eq(run(req(STORE_CANCEL, "00000000000000c2")), 2);
	ck_assert_int_eq(state_of("00000000000000c2"), JOB_RUNNING);
	ck_assert_int_eq(run(req(STORE_CANCEL, "00000000000000c1")), 0);
	ck_assert_int_eq(run(req(STORE_CANCEL, "00000000000000ff")),
	                 JOBD_E_NOT_FOUND);
	close_store();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store-requests");
	TCase *tc = tcase_create(getenv("JOBD_TEST_PGHOST") ? "postgresql"
	                                                    : "sqlite");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, start_gives_the_attempt);
	tcase_add_test(tc, claim_renew_finish);
	tcase_add_test(tc, cancel_in_each_state);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
