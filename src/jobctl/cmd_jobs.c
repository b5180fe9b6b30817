/* SPDX-License-Identifier: MIT */
/*
 * jobctl submit, status, wait, result, cancel, jobs: detached jobs, which
 * live on the server beyond the connection (docs/protocol.md §9).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobctl/jobctl.h"

#define JOB_ID_MAX 64

static const char *jobs_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int jobs_usage(const char *synopsis)
{
	jobctl_err("usage: jobctl [OPTIONS] %s", synopsis);
	return JOBCTL_USAGE;
}

/* Sends type with {"job": id}; *answer is the whole answer (the reply
 * and any arrays that came with it). */
static int jobs_ask_answer(struct jobctl *j, const char *type, const char *id,
                           int timeout_ms, struct jobd_client_answer **answer)
{
	json_t *fields = json_pack("{ss}", "job", id);
	int r;

	*answer = NULL;
	if (!fields) {
		jobctl_err("out of memory");
		return JOBCTL_JOB_FAILED;
	}
	r = j->client ? JOBCTL_OK : jobctl_client(j);
	if (r == JOBCTL_OK) {
		r = jobd_client_request_arrays(j->client, type, fields, NULL, 0,
		                               timeout_ms, answer);
		if (r != JOBD_CLIENT_OK)
			r = jobctl_fail(j, r, id);
	}
	json_decref(fields);
	return r;
}

/* jobs_ask_answer for the reply message alone. */
static int jobs_ask(struct jobctl *j, const char *type, const char *id,
                    int timeout_ms, json_t **reply)
{
	struct jobd_client_answer *a;
	int r = jobs_ask_answer(j, type, id, timeout_ms, &a);

	*reply = r == JOBCTL_OK ? json_incref(jobd_client_answer_message(a))
	                        : NULL;
	jobd_client_answer_free(a);
	return r;
}

int jobctl_print_answer(const struct jobctl *j,
                        const struct jobd_client_answer *a)
{
	const json_t *msg = jobd_client_answer_message(a);
	json_t *out, *written = NULL;
	int r;

	/* Files first: the printed JSON names only files that exist. */
	r = jobctl_arrays_save(j, a, &written);
	if (r != JOBCTL_OK)
		return r;
	if (!j->provenance && !written)
		return jobctl_print_json(j, json_object_get(msg, "output"));
	out = json_pack("{sO}", "output", json_object_get(msg, "output"));
	if (out && j->provenance) {
		if (json_object_get(msg, "provenance"))
			json_object_set(out, "provenance",
			                json_object_get(msg, "provenance"));
		if (json_object_get(msg, "job"))
			json_object_set(out, "job",
			                json_object_get(msg, "job"));
	}
	if (out && written)
		json_object_set(out, "arrays", written);
	json_decref(written);
	r = out ? jobctl_print_json(j, out) : JOBCTL_JOB_FAILED;
	json_decref(out);
	return r;
}

/* One line about an unfinished job, for people. */
static void jobs_describe(FILE *f, const json_t *st)
{
	const json_t *pr = json_object_get(st, "progress");

	fprintf(f, "job %s (%s) is %s", jobs_str(st, "job"),
	        jobs_str(st, "plugin"), jobs_str(st, "state"));
	if (pr)
		fprintf(f, ", %.0f%%%s%s",
		        json_number_value(json_object_get(pr, "fraction")) *
		                100.0,
		        json_object_get(pr, "message") ? ": " : "",
		        jobs_str(pr, "message"));
	fputc('\n', f);
}

