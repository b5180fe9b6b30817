/* SPDX-License-Identifier: MIT */
#include "daemon/exec/procpool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <jobd/plugin.h>

#include "daemon/exec/fairq.h"
#include "daemon/exec/pool.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "ipc/wchan.h"
#include "ipc/wmsg.h"
#include "spawn/memlimit.h"
#include "spawn/spawn.h"
#include "wire/frame.h"
#include "wire/message.h"

#define MS_NS 1000000ull
/* How often running jobs are checked for a cancel, a passed deadline or
 * an expired kill_grace. */
#define TICK_MS 50
/* Respawn backoff for a worker that dies while starting (a crash in
 * init or worker_init would otherwise loop as fast as it can spawn):
 * 0 for the first, then from 100 ms doubling to 10 s; a worker that
 * becomes ready resets it. A worker that dies during a job is replaced at
 * once: its input is gone with the job, so the respawn rate is bounded
 * by the calls, and quarantine bounds a plugin that crashes on all of
 * them. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   10000
/* How long start-up waits for a worker's ready (init may load a model). */
#define READY_WAIT_MS 60000
/* Crashing inputs kept per plugin under state_dir/crashes/<plugin>/. */
#define CRASH_KEEP 10
/* Progress goes to clients at most this often per job (as in thread
 * mode; the worker limits it too). */
#define PROGRESS_INTERVAL_NS (100ull * MS_NS)
/* Bytes of envelope a worker's frame may carry beyond a client's limit. */
#define FRAME_SLACK               (64u * 1024u)
#define AUTO_BOUND_INITIAL        1024u
#define AUTO_BOUND_MIN_PER_WORKER 4u
#define AUTO_BOUND_MAX            65536u

enum wstate {
	W_EMPTY,    /* no process: waiting for a respawn (or quarantined) */
	W_STARTING, /* init sent, waiting for ready */
	W_IDLE,
	W_BUSY,
	W_STOPPING, /* stop sent */
};

struct pworker {
	struct procpool *pp;
	unsigned idx;
	enum wstate state;
	pid_t pid;
	int sock;
	struct wchan ch;
	struct event *ev;
	bool writing; /* ev armed for EV_WRITE too */
	struct event *respawn_ev;
	unsigned backoff_ms;
	bool retire; /* resize: stop after the current job */
	char cgroup[4096];
	uint64_t oom_before;

	struct job *job;
	int64_t jobno;
	uint64_t stop_asked_ns; /* cancel sent; 0: not yet */
	bool killed;            /* we killed it (hang): not a crash */
};

struct procpool {
	struct procpool_conf conf;
	char *name, *path;
	json_t *options;
	const struct procpool_ops *ops;
	void *ctx;
	struct cq *done;

	struct pworker **w;
	unsigned n_w;    /* slots */
	unsigned want_w; /* how many should live */

	struct fairq q; /* users take turns, as in the thread pool */
	uint32_t queued, running;
	bool stopping;
	int64_t next_jobno;

	struct event *tick_ev;
	bool ticking;
	/* Runs the queue on the loop's next turn: submit is called under
	 * the job's lock (detached.c), which starting a job takes. */
	struct event *kick_ev;

	/* Crash times (monotonic ns) within the window, oldest first. */
	uint64_t *crash_ns;
	unsigned n_crash, cap_crash;
	uint64_t quarantine_end_ns; /* 0: not quarantined */
	struct event *quarantine_ev;

	struct pool_metrics metrics; /* as the thread pool keeps them */
	uint64_t done_count, failed_count, busy_count, restarts;
	uint64_t service_total_ns, service_ewma_ns;
};

static struct {
	struct event_base *base;
	char *state_dir;
	struct memlimit ml;
	bool ml_ready;
} G;

void procpool_setup(struct event_base *base, const char *state_dir)
{
	G.base = base;
	free(G.state_dir);
	G.state_dir = state_dir ? strdup(state_dir) : NULL;
	if (G.ml_ready)
		return;
	memlimit_detect(&G.ml, "/sys/fs/cgroup", "/proc/self/cgroup");
	if (G.ml.kind == MEMLIMIT_CGROUP && memlimit_cgroup_prepare(&G.ml) < 0)
		G.ml.kind = MEMLIMIT_RLIMIT;
	G.ml_ready = true;
	log_info("worker memory_limit enforced by %s (%s)",
	         memlimit_kind_name(G.ml.kind), G.ml.why);
}

/* --- helpers ----------------------------------------------------------- */

static int queue_push(struct procpool *pp, struct job *j)
{
	int rc = fairq_push(&pp->q, j);

	if (rc < 0)
		return rc;
	j->queued = true;
	pp->queued++;
	return 0;
}

static void queue_remove(struct procpool *pp, struct job *j)
{
	fairq_remove(&pp->q, j);
	j->queued = false;
	pp->queued--;
}

/* The next job whose user may start one (fairq_pop counts it running
 * for its user), or NULL. */
static struct job *queue_pop(struct procpool *pp)
{
	struct job *j = fairq_pop(&pp->q);

	if (j) {
		j->queued = false;
		pp->queued--;
	}
	return j;
}

/* A job whose worker died waits again, at the end of its user's lane;
 * meanwhile it is not running for its user. */
static bool requeue(struct procpool *pp, struct job *j)
{
	fairq_done(j);
	return queue_push(pp, j) == 0;
}

/* Takes every waiting job out, as a list through q_next. */
static struct job *queue_take_all(struct procpool *pp)
{
	struct job *list = fairq_take_all(&pp->q), *j;

