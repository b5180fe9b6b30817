/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients and misbehaving plugins against the real daemon, over
 * real sockets: whatever arrives, jobd answers it with its documented code,
 * keeps serving everyone else, and its memory and file descriptors stay
 * flat. Memory is jobd's VmRSS, descriptors the entries of /proc/PID/fd,
 * CPU its utime + stime: all read from /proc.
 *
 * Under an instrumented jobd (ASan, TSan or valgrind: found in its memory
 * map) memory is reported but not judged, since the tool's own bookkeeping
 * (ASan's quarantine) grows with every free. Under valgrind
 * (JOBD_TEST_VALGRIND) the floods are skipped: 20x slower, they would
 * measure valgrind.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct jobd_proc proc;
static int conn = -1;

/* --- /proc readers -------------------------------------------------------- */

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int proc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* utime + stime in clock ticks. */
static long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold spaces */
	if (!p || sscanf(p + 2,
	                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	                 "%lu %lu",
	                 &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* True when jobd runs under ASan, TSan or valgrind. */
static bool jobd_instrumented(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	if (getenv("JOBD_TEST_VALGRIND"))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libasan") || strstr(line, "libtsan") ||
		        strstr(line, "vgpreload");
	fclose(f);
	return found;
}

static bool under_valgrind(void)
{
	return getenv("JOBD_TEST_VALGRIND") != NULL;
}

/* Lets this test (and the jobd it forks) hold `want` descriptors. */
static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
}

static rlim_t nofile_limit(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

/* --- helpers ------------------------------------------------------------- */

static const char *type_of(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "type"));

	return t ? t : "";
}

static void start_opts(const char *yaml, const struct harness_opts *base)
{
	struct harness_opts o = {0};

	if (base)
		o = *base;
	o.yaml = yaml;
	ck_assert_int_eq(harness_start(&proc, &o), 0);
	conn = harness_connect(&proc);
	ck_assert_int_ge(conn, 0);
}

static void start(const char *yaml)
{
	start_opts(yaml, NULL);
}

static void stop(void)
{
	int st;

	if (conn >= 0)
		close(conn);
	conn = -1;
	st = harness_stop(&proc, 0, under_valgrind() ? 60000 : 15000);
	ck_assert_msg(st == 0, "jobd exit status %d", st);
}

/* Sends len bytes as one frame (the body may hold anything, NUL too). */
static int send_frame(int fd, const void *body, size_t len)
{
	uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	                  (uint8_t)(len >> 8), (uint8_t)len};

	if (harness_send_raw(fd, hdr, 4) < 0)
		return -1;
	return harness_send_raw(fd, body, len);
}

/* The connection answers a ping promptly: it survived what came before. */
static void assert_alive_within(int fd, int ms)
{
	uint64_t t0 = harness_now_ms();
	json_t *m;

	ck_assert_int_eq(
	        harness_send_text(fd, "{\"type\":\"ping\",\"id\":424242}"), 0);
	m = harness_recv_answer(fd, ms);
	ck_assert_msg(m != NULL, "no pong within %d ms", ms);
	ck_assert_str_eq(type_of(m), "pong");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 424242);
	json_decref(m);
	ck_assert_int_le(harness_now_ms() - t0, (uint64_t)ms);
}

static void assert_alive(int fd)
{
	assert_alive_within(fd, under_valgrind() ? 30000 : 5000);
}

/* A new client is served at once (the test's main promise under load). */
static void assert_new_client_prompt(int ms)
{
	int fd = harness_connect(&proc);
	json_t *m;
	uint64_t t0 = harness_now_ms();

	ck_assert_int_ge(fd, 0);
	m = harness_call(fd, 1, "echo", "{\"prompt\":true}", ms);
	ck_assert_msg(m != NULL, "a new client was not answered in %d ms", ms);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	ck_assert_int_le(harness_now_ms() - t0, (uint64_t)ms);
	close(fd);
}

static json_t *expect_error_bytes(int fd, const void *body, size_t len,
                                  const char *code, long long id)
{
	json_t *m;

	ck_assert_int_eq(send_frame(fd, body, len), 0);
	m = harness_recv_answer(fd, under_valgrind() ? 30000 : 10000);
	ck_assert_msg(m != NULL, "no answer to %.*s",
	              (int)(len > 80 ? 80 : len), (const char *)body);
	ck_assert_msg(!strcmp(harness_error_code(m), code),
	              "%.*s: want %s, got %s", (int)(len > 80 ? 80 : len),
	              (const char *)body, code, json_dumps(m, JSON_COMPACT));
	if (id >= 0)
		ck_assert_int_eq(json_integer_value(json_object_get(m, "id")),
		                 id);
	else
		ck_assert_ptr_null(json_object_get(m, "id"));
	ck_assert(json_is_string(json_object_get(m, "message")));
	return m;
}

static void expect_error(int fd, const char *text, const char *code,
                         long long id)
{
	json_decref(expect_error_bytes(fd, text, strlen(text), code, id));
}

/* The stats answer's connections.current, over fd. */
static long long stats_connections(int fd)
{
	json_t *m;
	long long n;

	if (harness_send_text(fd, "{\"type\":\"stats\",\"id\":777}") < 0)
		return -1;
	m = harness_recv_answer(fd, 10000);
	if (!m)
		return -1;
	n = json_integer_value(
	        json_object_get(json_object_get(m, "connections"), "current"));
	json_decref(m);
	return n;
}