static int64_t jobs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_submit(struct jobctl *j, int argc, char **argv)
{
	json_t *input, *fields = NULL, *reply = NULL;
	int r, attempt;
	int64_t wait;

	if (argc < 2 || argc > 3)
		return jobs_usage("submit PLUGIN [INPUT]");
	input = jobctl_read_input(argc == 3 ? argv[2] : NULL);
	if (!input)
		return JOBCTL_USAGE;
	r = jobctl_arrays_load(j);
	if (r == JOBCTL_OK)
		r = jobctl_client(j);
	if (r != JOBCTL_OK)
		goto out;
	fields = json_pack("{ss sO sb}", "plugin", argv[1], "input", input,
	                   "detach", 1);
	if (!fields) {
		jobctl_err("out of memory");
		r = JOBCTL_JOB_FAILED;
		goto out;
	}
	for (attempt = 0;; attempt++) {
		struct jobd_client_answer *a = NULL;

		r = jobd_client_request_arrays(j->client, "call", fields,
		                               j->sent, j->n_arrays,
		                               jobctl_query_timeout(j), &a);
		reply = a ? json_incref(jobd_client_answer_message(a)) : NULL;
		jobd_client_answer_free(a);
		if (r != JOBD_CLIENT_E_SERVER ||
		    jobd_client_error_code(j->client) != JOBD_E_BUSY ||
		    attempt >= j->retries)
			break;
		wait = jobd_client_retry_after_ms(j->client);
		wait = wait < 100 ? 100 : wait > 10000 ? 10000 : wait;
		usleep((useconds_t)wait * 1000);
	}
	if (r != JOBD_CLIENT_OK) {
		r = jobctl_fail(j, r, argv[1]);
		goto out;
	}
	if (strcmp(jobs_str(reply, "type"), "accepted")) {
		jobctl_err("%s: the server answered %s instead of accepted",
		           argv[1], jobs_str(reply, "type"));
		r = JOBCTL_JOB_FAILED;
		goto out;
	}
	printf("%s\n", jobs_str(reply, "job"));
	r = fflush(stdout) ? JOBCTL_JOB_FAILED : JOBCTL_OK;
out:
	json_decref(reply);
	json_decref(fields);
	json_decref(input);
	return r;
}

int cmd_status(struct jobctl *j, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if (argc != 2)
		return jobs_usage("status JOB");
	r = jobs_ask(j, "status", argv[1], jobctl_query_timeout(j), &reply);
	if (r != JOBCTL_OK)
		return r;
	json_object_del(reply, "type");
	json_object_del(reply, "id");
	r = jobctl_print_json(j, reply);
	json_decref(reply);
	return r;
}

int cmd_result(struct jobctl *j, int argc, char **argv)
{
	struct jobd_client_answer *a = NULL;
	const json_t *reply;
	int r;

	if (argc != 2)
		return jobs_usage("result JOB");
	r = jobctl_arrays_load(j); /* checks --out-dir */
	if (r == JOBCTL_OK)
		r = jobs_ask_answer(j, "result", argv[1],
		                    jobctl_query_timeout(j), &a);
	if (r != JOBCTL_OK)
		return r;
	reply = jobd_client_answer_message(a);
	if (!strcmp(jobs_str(reply, "type"), "status")) {
		jobs_describe(stderr, reply);
		r = JOBCTL_NOT_FINISHED;
	} else {
		r = jobctl_print_answer(j, a);
	}
	jobd_client_answer_free(a);
	return r;
}

/* While `wait` waits: Ctrl-C leaves, the job goes on. */
static void wait_on_sigint(int sig)
{
	static const char note[] =
	        "\r\033[Kjobctl: stopped waiting; the job goes on on the "
	        "server (jobctl wait JOB follows it again)\n";

	(void)sig;
	if (write(STDERR_FILENO, note, sizeof(note) - 1) < 0)
		_exit(130);
	_exit(130);
}

int cmd_wait(struct jobctl *j, int argc, char **argv)
{
	struct jobctl_bar bar;
	struct jobd_client_answer *a = NULL;
	int r;

	if (argc != 2)
		return jobs_usage("wait JOB");
	jobctl_bar_init(&bar);
	r = jobctl_arrays_load(j); /* checks --out-dir */
	if (r == JOBCTL_OK)
		r = jobctl_client(j);
	if (r != JOBCTL_OK)
		return r;
	jobd_client_set_progress(j->client, jobctl_bar_progress_fn, &bar);
	if (bar.on)
		signal(SIGINT, wait_on_sigint);
	jobctl_bar_update(&bar, -1.0, NULL);
	r = jobs_ask_answer(j, "attach", argv[1], j->timeout_ms, &a);
	jobctl_bar_clear(&bar);
	if (r != JOBCTL_OK)
		return r;
	r = jobctl_print_answer(j, a);
	jobd_client_answer_free(a);
	return r;
}

int cmd_cancel(struct jobctl *j, int argc, char **argv)
{
	json_t *reply = NULL;
	const char *state;
	int r;

	if (argc != 2)
		return jobs_usage("cancel JOB");
	r = jobs_ask(j, "cancel", argv[1], jobctl_query_timeout(j), &reply);
	if (r != JOBCTL_OK)
		return r;
	state = jobs_str(reply, "state");
	if (json_is_true(json_object_get(reply, "cancel_requested")))
		printf("%s: running; told to stop (it ends cancelled when the "
		       "plugin returns)\n",
		       argv[1]);
	else if (!strcmp(state, "cancelled"))
		printf("%s: cancelled\n", argv[1]);
	else
		printf("%s: had already ended (%s)\n", argv[1], state);
	json_decref(reply);
	return JOBCTL_OK;
}