	for (j = list; j; j = j->q_next)
		j->queued = false;
	pp->queued = 0;
	return list;
}

static uint32_t bound_of(const struct procpool *pp)
{
	uint64_t b;

	if (pp->conf.bound)
		return pp->conf.bound;
	if (!pp->service_ewma_ns)
		return AUTO_BOUND_INITIAL;
	b = (uint64_t)pp->want_w *
	    (pp->conf.queue_delay_ms ? pp->conf.queue_delay_ms : 1000) * MS_NS /
	    pp->service_ewma_ns;
	if (b < AUTO_BOUND_MIN_PER_WORKER * pp->want_w)
		b = AUTO_BOUND_MIN_PER_WORKER * pp->want_w;
	if (b > AUTO_BOUND_MAX)
		b = AUTO_BOUND_MAX;
	return (uint32_t)b;
}

static uint64_t quarantine_left_ms(const struct procpool *pp)
{
	uint64_t now = monotonic_ns();

	if (!pp->quarantine_end_ns || now >= pp->quarantine_end_ns)
		return 0;
	return (pp->quarantine_end_ns - now + MS_NS - 1) / MS_NS;
}

static void hist_add(struct pool_hist *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i;

	for (i = 0; i < POOL_HIST_BUCKETS; i++)
		if (s <= pool_hist_bounds_s[i])
			h->le[i]++;
	h->count++;
	h->sum_s += s;
}

/* Hands a finished job back to the loop's completion handler. */
static void complete(struct procpool *pp, struct job *j)
{
	if (j->status == JOBD_OK)
		pp->done_count++;
	else
		pp->failed_count++;
	pp->metrics.outcome[j->status >= 0 && j->status < JOBD_E_COUNT_
	                            ? j->status
	                            : JOBD_E_INTERNAL]++;
	if (j->t_started_ns && j->t_finished_ns >= j->t_started_ns) {
		hist_add(&pp->metrics.duration,
		         j->t_finished_ns - j->t_queued_ns);
		hist_add(&pp->metrics.queue, j->t_started_ns - j->t_queued_ns);
	}
	fairq_done(j); /* its user's running count; a no-op if never popped */
	cq_push(pp->done, &j->done);
}

/* Ends a job that never reached a worker: unavailable, with the time the
 * quarantine has left. Encoded here: the answer carries retry_after_ms. */
static void answer_unavailable(struct procpool *pp, struct job *j)
{
	uint64_t left = quarantine_left_ms(pp);
	char text[300];
	json_t *e;

	snprintf(text, sizeof(text),
	         "plugin \"%s\" is quarantined after %u crashes within %llu "
	         "ms; retry after %llu ms",
	         pp->name, pp->conf.max_crashes,
	         (unsigned long long)pp->conf.crash_window_ms,
	         (unsigned long long)left);
	j->status = JOBD_E_UNAVAILABLE;
	free(j->fail_msg);
	j->fail_msg = strdup(text);
	e = msg_error(true, j->req_id, JOBD_E_UNAVAILABLE, text);
	if (e)
		json_object_set_new(
		        e, "retry_after_ms",
		        json_integer((json_int_t)(left ? left : 1)));
	if (!e || frame_encode(e, &j->frame, &j->frame_len) < 0)
		j->frame = NULL;
	json_decref(e);
	complete(pp, j);
}

/* --- workers: start ------------------------------------------------------ */

static void worker_event_cb(evutil_socket_t fd, short what, void *arg);
static void worker_start(struct pworker *w);
static void schedule(struct procpool *pp);

static void worker_arm(struct pworker *w)
{
	bool want = wchan_pending(&w->ch) > 0;

	if (w->ev && want == w->writing)
		return;
	if (w->ev) {
		event_del(w->ev);
		event_free(w->ev);
	}
	w->writing = want;
	w->ev = event_new(G.base, w->sock,
	                  EV_READ | EV_PERSIST | (want ? EV_WRITE : 0),
	                  worker_event_cb, w);
	if (w->ev)
		event_add(w->ev, NULL);
}

static int worker_send(struct pworker *w, json_t *msg)
{
	int rc;

	if (!msg)
		return -ENOMEM;
	rc = wchan_send(&w->ch, msg, NULL, 0);
	json_decref(msg);
	if (rc == -EAGAIN)
		rc = 0;
	if (w->ev || w->state != W_STARTING)
		worker_arm(w);
	return rc;
}

