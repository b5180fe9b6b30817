/*
 * Driving a real jobd-worker from a test, as the daemon's exec layer will:
 * spawn it through the spawn library, speak the worker protocol over the
 * socketpair, reap it. Blocking calls with timeouts; a test program only.
 */
#ifndef JOBD_TESTS_WK_H
#define JOBD_TESTS_WK_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/wchan.h"
#include "ipc/wmsg.h"
#include "spawn/spawn.h"

struct wk {
	struct spawn_child child;
	struct wchan ch;
	bool reaped;
	struct spawn_exit exit;
};

/* The path of a plugin: dir from the environment variable env, name.so. */
const char *wk_plugin(const char *env, const char *name);

/* Spawns a worker (rlimit_bytes 0: no limit). */
void wk_spawn(struct wk *w, uint64_t rlimit_bytes);

/* Sends init for plugin (options: JSON text or NULL); with_fd sends the
 * .so as a descriptor too. */
void wk_init(struct wk *w, const char *plugin, const char *options,
             bool with_fd, uint64_t fd_threshold);

/* wk_spawn + wk_init + waits for ready. */
void wk_start(struct wk *w, const char *plugin, const char *options,
              uint64_t rlimit_bytes);

/* Next message from the worker within timeout_ms: 1 (m filled), 0 at end
 * of stream, -1 on timeout; a protocol error fails the test. */
int wk_recv(struct wk *w, struct wmsg *m, int timeout_ms);

/* Next message that is not log or progress (those are skipped). */
int wk_recv_answer(struct wk *w, struct wmsg *m, int timeout_ms);

/* Sends a job with input given as JSON text. */
void wk_job(struct wk *w, int64_t job, const char *input, uint64_t timeout_ms);

/* Sends any message (consumed). */
void wk_send(struct wk *w, json_t *msg);

/* Waits for the worker to end (at most timeout_ms) and reaps it: 1, or 0
 * on timeout. */
int wk_wait(struct wk *w, unsigned timeout_ms);

/* Kills the process group, reaps, closes the socket. */
void wk_free(struct wk *w);

/* The answer's output, from the message or its descriptor (new ref). */
json_t *wk_output(struct wmsg *m);

#endif
