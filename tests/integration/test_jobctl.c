/* SPDX-License-Identifier: MIT */
/*
 * jobctl against the real jobd: every subcommand, every exit code, input
 * from an argument, a file and standard input, and malformed input refused
 * before anything is sent. The binary comes from $JOBCTL_BIN.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jobd/client.h>

#include "client_wait.h"
#include "harness.h"

struct run {
	int code; /* exit status, or -1 if it did not exit by itself */
	char out[65536];
	char err[8192];
};

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	unlink(path);
}

/*
 * Runs jobctl with the given arguments (NULL-terminated). server: the
 * JOBD_SERVER to set, or NULL to unset it. in: what standard input holds
 * (a file, so never a terminal); NULL for /dev/null.
 */
static void run_jobctl(struct run *r, const char *server, const char *in, ...)
{
	const char *bin = getenv("JOBCTL_BIN");
	char out_path[] = "/tmp/jobctl-test-out-XXXXXX";
	char err_path[] = "/tmp/jobctl-test-err-XXXXXX";
	char in_path[] = "/tmp/jobctl-test-in-XXXXXX";
	char *argv[32];
	int argc = 0, out_fd, err_fd, in_fd, status;
	uint64_t end;
	va_list ap;
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	argv[argc++] = (char *)"jobctl";
	va_start(ap, in);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);

	out_fd = mkstemp(out_path);
	err_fd = mkstemp(err_path);
	in_fd = mkstemp(in_path);
	ck_assert(out_fd >= 0 && err_fd >= 0 && in_fd >= 0);
	if (in)
		ck_assert_int_eq(write(in_fd, in, strlen(in)),
		                 (ssize_t)strlen(in));
	close(in_fd);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		in_fd = open(in ? in_path : "/dev/null", O_RDONLY);
		dup2(in_fd, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		if (server)
			setenv("JOBD_SERVER", server, 1);
		else
			unsetenv("JOBD_SERVER");
		execv(bin, argv);
		_exit(127);
	}
	close(out_fd);
	close(err_fd);
	r->code = -1;
	end = harness_now_ms() + 60000;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (harness_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		usleep(2000);
	}
	if (status != -1 && WIFEXITED(status))
		r->code = WEXITSTATUS(status);
	unlink(in_path);
	slurp(out_path, r->out, sizeof(r->out));
	slurp(err_path, r->err, sizeof(r->err));
}

/* stderr is exactly one line starting with "jobctl: ". */
static void assert_one_error_line(const struct run *r)
{
	size_t len = strlen(r->err);

	ck_assert_msg(strncmp(r->err, "jobctl: ", 8) == 0, "stderr: %s",
	              r->err);
	ck_assert_msg(len > 0 && r->err[len - 1] == '\n' &&
	                      strchr(r->err, '\n') == r->err + len - 1,
	              "not one line: %s", r->err);
}

static void addr_of(char *buf, size_t size, uint16_t port)
{
	snprintf(buf, size, "127.0.0.1:%u", port);
}

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

static char *write_temp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/jobctl-test-file-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* ---- without a server ------------------------------------------------- */

START_TEST(usage_and_help)
{
	struct run r;

	run_jobctl(&r, NULL, NULL, "--help", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "call PLUGIN [INPUT]"));
	ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
	ck_assert_ptr_nonnull(strstr(r.out, "4  timeout"));
	ck_assert_ptr_nonnull(strstr(r.out, "JOBD_SERVER"));

	run_jobctl(&r, NULL, NULL, "--version", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "jobctl "));

	run_jobctl(&r, NULL, NULL, NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "frobnicate", NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown command \"frobnicate\""));
	run_jobctl(&r, NULL, NULL, "--bogus", "ping", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "--timeout", "soon", "ping", NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_error_line(&r);
	run_jobctl(&r, NULL, NULL, "--retry=x", "ping", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "call", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "call", "echo", "1", "2", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "ping", "extra", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "plugins", "extra", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "stats", "extra", NULL);
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, NULL, NULL, "-s", "::1:7878", "ping", NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "brackets"));
	assert_one_error_line(&r);
}
END_TEST

/* Malformed input is refused before any connection is made: a listener
 * that never accepts sees no connection at all. */