/* Spawns the process and sends init; the answer comes to the loop. */
static int worker_spawn(struct pworker *w)
{
	struct procpool *pp = w->pp;
	struct spawn_opts so = {0};
	struct spawn_child c;
	char argv0[128], cgname[128];
	int rc, fds[1] = {pp->conf.plugin_fd};
	json_t *init;

	snprintf(argv0, sizeof(argv0), "jobd-worker %s/%u", pp->name, w->idx);
	so.worker_path = spawn_worker_path();
	so.stderr_fd = STDERR_FILENO;
	so.argv0 = argv0;
	w->cgroup[0] = '\0';
	if (pp->conf.memory_limit && G.ml.kind == MEMLIMIT_CGROUP) {
		snprintf(cgname, sizeof(cgname), "%s-%u", pp->name, w->idx);
		if (memlimit_cgroup_create(&G.ml, cgname, pp->conf.memory_limit,
		                           w->cgroup, sizeof(w->cgroup)) < 0)
			w->cgroup[0] = '\0';
	}
	if (pp->conf.memory_limit && !w->cgroup[0])
		so.rlimit_bytes = pp->conf.memory_limit;
	rc = spawn_worker(&so, &c);
	if (rc < 0) {
		log_error("plugin %s: cannot start worker %u (%s): %s",
		          pp->name, w->idx, so.worker_path, strerror(-rc));
		return rc;
	}
	if (w->cgroup[0]) {
		if (memlimit_cgroup_attach(w->cgroup, c.pid) < 0)
			log_warning("plugin %s: worker %u not in its cgroup "
			            "%s: memory_limit not enforced",
			            pp->name, w->idx, w->cgroup);
		w->oom_before = 0;
		memlimit_cgroup_oom_kills(w->cgroup, &w->oom_before);
	}
	w->pid = c.pid;
	w->sock = c.sock;
	w->killed = false;
	w->job = NULL;
	w->stop_asked_ns = 0;
	wchan_init(&w->ch, w->sock, pp->conf.max_frame + FRAME_SLACK);
	w->state = W_STARTING;
	init = wmsg_init(pp->path, 0, pp->options, w->idx, log_get_level(),
	                 64 * 1024, 1);
	rc = init ? wchan_send(&w->ch, init, fds, 1) : -ENOMEM;
	json_decref(init); /* wchan_send encodes it; the caller keeps it */
	if (rc < 0 && rc != -EAGAIN)
		log_warning("plugin %s: worker %u: init not sent: %s", pp->name,
		            w->idx, strerror(-rc));
	return 0;
}

/* --- workers: end -------------------------------------------------------- */

/* Reaps a worker whose socket ended: waits (briefly) for it to exit
 * without reaping, kills its process group (a plugin's children die with
 * it; the zombie keeps the group id ours), then reaps. */
static void worker_reap(struct pworker *w, struct spawn_exit *ex)
{
	siginfo_t si;
	int i;

	for (i = 0; i < 200; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)w->pid, &si,
		           WEXITED | WNOWAIT | WNOHANG) == 0 &&
		    si.si_pid == w->pid)
			break;
		usleep(10 * 1000);
	}
	spawn_kill_group(w->pid, SIGKILL);
	memset(ex, 0, sizeof(*ex));
	if (spawn_reap(w->pid, 0, ex) < 1)
		ex->pid = 0;
}

/* Keeps the input that crashed a worker for the plugin's author, at most
 * CRASH_KEEP files per plugin. Returns the path (static) or NULL. */
static const char *keep_crash_input(struct procpool *pp, const struct job *j)
{
	static char path[4096 + 64];
	char dir[4096];
	struct dirent **ents = NULL;
	int n, i;

	if (!G.state_dir || !j->input)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/crashes", G.state_dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/crashes/%s", G.state_dir, pp->name);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return NULL;
	n = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		/* Oldest first (names start with the time): make room. */
		if (ents[i]->d_name[0] != '.' && n - i > CRASH_KEEP + 1) {
			char old[4096 + 256];

			snprintf(old, sizeof(old), "%s/%s", dir,
			         ents[i]->d_name);
			unlink(old);
		}
		free(ents[i]);
	}
	free(ents);
	snprintf(path, sizeof(path), "%s/%013lld-%lld.json", dir,
	         (long long)wall_ms(), (long long)j->req_id);
	if (json_dump_file(j->input, path, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
		return NULL;
	return path;
}

/* Records a crash; true if it put the plugin in quarantine. */
static bool count_crash(struct procpool *pp)
{
	uint64_t now = monotonic_ns(), win = pp->conf.crash_window_ms * MS_NS;
	unsigned i, keep = 0;

	for (i = 0; i < pp->n_crash; i++)
		if (now - pp->crash_ns[i] < win)
			pp->crash_ns[keep++] = pp->crash_ns[i];
	pp->n_crash = keep;
	if (pp->n_crash == pp->cap_crash) {
		unsigned cap = pp->cap_crash ? pp->cap_crash * 2 : 8;
		uint64_t *g = realloc(pp->crash_ns, cap * sizeof(*g));

		if (!g)
			return false;
		pp->crash_ns = g;
		pp->cap_crash = cap;
	}
	pp->crash_ns[pp->n_crash++] = now;
	if (pp->n_crash < pp->conf.max_crashes || pp->quarantine_end_ns)
		return false;
	pp->quarantine_end_ns = pp->crash_ns[0] + win;
	return true;
}

static void quarantine_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct procpool *pp = arg;
	unsigned i;

	(void)fd;
	(void)what;
	pp->quarantine_end_ns = 0;
	pp->n_crash = 0;
	log_notice("plugin %s: quarantine over; starting its workers",
	           pp->name);
	for (i = 0; i < pp->n_w; i++)
		if (pp->w[i] && pp->w[i]->state == W_EMPTY && !pp->w[i]->retire)
			worker_start(pp->w[i]);
}

static void enter_quarantine(struct procpool *pp)
{
	uint64_t left = quarantine_left_ms(pp);
	struct timeval tv = {(time_t)(left / 1000),
	                     (suseconds_t)(left % 1000) * 1000};
	struct job *j, *list;

	log_error("plugin %s: %u crashes within %llu ms: quarantined for "
	          "%llu ms (calls get unavailable; a reload with a changed "
	          "file lifts it)",
	          pp->name, pp->n_crash,
	          (unsigned long long)pp->conf.crash_window_ms,
	          (unsigned long long)left);
	if (!pp->quarantine_ev)
		pp->quarantine_ev = evtimer_new(G.base, quarantine_end_cb, pp);
	if (pp->quarantine_ev)
		evtimer_add(pp->quarantine_ev, &tv);
	list = queue_take_all(pp);
	while ((j = list)) {
		list = j->q_next;
		j->q_prev = j->q_next = NULL;
		answer_unavailable(pp, j);
	}
}