/* Waits until jobd counts `want` connections (or the deadline passes). */
static long long wait_connections(int fd, long long want, int ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)ms;
	long long n;

	for (;;) {
		n = stats_connections(fd);
		if (n == want || harness_now_ms() > end)
			return n;
		usleep(50 * 1000);
	}
}

/* Waits until jobd holds `want` descriptors; returns the last count. */
static int wait_fds(int want, int ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)ms;
	int n;

	for (;;) {
		n = proc_fd_count(proc.pid);
		if (n == want || harness_now_ms() > end)
			return n;
		usleep(50 * 1000);
	}
}

static int connect_nonblock(void)
{
	int fd = harness_connect(&proc);

	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Closes with a reset instead of a FIN: the abrupt kind of going away. */
static void close_reset(int fd)
{
	struct linger lg = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* For each fd: waits until its first frame is an error `code` and then the
 * peer closes. Returns how many did so before the deadline. */
static int count_closed_with(const int *fds, int n, const char *code, int ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)ms;
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	char *got = calloc((size_t)n, 1);
	char buf[512];
	int i, done = 0, ok = 0, left;
	ssize_t r;

	ck_assert(pfd && got);
	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	while (done < n) {
		left = (int)((int64_t)(end - harness_now_ms()));
		if (left <= 0 || poll(pfd, (nfds_t)n, left) <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			r = recv(pfd[i].fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (r > 0) {
				buf[r] = '\0';
				/* The error frame is small: one read has it. */
				if (r > 4 && strstr(buf + 4, code))
					got[i] = 1;
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got[i])
				ok++;
			pfd[i].fd = -1; /* EOF or reset */
			done++;
		}
	}
	free(pfd);
	free(got);
	return ok;
}

/* --- framing: absurd lengths --------------------------------------------- */

/* 2^32-1 and max+1: an error frame and a close, from the header alone; a
 * body sent after it is never buffered, so memory does not move. */
START_TEST(huge_length_prefixes)
{
	static const uint8_t all_ones[4] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t over[4] = {0x01, 0x00, 0x00, 0x01}; /* 16MiB+1 */
	static char junk[64 * 1024];
	int rounds = under_valgrind() ? 10 : 200, i, fd;
	long rss0, rss1;
	json_t *m;

	start(NULL); /* default max_frame_size: 16 MiB */
	assert_alive(conn);
	memset(junk, 'x', sizeof(junk));
	rss0 = proc_rss_kb(proc.pid);
	for (i = 0; i < rounds; i++) {
		fd = harness_connect(&proc);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(
		        harness_send_raw(fd, i % 2 ? over : all_ones, 4), 0);
		/* The body that would follow; jobd may have closed already. */
		send(fd, junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT);
		m = harness_recv(fd, 10000);
		ck_assert_msg(m != NULL, "no error frame for a huge length");
		/* The top bit set is an array frame's prefix (protocol
		 * §12.1), a framing error before hello version 2. */
		ck_assert_str_eq(harness_error_code(m),
		                 i % 2 ? "too_large" : "bad_frame");
		ck_assert_ptr_null(json_object_get(m, "id"));
		ck_assert_ptr_nonnull(
		        strstr(json_string_value(json_object_get(m, "message")),
		               i % 2 ? "16777217" : "before hello version 2"));
		json_decref(m);
		ck_assert(harness_wait_closed(fd, 10000));
		close(fd);
	}
	rss1 = proc_rss_kb(proc.pid);
	fprintf(stderr, "huge_length_prefixes: %d refused, RSS %ld -> %ld kB\n",
	        rounds, rss0, rss1);
	if (!jobd_instrumented(proc.pid))
		ck_assert_int_lt(rss1 - rss0, 4096);
	assert_alive(conn);
	stop();
}
END_TEST

/* --- bad messages: each its code, the connection goes on ----------------- */

START_TEST(bad_messages_keep_the_connection)
{
	static const char nul_body[] = "{\"type\":\"ping\",\"id\":1}\0";
	static const char nul_mid[] = "{\"type\":\"pi\0ng\",\"id\":2}";
	static const char bad_utf8[] = "{\"type\":\"call\",\"id\":3,\"plugin\":"
	                               "\"echo\",\"input\":\"\xc0\xaf\"}";
	static const char surrogate[] =
	        "{\"type\":\"call\",\"id\":3,\"plugin\":"
	        "\"echo\",\"input\":\"\xed\xa0\x80\"}";
	static const char bad_type_utf8[] = "{\"type\":\"\xff\xfe\",\"id\":4}";
	char *deep;
	size_t depth = 100000, i, n;
	json_t *m;

	start(NULL);
	/* Deeply nested JSON, as the whole body and as a call's input. */
	deep = malloc(2 * depth + 100);
	ck_assert_ptr_nonnull(deep);
	for (i = 0; i < depth; i++)
		deep[i] = '[';
	for (i = 0; i < depth; i++)
		deep[depth + i] = ']';
	json_decref(expect_error_bytes(conn, deep, 2 * depth, "bad_json", -1));
	n = (size_t)sprintf(deep, "{\"type\":\"call\",\"id\":11,\"plugin\":"
	                          "\"echo\",\"input\":");
	for (i = 0; i < 5000; i++)
		deep[n++] = '[';
	for (i = 0; i < 5000; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	json_decref(expect_error_bytes(conn, deep, n, "bad_json", -1));
	free(deep);
	assert_alive(conn);

	/* Invalid UTF-8 and raw NUL bytes. */
	json_decref(expect_error_bytes(conn, bad_utf8, sizeof(bad_utf8) - 1,
	                               "bad_json", -1));
	json_decref(expect_error_bytes(conn, surrogate, sizeof(surrogate) - 1,
	                               "bad_json", -1));
	json_decref(expect_error_bytes(conn, bad_type_utf8,
	                               sizeof(bad_type_utf8) - 1, "bad_json",
	                               -1));
	json_decref(expect_error_bytes(conn, nul_body, sizeof(nul_body) - 1,
	                               "bad_json", -1));
	json_decref(expect_error_bytes(conn, nul_mid, sizeof(nul_mid) - 1,
	                               "bad_json", -1));
	json_decref(expect_error_bytes(conn, "\0", 1, "bad_json", -1));
	/* \u0000 inside a string is valid and carried exactly. */
	m = harness_call(conn, 12, "echo", "\"a\\u0000b\"", 10000);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_string_length(json_object_get(m, "output")), 3);
	json_decref(m);
	assert_alive(conn);

	/* Valid JSON that is not an object. */
	expect_error(conn, "[]", "bad_request", -1);
	expect_error(conn, "42", "bad_request", -1);
	expect_error(conn, "\"call\"", "bad_request", -1);
	expect_error(conn, "null", "bad_request", -1);
	expect_error(conn, " ", "bad_json", -1);

	/* Missing and wrongly typed fields, each named. */
	expect_error(conn, "{}", "bad_request", -1);
	expect_error(conn, "{\"id\":1}", "bad_request", 1);
	expect_error(conn, "{\"type\":null,\"id\":2}", "bad_request", 2);
	expect_error(conn, "{\"type\":[\"call\"],\"id\":2}", "bad_request", 2);
	expect_error(conn, "{\"type\":\"CALL\",\"id\":2}", "unknown_type", 2);
	expect_error(conn, "{\"type\":\"pong\",\"id\":2}", "unknown_type", 2);
	expect_error(conn,
	             "{\"type\":\"call\",\"plugin\":\"echo\",\"input\":1}",
	             "bad_request", -1);
	expect_error(conn, "{\"type\":\"call\",\"id\":3,\"input\":1}",
	             "bad_request", 3);
	expect_error(conn, "{\"type\":\"call\",\"id\":3,\"plugin\":\"echo\"}",
	             "bad_request", 3);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":3,\"plugin\":null,\"input\":1}",
	             "bad_request", 3);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":3,\"plugin\":\"../echo\","
	             "\"input\":1}",
	             "bad_request", 3);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":3,\"plugin\":\"echo\","
	             "\"input\":1,\"timeout_ms\":\"5\"}",
	             "bad_request", 3);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":3,\"plugin\":\"echo\","
	             "\"input\":1,\"timeout_ms\":0}",
	             "bad_request", 3);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":3,\"plugin\":\"echo\","
	             "\"input\":1,\"detach\":\"yes\"}",
	             "bad_request", 3);
	expect_error(conn, "{\"type\":\"hello\",\"version\":\"1\"}",
	             "bad_request", -1);
	expect_error(conn, "{\"type\":\"hello\",\"version\":-5,\"id\":9}",
	             "unsupported_version", 9);
	expect_error(conn, "{\"type\":\"cancel\"}", "bad_request", -1);
	expect_error(conn, "{\"type\":\"cancel\",\"id\":true}", "bad_request",
	             -1);

	/* Ids: the largest exact one works; past it, and any non-integer,
	 * is refused without an id; past int64 the parser refuses it. */
	m = harness_call(conn, 9007199254740991LL, "echo", "1", 10000);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert(json_integer_value(json_object_get(m, "id")) ==
	          9007199254740991LL);
	json_decref(m);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":9007199254740992,\"plugin\":"
	             "\"echo\",\"input\":1}",
	             "bad_request", -1);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":-1,\"plugin\":\"echo\","
	             "\"input\":1}",
	             "bad_request", -1);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":1.0,\"plugin\":\"echo\","
	             "\"input\":1}",
	             "bad_request", -1);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":1e300,\"plugin\":\"echo\","
	             "\"input\":1}",
	             "bad_request", -1);
	expect_error(conn,
	             "{\"type\":\"call\",\"id\":123456789012345678901234567890,"
	             "\"plugin\":\"echo\",\"input\":1}",
	             "bad_json", -1);
	expect_error(conn, "{\"type\":\"ping\",\"id\":\"7\"}", "bad_request",
	             -1);
	/* A huge timeout is "no deadline worth the name", not an instant
	 * one: the nanosecond deadline must not wrap around. */
	ck_assert_int_eq(
	        harness_send_text(conn,
	                          "{\"type\":\"call\",\"id\":13,\"plugin\":"
	                          "\"echo\",\"input\":\"late\","
	                          "\"timeout_ms\":9223372036854775807}"),
	        0);
	m = harness_recv_answer(conn, 10000);
	ck_assert_msg(m && !strcmp(type_of(m), "result"), "huge timeout_ms: %s",
	              m ? json_dumps(m, JSON_COMPACT) : "no answer");
	json_decref(m);
	ck_assert_int_eq(
	        harness_send_text(conn,
	                          "{\"type\":\"call\",\"id\":14,\"plugin\":"
	                          "\"echo\",\"input\":\"later\","
	                          "\"timeout_ms\":18446744073710}"),
	        0);
	m = harness_recv_answer(conn, 10000);
	ck_assert_msg(m && !strcmp(type_of(m), "result"),
	              "timeout_ms past 2^64 ns: %s",
	              m ? json_dumps(m, JSON_COMPACT) : "no answer");
	json_decref(m);
	assert_alive(conn);
	stop();
}
END_TEST

