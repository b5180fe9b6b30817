/* SPDX-License-Identifier: MIT */
/*
 * jobd as a system service: the sd_notify sequence on a real datagram
 * socket (READY, STATUS, WATCHDOG at the asked interval, RELOADING with
 * MONOTONIC_USEC, READY, STOPPING), socket activation through
 * systemd-socket-activate, and SIGHUP reloads: under load with no failed
 * request and no closed connection, with a broken config, and adding,
 * replacing and removing a plugin while its jobs run.
 *
 * Reload tests load plugins from a private directory holding copies (not
 * links) of the built .so files, so that replacing one is a new file, as
 * `install` or a package manager does it: write a temporary name, rename.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* --- helpers ------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Copies src to dir/name through a temporary name and rename(2), so that
 * a file jobd has loaded is replaced, never rewritten in place. */
static void install_file(const char *src, const char *dir, const char *name)
{
	char tmp[512], dst[512], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	in = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_msg(out >= 0, "open %s: %s", tmp, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	ck_assert_int_eq(close(out), 0);
	ck_assert_msg(rename(tmp, dst) == 0, "rename %s: %s", dst,
	              strerror(errno));
}

/* A built plugin: bundled ones in JOBD_PLUGIN_DIR; the svcver builds
 * beside the test plugins, in tests/service. */
static void plugin_src(char *buf, size_t size, const char *file)
{
	if (!strncmp(file, "svcver", 6))
		snprintf(buf, size, "%s/../service/%s",
		         getenv("JOBD_TEST_PLUGIN_DIR"), file);
	else
		snprintf(buf, size, "%s/%s", getenv("JOBD_PLUGIN_DIR"), file);
}

/* A temporary directory for one test: plugins/, state/ and jobd.yaml. */
struct svc_dir {
	char root[64];
	char plugins[128];
	char state[128];
	char config[128];
};

static void svc_dir_init(struct svc_dir *d)
{
	snprintf(d->root, sizeof(d->root), "/tmp/jobd-svc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->root));
	snprintf(d->plugins, sizeof(d->plugins), "%s/plugins", d->root);
	snprintf(d->state, sizeof(d->state), "%s/state", d->root);
	snprintf(d->config, sizeof(d->config), "%s/jobd.yaml", d->root);
	ck_assert_int_eq(mkdir(d->plugins, 0755), 0);
	ck_assert_int_eq(mkdir(d->state, 0755), 0);
}

static void svc_dir_add(struct svc_dir *d, const char *built, const char *name)
{
	char src[512];

	plugin_src(src, sizeof(src), built);
	install_file(src, d->plugins, name);
}

static void svc_dir_fini(struct svc_dir *d)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d->root);
}

/* Writes the config (through rename, as an editor that keeps a backup
 * would): the private plugin dir and state dir, then extra YAML. */
static void write_config(const struct svc_dir *d, const char *extra)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", d->config);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	        "plugin_dirs: [\"%s\"]\nstate_dir: \"%s\"\n"
	        "log_level: debug\n%s",
	        d->plugins, d->state, extra ? extra : "");
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, d->config), 0);
}

static void start_with(struct jobd_proc *p, const struct svc_dir *d)
{
	struct harness_opts o = {.config_file = d->config};

	ck_assert_int_eq(harness_start(p, &o), 0);
}

/* SIGHUP, then READY=1 within 10 s: the reload is done. */
static void reload(struct jobd_proc *p)
{
	char buf[512];

	ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
	ck_assert_msg(harness_wait_notify(p, "RELOADING=1", 10000, buf,
	                                  sizeof(buf)) == 0,
	              "no RELOADING=1 after SIGHUP");
	ck_assert_msg(
	        harness_wait_notify(p, "READY=1", 10000, buf, sizeof(buf)) == 0,
	        "no READY=1 after a reload");
}

static bool log_has(const struct jobd_proc *p, const char *needle)
{
	char *log = harness_log(p);
	bool found = strstr(log, needle) != NULL;

	if (!found)
		fprintf(stderr, "jobd log lacks \"%s\":\n%s\n", needle, log);
	free(log);
	return found;
}

static const char *msg_type(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "type"));

	return t ? t : "";
}

/* m must be a result (with id, if id >= 0, and output[key] == want, if
 * key); consumes m. */