/* jobs [state=S] [plugin=P] [limit=N] */
int cmd_jobs(struct jobctl *j, int argc, char **argv)
{
	json_t *fields = json_object(), *reply = NULL, *list, *e;
	const char *eq;
	size_t i;
	int r, k;

	if (!fields)
		return JOBCTL_JOB_FAILED;
	for (k = 1; k < argc; k++) {
		eq = strchr(argv[k], '=');
		if (eq && !strncmp(argv[k], "state=", 6)) {
			json_object_set_new(fields, "state",
			                    json_string(eq + 1));
		} else if (eq && !strncmp(argv[k], "plugin=", 7)) {
			json_object_set_new(fields, "plugin",
			                    json_string(eq + 1));
		} else if (eq && !strncmp(argv[k], "limit=", 6) &&
		           atoi(eq + 1) > 0) {
			json_object_set_new(fields, "limit",
			                    json_integer(atoi(eq + 1)));
		} else {
			json_decref(fields);
			return jobs_usage("jobs [state=STATE] [plugin=PLUGIN] "
			                  "[limit=N]");
		}
	}
	r = jobctl_client(j);
	if (r == JOBCTL_OK) {
		r = jobd_client_request(j->client, "jobs", fields,
		                        jobctl_query_timeout(j), &reply);
		r = r == JOBD_CLIENT_OK ? JOBCTL_OK : jobctl_fail(j, r, "jobs");
	}
	json_decref(fields);
	if (r != JOBCTL_OK)
		return r;
	list = json_object_get(reply, "jobs");
	if (!isatty(STDOUT_FILENO)) {
		r = jobctl_print_json(j, list);
		json_decref(reply);
		return r;
	}
	/* For people: a table, newest first. */
	printf("%-16s  %-11s  %-12s  %-24s  %s\n", "JOB", "STATE", "PLUGIN",
	       "QUEUED", "PROGRESS/ERROR");
	json_array_foreach(list, i, e)
	{
		const json_t *pr = json_object_get(e, "progress");
		const json_t *er = json_object_get(e, "error");
		char extra[160] = "";

		if (pr)
			snprintf(extra, sizeof(extra), "%.0f%% %s",
			         json_number_value(
			                 json_object_get(pr, "fraction")) *
			                 100.0,
			         jobs_str(pr, "message"));
		else if (er)
			snprintf(extra, sizeof(extra), "%s: %s",
			         jobs_str(er, "code"), jobs_str(er, "message"));
		printf("%-16s  %-11s  %-12s  %-24s  %s\n", jobs_str(e, "job"),
		       jobs_str(e, "state"), jobs_str(e, "plugin"),
		       jobs_str(e, "queued_at"), extra);
	}
	if (json_is_true(json_object_get(reply, "truncated")))
		printf("(more jobs match; limit=N shows more)\n");
	json_decref(reply);
	return fflush(stdout) ? JOBCTL_JOB_FAILED : JOBCTL_OK;
}

/* --- call on a terminal: progress bar, Ctrl-C asks ------------------------ */

static volatile sig_atomic_t call_interrupted;

static void call_on_sigint(int sig)
{
	(void)sig;
	call_interrupted = 1;
}

/* Asks on the terminal whether to cancel or detach. Returns 'c' or 'd'. */
static int call_ask(void)
{
	FILE *tty = fopen("/dev/tty", "r+");
	char line[32];
	int answer = 'c';

	if (!tty)
		return 'c'; /* nobody to ask: stop the job */
	fprintf(tty, "\njobctl: interrupted. Cancel the job, or leave it "
	             "running on the server (detach)? [c/d] ");
	fflush(tty);
	call_interrupted = 0;
	if (fgets(line, sizeof(line), tty) && !call_interrupted &&
	    (line[0] == 'd' || line[0] == 'D'))
		answer = 'd';
	fclose(tty);
	return answer;
}

int jobctl_call_live(struct jobctl *j, const char *plugin, const json_t *input,
                     struct jobd_client_answer **result)
{
	struct jobd_client_answer *a = NULL;
	struct sigaction sa = {.sa_handler = call_on_sigint}, old;
	struct jobctl_bar bar;
	int64_t deadline = -1, left;
	bool asked = false, detaching = false;
	uint64_t id;
	int r, attempt = 0;