/* An id reused while the first call is in flight: duplicate_id for the
 * second; the first still gets its own answer, and then the id is free. */
START_TEST(id_reused_in_flight)
{
	json_t *m;
	int results = 0, dups = 0, i;

	start("plugins:\n  sleep:\n    workers: 2\n");
	ck_assert_int_eq(harness_send_text(conn, "{\"type\":\"call\",\"id\":5,"
	                                         "\"plugin\":\"sleep\","
	                                         "\"input\":{\"ms\":700}}"),
	                 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		        harness_send_text(
		                conn, "{\"type\":\"call\",\"id\":5,\"plugin\":"
		                      "\"echo\",\"input\":\"again\"}"),
		        0);
	for (i = 0; i < 4; i++) {
		m = harness_recv_answer(conn, 10000);
		ck_assert_ptr_nonnull(m);
		ck_assert_int_eq(json_integer_value(json_object_get(m, "id")),
		                 5);
		if (!strcmp(type_of(m), "result"))
			results++;
		else if (!strcmp(harness_error_code(m), "duplicate_id"))
			dups++;
		json_decref(m);
	}
	ck_assert_int_eq(dups, 3);
	ck_assert_int_eq(results, 1);
	m = harness_call(conn, 5, "echo", "\"free again\"", 10000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	stop();
}
END_TEST

/* --- JSONTestSuite: every file as a call's input ------------------------- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

START_TEST(json_test_suite_through_echo)
{
	const char *td = getenv("JOBD_TESTDATA");
	static const char pre[] = "{\"type\":\"call\",\"id\":%d,\"plugin\":"
	                          "\"echo\",\"input\":";
	char dir[512], path[1024], head[100];
	struct dirent *e;
	DIR *d;
	int id = 0, y = 0, y_limit = 0, n = 0, i_ok = 0, i_err = 0;
	json_t *m, *want;

	ck_assert_ptr_nonnull(td);
	snprintf(dir, sizeof(dir), "%s/JSONTestSuite/test_parsing", td);
	start(NULL);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char kind = e->d_name[0], *file, *body;
		size_t len, hl;

		if ((kind != 'y' && kind != 'n' && kind != 'i') ||
		    e->d_name[1] != '_')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		file = read_file(path, &len);
		ck_assert_ptr_nonnull(file);
		hl = (size_t)snprintf(head, sizeof(head), pre, ++id);
		body = malloc(hl + len + 1);
		ck_assert_ptr_nonnull(body);
		memcpy(body, head, hl);
		memcpy(body + hl, file, len);
		body[hl + len] = '}';
		ck_assert_int_eq(send_frame(conn, body, hl + len + 1), 0);
		m = harness_recv_answer(conn, under_valgrind() ? 60000 : 10000);
		ck_assert_msg(m != NULL, "%s: no answer", e->d_name);
		if (kind == 'y') {
			want = json_loadb(file, len,
			                  JSON_DECODE_ANY | JSON_ALLOW_NUL,
			                  NULL);
			if (!want) {
				/* A documented limit of the parser
				 * (docs/protocol.md: \u0000 in a key). */
				ck_assert_msg(!strcmp(harness_error_code(m),
				                      "bad_json"),
				              "%s: %s", e->d_name,
				              json_dumps(m, JSON_COMPACT));
				y_limit++;
			} else {
				ck_assert_msg(
				        !strcmp(type_of(m), "result") &&
				                json_integer_value(
				                        json_object_get(
				                                m, "id")) ==
				                        id &&
				                json_equal(json_object_get(
				                                   m, "output"),
				                           want),
				        "%s: not echoed intact: %s", e->d_name,
				        json_dumps(m, JSON_COMPACT));
				json_decref(want);
				y++;
			}
		} else if (kind == 'n') {
			ck_assert_msg(!strcmp(type_of(m), "error") &&
			                      (!strcmp(harness_error_code(m),
			                               "bad_json") ||
			                       !strcmp(harness_error_code(m),
			                               "bad_request")),
			              "%s: not refused: %s", e->d_name,
			              json_dumps(m, JSON_COMPACT));
			n++;
		} else {
			if (!strcmp(type_of(m), "result"))
				i_ok++;
			else
				i_err++;
		}
		json_decref(m);
		free(body);
		free(file);
		if (id % 50 == 0)
			assert_alive(conn);
	}
	closedir(d);
	fprintf(stderr,
	        "JSONTestSuite: %d y_ echoed (%d past a parser limit), %d n_ "
	        "refused, i_: %d accepted, "
	        "%d refused\n",
	        y, y_limit, n, i_ok, i_err);
	ck_assert_int_gt(y, 90);
	ck_assert_int_le(y_limit, 1);
	ck_assert_int_gt(n, 150);
	assert_alive(conn);
	stop();
}
END_TEST