static void expect_result(json_t *m, int64_t id, const char *key,
                          json_int_t want)
{
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(msg_type(m), "result");
	if (id >= 0)
		ck_assert_int_eq(json_integer_value(json_object_get(m, "id")),
		                 id);
	if (key)
		ck_assert_int_eq(json_integer_value(json_object_get(
		                         json_object_get(m, "output"), key)),
		                 want);
	json_decref(m);
}

/* m must be an error with code; consumes m. */
static void expect_error(json_t *m, const char *code)
{
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(harness_error_code(m), code);
	json_decref(m);
}

/* Sends a call and does not wait for its answer. */
static void send_call(int fd, int64_t id, const char *plugin, const char *input)
{
	char text[512];

	snprintf(text, sizeof(text),
	         "{\"type\":\"call\",\"id\":%" PRId64
	         ",\"plugin\":\"%s\",\"input\":%s}",
	         id, plugin, input);
	ck_assert_int_eq(harness_send_text(fd, text), 0);
}

/* The stats of one plugin (a new reference), or NULL if not loaded. */
static json_t *plugin_stats(int fd, const char *name)
{
	json_t *m, *s;

	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"stats\",\"id\":9}"),
	                 0);
	m = harness_recv_answer(fd, 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(msg_type(m), "stats");
	s = json_object_get(json_object_get(m, "plugins"), name);
	json_incref(s);
	json_decref(m);
	return s;
}

/* Waits until `name` has a job running (the long job has reached its
 * worker, so a reload cannot race its start). */
static void wait_running(int fd, const char *name)
{
	uint64_t end = harness_now_ms() + 10000;
	json_t *s;
	json_int_t running;

	for (;;) {
		s = plugin_stats(fd, name);
		ck_assert_ptr_nonnull(s);
		running = json_integer_value(json_object_get(s, "running"));
		json_decref(s);
		if (running > 0)
			return;
		ck_assert_msg(harness_now_ms() < end,
		              "%s: the job never started", name);
		sleep_ms(10);
	}
}

/* --- sd_notify ----------------------------------------------------------- */

/* Reads datagrams for ms milliseconds and counts WATCHDOG=1 pings. */
static int count_watchdog(struct jobd_proc *p, unsigned ms)
{
	uint64_t end = harness_now_ms() + ms;
	char buf[512];
	int n = 0;

	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		if (left <= 0 || harness_wait_notify(p, "WATCHDOG=1", (int)left,
		                                     buf, sizeof(buf)) < 0)
			return n;
		n++;
	}
}

START_TEST(notify_sequence)
{
	/* Pings at half the interval: every 200 ms. */
	struct harness_opts o = {.env = {"WATCHDOG_USEC=400000"}};
	struct jobd_proc p;
	char buf[512], *v;
	unsigned long long usec, now_usec;
	struct timespec ts;
	int pings, st;

	ck_assert_int_eq(harness_start(&p, &o), 0); /* saw READY=1 */
	ck_assert_msg(
	        harness_wait_notify(&p, "STATUS=", 5000, buf, sizeof(buf)) == 0,
	        "no STATUS= after READY=1");
	ck_assert_ptr_nonnull(strstr(buf, "plugins"));

	/* 2 s at one ping per 200 ms is 10; a loaded machine or a
	 * sanitizer build may be slow, never 5x fast. */
	pings = count_watchdog(&p, 2000);
	ck_assert_msg(pings >= 4 && pings <= 16,
	              "%d WATCHDOG=1 pings in 2 s at WATCHDOG_USEC=400000 "
	              "(want about 10)",
	              pings);

	ck_assert_int_eq(kill(p.pid, SIGHUP), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "RELOADING=1", 10000, buf, sizeof(buf)),
	        0);
	v = strstr(buf, "MONOTONIC_USEC=");
	ck_assert_msg(v != NULL, "RELOADING=1 without MONOTONIC_USEC: %s", buf);
	usec = strtoull(v + strlen("MONOTONIC_USEC="), NULL, 10);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_usec = (unsigned long long)ts.tv_sec * 1000000ull +
	           (unsigned long long)ts.tv_nsec / 1000ull;
	ck_assert_msg(usec > 0 && usec <= now_usec &&
	                      now_usec - usec < 10ull * 1000000ull,
	              "MONOTONIC_USEC=%llu, now %llu", usec, now_usec);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "READY=1", 10000, buf, sizeof(buf)), 0);

	/* Still pinging after the reload. */
	ck_assert_int_ge(count_watchdog(&p, 1000), 1);

	ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "STOPPING=1", 10000, buf, sizeof(buf)),
	        0);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* A service manager that stops reading NOTIFY_SOCKET: the socket's queue
 * fills (net.unix.max_dgram_qlen, 10 on Debian) within a few pings, and a
 * blocking sd_notify on the loop would then stall every client. jobd must
 * go on answering and still stop on SIGTERM. */
