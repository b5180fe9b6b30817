/* SPDX-License-Identifier: MIT */
/*
 * jobctl's detached-job commands against the real jobd: submit, status,
 * wait, result, cancel, jobs, --provenance; and on a terminal (a pty): the
 * progress bar, and Ctrl-C during `call` asking to cancel or detach.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

struct run {
	int code;
	char out[16384];
	char err[4096];
};

static void slurp(int fd, char *buf, size_t size)
{
	ssize_t n;
	size_t len = 0;

	lseek(fd, 0, SEEK_SET);
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Runs jobctl -s SERVER ARGS... with pipes (not a terminal). */
static void run_jobctl(struct run *r, const struct jobd_proc *p, ...)
{
	char server[64], out_path[] = "/tmp/jobctl-jobs-out-XXXXXX",
	                 err_path[] = "/tmp/jobctl-jobs-err-XXXXXX";
	char *argv[16];
	int argc = 0, out_fd, err_fd, status;
	va_list ap;
	pid_t pid;

	snprintf(server, sizeof(server), "127.0.0.1:%u", p->port);
	argv[argc++] = (char *)"jobctl";
	argv[argc++] = (char *)"-s";
	argv[argc++] = server;
	va_start(ap, p);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	out_fd = mkstemp(out_path);
	err_fd = mkstemp(err_path);
	unlink(out_path);
	unlink(err_path);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		execv(getenv("JOBCTL_BIN"), argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(out_fd, r->out, sizeof(r->out));
	slurp(err_fd, r->err, sizeof(r->err));
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

START_TEST(detached_commands)
{
	struct jobd_proc p;
	struct run r;
	char job[64];
	json_t *v;

	ck_assert_int_eq(harness_start(&p, NULL), 0);

	run_jobctl(&r, &p, "submit", "sleep", "{\"ms\":1000}", NULL);
	ck_assert_int_eq(r.code, 0);
	chomp(r.out);
	ck_assert_int_eq(strlen(r.out), 16);
	snprintf(job, sizeof(job), "%s", r.out);

	run_jobctl(&r, &p, "status", job, NULL);
	ck_assert_int_eq(r.code, 0);
	v = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_string_value(json_object_get(v, "job")), job);
	json_decref(v);

	/* Not finished yet: exit 5, a line on stderr. */
	run_jobctl(&r, &p, "result", job, NULL);
	ck_assert_int_eq(r.code, 5);
	ck_assert_ptr_nonnull(strstr(r.err, job));

	/* wait: no bar when stderr is not a terminal, then the output. */
	run_jobctl(&r, &p, "wait", job, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\"slept_ms\":1000}\n");
	ck_assert_str_eq(r.err, "");

	run_jobctl(&r, &p, "result", "--provenance", job, NULL);
	ck_assert_int_eq(r.code, 0);
	v = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(json_object_get(v, "output"));
	ck_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(v, "provenance"), "plugin")),
	                 "sleep");
	json_decref(v);

	run_jobctl(&r, &p, "--provenance", "call", "echo", "[7]", NULL);
	ck_assert_int_eq(r.code, 0);
	v = json_loads(r.out, 0, NULL);
	ck_assert_int_eq(json_integer_value(json_array_get(
	                         json_object_get(v, "output"), 0)),
	                 7);
	ck_assert_ptr_nonnull(json_object_get(v, "provenance"));
	json_decref(v);

	/* jobs: JSON when not on a terminal, with filters. */
	run_jobctl(&r, &p, "jobs", "state=done", "plugin=sleep", NULL);
	ck_assert_int_eq(r.code, 0);
	v = json_loads(r.out, 0, NULL);
	ck_assert_uint_eq(json_array_size(v), 1);
	json_decref(v);
	run_jobctl(&r, &p, "jobs", "state=running", NULL);
	ck_assert_str_eq(r.out, "[]\n");
	run_jobctl(&r, &p, "jobs", "bogus", NULL);
	ck_assert_int_eq(r.code, 2);

	/* cancel: a running job is told to stop; wait then fails. */
	run_jobctl(&r, &p, "submit", "sleep", "{\"ms\":20000}", NULL);
	chomp(r.out);
	snprintf(job, sizeof(job), "%s", r.out);
	usleep(200000);
	run_jobctl(&r, &p, "cancel", job, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, job));
	run_jobctl(&r, &p, "wait", job, NULL);
	ck_assert_int_eq(r.code, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "cancelled"));
	run_jobctl(&r, &p, "status", "0000000000000000", NULL);
	ck_assert_int_eq(r.code, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "not_found"));
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* Reads from the pty until needle shows up (or timeout); returns whether
 * it did. Everything read is appended to buf. */
static bool pty_expect(int fd, char *buf, size_t size, const char *needle,
                       int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t len = strlen(buf);
	ssize_t n;

	while (!strstr(buf, needle)) {
		int64_t left = (int64_t)(end - harness_now_ms());

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (len >= size - 1) {
			/* Keep the tail: the bar redraws a lot. */
			memmove(buf, buf + len / 2, len - len / 2 + 1);
			len -= len / 2;
		}
	}
	return true;
}

/* jobctl call on a terminal: a bar, then Ctrl-C and an answer. */
static pid_t pty_call(const struct jobd_proc *p, int *fd)
{
	char server[64];
	pid_t pid;

	snprintf(server, sizeof(server), "127.0.0.1:%u", p->port);
	pid = forkpty(fd, NULL, NULL, NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(getenv("JOBCTL_BIN"), "jobctl", "-s", server, "call",
		      "sleep", "{\"ms\":20000}", (char *)NULL);
		_exit(127);
	}
	return pid;
}

START_TEST(ctrl_c_on_a_terminal)
{
	static char buf[65536];
	struct jobd_proc p;
	struct run r;
	char *id, job[17];
	int fd, status;
	pid_t pid;

	ck_assert_int_eq(harness_start(&p, NULL), 0);

	/* Detach: the job id is printed and the job goes on. */
	buf[0] = '\0';
	pid = pty_call(&p, &fd);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "%", 5000)); /* the bar */
	ck_assert_int_eq(write(fd, "\x03", 1), 1);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "[c/d]", 5000));
	ck_assert_int_eq(write(fd, "d\n", 2), 2);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "goes on on the server",
	                     5000));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	id = strstr(buf, "jobctl: job ");
	ck_assert_ptr_nonnull(id);
	memcpy(job, id + strlen("jobctl: job "), 16);
	job[16] = '\0';
	close(fd);
	run_jobctl(&r, &p, "status", job, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"running\""));
	run_jobctl(&r, &p, "cancel", job, NULL);
	ck_assert_int_eq(r.code, 0);

	/* Cancel: the call ends cancelled. */
	buf[0] = '\0';
	pid = pty_call(&p, &fd);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "%", 5000));
	ck_assert_int_eq(write(fd, "\x03", 1), 1);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "[c/d]", 5000));
	ck_assert_int_eq(write(fd, "c\n", 2), 2);
	ck_assert(pty_expect(fd, buf, sizeof(buf), "cancelled", 5000));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	close(fd);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jobctl_jobs");
	TCase *tc = tcase_create("jobs");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, detached_commands);
	tcase_add_test(tc, ctrl_c_on_a_terminal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