START_TEST(malformed_input_refused)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	char server[32], *path;
	struct pollfd pfd;
	struct run r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	addr_of(server, sizeof(server), ntohs(sa.sin_port));

	run_jobctl(&r, server, NULL, "call", "echo", "{\"a\":", NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "INPUT:1:"));
	ck_assert_ptr_nonnull(strstr(r.err, "invalid JSON"));
	assert_one_error_line(&r);

	path = write_temp("{\n  \"a\": [1, 2,, 3]\n}\n");
	{
		char arg[80];

		snprintf(arg, sizeof(arg), "@%s", path);
		run_jobctl(&r, server, NULL, "call", "echo", arg, NULL);
	}
	ck_assert_int_eq(r.code, 2);
	{
		char want[80];

		snprintf(want, sizeof(want), "%s:2:", path);
		ck_assert_msg(strstr(r.err, want), "stderr: %s", r.err);
	}
	assert_one_error_line(&r);
	unlink(path);

	run_jobctl(&r, server, "[1, 2", "call", "echo", "-", NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "<stdin>:1:"));
	run_jobctl(&r, server, "not json", "call", "echo", NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "<stdin>:1:"));
	run_jobctl(&r, server, NULL, "call", "echo", NULL); /* empty stdin */
	ck_assert_int_eq(r.code, 2);
	run_jobctl(&r, server, NULL, "call", "echo", "@/nonexistent/x.json",
	           NULL);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/x.json"));
	assert_one_error_line(&r);

	pfd.fd = lfd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* nobody ever connected */
	close(lfd);
}
END_TEST

START_TEST(unreachable)
{
	char a[32], b[32], both[80];
	struct run r;

	addr_of(a, sizeof(a), dead_port());
	addr_of(b, sizeof(b), dead_port());
	snprintf(both, sizeof(both), "%s,%s", a, b);
	run_jobctl(&r, NULL, NULL, "-s", both, "call", "echo", "1", NULL);
	ck_assert_int_eq(r.code, 3);
	ck_assert_ptr_nonnull(strstr(r.err, a));
	ck_assert_ptr_nonnull(strstr(r.err, b));
	ck_assert_ptr_nonnull(strstr(r.err, "refused"));
	assert_one_error_line(&r);
	run_jobctl(&r, a, NULL, "ping", NULL); /* from JOBD_SERVER */
	ck_assert_int_eq(r.code, 3);
	ck_assert_ptr_nonnull(strstr(r.err, a));
	run_jobctl(&r, a, NULL, "plugins", NULL);
	ck_assert_int_eq(r.code, 3);
	run_jobctl(&r, a, NULL, "stats", NULL);
	ck_assert_int_eq(r.code, 3);
}
END_TEST

/* ---- with a server ---------------------------------------------------- */