static void respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pworker *w = arg;

	(void)fd;
	(void)what;
	if (w->state == W_EMPTY && !w->pp->stopping &&
	    !w->pp->quarantine_end_ns && !w->retire)
		worker_start(w);
}

static void respawn_later(struct pworker *w)
{
	struct procpool *pp = w->pp;
	unsigned ms = w->backoff_ms;
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};

	if (pp->stopping || pp->quarantine_end_ns || w->retire)
		return;
	w->backoff_ms = !ms                    ? BACKOFF_FIRST_MS
	                : ms >= BACKOFF_MAX_MS ? BACKOFF_MAX_MS
	                                       : ms * 2;
	if (!w->respawn_ev)
		w->respawn_ev = evtimer_new(G.base, respawn_cb, w);
	if (w->respawn_ev)
		evtimer_add(w->respawn_ev, &tv);
}

/* The verdict on a job whose worker died under it. */
static int crash_verdict(struct pworker *w, const struct spawn_exit *ex,
                         char *msg, size_t size)
{
	struct procpool *pp = w->pp;
	char how[128];
	uint64_t ooms = 0;

	spawn_describe(ex, how, sizeof(how));
	if (pp->conf.memory_limit) {
		bool oom = false;

		if (w->cgroup[0])
			oom = memlimit_cgroup_oom_kills(w->cgroup, &ooms) ==
			              0 &&
			      ooms > w->oom_before;
		else
			oom = (ex->signaled || (ex->exited && ex->code)) &&
			      memlimit_rlimit_exhausted(ex->maxrss_kb,
			                                pp->conf.memory_limit);
		if (oom) {
			snprintf(msg, size,
			         "worker reached memory_limit %llu bytes "
			         "(peak %llu KiB) and %s",
			         (unsigned long long)pp->conf.memory_limit,
			         (unsigned long long)ex->maxrss_kb, how);
			return JOBD_E_OUT_OF_MEMORY;
		}
	}
	snprintf(msg, size, "worker %s", how);
	return JOBD_E_PLUGIN_CRASHED;
}

static void worker_close(struct pworker *w)
{
	if (w->ev) {
		event_del(w->ev);
		event_free(w->ev);
		w->ev = NULL;
	}
	w->writing = false;
	wchan_fini(&w->ch);
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
}

/* The worker's socket ended or broke: reap it, settle its job, respawn. */
static void worker_died(struct pworker *w, const char *why)
{
	struct procpool *pp = w->pp;
	struct spawn_exit ex;
	enum wstate was = w->state;
	struct job *j = w->job;
	char how[128], msg[300];
	bool quarantined = false;
	int rc;

	if (why)
		spawn_kill_group(w->pid, SIGKILL);
	worker_close(w);
	worker_reap(w, &ex);
	spawn_describe(&ex, how, sizeof(how));
	w->state = W_EMPTY;
	w->job = NULL;
	w->pid = 0;
	if (was == W_STOPPING) {
		if (w->cgroup[0])
			memlimit_cgroup_remove(w->cgroup);
		return; /* asked to stop */
	}
	if (j) {
		pp->running--;
		j->finished_wall_ms = wall_ms();
		j->t_finished_ns = monotonic_ns();
		if (w->killed) {
			/* Hung past kill_grace: the job ends as its stop
			 * asked; the worker is replaced, not counted. */
			rc = atomic_load(&j->stop_reason);
			if (!rc)
				rc = JOBD_E_TIMEOUT;
			log_warning(
			        "plugin %s: worker %u (pid %d) did not stop "
			        "within kill_grace; killed its process "
			        "group",
			        pp->name, w->idx, (int)ex.pid);
			free(j->fail_msg);
			j->fail_msg = strdup(
			        rc == JOBD_E_TIMEOUT
			                ? "deadline passed; the plugin did not "
			                  "stop and its worker was killed"
			                : "cancelled; the plugin did not stop "
			                  "and its worker was killed");
			pp->ops->end(pp->ctx, j, rc, NULL, true, true);
			complete(pp, j);
			w->backoff_ms = 0;
			pp->restarts++;
			worker_start(w);
			schedule(pp);
			return;
		}
		rc = crash_verdict(w, &ex, msg, sizeof(msg));
		{
			const char *kept = keep_crash_input(pp, j);

			log_error("plugin %s: worker %u (pid %d) %s: %s "
			          "(call id %lld)%s%s",
			          pp->name, w->idx, (int)ex.pid,
			          why ? why : "died", msg, (long long)j->req_id,
			          kept ? "; its input is kept in " : "",
			          kept ? kept : "");
		}
		quarantined = count_crash(pp);
		/* A retry waits again, at the end of its user's lane; it
		 * is no longer running for its user meanwhile. */
		if (j->has_job_id &&
		    (pp->conf.flags & JOBD_PLUGIN_RETRY_SAFE) &&
		    j->prior_attempts + 1 < pp->conf.max_attempts &&
		    !quarantined && requeue(pp, j)) {
			j->prior_attempts++;
			log_notice("plugin %s: job %s is retry-safe: run again "
			           "(attempt %u of %u)",
			           pp->name, j->job_id, j->prior_attempts + 1,
			           pp->conf.max_attempts);
		} else {
			free(j->fail_msg);
			j->fail_msg = strdup(msg);
			pp->ops->end(pp->ctx, j, rc, NULL, true, true);
			complete(pp, j);
		}
	} else {
		log_error("plugin %s: worker %u (pid %d) %s while %s", pp->name,
		          w->idx, (int)ex.pid, why ? why : how,
		          was == W_STARTING ? "starting" : "idle");
		if (was == W_STARTING)
			quarantined = count_crash(pp);
	}
	if (w->cgroup[0])
		memlimit_cgroup_remove(w->cgroup);
	if (was != W_STARTING)
		w->backoff_ms = 0;
	if (quarantined)
		enter_quarantine(pp);
	else if (!w->retire)
		respawn_later(w);
	pp->restarts++;
	schedule(pp);
}