/* --- slow and idle clients ----------------------------------------------- */

/* One byte every 0.5 s never lets the idle timer (2 s) fire, but the frame
 * deadline (1 s from the first byte) does; the others are served. */
START_TEST(slow_trickle_closed_at_frame_deadline)
{
	enum { N = 40 };
	static const char frame[] = "\0\0\0\x40{\"type\":\"ping\"";
	int fds[N], i, step, closed[N] = {0}, n_closed = 0;
	uint64_t t0, t_closed[N];
	char buf[256];

	start("limits:\n  idle_timeout: 2s\n  frame_timeout: 1s\n");
	for (i = 0; i < N; i++) {
		fds[i] = connect_nonblock();
		ck_assert_int_ge(fds[i], 0);
	}
	t0 = harness_now_ms();
	for (step = 0; step < (int)sizeof(frame) - 1 && n_closed < N; step++) {
		for (i = 0; i < N; i++) {
			ssize_t r;

			if (closed[i])
				continue;
			send(fds[i], frame + step, 1,
			     MSG_NOSIGNAL | MSG_DONTWAIT);
			while ((r = recv(fds[i], buf, sizeof(buf),
			                 MSG_DONTWAIT)) > 0)
				;
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				closed[i] = 1;
				t_closed[i] = harness_now_ms() - t0;
				n_closed++;
			}
		}
		/* Meanwhile, a new client is answered at once. */
		if (step == 1)
			assert_new_client_prompt(2000);
		usleep(500 * 1000);
	}
	for (i = 0; i < N; i++) {
		if (!closed[i]) {
			ck_assert_msg(
			        harness_wait_closed(fds[i], 5000),
			        "trickler %d still open after %llu ms", i,
			        (unsigned long long)(harness_now_ms() - t0));
			t_closed[i] = harness_now_ms() - t0;
		}
		/* Deadline 1 s, 0.5 s polling, wide margin for a busy box;
		 * the frame itself would need 10 s to arrive. */
		ck_assert_msg(t_closed[i] >= 900 && t_closed[i] < 6000,
		              "trickler %d closed after %llu ms", i,
		              (unsigned long long)t_closed[i]);
		close(fds[i]);
	}
	assert_new_client_prompt(2000);
	stop();
}
END_TEST

