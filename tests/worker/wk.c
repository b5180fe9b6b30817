/* Driving a real jobd-worker from a test (see wk.h). */
#include "wk.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jobd/plugin.h>

const char *wk_plugin(const char *env, const char *name)
{
	static char path[4][512];
	static int next;
	const char *dir = getenv(env);
	char *p = path[next++ % 4];

	ck_assert_msg(dir != NULL, "%s is not set", env);
	snprintf(p, sizeof(path[0]), "%s/%s.so", dir, name);
	return p;
}

void wk_spawn(struct wk *w, uint64_t rlimit_bytes)
{
	struct spawn_opts o = {
	        .worker_path = spawn_worker_path(),
	        .rlimit_bytes = rlimit_bytes,
	        .stderr_fd = 2,
	};
	int rc;

	memset(w, 0, sizeof(*w));
	rc = spawn_worker(&o, &w->child);
	ck_assert_msg(rc == 0, "spawn %s: %s", o.worker_path, strerror(-rc));
	wchan_init(&w->ch, w->child.sock, 0);
}

void wk_send(struct wk *w, json_t *msg)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_int_eq(wchan_send(&w->ch, msg, NULL, 0), 0);
	json_decref(msg);
}

void wk_init(struct wk *w, const char *plugin, const char *options,
             bool with_fd, uint64_t fd_threshold)
{
	json_t *opts = options ? json_loads(options, 0, NULL) : json_object();
	json_t *msg;
	int fd = -1;

	ck_assert_ptr_nonnull(opts);
	if (with_fd) {
		fd = open(plugin, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
	}
	msg = wmsg_init(plugin, with_fd ? 0 : -1, opts, 0, JOBD_LOG_DEBUG,
	                fd_threshold, with_fd ? 1 : 0);
	ck_assert_ptr_nonnull(msg);
	ck_assert_int_eq(wchan_send(&w->ch, msg, &fd, with_fd ? 1 : 0), 0);
	json_decref(msg);
	json_decref(opts);
	if (fd >= 0)
		close(fd);
}

void wk_start(struct wk *w, const char *plugin, const char *options,
              uint64_t rlimit_bytes)
{
	struct wmsg m;

	wk_spawn(w, rlimit_bytes);
	wk_init(w, plugin, options, false, 0);
	ck_assert_int_eq(wk_recv_answer(w, &m, 10000), 1);
	ck_assert_msg(m.type == WMSG_READY, "got %s, not ready (%s)",
	              wmsg_type_name(m.type), m.message ? m.message : "");
	wmsg_fini(&m);
}

int wk_recv(struct wk *w, struct wmsg *m, int timeout_ms)
{
	struct wmsg_error err;
	struct pollfd p = {.fd = w->child.sock, .events = POLLIN};
	int rc;

	for (;;) {
		ssize_t n;

		rc = wchan_next(&w->ch, WMSG_FROM_WORKER, m, &err);
		ck_assert_msg(rc >= 0, "bad message from the worker: %s",
		              err.text);
		if (rc == 1)
			return 1;
		rc = poll(&p, 1, timeout_ms);
		if (rc == 0)
			return -1;
		ck_assert_int_eq(rc, 1);
		n = wchan_read(&w->ch, MSG_DONTWAIT);
		if (n == 0 || n == -ECONNRESET)
			return 0;
		ck_assert_msg(n > 0 || n == -EAGAIN, "read: %s",
		              strerror((int)-n));
	}
}

int wk_recv_answer(struct wk *w, struct wmsg *m, int timeout_ms)
{
	int rc;

	while ((rc = wk_recv(w, m, timeout_ms)) == 1 &&
	       (m->type == WMSG_LOG || m->type == WMSG_PROGRESS))
		wmsg_fini(m);
	return rc;
}

void wk_job(struct wk *w, int64_t job, const char *input, uint64_t timeout_ms)
{
	json_t *in = json_loads(input, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	ck_assert_ptr_nonnull(in);
	wk_send(w, wmsg_job(job, in, -1, 0, timeout_ms, NULL, 0));
	json_decref(in);
}

int wk_wait(struct wk *w, unsigned timeout_ms)
{
	int rc;

	if (w->reaped)
		return 1;
	rc = spawn_reap_timeout(w->child.pid, timeout_ms, &w->exit);
	ck_assert_int_ge(rc, 0);
	w->reaped = rc == 1;
	return rc;
}

void wk_free(struct wk *w)
{
	if (!w->reaped && w->child.pid > 0) {
		spawn_kill_group(w->child.pid, SIGKILL);
		wk_wait(w, 10000);
	}
	wchan_fini(&w->ch);
	if (w->child.sock >= 0)
		close(w->child.sock);
	w->child.sock = -1;
}

json_t *wk_output(struct wmsg *m)
{
	json_t *out;
	void *p;
	int fd;

	if (m->output_fd < 0)
		return json_incref(m->output);
	fd = wmsg_take_fd(m, m->output_fd);
	p = wchan_map(fd, m->output_size);
	ck_assert_ptr_nonnull(p);
	out = json_loadb(p, m->output_size, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	                 NULL);
	munmap(p, m->output_size);
	close(fd);
	return out;
}