/* --- workers: messages --------------------------------------------------- */

static void job_finished(struct pworker *w, const struct wmsg *m)
{
	struct procpool *pp = w->pp;
	struct job *j = w->job;
	json_t *output = NULL;
	uint64_t took;
	int rc;

	if (!j || m->job != w->jobno) {
		worker_died(w, "answered a job it was not given");
		return;
	}
	j->t_finished_ns = monotonic_ns();
	j->finished_wall_ms = wall_ms();
	if (m->has_usage) {
		j->cpu_user_s = m->usage.user_s;
		j->cpu_system_s = m->usage.system_s;
		j->cpu_seconds = m->usage.user_s + m->usage.system_s;
		j->peak_rss_kb = m->usage.maxrss_kb;
		j->has_peak_rss = true;
	}
	if (m->type == WMSG_RESULT) {
		rc = JOBD_OK;
		if (m->output) {
			output = json_incref(m->output);
		} else {
			int fd = m->output_fd >= 0 && (unsigned)m->output_fd <
			                                      m->nfds
			                 ? m->fds[m->output_fd]
			                 : -1;
			void *p =
			        fd >= 0 ? wchan_map(fd, m->output_size) : NULL;

			if (p) {
				output = json_loadb(p, m->output_size,
				                    JSON_DECODE_ANY, NULL);
				munmap(p, m->output_size);
			}
			if (!output) {
				rc = JOBD_E_PLUGIN_FAILED;
				free(j->fail_msg);
				j->fail_msg =
				        strdup("the worker's output could "
				               "not be read");
			}
		}
	} else {
		rc = m->code;
		free(j->fail_msg);
		j->fail_msg = m->message ? strdup(m->message) : NULL;
	}
	w->job = NULL;
	pp->running--;
	w->backoff_ms = 0;
	pp->ops->end(pp->ctx, j, rc, output, true, rc == JOBD_E_INTERNAL);
	took = j->t_finished_ns - j->t_started_ns;
	pp->service_total_ns += took;
	/* As in pool.c: one job preempted for a time slice counts as at
	 * most 8 times the average. */
	if (pp->service_ewma_ns && took > 8 * pp->service_ewma_ns)
		took = 8 * pp->service_ewma_ns;
	pp->service_ewma_ns = pp->service_ewma_ns
	                              ? pp->service_ewma_ns -
	                                        (pp->service_ewma_ns >> 3) +
	                                        (took >> 3)
	                              : (took ? took : 1);
	complete(pp, j);
	if (w->retire || pp->stopping) {
		w->state = W_STOPPING;
		worker_send(w, wmsg_stop());
	} else {
		w->state = W_IDLE;
	}
}

static void on_progress(struct pworker *w, const struct wmsg *m)
{
	struct job *j = w->job;
	struct progress_note *n;
	uint64_t now = monotonic_ns();

	if (!j || m->job != w->jobno ||
	    now - j->progress_sent_ns < PROGRESS_INTERVAL_NS)
		return;
	n = calloc(1, sizeof(*n));
	if (!n)
		return;
	j->progress_sent_ns = now;
	n->item.kind = CQ_PROGRESS;
	n->job = j;
	n->fraction = m->fraction;
	if (m->message)
		snprintf(n->message, sizeof(n->message), "%s", m->message);
	cq_push(w->pp->done, &n->item);
}

/* Returns false when the worker is gone (w is then empty). */
static bool on_message(struct pworker *w, struct wmsg *m)
{
	struct procpool *pp = w->pp;

	switch (m->type) {
	case WMSG_READY:
		if (w->state != W_STARTING ||
		    strcmp(m->name, pp->conf.name) != 0) {
			worker_died(w, "sent a ready that does not match");
			return false;
		}
		w->state = W_IDLE;
		w->backoff_ms = 0;
		return true;
	case WMSG_INIT_FAILED:
		log_error("plugin %s: worker %u: %s failed: %s", pp->name,
		          w->idx, m->stage, m->message);
		return true; /* it exits; its end of stream follows */
	case WMSG_LOG:
		log_msg(m->level, "plugin %s: %s", pp->name, m->text);
		return true;
	case WMSG_PROGRESS:
		on_progress(w, m);
		return true;
	case WMSG_RESULT:
	case WMSG_ERROR:
		if (w->state != W_BUSY && w->state != W_STOPPING) {
			worker_died(w, "answered without a job");
			return false;
		}
		job_finished(w, m);
		return w->state != W_EMPTY;
	default:
		worker_died(w, "sent a message the daemon does not take");
		return false;
	}
}

/* Reads what the socket has and handles every whole message. Returns
 * false when the worker is gone. */