/* Thousands of connections that never send: each costs little memory,
 * new clients are served meanwhile, and all go at the idle timeout. */
START_TEST(idle_flood)
{
	int n = 3000, i, *fds, ctl, ok;
	long rss0, rss1;
	long long cur;
	uint64_t t0;
	char yaml[128];

	if (under_valgrind())
		n = 100;
	raise_nofile((rlim_t)n + 200);
	if (nofile_limit() < (rlim_t)n + 200)
		n = (int)nofile_limit() - 200;
	snprintf(yaml, sizeof(yaml), "limits:\n  idle_timeout: %ds\n",
	         under_valgrind() ? 30 : 6);
	start(yaml);
	ctl = conn;
	/* Warm up: the allocator's arenas and the loop's tables exist. */
	assert_new_client_prompt(2000);
	assert_alive(ctl);
	rss0 = proc_rss_kb(proc.pid);
	fds = calloc((size_t)n, sizeof(*fds));
	ck_assert_ptr_nonnull(fds);
	t0 = harness_now_ms();
	for (i = 0; i < n; i++) {
		fds[i] = connect_nonblock();
		ck_assert_msg(fds[i] >= 0, "connect %d: %s", i,
		              strerror(errno));
		if (i == n / 2)
			assert_new_client_prompt(2000);
	}
	cur = wait_connections(ctl, n + 1, 10000);
	ck_assert_int_eq(cur, n + 1);
	rss1 = proc_rss_kb(proc.pid);
	fprintf(stderr,
	        "idle_flood: %d idle connections in %llu ms; RSS %ld -> %ld "
	        "kB: %.2f KiB per connection\n",
	        n, (unsigned long long)(harness_now_ms() - t0), rss0, rss1,
	        (double)(rss1 - rss0) / n);
	if (!jobd_instrumented(proc.pid))
		ck_assert_msg((rss1 - rss0) * 1024 / n < 16 * 1024,
		              "%ld bytes per idle connection",
		              (rss1 - rss0) * 1024 / n);
	assert_new_client_prompt(2000);
	/* They all go at the idle timeout, told why. */
	ok = count_closed_with(fds, n, "idle_timeout",
	                       under_valgrind() ? 120000 : 30000);
	ck_assert_int_eq(ok, n);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	conn = harness_connect(&proc); /* ctl idled out too */
	ck_assert_int_eq(wait_connections(conn, 1, 10000), 1);
	stop();
}
END_TEST

/* A client that sends and never reads is stopped at the output cap (it is
 * no longer read from, then let go); jobd's memory stays near the cap and
 * every other client is served meanwhile. */
