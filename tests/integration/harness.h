/* SPDX-License-Identifier: MIT */
/*
 * Test harness: runs the real jobd on loopback, in a private temporary
 * directory, and talks to it over real TCP. The listening socket is made
 * here and handed over by socket activation (LISTEN_FDS), so the port is
 * known before jobd starts and nothing races for it; sd_notify messages
 * arrive on a real datagram socket (NOTIFY_SOCKET) that the harness reads.
 *
 * Environment (set by meson): JOBD_BIN, JOBD_PLUGIN_DIR (bundled plugins),
 * JOBD_TEST_PLUGIN_DIR (test plugins). With JOBD_TEST_PGHOST (set by
 * tests/pg/pg-cluster.sh) the generated config keeps the jobs in that
 * PostgreSQL cluster instead of SQLite, one database per state_dir.
 */
#ifndef JOBD_TESTS_HARNESS_H
#define JOBD_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct jobd_proc {
	pid_t pid;
	uint16_t port;
	char dir[256]; /* private temp dir, removed by stop */
	char config_path[300];
	char log_path[300]; /* jobd's stderr */
	char notify_path[300];
	int notify_fd;
};

struct harness_opts {
	/* YAML appended to the generated config (plugins:, limits:, ...). It
	 * must not repeat listen/plugin_dirs/state_dir unless no_defaults. */
	const char *yaml;
	/* plugin_dirs entries; NULL: JOBD_PLUGIN_DIR and JOBD_TEST_PLUGIN_DIR.
	 */
	const char *plugin_dirs[4];
	/* Bind from the config's listen: instead of socket activation. */
	bool bind_from_config;
	/* With bind_from_config: more listen: entries after the harness's
	 * port, as YAML list items ("  - unix:/path\n  - {address: ...}"). */
	const char *listen_extra;
	/* Extra environment for jobd, "NAME=value", NULL-terminated. */
	const char *env[4];
	/* Extra argv after --config FILE, NULL-terminated. */
	const char *args[4];
	/* Use this config file as it is instead of generating one (listen:
	 * is ignored: the socket still comes by socket activation). */
	const char *config_file;
	/* Do not wait for READY=1 (for tests of failing starts). */
	bool no_wait_ready;
	/* state_dir for the generated config instead of DIR/state: a
	 * directory that outlives harness_stop (restart tests). The caller
	 * makes and removes it. */
	const char *state_dir;
};

/* Starts jobd and waits (up to 20 s) for READY=1. Returns 0 or -1. */
int harness_start(struct jobd_proc *p, const struct harness_opts *o);

/* Sends sig (0: SIGTERM) and waits up to timeout_ms; returns the exit
 * status as waitpid gives it, or -1 if it had to be killed. Cleans up. */
int harness_stop(struct jobd_proc *p, int sig, int timeout_ms);

/* Waits for a notify datagram containing `needle`; copies it to buf.
 * Returns 0, or -1 on timeout. */
int harness_wait_notify(struct jobd_proc *p, const char *needle, int timeout_ms,
                        char *buf, size_t size);

/* A blocking TCP connection to jobd (IPv4 loopback). -1 on failure. */
int harness_connect(const struct jobd_proc *p);

/* Sends one JSON value as a frame. Returns 0 or -1. */
int harness_send(int fd, const json_t *msg);
/* Sends raw bytes. */
int harness_send_raw(int fd, const void *buf, size_t len);
/* Sends a JSON text (not validated) as one frame. */
int harness_send_text(int fd, const char *text);

/* Receives one frame and parses it; NULL on timeout, EOF or bad data. */
json_t *harness_recv(int fd, int timeout_ms);
/* Like harness_recv but skips progress messages. */
json_t *harness_recv_answer(int fd, int timeout_ms);

/* True if the peer closed (EOF or reset) within timeout_ms. */
bool harness_wait_closed(int fd, int timeout_ms);

/* Call-and-response: sends a call and waits for its answer. input_text is
 * JSON text. Returns the answer (result or error) or NULL. */
json_t *harness_call(int fd, int64_t id, const char *plugin,
                     const char *input_text, int timeout_ms);

/* The `code` of an error message, or "" if msg is not an error. */
const char *harness_error_code(const json_t *msg);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t harness_now_ms(void);

/* Reads jobd's stderr so far into a malloc'd string. */
char *harness_log(const struct jobd_proc *p);

#endif