static bool worker_pump(struct pworker *w)
{
	struct wmsg m;
	struct wmsg_error err;
	ssize_t n;
	int rc;

	for (;;) {
		n = wchan_read(&w->ch, MSG_DONTWAIT);
		while ((rc = wchan_next(&w->ch, WMSG_FROM_WORKER, &m, &err)) ==
		       1) {
			bool alive = on_message(w, &m);

			wmsg_fini(&m);
			if (!alive)
				return false;
		}
		if (rc < 0) {
			log_error("plugin %s: worker %u broke the protocol: "
			          "%s",
			          w->pp->name, w->idx, err.text);
			worker_died(w, "broke the protocol");
			return false;
		}
		if (n == -EAGAIN)
			return true;
		if (n == 0 || (n < 0 && n != -ENOBUFS)) {
			worker_died(w, NULL);
			return false;
		}
	}
}

static void worker_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pworker *w = arg;
	struct procpool *pp = w->pp;

	(void)fd;
	if (what & EV_WRITE) {
		int rc = wchan_flush(&w->ch);

		if (rc < 0 && rc != -EAGAIN) {
			worker_died(w, NULL);
			schedule(pp);
			return;
		}
		worker_arm(w);
	}
	if ((what & EV_READ) && !worker_pump(w)) {
		schedule(pp);
		return;
	}
	schedule(pp);
}

static void worker_start(struct pworker *w)
{
	if (worker_spawn(w) < 0) {
		w->state = W_EMPTY;
		respawn_later(w);
		return;
	}
	evutil_make_socket_nonblocking(w->sock);
	worker_arm(w);
}

/* --- jobs ---------------------------------------------------------------- */

static void tick_cb(evutil_socket_t fd, short what, void *arg);

static void tick_arm(struct procpool *pp)
{
	struct timeval tv = {0, TICK_MS * 1000};

	if (pp->ticking)
		return;
	if (!pp->tick_ev)
		pp->tick_ev = event_new(G.base, -1, EV_PERSIST, tick_cb, pp);
	if (pp->tick_ev && event_add(pp->tick_ev, &tv) == 0)
		pp->ticking = true;
}

/* Cancel, deadline and kill_grace for the running jobs. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct procpool *pp = arg;
	uint64_t now = monotonic_ns();
	unsigned i;

	(void)fd;
	(void)what;
	for (i = 0; i < pp->n_w; i++) {
		struct pworker *w = pp->w[i];
		struct job *j;

		if (!w || w->state != W_BUSY || !(j = w->job))
			continue;
		if (!w->stop_asked_ns &&
		    (atomic_load(&j->stop_reason) ||
		     (j->deadline_ns && now >= j->deadline_ns))) {
			w->stop_asked_ns = now;
			worker_send(w, wmsg_cancel(w->jobno));
		} else if (w->stop_asked_ns && !w->killed &&
		           now - w->stop_asked_ns >=
		                   pp->conf.kill_grace_ms * MS_NS) {
			w->killed = true;
			spawn_kill_group(w->pid, SIGKILL);
		}
	}
	if (!pp->running && !pp->queued && pp->ticking) {
		event_del(pp->tick_ev);
		pp->ticking = false;
	}
	if (pp->queued)
		schedule(pp);
}

/* Gives queued jobs to idle workers. */
static void schedule(struct procpool *pp)
{
	unsigned i;

	for (i = 0; i < pp->n_w && pp->queued; i++) {
		struct pworker *w = pp->w[i];
		struct job *j;
		uint64_t left = 0, now;
		int rc;

		if (!w || w->state != W_IDLE || w->retire)
			continue;
		j = queue_pop(pp);
		if (!j) {
			/* Every waiting user is at its max_running: the tick
			 * looks again (a job of theirs may end in another
			 * plugin's pool). */
			tick_arm(pp);
			break;
		}
		j->t_started_ns = monotonic_ns();
		rc = pp->ops->begin(pp->ctx, j);
		if (rc != JOBD_OK) {
			j->t_finished_ns = j->t_started_ns;
			pp->ops->end(pp->ctx, j, rc, NULL, false, true);
			complete(pp, j);
			i--; /* this worker is still idle */
			continue;
		}
		now = monotonic_ns();
		if (j->deadline_ns)
			left = j->deadline_ns > now
			               ? (j->deadline_ns - now + MS_NS - 1) /
			                         MS_NS
			               : 1;
		w->job = j;
		w->jobno = ++pp->next_jobno;
		w->stop_asked_ns = 0;
		w->killed = false;
		w->state = W_BUSY;
		pp->running++;
		rc = worker_send(w,
		                 wmsg_job(w->jobno, j->input, -1, 0, left,
		                          j->has_job_id ? j->job_id : NULL, 0));
		if (rc < 0) {
			worker_died(w, "could not be sent its job");
			continue;
		}
		tick_arm(pp);
	}
}

/* --- the pool interface -------------------------------------------------- */