START_TEST(notify_socket_not_read)
{
	/* A ping (with its status) every 25 ms: hundreds unread in 3 s. */
	struct harness_opts o = {.env = {"WATCHDOG_USEC=50000"}};
	struct jobd_proc p;
	uint64_t t0;
	int fd, i, st;

	ck_assert_int_eq(harness_start(&p, &o), 0);
	sleep_ms(3000); /* read nothing */
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	for (i = 1; i <= 20; i++)
		expect_result(harness_call(fd, i, "echo", "{\"n\":1}", 10000),
		              i, "n", 1);
	close(fd);
	t0 = harness_now_ms();
	st = harness_stop(&p, SIGTERM, 20000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	              "status %d after SIGTERM", st);
	/* notifier_stop gives the last messages 1 s; generous for valgrind */
	ck_assert_msg(harness_now_ms() - t0 < 15000, "stop took %llu ms",
	              (unsigned long long)(harness_now_ms() - t0));
}
END_TEST

/* --- socket activation --------------------------------------------------- */

static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int bind_notify(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Starts `systemd-socket-activate -l 127.0.0.1:PORT jobd --config F`,
 * which listens, and on the first connection execs jobd (same pid) with
 * the socket as fd 3 and LISTEN_FDS/LISTEN_PID set. Fills p so that
 * harness_stop can end it. */
static void socket_activate(struct jobd_proc *p, const struct svc_dir *d)
{
	char listen_arg[64], notify_env[300];
	const char *argv[24];
	int n = 0, logfd;

	memset(p, 0, sizeof(*p));
	p->port = free_port();
	snprintf(p->dir, sizeof(p->dir), "%s/run", d->root);
	ck_assert_int_eq(mkdir(p->dir, 0755), 0);
	snprintf(p->log_path, sizeof(p->log_path), "%s/jobd.log", p->dir);
	snprintf(p->notify_path, sizeof(p->notify_path), "%s/notify", p->dir);
	snprintf(p->config_path, sizeof(p->config_path), "%s", d->config);
	p->notify_fd = bind_notify(p->notify_path);
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%u", p->port);
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s",
	         p->notify_path);

	/* It passes only -E variables to jobd; keep the sanitizers' own. */
	argv[n++] = "systemd-socket-activate";
	argv[n++] = "-l";
	argv[n++] = listen_arg;
	argv[n++] = "-E";
	argv[n++] = notify_env;
	if (getenv("ASAN_OPTIONS")) {
		argv[n++] = "-E";
		argv[n++] = "ASAN_OPTIONS";
	}
	if (getenv("UBSAN_OPTIONS")) {
		argv[n++] = "-E";
		argv[n++] = "UBSAN_OPTIONS";
	}
	argv[n++] = getenv("JOBD_BIN");
	argv[n++] = "--config";
	argv[n++] = d->config;
	argv[n] = NULL;

	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (logfd >= 0) {
			dup2(logfd, STDERR_FILENO);
			dup2(logfd, STDOUT_FILENO);
		}
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec systemd-socket-activate: %s\n",
		        strerror(errno));
		_exit(127);
	}
}

START_TEST(socket_activation)
{
	struct svc_dir d;
	struct jobd_proc p;
	uint64_t end;
	char buf[512];
	json_t *m;
	int fd = -1, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	/* listen: must be ignored when sockets are passed: port 1 would
	 * fail to bind for an unprivileged jobd. */
	write_config(&d, "listen: [\"127.0.0.1:1\"]\n");
	socket_activate(&p, &d);

	/* Connecting is what starts jobd; retry until the socket exists. */
	end = harness_now_ms() + 10000;
	while ((fd = harness_connect(&p)) < 0) {
		ck_assert_msg(waitpid(p.pid, &st, WNOHANG) == 0,
		              "systemd-socket-activate exited (is it "
		              "installed? .ci/run installs systemd)");
		ck_assert_msg(harness_now_ms() < end,
		              "nothing listens on 127.0.0.1:%u", p.port);
		sleep_ms(20);
	}
	ck_assert_msg(harness_wait_notify(&p, "READY=1", 20000, buf,
	                                  sizeof(buf)) == 0,
	              "socket-activated jobd never sent READY=1");
	m = harness_call(fd, 1, "echo", "{\"via\":\"systemd-socket-activate\"}",
	                 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(msg_type(m), "result");
	ck_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(m, "output"), "via")),
	                 "systemd-socket-activate");
	json_decref(m);
	/* The passed socket keeps serving new connections. */
	close(fd);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	expect_result(harness_call(fd, 2, "echo", "2", 10000), -1, NULL, 0);
	close(fd);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	              "jobd exit status %d", st);
	svc_dir_fini(&d);
}
END_TEST