	*result = NULL;
	jobctl_bar_init(&bar);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* no SA_RESTART: waits wake up */
	if (j->timeout_set)
		deadline = jobs_now_ms() + j->timeout_ms;
submit:
	left = deadline < 0 ? 0 : deadline - jobs_now_ms();
	r = jobd_client_submit_arrays(
	        j->client, plugin, input, j->sent, j->n_arrays,
	        deadline < 0 ? 0 : (int)(left < 1 ? 1 : left), &id);
	if (r != JOBD_CLIENT_OK) {
		r = jobctl_fail(j, r, plugin);
		goto out;
	}
	jobctl_bar_update(&bar, -1.0, NULL);
	for (;;) {
		r = jobd_client_receive(j->client, 200, &a);
		if (call_interrupted && !asked) {
			int what;

			jobctl_bar_clear(&bar);
			asked = true;
			what = call_ask();
			if (what == 'd' &&
			    jobd_client_detach(j->client, id) == JOBD_CLIENT_OK)
				detaching = true;
			else
				jobd_client_cancel(j->client, id);
		}
		if (r == JOBD_CLIENT_E_TIMEOUT) {
			if (deadline >= 0 && jobs_now_ms() > deadline + 2000) {
				/* The server's deadline should have ended it;
				 * do not wait for a silent server. */
				jobctl_bar_clear(&bar);
				jobd_client_cancel(j->client, id);
				jobctl_err("%s: no answer within the timeout",
				           plugin);
				r = JOBCTL_TIMEOUT;
				goto out;
			}
			jobctl_bar_tick(&bar);
			continue;
		}
		if (r != JOBD_CLIENT_OK) {
			jobctl_bar_clear(&bar);
			r = jobctl_fail(j, r, plugin);
			goto out;
		}
		if (jobd_client_answer_kind(a) == JOBD_CLIENT_ANSWER_PROGRESS) {
			if (!asked)
				jobctl_bar_update(
				        &bar, jobd_client_answer_fraction(a),
				        jobd_client_answer_text(a));
			jobd_client_answer_free(a);
			continue;
		}
		break;
	}
	jobctl_bar_clear(&bar);
	if (jobd_client_answer_kind(a) == JOBD_CLIENT_ANSWER_RESULT) {
		json_t *msg = jobd_client_answer_message(a);

		if (detaching && !strcmp(jobs_str(msg, "type"), "accepted")) {
			fprintf(stderr,
			        "jobctl: job %s goes on on the server; "
			        "`jobctl wait %s` follows it, `jobctl result "
			        "%s` fetches the result\n",
			        jobs_str(msg, "job"), jobs_str(msg, "job"),
			        jobs_str(msg, "job"));
			printf("%s\n", jobs_str(msg, "job"));
			fflush(stdout);
			r = JOBCTL_OK;
			goto out;
		}
		*result = a;
		a = NULL;
		r = JOBCTL_OK;
		goto out;
	}
	/* An error: busy may be retried like `call` does without a bar. */
	if (jobd_client_answer_status(a) == JOBD_CLIENT_E_SERVER &&
	    jobd_client_answer_error_code(a) == JOBD_E_BUSY &&
	    attempt < j->retries && !asked) {
		int64_t wait = jobd_client_answer_retry_after_ms(a);

		wait = wait < 100 ? 100 : wait;
		if (deadline < 0 || jobs_now_ms() + wait < deadline) {
			attempt++;
			jobd_client_answer_free(a);
			a = NULL;
			usleep((useconds_t)wait * 1000);
			goto submit;
		}
	}
	if (jobd_client_answer_status(a) == JOBD_CLIENT_E_SERVER) {
		jobctl_err("%s: %s: %s", plugin,
		           jobs_str(jobd_client_answer_message(a), "code"),
		           jobd_client_answer_text(a));
		r = jobctl_exit_for(JOBD_CLIENT_E_SERVER,
		                    jobd_client_answer_error_code(a));
	} else {
		jobctl_err("%s: %s", plugin,
		           jobd_client_answer_text(a)
		                   ? jobd_client_answer_text(a)
		                   : jobd_client_status_str(
		                             jobd_client_answer_status(a)));
		r = jobctl_exit_for(jobd_client_answer_status(a), JOBD_OK);
	}
out:
	jobd_client_answer_free(a);
	sigaction(SIGINT, &old, NULL);
	return r;
}
