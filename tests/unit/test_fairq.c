/* SPDX-License-Identifier: MIT */
/*
 * Fair share inside a queue (src/daemon/exec/fairq.c): turns between
 * users, FIFO within a user and for a single user, max_running, removal
 * and draining. Pure code: jobs are bare structs, no pool, no thread.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec/fairq.h"
#include "daemon/exec/job.h"

static struct job jobs[32];

static struct job *mk(int i, struct job_user *u)
{
	memset(&jobs[i], 0, sizeof(jobs[i]));
	jobs[i].req_id = i;
	jobs[i].user = u;
	return &jobs[i];
}

static struct job_user *user(const char *name, unsigned max_running)
{
	struct job_user *u = calloc(1, sizeof(*u));

	u->name = strdup(name);
	atomic_store(&u->max_running, max_running);
	return u;
}

static void user_free(struct job_user *u)
{
	free(u->name);
	free(u);
}

/* Pops everything, writing the ids in order. */
static void order(struct fairq *q, int64_t *out, int n)
{
	struct job *j;
	int i;

	for (i = 0; i < n; i++) {
		j = fairq_pop(q);
		ck_assert_ptr_nonnull(j);
		out[i] = j->req_id;
		fairq_done(j);
	}
	ck_assert_ptr_null(fairq_pop(q));
}

START_TEST(test_single_user_fifo)
{
	struct fairq q = {0};
	struct job_user *a = user("a", 0);
	int64_t got[5];
	int i;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(fairq_push(&q, mk(i, a)), 0);
	ck_assert_uint_eq(q.count, 5);
	ck_assert_uint_eq(atomic_load(&a->queued), 5);
	order(&q, got, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(got[i], i);
	ck_assert_uint_eq(atomic_load(&a->queued), 0);
	ck_assert_uint_eq(atomic_load(&a->running), 0);
	fairq_fini(&q);
	user_free(a);
}
END_TEST

/* A has 200 waiting (here 10), B arrives with one: B is next. */
START_TEST(test_turns)
{
	struct fairq q = {0};
	struct job_user *a = user("a", 0), *b = user("b", 0);
	struct job *j;
	int64_t got[13];
	int i;

	for (i = 0; i < 10; i++)
		fairq_push(&q, mk(i, a));
	j = fairq_pop(&q); /* A's first starts */
	ck_assert_int_eq(j->req_id, 0);
	fairq_push(&q, mk(20, b));
	fairq_push(&q, mk(21, b));
	fairq_push(&q, mk(22, NULL)); /* no user: a lane of its own */
	fairq_push(&q, mk(23, a));
	order(&q, got, 13);
	/* B first (it just started waiting), then turns. */
	ck_assert_int_eq(got[0], 22);
	ck_assert_int_eq(got[1], 20);
	ck_assert_int_eq(got[2], 1);
	ck_assert_int_eq(got[3], 21);
	for (i = 4; i < 12; i++)
		ck_assert_int_eq(got[i], i - 2);
	ck_assert_int_eq(got[12], 23);
	fairq_fini(&q);
	user_free(a);
	user_free(b);
}
END_TEST

/* A user at max_running is skipped, and served again when a job of
 * theirs is done. */
START_TEST(test_max_running)
{
	struct fairq q = {0};
	struct job_user *a = user("a", 1), *b = user("b", 0);
	struct job *j1, *j;

	fairq_push(&q, mk(1, a));
	fairq_push(&q, mk(2, a));
	fairq_push(&q, mk(3, b));
	j1 = fairq_pop(&q);
	ck_assert_int_eq(j1->req_id, 3); /* b's lane was pushed last: next */
	j1 = fairq_pop(&q);
	ck_assert_int_eq(j1->req_id, 1);
	ck_assert_uint_eq(atomic_load(&a->running), 1);
	ck_assert_ptr_null(fairq_pop(&q)); /* 2 waits: a is at its cap */
	ck_assert_uint_eq(q.count, 1);
	fairq_done(j1);
	j = fairq_pop(&q);
	ck_assert_int_eq(j->req_id, 2);
	fairq_done(j);
	fairq_fini(&q);
	user_free(a);
	user_free(b);
}
END_TEST

START_TEST(test_remove_and_take_all)
{
	struct fairq q = {0};
	struct job_user *a = user("a", 0), *b = user("b", 0);
	struct job *list;
	int n = 0;

	fairq_push(&q, mk(1, a));
	fairq_push(&q, mk(2, b));
	fairq_push(&q, mk(3, a));
	fairq_remove(&q, &jobs[2]); /* b's lane empties and goes */
	ck_assert_uint_eq(q.count, 2);
	ck_assert_uint_eq(atomic_load(&b->queued), 0);
	fairq_remove(&q, &jobs[1]);
	list = fairq_take_all(&q);
	for (; list; list = list->q_next) {
		ck_assert_int_eq(list->req_id, 3);
		n++;
	}
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(q.count, 0);
	ck_assert_ptr_null(fairq_pop(&q));
	fairq_fini(&q);
	user_free(a);
	user_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fairq");
	TCase *tc = tcase_create("fairq");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_single_user_fifo);
	tcase_add_test(tc, test_turns);
	tcase_add_test(tc, test_max_running);
	tcase_add_test(tc, test_remove_and_take_all);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