/* Start-up: waits for worker w's ready. 0, or -1 with *why. */
static int wait_ready(struct pworker *w, char **why)
{
	uint64_t end = monotonic_ns() + READY_WAIT_MS * MS_NS;
	struct wmsg m;
	struct wmsg_error err;
	ssize_t n;
	int rc;

	while (wchan_pending(&w->ch) && wchan_flush(&w->ch) == 0)
		;
	for (;;) {
		struct pollfd pfd = {.fd = w->sock, .events = POLLIN};
		uint64_t now = monotonic_ns();

		if (now >= end) {
			*why = strdup("the worker did not answer init within "
			              "60 s");
			return -1;
		}
		if (poll(&pfd, 1, (int)((end - now) / MS_NS) + 1) < 0 &&
		    errno != EINTR)
			return -1;
		n = wchan_read(&w->ch, MSG_DONTWAIT);
		while ((rc = wchan_next(&w->ch, WMSG_FROM_WORKER, &m, &err)) ==
		       1) {
			if (m.type == WMSG_READY) {
				bool same =
				        strcmp(m.name, w->pp->conf.name) == 0;

				wmsg_fini(&m);
				if (!same) {
					*why = strdup("the worker loaded a "
					              "plugin of another name");
					return -1;
				}
				w->state = W_IDLE;
				return 0;
			}
			if (m.type == WMSG_INIT_FAILED) {
				if (asprintf(why, "%s", m.message) < 0)
					*why = NULL;
				wmsg_fini(&m);
				return -1;
			}
			if (m.type == WMSG_LOG)
				log_msg(m.level, "plugin %s: %s", w->pp->name,
				        m.text);
			wmsg_fini(&m);
		}
		if (rc < 0) {
			*why = strdup(err.text);
			return -1;
		}
		if (n == 0 || (n < 0 && n != -EAGAIN && n != -ENOBUFS)) {
			struct spawn_exit ex;
			char how[128];

			worker_reap(w, &ex);
			w->pid = 0;
			spawn_describe(&ex, how, sizeof(how));
			if (asprintf(why, "its worker %s while starting", how) <
			    0)
				*why = NULL;
			return -1;
		}
	}
}

static struct pworker *worker_new(struct procpool *pp, unsigned idx)
{
	struct pworker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->pp = pp;
	w->idx = idx;
	w->sock = -1;
	return w;
}

int procpool_new(const struct procpool_conf *conf,
                 const struct procpool_ops *ops, void *ctx, struct cq *done,
                 struct procpool **out, char **why)
{
	struct procpool *pp;
	unsigned i;

	*why = NULL;
	if (!G.base) {
		*why = strdup("process isolation is not set up");
		return -EINVAL;
	}
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return -ENOMEM;
	pp->conf = *conf;
	pp->name = strdup(conf->name);
	pp->path = strdup(conf->path);
	pp->options =
	        conf->options ? json_deep_copy(conf->options) : json_object();
	pp->conf.name = pp->name;
	pp->conf.path = pp->path;
	pp->conf.options = NULL;
	pp->ops = ops;
	pp->ctx = ctx;
	pp->done = done;
	pp->n_w = pp->want_w = conf->workers;
	pp->w = calloc(conf->workers, sizeof(*pp->w));
	if (!pp->name || !pp->path || !pp->options || !pp->w)
		goto nomem;
	for (i = 0; i < conf->workers; i++) {
		pp->w[i] = worker_new(pp, i);
		if (!pp->w[i])
			goto nomem;
		if (worker_spawn(pp->w[i]) < 0) {
			if (asprintf(why, "cannot start jobd-worker %s",
			             spawn_worker_path()) < 0)
				*why = NULL;
			goto fail;
		}
	}
	/* Workers load and init in parallel; the first one's answer says
	 * whether the plugin can run at all. */
	for (i = 0; i < conf->workers; i++) {
		struct pworker *w = pp->w[i];
		char *wwhy = NULL;

		if (wait_ready(w, &wwhy) < 0) {
			if (i == 0) {
				*why = wwhy;
				goto fail;
			}
			log_error("plugin %s: worker %u: %s", pp->name, i,
			          wwhy ? wwhy : "failed");
			free(wwhy);
			if (w->pid) {
				spawn_kill_group(w->pid, SIGKILL);
				spawn_reap(w->pid, 0, &(struct spawn_exit){0});
			}
			worker_close(w);
			w->state = W_EMPTY;
			w->pid = 0;
			respawn_later(w);
			continue;
		}
		evutil_make_socket_nonblocking(w->sock);
		worker_arm(w);
	}
	log_info("plugin %s: %u worker processes%s%s", pp->name, conf->workers,
	         conf->memory_limit ? ", memory_limit by " : "",
	         conf->memory_limit ? memlimit_kind_name(G.ml.kind) : "");
	*out = pp;
	return 0;
nomem:
	*why = strdup("out of memory");
fail:
	procpool_free(pp);
	return -EINVAL;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct procpool *pp = arg;
	struct job *j, *list;

	(void)fd;
	(void)what;
	if (pp->quarantine_end_ns) {
		list = queue_take_all(pp);
		while ((j = list)) {
			list = j->q_next;
			j->q_prev = j->q_next = NULL;
			answer_unavailable(pp, j);
		}
		return;
	}
	schedule(pp);
}

int procpool_submit(struct procpool *pp, struct job *j,
                    uint64_t *retry_after_ms)
{
	if (pp->stopping)
		return -ESHUTDOWN;
	if (!pp->kick_ev)
		pp->kick_ev = event_new(G.base, -1, 0, kick_cb, pp);
	if (!pp->kick_ev)
		return -ENOMEM;
	if (pp->queued >= bound_of(pp) && !pp->quarantine_end_ns) {
		pp->busy_count++;
		pp->metrics.outcome[JOBD_E_BUSY]++;
		if (retry_after_ms)
			*retry_after_ms = procpool_retry_after_ms(pp);
		return -EBUSY;
	}
	if (queue_push(pp, j) < 0)
		return -ENOMEM;
	event_active(pp->kick_ev, 0, 0);
	return 0;
}

uint64_t procpool_retry_after_ms(struct procpool *pp)
{
	uint64_t ms = pp->service_ewma_ns *
	              (pp->queued / (pp->want_w ? pp->want_w : 1) + 1) / MS_NS;

	return ms ? ms : 1;
}

bool procpool_unqueue(struct procpool *pp, struct job *j)
{
	if (!j->queued)
		return false;
	queue_remove(pp, j);
	return true;
}