/* --- reload -------------------------------------------------------------- */

#define LOAD_THREADS 4

struct loader {
	const struct jobd_proc *p;
	atomic_bool *stop;
	int idx;
	long ok;
	long failed;
	char why[256];
};

/* One connection, one call at a time, echo and sleep in turn, until told
 * to stop. Any error answer, lost answer or closed connection counts. */
static void *load_thread(void *arg)
{
	struct loader *l = arg;
	int fd = harness_connect(l->p);
	int64_t id = 0;
	char input[64];
	json_t *m;

	if (fd < 0) {
		l->failed++;
		snprintf(l->why, sizeof(l->why), "connect failed");
		return NULL;
	}
	while (!atomic_load(l->stop)) {
		bool echo = ++id % 2;

		snprintf(input, sizeof(input), echo ? "{\"n\":%lld}" : "3",
		         (long long)id);
		m = harness_call(fd, id, echo ? "echo" : "sleep", input, 15000);
		if (!m) {
			l->failed++;
			snprintf(l->why, sizeof(l->why),
			         "thread %d call %lld: no answer (closed?)",
			         l->idx, (long long)id);
			break;
		}
		if (strcmp(msg_type(m), "result") ||
		    json_integer_value(json_object_get(m, "id")) != id ||
		    (echo &&
		     json_integer_value(json_object_get(
		             json_object_get(m, "output"), "n")) != id)) {
			char *text = json_dumps(m, JSON_COMPACT);

			l->failed++;
			snprintf(l->why, sizeof(l->why),
			         "thread %d call %lld: %s", l->idx,
			         (long long)id, text ? text : "?");
			free(text);
		} else {
			l->ok++;
		}
		json_decref(m);
	}
	close(fd);
	return NULL;
}

START_TEST(reload_under_load)
{
	struct svc_dir d;
	struct jobd_proc p;
	struct loader l[LOAD_THREADS];
	pthread_t t[LOAD_THREADS];
	atomic_bool stop = false;
	char yaml[256];
	long total = 0;
	int i, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	svc_dir_add(&d, "sleep.so", "sleep.so");
	write_config(&d, "plugins:\n  sleep: {workers: 2}\n");
	start_with(&p, &d);
	for (i = 0; i < LOAD_THREADS; i++) {
		l[i] = (struct loader){.p = &p, .stop = &stop, .idx = i};
		ck_assert_int_eq(
		        pthread_create(&t[i], NULL, load_thread, &l[i]), 0);
	}
	sleep_ms(200);
	/* Each reload changes something: sleep's pool size, and echo's
	 * options, which starts a fresh echo while calls are in flight on
	 * the old one. */
	for (i = 0; i < 5; i++) {
		snprintf(yaml, sizeof(yaml),
		         "plugins:\n  sleep: {workers: %d}\n"
		         "  echo: {options: {generation: %d}}\n",
		         i % 2 ? 2 : 3, i);
		write_config(&d, yaml);
		reload(&p);
		sleep_ms(150);
	}
	atomic_store(&stop, true);
	for (i = 0; i < LOAD_THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(l[i].failed == 0, "%ld failed: %s", l[i].failed,
		              l[i].why);
		ck_assert_msg(l[i].ok > 10, "thread %d: only %ld calls", i,
		              l[i].ok);
		total += l[i].ok;
	}
	fprintf(stderr, "reload_under_load: %ld calls, 5 reloads, 0 failed\n",
	        total);
	ck_assert(log_has(&p, "plugin echo: replaced"));
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

START_TEST(reload_broken_config_keeps_serving)
{
	struct svc_dir d;
	struct jobd_proc p;
	char where[200];
	json_t *s;
	int a, b, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	write_config(&d, "plugins:\n  echo: {workers: 2}\n");
	start_with(&p, &d);
	a = harness_connect(&p);
	ck_assert_int_ge(a, 0);

	/* Line 5 (after plugin_dirs, state_dir, log_level, limits:), column
	 * 20: where "lots" begins. */
	write_config(&d, "limits:\n  max_connections: lots\n");
	reload(&p);
	snprintf(where, sizeof(where), "%s:5:20: limits.max_connections",
	         d.config);
	ck_assert(log_has(&p, where));
	ck_assert(log_has(&p, "keeping the running config"));

	/* The open connection and a new one are both served, with the old
	 * config (echo still has 2 workers). */
	expect_result(harness_call(a, 1, "echo", "\"still here\"", 10000), -1,
	              NULL, 0);
	b = harness_connect(&p);
	ck_assert_int_ge(b, 0);
	expect_result(harness_call(b, 2, "echo", "2", 10000), -1, NULL, 0);
	s = plugin_stats(b, "echo");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "workers")), 2);
	json_decref(s);

	/* Fixed: the next reload applies it. */
	write_config(&d, "plugins:\n  echo: {workers: 3}\n");
	reload(&p);
	s = plugin_stats(a, "echo");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "workers")), 3);
	json_decref(s);
	close(a);
	close(b);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

