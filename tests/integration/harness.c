/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* JOBD_TEST_PGHOST set (tests/pg/pg-cluster.sh run ...): jobd keeps its
 * jobs in PostgreSQL, one database per state_dir, so that tests stay apart
 * and a restart on the same state_dir finds its jobs again. Writes the
 * store: section, or nothing. */
static int write_store(FILE *f, const char *state_dir)
{
	const char *host = getenv("JOBD_TEST_PGHOST");
	const char *port = getenv("JOBD_TEST_PGPORT");
	const char *user = getenv("JOBD_TEST_PGUSER");
	const char *bin = getenv("JOBD_TEST_PGBIN");
	char db[64], cmd[1024];
	size_t i, n = 0;
	int rc;

	if (!host || !*host)
		return 0;
	for (i = 0; state_dir[i] && n < sizeof(db) - 1; i++) {
		char c = state_dir[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			db[n++] = c;
		else if (n && db[n - 1] != '_')
			db[n++] = '_';
	}
	db[n] = '\0';
	snprintf(cmd, sizeof(cmd),
	         "'%s/createdb' -h '%s' -p '%s' -U '%s' '%s' 2>/dev/null",
	         bin ? bin : "/usr/bin", host, port ? port : "5432",
	         user ? user : "jobd", db);
	rc = system(cmd); /* fails when it exists already: a restart */
	(void)rc;
	fprintf(f,
	        "store:\n  backend: postgresql\n"
	        "  dsn: \"host=%s port=%s user=%s dbname=%s\"\n",
	        host, port ? port : "5432", user ? user : "jobd", db);
	return 0;
}

static int write_config(struct jobd_proc *p, const struct harness_opts *o)
{
	char state_dir[300];
	const char *plugin_dir = getenv("JOBD_PLUGIN_DIR");
	const char *test_plugin_dir = getenv("JOBD_TEST_PLUGIN_DIR");
	FILE *f = fopen(p->config_path, "w");
	int i;

	if (!f)
		return -1;
	if (o->bind_from_config && o->listen_extra)
		fprintf(f, "listen:\n  - \"127.0.0.1:%u\"\n%s\n", p->port,
		        o->listen_extra);
	else if (o->bind_from_config)
		fprintf(f, "listen: [\"127.0.0.1:%u\"]\n", p->port);
	fprintf(f, "plugin_dirs:\n");
	if (o->plugin_dirs[0]) {
		for (i = 0; i < 4 && o->plugin_dirs[i]; i++)
			fprintf(f, "  - \"%s\"\n", o->plugin_dirs[i]);
	} else {
		fprintf(f, "  - \"%s\"\n", plugin_dir ? plugin_dir : ".");
		if (test_plugin_dir)
			fprintf(f, "  - \"%s\"\n", test_plugin_dir);
	}
	if (o->state_dir)
		snprintf(state_dir, sizeof(state_dir), "%s", o->state_dir);
	else
		snprintf(state_dir, sizeof(state_dir), "%s/state", p->dir);
	fprintf(f, "state_dir: \"%s\"\n", state_dir);
	write_store(f, state_dir);
	fprintf(f, "log_level: debug\n");
	/* The suite runs twice (meson: integration, integration-process):
	 * every plugin in threads, then in worker processes. */
	if (getenv("JOBD_TEST_ISOLATION") && *getenv("JOBD_TEST_ISOLATION"))
		fprintf(f, "isolation: %s\n", getenv("JOBD_TEST_ISOLATION"));
	if (o->yaml)
		fprintf(f, "%s\n", o->yaml);
	return fclose(f);
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int make_listener(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int make_notify_socket(struct jobd_proc *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(p->notify_path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, p->notify_path, strlen(p->notify_path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* JOBD_TEST_VALGRIND set: jobd runs under valgrind memcheck (in the same
 * process, so LISTEN_PID still matches). Any error or a definite leak
 * makes it exit 99, and harness_stop fails the test on its report. */
static void harness_exec_valgrind(const char **argv)
{
	const char *vargv[24] = {"valgrind",
	                         "--error-exitcode=99",
	                         "--leak-check=full",
	                         "--errors-for-leak-kinds=definite",
	                         "--show-leak-kinds=definite",
	                         "--track-fds=no",
	                         "--num-callers=30"};
	int n = 7, i;

	for (i = 0; argv[i] && n < 23; i++)
		vargv[n++] = argv[i];
	vargv[n] = NULL;
	execvp("valgrind", (char *const *)vargv);
}

/* Slower under valgrind: startup and shutdown take many times longer. */
static int harness_slow(int ms)
{
	return getenv("JOBD_TEST_VALGRIND") ? ms * 10 : ms;
}

int harness_start(struct jobd_proc *p, const struct harness_opts *o)
{
	static const struct harness_opts none;
	const char *bin = getenv("JOBD_BIN");
	char tmpl[] = "/tmp/jobd-test-XXXXXX";
	int lfd = -1, i;
	char buf[256];

	if (!o)
		o = &none;
	memset(p, 0, sizeof(*p));
	p->notify_fd = -1;
	if (!bin || !mkdtemp(tmpl))
		return -1;
	snprintf(p->dir, sizeof(p->dir), "%s", tmpl);
	snprintf(p->config_path, sizeof(p->config_path), "%s/jobd.yaml",
	         p->dir);
	snprintf(p->log_path, sizeof(p->log_path), "%s/jobd.log", p->dir);
	snprintf(p->notify_path, sizeof(p->notify_path), "%s/notify", p->dir);
	lfd = make_listener(&p->port);
	if (lfd < 0)
		return -1;
	if (o->bind_from_config) {
		close(lfd); /* jobd binds the same port itself */
		lfd = -1;
	}
	if (o->config_file)
		snprintf(p->config_path, sizeof(p->config_path), "%s",
		         o->config_file);
	else if (write_config(p, o) < 0)
		goto fail;
	p->notify_fd = make_notify_socket(p);
	if (p->notify_fd < 0)
		goto fail;
	p->pid = fork();
	if (p->pid < 0)
		goto fail;
	if (p->pid == 0) {
		const char *argv[16] = {bin, "--config", p->config_path};
		int n = 3, logfd;
		char pidbuf[32];

		logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (logfd >= 0) {
			dup2(logfd, STDERR_FILENO);
			dup2(logfd, STDOUT_FILENO);
		}
		if (lfd >= 0) {
			if (lfd != 3) {
				dup2(lfd, 3);
				close(lfd);
			}
			snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", pidbuf, 1);
		} else {
			unsetenv("LISTEN_FDS");
			unsetenv("LISTEN_PID");
		}
		setenv("NOTIFY_SOCKET", p->notify_path, 1);
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		for (i = 0; i < 4 && o->env[i]; i++)
			putenv((char *)o->env[i]);
		for (i = 0; i < 4 && o->args[i]; i++)
			argv[n++] = o->args[i];
		argv[n] = NULL;
		if (getenv("JOBD_TEST_VALGRIND"))
			harness_exec_valgrind(argv);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	if (o->no_wait_ready)
		return 0;
	if (harness_wait_notify(p, "READY=1", harness_slow(20000), buf,
	                        sizeof(buf)) < 0) {
		fprintf(stderr, "harness: jobd did not become ready\n");
		harness_stop(p, SIGKILL, 2000);
		return -1;
	}
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	return -1;
}

static void remove_dir(const char *dir)
{
	char cmd[400];

	/* Our own mkdtemp directory; the path has no shell metacharacters. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: could not remove %s\n", dir);
}

int harness_stop(struct jobd_proc *p, int sig, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)harness_slow(timeout_ms);
	int status = -1;
	pid_t r;

	if (p->pid > 0) {
		kill(p->pid, sig ? sig : SIGTERM);
		for (;;) {
			r = waitpid(p->pid, &status, WNOHANG);
			if (r == p->pid)
				break;
			if (harness_now_ms() > end) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				status = -1;
				break;
			}
			usleep(10000);
		}
		p->pid = 0;
	}
	if (p->notify_fd >= 0)
		close(p->notify_fd);
	p->notify_fd = -1;
	if (p->dir[0]) {
		/* A sanitizer report from the daemon fails whichever test
		 * ran it, even one that does not check the exit status. */
		char *log = harness_log(p);

		if (strstr(log, "Sanitizer") || strstr(log, "runtime error:") ||
		    (strstr(log, "ERROR SUMMARY: ") &&
		     !strstr(log, "ERROR SUMMARY: 0 errors"))) {
			fprintf(stderr,
			        "harness: sanitizer report from jobd:\n%s",
			        log);
			free(log);
			abort();
		}
		free(log);
	}
	if (p->dir[0] && !getenv("JOBD_TEST_KEEP"))
		remove_dir(p->dir);
	p->dir[0] = '\0';
	return status;
}

int harness_wait_notify(struct jobd_proc *p, const char *needle, int timeout_ms,
                        char *buf, size_t size)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = {.fd = p->notify_fd, .events = POLLIN};
	ssize_t n;
	char tmp[4096];

	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(p->notify_fd, tmp, sizeof(tmp) - 1, 0);
		if (n <= 0)
			continue;
		tmp[n] = '\0';
		if (strstr(tmp, needle)) {
			if (buf)
				snprintf(buf, size, "%s", tmp);
			return 0;
		}
	}
}

int harness_connect(const struct jobd_proc *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_port = htons(p->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int harness_send_raw(int fd, const void *buf, size_t len)
{
	const char *b = buf;
	ssize_t n;

	while (len) {
		n = send(fd, b, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int harness_send_text(int fd, const char *text)
{
	size_t len = strlen(text);
	uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	                  (uint8_t)(len >> 8), (uint8_t)len};

	if (harness_send_raw(fd, hdr, 4) < 0)
		return -1;
	return harness_send_raw(fd, text, len);
}

int harness_send(int fd, const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!text)
		return -1;
	rc = harness_send_text(fd, text);
	free(text);
	return rc;
}

/* Reads exactly len bytes before the deadline. */
static int recv_exact(int fd, void *buf, size_t len, uint64_t end)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char *b = buf;
	ssize_t n;

	while (len) {
		int64_t left = (int64_t)(end - harness_now_ms());

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, b, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

json_t *harness_recv(int fd, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	uint8_t hdr[4];
	uint32_t len;
	char *body;
	json_t *msg;

	if (recv_exact(fd, hdr, 4, end) < 0)
		return NULL;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	      (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > (64u << 20))
		return NULL;
	body = malloc(len + 1);
	if (!body)
		return NULL;
	if (recv_exact(fd, body, len, end) < 0) {
		free(body);
		return NULL;
	}
	msg = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	free(body);
	return msg;
}

json_t *harness_recv_answer(int fd, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	json_t *m;

	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		m = harness_recv(fd, left > 0 ? (int)left : 0);
		if (!m)
			return NULL;
		if (strcmp(json_string_value(json_object_get(m, "type"))
		                   ? json_string_value(
		                             json_object_get(m, "type"))
		                   : "",
		           "progress"))
			return m;
		json_decref(m);
	}
}

bool harness_wait_closed(int fd, int timeout_ms)
{
	uint64_t end = harness_now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char buf[4096];
	ssize_t n;

	for (;;) {
		int64_t left = (int64_t)(end - harness_now_ms());

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}

json_t *harness_call(int fd, int64_t id, const char *plugin,
                     const char *input_text, int timeout_ms)
{
	char *text;
	int rc;

	if (asprintf(&text,
	             "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"%s\","
	             "\"input\":%s}",
	             (long long)id, plugin, input_text) < 0)
		return NULL;
	rc = harness_send_text(fd, text);
	free(text);
	if (rc < 0)
		return NULL;
	return harness_recv_answer(fd, timeout_ms);
}

const char *harness_error_code(const json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));
	const char *code = json_string_value(json_object_get(msg, "code"));

	if (!type || strcmp(type, "error") || !code)
		return "";
	return code;
}

char *harness_log(const struct jobd_proc *p)
{
	FILE *f = fopen(p->log_path, "r");
	char *buf = NULL;
	size_t size = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &size, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}