START_TEST(greedy_client_stopped_at_output_cap)
{
	enum { INPUT = 8192 };
	char *call;
	int greedy, small = 4096, sent = 0;
	long rss0, rss_peak = 0, rss;
	uint64_t t0, last_progress;
	size_t len, off = 0;
	char hdr[4];

	start("limits:\n  max_output_buffer: 1MiB\n  idle_timeout: 3s\n");
	assert_alive(conn);
	rss0 = proc_rss_kb(proc.pid);
	greedy = harness_connect(&proc);
	ck_assert_int_ge(greedy, 0);
	setsockopt(greedy, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fcntl(greedy, F_SETFL, fcntl(greedy, F_GETFL) | O_NONBLOCK);
	call = malloc(INPUT + 200);
	ck_assert_ptr_nonnull(call);
	t0 = last_progress = harness_now_ms();
	/* Send until jobd stops reading for a whole second (or 8 s pass). */
	while (harness_now_ms() - last_progress < 1000 &&
	       harness_now_ms() - t0 < 8000) {
		ssize_t w;

		if (off == 0) {
			len = (size_t)snprintf(call + 4, INPUT + 196,
			                       "{\"type\":\"call\",\"id\":%d,"
			                       "\"plugin\":\"echo\","
			                       "\"input\":\"%0*d\"}",
			                       sent, INPUT, 0);
			hdr[0] = (char)(len >> 24);
			hdr[1] = (char)(len >> 16);
			hdr[2] = (char)(len >> 8);
			hdr[3] = (char)len;
			memcpy(call, hdr, 4);
			len += 4;
		}
		w = send(greedy, call + off, len - off,
		         MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			off += (size_t)w;
			last_progress = harness_now_ms();
			if (off == len) {
				off = 0;
				sent++;
			}
		} else if (w < 0 && errno != EAGAIN) {
			break; /* already let go */
		} else {
			usleep(5000);
		}
		if (sent % 64 == 0 && off == 0) {
			rss = proc_rss_kb(proc.pid);
			if (rss > rss_peak)
				rss_peak = rss;
		}
		/* Every 200 calls: conn is served meanwhile, and a loop that
		 * outlasts idle_timeout (slower in worker processes) does not
		 * let conn idle out. */
		if (sent % 200 == 0 && sent && off == 0)
			assert_alive_within(conn, 2000);
	}
	free(call);
	fprintf(stderr,
	        "greedy: %d calls of %d bytes sent before jobd stopped "
	        "reading; RSS %ld -> peak %ld kB\n",
	        sent, INPUT, rss0, rss_peak);
	ck_assert_int_gt(sent, 100);
	/* Others are unaffected, now and while it sits there. */
	assert_alive_within(conn, 2000);
	assert_new_client_prompt(2000);
	if (!jobd_instrumented(proc.pid))
		ck_assert_msg(rss_peak - rss0 < 32 * 1024,
		              "RSS grew by %ld kB for a 1 MiB output cap",
		              rss_peak - rss0);
	/* It is let go: at twice the cap, or at the idle timeout once its
	 * calls are answered and nothing more is read from it. */
	ck_assert_int_eq(wait_connections(conn, 1, 20000), 1);
	ck_assert(harness_wait_closed(greedy, 10000));
	close(greedy);
	assert_alive_within(conn, 2000);
	stop();
}
END_TEST

/* --- connection limits --------------------------------------------------- */

START_TEST(beyond_max_connections)
{
	enum { MAX = 20, EXTRA = 30 };
	int held[MAX], extra[EXTRA], i, ok;
	long cpu0, cpu1;

	start("limits:\n  max_connections: 20\n");
	held[0] = conn;
	for (i = 1; i < MAX; i++) {
		held[i] = harness_connect(&proc);
		ck_assert_int_ge(held[i], 0);
	}
	assert_alive(held[MAX - 1]);
	cpu0 = proc_cpu_ticks(proc.pid);
	for (i = 0; i < EXTRA; i++) {
		extra[i] = connect_nonblock();
		ck_assert_int_ge(extra[i], 0);
	}
	ok = count_closed_with(extra, EXTRA, "too_many_connections", 10000);
	ck_assert_int_eq(ok, EXTRA);
	for (i = 0; i < EXTRA; i++)
		close(extra[i]);
	usleep(1000 * 1000);
	cpu1 = proc_cpu_ticks(proc.pid);
	fprintf(stderr, "max_connections: %d refused; jobd CPU %ld ticks\n",
	        EXTRA, cpu1 - cpu0);
	if (!jobd_instrumented(proc.pid))
		ck_assert_int_lt(cpu1 - cpu0, 50);
	for (i = 0; i < MAX; i++)
		assert_alive(held[i]);
	/* Room frees: accepting resumes. */
	close(held[3]);
	close(held[4]);
	held[3] = held[4] = -1;
	ck_assert_int_eq(wait_connections(held[0], MAX - 2, 5000), MAX - 2);
	assert_new_client_prompt(2000);
	for (i = 1; i < MAX; i++)
		if (held[i] >= 0)
			close(held[i]);
	stop();
}
END_TEST

/* Out of file descriptors (a low RLIMIT_NOFILE put on the running jobd):
 * clients that cannot be served are told too_many_connections and closed,
 * the loop does not spin while they wait, and accepting resumes once a
 * connection closes. */
START_TEST(beyond_file_limit)
{
	enum { ROOM = 6, WAITERS = 20 };
	struct rlimit rl;
	int held[ROOM + 8], waiters[WAITERS], n_held = 0, base, i, ok;
	long cpu0, cpu1;
	uint64_t t0, waited;
	json_t *m;

	start("limits:\n  max_connections: 1000\n");
	assert_alive(conn);
	base = proc_fd_count(proc.pid);
	ck_assert_int_gt(base, 3);
	/* Room for ROOM more connections. */
	rl.rlim_cur = rl.rlim_max = (rlim_t)base + ROOM;
	ck_assert_int_eq(prlimit(proc.pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (i = 0; i < ROOM + 8; i++) {
		held[n_held] = harness_connect(&proc);
		ck_assert_int_ge(held[n_held], 0);
		ck_assert_int_eq(
		        harness_send_text(held[n_held],
		                          "{\"type\":\"ping\",\"id\":1}"),
		        0);
		m = harness_recv(held[n_held], 5000);
		ck_assert_ptr_nonnull(m);
		if (!strcmp(type_of(m), "pong")) {
			n_held++;
		} else {
			ck_assert_str_eq(harness_error_code(m),
			                 "too_many_connections");
			ck_assert(harness_wait_closed(held[n_held], 5000));
			close(held[n_held]);
			json_decref(m);
			break;
		}
		json_decref(m);
	}
	ck_assert_msg(n_held >= ROOM - 1 && n_held <= ROOM,
	              "%d connections served with room for %d", n_held, ROOM);
	/* A crowd waits; each is refused cleanly, without a busy loop. */
	cpu0 = proc_cpu_ticks(proc.pid);
	t0 = harness_now_ms();
	for (i = 0; i < WAITERS; i++) {
		waiters[i] = connect_nonblock();
		ck_assert_int_ge(waiters[i], 0);
	}
	ok = count_closed_with(waiters, WAITERS, "too_many_connections", 20000);
	waited = harness_now_ms() - t0;
	cpu1 = proc_cpu_ticks(proc.pid);
	fprintf(stderr,
	        "file limit: %d served, %d waiters refused in %llu ms; jobd "
	        "CPU %ld ticks\n",
	        n_held, ok, (unsigned long long)waited, cpu1 - cpu0);
	ck_assert_int_eq(ok, WAITERS);
	if (!jobd_instrumented(proc.pid))
		/* 100 ticks a second is a spinning core. */
		ck_assert_msg((cpu1 - cpu0) * 1000 < (long)waited * 30 + 5000,
		              "jobd used %ld ticks in %llu ms", cpu1 - cpu0,
		              (unsigned long long)waited);
	for (i = 0; i < WAITERS; i++)
		close(waiters[i]);
	for (i = 0; i < n_held; i++)
		assert_alive(held[i]);
	/* Room frees: a new client is served. */
	close(held[0]);
	usleep(300 * 1000);
	assert_new_client_prompt(3000);
	for (i = 1; i < n_held; i++)
		close(held[i]);
	rl.rlim_cur = rl.rlim_max = 4096;
	prlimit(proc.pid, RLIMIT_NOFILE, &rl, NULL);
	stop();
}
END_TEST

/* --- random disconnects under load --------------------------------------- */

/* One round of clients that go away at the worst moments. */
static void disconnect_round(unsigned *seed, int ms, int *rounds)
{
	uint64_t end = harness_now_ms() + (uint64_t)ms;
	static char big[300 * 1024];
	int fd, k, i;
	char text[256];

	static const char head[] = "{\"type\":\"call\",\"id\":1,"
	                           "\"plugin\":\"echo\",\"input\":\"";

	if (!big[0]) {
		memset(big, 'b', sizeof(big));
		memcpy(big, head, sizeof(head) - 1);
		memcpy(big + sizeof(big) - 2, "\"}", 2);
	}
	while (harness_now_ms() < end) {
		fd = harness_connect(&proc);
		ck_assert_int_ge(fd, 0);
		k = (int)(rand_r(seed) % 6);
		switch (k) {
		case 0: /* mid-header */
			harness_send_raw(fd, "\0\0", 2);
			break;
		case 1: /* mid-body */
			harness_send_raw(fd, "\0\0\0\x30{\"type\":\"call\",\"i",
			                 20);
			break;
		case 2: /* a call in flight */
			harness_send_text(fd, "{\"type\":\"call\",\"id\":1,"
			                      "\"plugin\":\"sleep\","
			                      "\"input\":{\"ms\":30}}");
			break;
		case 3: /* mid-answer: a big echo, gone once it starts */
			send_frame(fd, big, sizeof(big));
			recv(fd, text, sizeof(text), 0);
			break;
		case 4: /* pipelined calls, never read */
			for (i = 0; i < 20; i++) {
				snprintf(text, sizeof(text),
				         "{\"type\":\"call\",\"id\":%d,"
				         "\"plugin\":\"echo\",\"input\":[%d]}",
				         i, i);
				harness_send_text(fd, text);
			}
			break;
		default: /* a whole exchange, then a mid-frame reset */
			json_decref(harness_call(fd, 1, "echo", "1", 5000));
			harness_send_raw(fd, "\0\0\0\x10{", 5);
			break;
		}
		if (rand_r(seed) % 2)
			close_reset(fd);
		else
			close(fd);
		(*rounds)++;
	}
}

START_TEST(random_disconnects_leak_nothing)
{
	unsigned seed = 12345;
	int fds0, fds1, rounds = 0, ms = under_valgrind() ? 3000 : 4000;
	long rss0, rss1;

	start("plugins:\n  sleep:\n    workers: 4\n");
	/* Warm-up round: arenas, caches and thread stacks settle. */
	disconnect_round(&seed, ms / 2, &rounds);
	ck_assert_int_eq(wait_connections(conn, 1, 20000), 1);
	usleep(300 * 1000);
	fds0 = proc_fd_count(proc.pid);
	rss0 = proc_rss_kb(proc.pid);
	disconnect_round(&seed, ms, &rounds);
	assert_alive(conn);
	assert_new_client_prompt(3000);
	ck_assert_int_eq(wait_connections(conn, 1, 20000), 1);
	usleep(300 * 1000);
	fds1 = wait_fds(fds0, 5000);
	rss1 = proc_rss_kb(proc.pid);
	fprintf(stderr,
	        "disconnects: %d clients; fds %d -> %d; RSS %ld -> %ld kB\n",
	        rounds, fds0, fds1, rss0, rss1);
	ck_assert_int_eq(fds1, fds0);
	if (!jobd_instrumented(proc.pid))
		ck_assert_msg(rss1 - rss0 < 8 * 1024, "RSS grew %ld kB",
		              rss1 - rss0);
	stop();
}
END_TEST

/* --- misbehaving plugins ------------------------------------------------- */

START_TEST(misbehaving_plugins_fail_alone)
{
	static const struct {
		const char *what, *message;
	} cases[] = {
	        {"null", "no output"},
	        {"fail", "the model diverged at step 17"},
	        {"silent", NULL},
	        {"badcode", "invalid code 999"},
	};
	struct harness_opts o = {0};
	char text[200];
	int other, i, round;
	json_t *m;

	/* The bundled plugins, the test ones, and the broken ones (initfail
	 * among them): the broken are skipped, the rest serve. */
	o.plugin_dirs[0] = getenv("JOBD_PLUGIN_DIR");
	o.plugin_dirs[1] = getenv("JOBD_TEST_PLUGIN_DIR");
	o.plugin_dirs[2] = getenv("JOBD_BAD_PLUGIN_DIR");
	start_opts("plugins:\n  misbehave:\n    workers: 2\n", &o);
	other = harness_connect(&proc);
	ck_assert_int_ge(other, 0);
	m = harness_call(conn, 1, "initfail", "1", 5000);
	ck_assert_str_eq(harness_error_code(m), "unknown_plugin");
	json_decref(m);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
			snprintf(text, sizeof(text), "{\"do\":\"%s\"}",
			         cases[i].what);
			m = harness_call(conn, 10 + i, "misbehave", text,
			                 10000);
			ck_assert_msg(m && !strcmp(harness_error_code(m),
			                           "plugin_failed"),
			              "%s: %s", cases[i].what,
			              m ? json_dumps(m, JSON_COMPACT) : "none");
			ck_assert_int_gt(
			        strlen(json_string_value(
			                json_object_get(m, "message"))),
			        0);
			if (cases[i].message)
				ck_assert_msg(
				        strstr(json_string_value(
				                       json_object_get(
				                               m, "message")),
				               cases[i].message),
				        "%s: message %s", cases[i].what,
				        json_string_value(
				                json_object_get(m, "message")));
			json_decref(m);
			/* The other plugins, and other clients, go on. */
			m = harness_call(other, 100 + i, "echo", "[1,2]", 5000);
			ck_assert_str_eq(type_of(m), "result");
			json_decref(m);
		}
	}
	/* A million progress reports: throttled, then the result. */
	m = harness_call(conn, 50, "misbehave", "{\"do\":\"flood\"}", 60000);
	ck_assert_str_eq(type_of(m), "result");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "output")),
	                 1000000);
	json_decref(m);
	m = harness_call(conn, 51, "misbehave", "{\"do\":\"ok\"}", 5000);
	ck_assert_str_eq(type_of(m), "result");
	json_decref(m);
	assert_alive(other);
	close(other);
	stop();
}
END_TEST

Suite *hostile_suite(void);

Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("hostile");
	bool vg = under_valgrind();

	tcase_set_timeout(tc, vg ? 600 : 120);
	tcase_add_test(tc, huge_length_prefixes);
	tcase_add_test(tc, bad_messages_keep_the_connection);
	tcase_add_test(tc, id_reused_in_flight);
	tcase_add_test(tc, json_test_suite_through_echo);
	tcase_add_test(tc, misbehaving_plugins_fail_alone);
	tcase_add_test(tc, random_disconnects_leak_nothing);
	if (!vg) {
		/* Timing-bound floods: they would measure valgrind. */
		tcase_add_test(tc, slow_trickle_closed_at_frame_deadline);
		tcase_add_test(tc, idle_flood);
		tcase_add_test(tc, greedy_client_stopped_at_output_cap);
		tcase_add_test(tc, beyond_max_connections);
		tcase_add_test(tc, beyond_file_limit);
	}
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hostile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