START_TEST(reload_adds_plugin)
{
	struct svc_dir d;
	struct jobd_proc p;
	int fd, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	write_config(&d, NULL);
	start_with(&p, &d);
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	expect_error(harness_call(fd, 1, "sleep", "1", 10000),
	             "unknown_plugin");

	svc_dir_add(&d, "sleep.so", "sleep.so");
	reload(&p);
	expect_result(harness_call(fd, 2, "sleep", "1", 10000), -1, "slept_ms",
	              1);
	ck_assert(log_has(&p, "plugin sleep: added"));
	close(fd);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

START_TEST(reload_replaces_plugin)
{
	struct svc_dir d;
	struct jobd_proc p;
	json_t *m, *s;
	int a, b, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "svcver_v1.so", "svcver.so");
	write_config(&d, "plugins:\n  svcver: {workers: 2}\n");
	start_with(&p, &d);
	a = harness_connect(&p);
	b = harness_connect(&p);
	ck_assert(a >= 0 && b >= 0);
	m = harness_call(b, 1, "svcver", "{\"ms\":0}", 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(m, "output"), "build")),
	                 1);
	json_decref(m);

	/* A long job on build 1, then build 2 takes the file's place. */
	send_call(a, 7, "svcver", "{\"ms\":1500}");
	wait_running(b, "svcver");
	svc_dir_add(&d, "svcver_v2.so", "svcver.so");
	reload(&p);
	ck_assert(log_has(&p, "plugin svcver: replaced"));

	m = harness_call(b, 2, "svcver", "{\"ms\":0}", 10000);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(msg_type(m), "result");
	ck_assert_msg(json_integer_value(json_object_get(
	                      json_object_get(m, "output"), "build")) == 2,
	              "a new call after the reload ran the old build");
	json_decref(m);
	s = plugin_stats(b, "svcver");
	ck_assert_str_eq(json_string_value(json_object_get(s, "version")),
	                 "2.0.0");
	json_decref(s);

	/* The running job finishes on the old build. */
	expect_result(harness_recv_answer(a, 10000), 7, "build", 1);
	close(a);
	close(b);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

