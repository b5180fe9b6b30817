/* SPDX-License-Identifier: MIT */
/*
 * One end of a worker socket: a SOCK_STREAM AF_UNIX socketpair carrying
 * the wire library's frames (wmsg.h messages), with file descriptors passed
 * by SCM_RIGHTS beside them.
 *
 * How descriptors find their message (as Wayland does it): a message that
 * carries descriptors says how many (`"fds": N`), and the sender attaches
 * them to the sendmsg() that writes the message's first byte. The kernel
 * hands descriptors to the reader with the first byte of the data they
 * were sent with, never later, so by the time a message's last byte has
 * been read its descriptors are in the reader's queue, in order; the
 * message takes the first N from the queue.
 *
 * Both ends use it: the worker with a blocking socket, the daemon's event
 * loop with a non-blocking one (wchan_read until -EAGAIN on EV_READ,
 * wchan_flush on EV_WRITE). Not thread-safe, but its two sides touch
 * disjoint state: one thread may read (wchan_read, wchan_next,
 * wchan_mid_frame) while another writes (wchan_send, wchan_send_frame,
 * wchan_flush, wchan_pending); each side one thread at a time.
 */
#ifndef JOBD_IPC_WCHAN_H
#define JOBD_IPC_WCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ipc/wmsg.h"

/* Descriptors received but not yet taken by a message. */
#define WCHAN_MAX_QUEUED_FDS 64

struct wchan_out; /* a queued message not yet fully written */

struct wchan {
	int fd;             /* the socket; not owned (the caller closes it) */
	uint32_t max_frame; /* a longer announced frame is a protocol error */

	/* Input: bytes [start, end) of buf are read but not yet taken. */
	char *buf;
	size_t start, end, cap;
	int fdq[WCHAN_MAX_QUEUED_FDS];
	unsigned fdq_head, fdq_count;

	/* Output, oldest first. */
	struct wchan_out *out_head, *out_tail;
	size_t out_bytes;
};

void wchan_init(struct wchan *c, int fd, uint32_t max_frame);
/* Frees buffers and closes every queued descriptor, received or to be sent.
 * Does not close c->fd. Accepts a zeroed struct. */
void wchan_fini(struct wchan *c);

/*
 * Reads once from the socket (recvmsg with flags, e.g. MSG_DONTWAIT).
 * Returns the bytes read (> 0), 0 at end of stream, -EAGAIN, or another
 * negative errno: -EPROTO when descriptors were cut off (MSG_CTRUNC) or
 * overflow the queue: the peer broke the protocol; -ENOBUFS when more than
 * one frame and a read's worth is buffered. Take every whole message
 * (wchan_next until it returns 0) before reading again: the buffer then
 * never holds more than one frame and READ_CHUNK bytes.
 */
ssize_t wchan_read(struct wchan *c, int flags);

/*
 * Takes the next whole message out of what has been read. Returns 1 and
 * fills *m (wmsg_fini() it; it owns its descriptors), 0 when no whole
 * message is buffered yet, or -EPROTO with err->text saying why (a bad
 * frame length, a body wmsg_parse refuses, or fewer descriptors received
 * than the message announces): the peer is broken, close it.
 */
int wchan_next(struct wchan *c, enum wmsg_from from, struct wmsg *m,
               struct wmsg_error *err);

/* True if a frame has begun but is not complete. */
bool wchan_mid_frame(const struct wchan *c);

/*
 * Queues msg (encoded now; the caller keeps msg) with nfds descriptors,
 * which are dup()ed: the caller keeps its own. Then writes what the socket
 * takes without blocking unless the socket is blocking. Returns 0 when all
 * is written, -EAGAIN when some stays queued (wait for EV_WRITE and call
 * wchan_flush), or a negative errno (-EPIPE: the peer is gone; -ENOMEM).
 */
int wchan_send(struct wchan *c, const json_t *msg, const int *fds,
               unsigned nfds);

/* wchan_send for a frame already encoded (header and body, malloc'd; taken
 * over even on failure): for a message spliced from JSON text, as the
 * worker does with a result's output. */
int wchan_send_frame(struct wchan *c, char *frame, size_t len, const int *fds,
                     unsigned nfds);

/* Writes what is queued. Returns 0 when the queue is empty, -EAGAIN, or a
 * negative errno. */
int wchan_flush(struct wchan *c);

/* Bytes queued and not yet written. */
size_t wchan_pending(const struct wchan *c);

/* A sealed memfd holding len bytes of data, for a payload that should not
 * be copied through the socket (input_fd, output_fd). Returns the
 * descriptor (close-on-exec) or a negative errno. */
int wchan_memfd(const char *name, const void *data, size_t len);

/* Maps a payload descriptor read-only and checks it holds at least size
 * bytes. Returns the mapping (munmap(p, size) it) or NULL with errno. */
void *wchan_map(int fd, uint64_t size);

#endif