START_TEST(call_inputs)
{
	struct jobd_proc p;
	char server[32], arg[80], *path;
	struct run r;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	addr_of(server, sizeof(server), p.port);

	/* From the argument; compact because stdout is not a terminal. */
	run_jobctl(&r, server, NULL, "call", "echo", "{\"x\": [1, 2]}", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\"x\":[1,2]}\n");
	ck_assert_str_eq(r.err, "");

	run_jobctl(&r, server, NULL, "--pretty", "call", "echo",
	           "{\"x\": [1, 2]}", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\n  \"x\": [\n    1,\n    2\n  ]\n}\n");
	run_jobctl(&r, server, NULL, "-p", "-c", "call", "echo", "[]", NULL);
	ck_assert_str_eq(r.out, "[]\n");

	/* Any JSON value; a negative number after --. */
	run_jobctl(&r, server, NULL, "call", "echo", "\"a\\u0000b\"", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "\"a\\u0000b\"\n");
	run_jobctl(&r, server, NULL, "call", "echo", "--", "-5", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "-5\n");

	/* From a file. */
	path = write_temp("{\"from\": \"file\",\n \"n\": 1}\n");
	snprintf(arg, sizeof(arg), "@%s", path);
	run_jobctl(&r, server, NULL, "call", "echo", arg, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\"from\":\"file\",\"n\":1}\n");
	unlink(path);

	/* From standard input: "-", and the default when it is no tty. */
	run_jobctl(&r, server, "{\"from\":\"stdin\"}", "call", "echo", "-",
	           NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\"from\":\"stdin\"}\n");
	run_jobctl(&r, server, "[true, null]\n", "call", "echo", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "[true,null]\n");

	/* Options after the command, and a real plugin. */
	run_jobctl(&r, server, NULL, "call", "sleep", "{\"ms\": 20}",
	           "--timeout", "20s", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "{\"slept_ms\":20}\n");
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(exit_codes)
{
	struct jobd_proc p;
	char server[32], dead[32], list[80];
	struct run r;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	addr_of(server, sizeof(server), p.port);
	addr_of(dead, sizeof(dead), dead_port());

	/* 1: the server says no, in one readable line. */
	run_jobctl(&r, server, NULL, "call", "nbdy", "{}", NULL);
	ck_assert_int_eq(r.code, 1);
	ck_assert_str_eq(r.out, "");
	assert_one_error_line(&r);
	ck_assert_msg(strncmp(r.err,
	                      "jobctl: plugin \"nbdy\" not found "
	                      "(available: ",
	                      43) == 0,
	              "stderr: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "echo"));
	ck_assert_ptr_nonnull(strstr(r.err, "sleep"));

	run_jobctl(&r, server, NULL, "call", "sleep", "\"long\"", NULL);
	ck_assert_int_eq(r.code, 1);
	assert_one_error_line(&r);
	ck_assert_ptr_nonnull(strstr(r.err, "sleep: bad_request: "));

	/* 4: timeout (the deadline is sent to the server as well). */
	run_jobctl(&r, server, NULL, "--timeout", "300ms", "call", "sleep",
	           "{\"ms\": 10000}", NULL);
	ck_assert_int_eq(r.code, 4);
	assert_one_error_line(&r);

	/* 3 and failover: the dead server first, then the live one. */
	snprintf(list, sizeof(list), "%s,%s", dead, server);
	run_jobctl(&r, NULL, NULL, "-s", list, "call", "echo", "7", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "7\n");
	run_jobctl(&r, NULL, NULL, "-s", dead, "call", "echo", "7", NULL);
	ck_assert_int_eq(r.code, 3);

	/* -s overrides JOBD_SERVER. */
	run_jobctl(&r, dead, NULL, "-s", server, "ping", NULL);
	ck_assert_int_eq(r.code, 0);
	run_jobctl(&r, server, NULL, "-s", dead, "ping", NULL);
	ck_assert_int_eq(r.code, 3);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

START_TEST(server_commands)
{
	struct jobd_proc p;
	char server[32], want[64];
	json_t *stats;
	struct run r;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	addr_of(server, sizeof(server), p.port);

	run_jobctl(&r, server, NULL, "ping", NULL);
	ck_assert_int_eq(r.code, 0);
	snprintf(want, sizeof(want), "pong from %s (jobd ", server);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "out: %s",
	              r.out);

	run_jobctl(&r, server, NULL, "call", "echo", "1", NULL);
	ck_assert_int_eq(r.code, 0);
	run_jobctl(&r, server, NULL, "plugins", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_msg(strncmp(r.out,
	                      "NAME       VERSION  WORKERS  QUEUED  RUNNING"
	                      "  DONE  FAILED\n",
	                      10) == 0,
	              "out: %s", r.out);
	ck_assert_ptr_nonnull(
	        strstr(r.out, "RUNNING  DONE  FAILED  ISOLATION  RESTARTS"
	                      "  QUARANTINED_MS\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "\necho "));
	ck_assert_ptr_nonnull(strstr(r.out, "\nsleep "));

	run_jobctl(&r, server, NULL, "stats", NULL);
	ck_assert_int_eq(r.code, 0);
	stats = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(stats);
	ck_assert_ptr_null(json_object_get(stats, "type"));
	ck_assert_int_ge(
	        json_integer_value(json_object_get(
	                json_object_get(json_object_get(stats, "plugins"),
	                                "echo"),
	                "done")),
	        1);
	json_decref(stats);
	run_jobctl(&r, server, NULL, "stats", "--pretty", NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\n  \"plugins\": {\n"));
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

/* --retry on `busy`: without it exit 1; with a short timeout exit 4; with
 * room to wait, success once the queue drains. */
START_TEST(retry_busy)
{
	struct harness_opts o = {
	        .yaml = "plugins:\n  sleep:\n    workers: 1\n"
	                "    queue_bound: 1\n",
	};
	struct jobd_proc p;
	struct jobd_client *c;
	json_t *in = json_loads("{\"ms\": 2000}", 0, NULL);
	char server[32];
	uint64_t id;
	struct run r;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	addr_of(server, sizeof(server), p.port);
	/* One running (wait until the worker has it), one queued: the queue
	 * is full for ~4 s. */
	c = jobd_client_new();
	ck_assert_int_eq(jobd_client_set_servers(c, server), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
	                 JOBD_CLIENT_OK);
	wait_stat(c, "sleep", "running", 1);
	ck_assert_int_eq(jobd_client_submit(c, "sleep", in, 0, &id),
	                 JOBD_CLIENT_OK);
	wait_stat(c, "sleep", "queued", 1);

	run_jobctl(&r, server, NULL, "call", "sleep", "0", NULL);
	ck_assert_int_eq(r.code, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "busy"));
	assert_one_error_line(&r);

	run_jobctl(&r, server, NULL, "--retry", "--timeout", "300ms", "call",
	           "sleep", "0", NULL);
	ck_assert_int_eq(r.code, 4);
	assert_one_error_line(&r);

	run_jobctl(&r, server, NULL, "--retry=10", "--timeout", "30s", "call",
	           "sleep", "0", NULL);
	ck_assert_msg(r.code == 0, "code %d, stderr: %s", r.code, r.err);
	ck_assert_str_eq(r.out, "{\"slept_ms\":0}\n");

	json_decref(in);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
}
END_TEST

static Suite *jobctl_suite(void)
{
	Suite *s = suite_create("jobctl");
	TCase *tc = tcase_create("jobctl");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, usage_and_help);
	tcase_add_test(tc, malformed_input_refused);
	tcase_add_test(tc, unreachable);
	tcase_add_test(tc, call_inputs);
	tcase_add_test(tc, exit_codes);
	tcase_add_test(tc, server_commands);
	tcase_add_test(tc, retry_busy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jobctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