START_TEST(reload_removes_plugin)
{
	struct svc_dir d;
	struct jobd_proc p;
	char path[256];
	int a, b, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	svc_dir_add(&d, "sleep.so", "sleep.so");
	write_config(&d, NULL);
	start_with(&p, &d);
	a = harness_connect(&p);
	b = harness_connect(&p);
	ck_assert(a >= 0 && b >= 0);

	send_call(a, 7, "sleep", "1500");
	wait_running(b, "sleep");
	snprintf(path, sizeof(path), "%s/sleep.so", d.plugins);
	ck_assert_int_eq(unlink(path), 0);
	reload(&p);
	ck_assert(log_has(&p, "plugin sleep: removed"));

	expect_error(harness_call(b, 1, "sleep", "1", 10000), "unknown_plugin");
	expect_result(harness_call(b, 2, "echo", "2", 10000), -1, NULL, 0);

	/* Its running job still finishes, on the unloaded-later plugin. */
	expect_result(harness_recv_answer(a, 10000), 7, "slept_ms", 1500);
	close(a);
	close(b);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

/* A reload with new options starts a second instance of the same file,
 * which glibc maps once; when the first instance goes, a plugin loaded
 * later must still get its own code (no stale dlopen name). */
START_TEST(reload_new_options_then_add)
{
	struct svc_dir d;
	struct jobd_proc p;
	int fd, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	write_config(&d, NULL);
	start_with(&p, &d);
	write_config(&d, "plugins:\n  echo: {options: {x: 1}}\n");
	reload(&p);
	ck_assert(log_has(&p, "plugin echo: replaced"));
	svc_dir_add(&d, "svcver_v1.so", "svcver.so");
	reload(&p);
	ck_assert(log_has(&p, "plugin svcver: added"));
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	expect_result(harness_call(fd, 1, "svcver", "{\"ms\":0}", 10000), -1,
	              "build", 1);
	expect_result(harness_call(fd, 2, "echo", "2", 10000), -1, NULL, 0);
	close(fd);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

/* A replacement that does not load leaves the running plugin serving. */
START_TEST(reload_broken_replacement_keeps_plugin)
{
	struct svc_dir d;
	struct jobd_proc p;
	char src[512];
	int fd, st;

	svc_dir_init(&d);
	svc_dir_add(&d, "svcver_v1.so", "svcver.so");
	write_config(&d, NULL);
	start_with(&p, &d);
	snprintf(src, sizeof(src), "%s/wrongabi.so",
	         getenv("JOBD_BAD_PLUGIN_DIR"));
	install_file(src, d.plugins, "svcver.so");
	reload(&p);
	ck_assert(log_has(&p, "plugin svcver: keeping the running instance"));
	fd = harness_connect(&p);
	ck_assert_int_ge(fd, 0);
	expect_result(harness_call(fd, 1, "svcver", "{\"ms\":0}", 10000), -1,
	              "build", 1);
	close(fd);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

/* Without socket activation, listen: is applied by a reload: a new
 * address opens, a removed one closes, and a connection accepted on the
 * removed one stays served. */
START_TEST(reload_opens_and_closes_listeners)
{
	struct harness_opts o = {.bind_from_config = true};
	struct svc_dir d;
	struct jobd_proc p;
	uint16_t first = free_port(), second;
	char yaml[128];
	int a, b, st;

	do
		second = free_port();
	while (second == first);
	svc_dir_init(&d);
	svc_dir_add(&d, "echo.so", "echo.so");
	snprintf(yaml, sizeof(yaml), "listen: [\"127.0.0.1:%u\"]\n", first);
	write_config(&d, yaml);
	o.config_file = d.config;
	ck_assert_int_eq(harness_start(&p, &o), 0);
	p.port = first;
	a = harness_connect(&p);
	ck_assert_int_ge(a, 0);

	snprintf(yaml, sizeof(yaml), "listen: [\"127.0.0.1:%u\"]\n", second);
	write_config(&d, yaml);
	reload(&p);
	ck_assert(log_has(&p, "no longer listening on 127.0.0.1:"));
	ck_assert_int_eq(harness_connect(&p), -1); /* first is closed */
	p.port = second;
	b = harness_connect(&p);
	ck_assert_int_ge(b, 0);
	expect_result(harness_call(b, 1, "echo", "1", 10000), -1, NULL, 0);
	/* Accepted before its listener closed: still served. */
	expect_result(harness_call(a, 2, "echo", "2", 10000), -1, NULL, 0);
	close(a);
	close(b);
	st = harness_stop(&p, SIGTERM, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	svc_dir_fini(&d);
}
END_TEST

static Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("service");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, notify_sequence);
	tcase_add_test(tc, notify_socket_not_read);
	tcase_add_test(tc, socket_activation);
	tcase_add_test(tc, reload_under_load);
	tcase_add_test(tc, reload_broken_config_keeps_serving);
	tcase_add_test(tc, reload_adds_plugin);
	tcase_add_test(tc, reload_replaces_plugin);
	tcase_add_test(tc, reload_removes_plugin);
	tcase_add_test(tc, reload_new_options_then_add);
	tcase_add_test(tc, reload_broken_replacement_keeps_plugin);
	tcase_add_test(tc, reload_opens_and_closes_listeners);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(service_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