int procpool_resize(struct procpool *pp, unsigned workers, uint32_t bound)
{
	unsigned i, live = 0;

	pp->conf.bound = bound;
	for (i = 0; i < pp->n_w; i++) {
		struct pworker *w = pp->w[i];

		if (!w || w->retire)
			continue;
		if (live >= workers) {
			w->retire = true;
			if (w->state == W_IDLE) {
				w->state = W_STOPPING;
				worker_send(w, wmsg_stop());
			}
		} else {
			live++;
		}
	}
	pp->want_w = workers;
	if (workers > pp->n_w) {
		struct pworker **g = realloc(pp->w, workers * sizeof(*g));

		if (!g)
			return -ENOMEM;
		memset(g + pp->n_w, 0, (workers - pp->n_w) * sizeof(*g));
		pp->w = g;
		pp->n_w = workers;
	}
	for (i = 0; i < pp->n_w && live < workers; i++) {
		if (pp->w[i] && pp->w[i]->state != W_EMPTY)
			continue;
		if (!pp->w[i] && !(pp->w[i] = worker_new(pp, i)))
			return -ENOMEM;
		pp->w[i]->retire = false;
		worker_start(pp->w[i]);
		live++;
	}
	return 0;
}

void procpool_set_limits(struct procpool *pp, uint64_t kill_grace_ms,
                         unsigned max_crashes, uint64_t crash_window_ms,
                         unsigned max_attempts)
{
	pp->conf.kill_grace_ms = kill_grace_ms;
	pp->conf.max_crashes = max_crashes;
	pp->conf.crash_window_ms = crash_window_ms;
	pp->conf.max_attempts = max_attempts;
}

void procpool_get_stats(struct procpool *pp, struct pool_stats *out)
{
	uint64_t left = quarantine_left_ms(pp);

	memset(out, 0, sizeof(*out));
	out->workers = pp->want_w;
	out->queue_bound = bound_of(pp);
	out->auto_bound = pp->conf.bound == 0;
	out->queued = pp->queued;
	out->running = pp->running;
	out->done = pp->done_count;
	out->failed = pp->failed_count;
	out->busy = pp->busy_count;
	out->mean_service_ms =
	        pp->done_count + pp->failed_count
	                ? (double)pp->service_total_ns / 1e6 /
	                          (double)(pp->done_count + pp->failed_count)
	                : 0.0;
	out->process = true;
	out->restarts = pp->restarts;
	out->crashes = pp->n_crash;
	out->quarantined_ms = left;
}

void procpool_get_metrics(struct procpool *pp, struct pool_metrics *out)
{
	*out = pp->metrics;
}

uint32_t procpool_pending(struct procpool *pp)
{
	unsigned i;

	/* At exit the loop no longer runs: read what the workers sent, so
	 * that their answers still come back. */
	for (i = 0; i < pp->n_w; i++)
		if (pp->w[i] && pp->w[i]->state == W_BUSY)
			worker_pump(pp->w[i]);
	return pp->queued + pp->running;
}

void procpool_drain_queue(struct procpool *pp, void (*fn)(struct job *, void *),
                          void *arg)
{
	struct job *list = queue_take_all(pp), *j;

	while ((j = list)) {
		list = j->q_next;
		j->q_prev = j->q_next = NULL;
		fn(j, arg);
	}
}

void procpool_stop(struct procpool *pp)
{
	uint64_t end;
	unsigned i;

	if (pp->stopping && !pp->n_w)
		return;
	pp->stopping = true;
	for (i = 0; i < pp->n_w; i++) {
		struct pworker *w = pp->w[i];

		if (!w || w->sock < 0)
			continue;
		w->state = W_STOPPING;
		json_t *stop = wmsg_stop();

		if (stop && wchan_send(&w->ch, stop, NULL, 0) == -EAGAIN)
			wchan_flush(&w->ch);
		json_decref(stop);
	}
	end = monotonic_ns() + pp->conf.kill_grace_ms * MS_NS;
	for (i = 0; i < pp->n_w; i++) {
		struct pworker *w = pp->w[i];
		struct spawn_exit ex;
		uint64_t now = monotonic_ns();

		if (!w)
			continue;
		if (w->pid &&
		    spawn_reap_timeout(
		            w->pid,
		            now < end ? (unsigned)((end - now) / MS_NS) : 0,
		            &ex) != 1) {
			spawn_kill_group(w->pid, SIGKILL);
			spawn_reap(w->pid, 0, &ex);
		}
		w->pid = 0;
		/* Also a worker already reaped (one that died in init): its
		 * socket and buffers are still open. */
		worker_close(w);
		if (w->cgroup[0])
			memlimit_cgroup_remove(w->cgroup);
	}
}

void procpool_free(struct procpool *pp)
{
	unsigned i;

	if (!pp)
		return;
	procpool_stop(pp);
	for (i = 0; i < pp->n_w; i++) {
		if (!pp->w[i])
			continue;
		if (pp->w[i]->respawn_ev)
			event_free(pp->w[i]->respawn_ev);
		free(pp->w[i]);
	}
	if (pp->tick_ev)
		event_free(pp->tick_ev);
	if (pp->kick_ev)
		event_free(pp->kick_ev);
	if (pp->quarantine_ev)
		event_free(pp->quarantine_ev);
	free(pp->w);
	free(pp->crash_ns);
	fairq_fini(&pp->q);
	json_decref(pp->options);
	free(pp->name);
	free(pp->path);
	free(pp);
}
