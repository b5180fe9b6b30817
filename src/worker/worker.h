/* SPDX-License-Identifier: MIT */
/*
 * The worker's side of the worker protocol (docs/isolation.md): reads
 * init, loads the plugin, answers ready, runs jobs one at a time on the
 * calling (main) thread, and offers the plugin the struct jobd_host
 * services over the socket.
 *
 * cancelled() is answered here, without a reader thread: it checks the
 * job's deadline (known locally) and, at most once a millisecond, reads
 * whatever the daemon has sent without blocking; a cancel for the running
 * job or a stop sets the job's flag. While a job runs the daemon sends
 * nothing else (a job message then is a protocol error). So the worker
 * process has no thread of its own besides the one that runs process(),
 * and a plugin that never calls cancelled() costs nothing: the daemon
 * kills it after kill_grace.
 */
#ifndef JOBD_WORKER_WORKER_H
#define JOBD_WORKER_WORKER_H

/* Exit statuses of jobd-worker, from sysexits.h so that they stand apart
 * from the small numbers a plugin's own exit() tends to use. */
enum worker_exit {
	WORKER_EXIT_OK = 0,        /* stop, or the daemon closed the socket */
	WORKER_EXIT_USAGE = 64,    /* bad arguments, or setup failed */
	WORKER_EXIT_ORPHAN = 75,   /* the daemon was gone at start */
	WORKER_EXIT_PROTOCOL = 76, /* the daemon sent something invalid */
	WORKER_EXIT_INIT_FAILED = 78, /* after sending init_failed */
};

/* Runs the protocol on socket sock until stop or end of stream. Returns a
 * worker_exit status. */
int worker_run(int sock);

#endif
