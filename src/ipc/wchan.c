/* SPDX-License-Identifier: MIT */
/* One end of a worker socket (see wchan.h). */
#include "ipc/wchan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire/frame.h"

/* Read at least this much at a time, so small messages cost one call. */
#define READ_CHUNK (64u * 1024u)

struct wchan_out {
	struct wchan_out *next;
	char *data;
	size_t len, off;
	unsigned nfds;
	int fds[WMSG_MAX_FDS];
};

void wchan_init(struct wchan *c, int fd, uint32_t max_frame)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->max_frame = max_frame ? max_frame : FRAME_MAX_LIMIT;
}

static void out_free(struct wchan_out *o)
{
	for (unsigned i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	free(o->data);
	free(o);
}

void wchan_fini(struct wchan *c)
{
	struct wchan_out *o, *next;

	while (c->fdq_count) {
		close(c->fdq[c->fdq_head]);
		c->fdq_head = (c->fdq_head + 1) % WCHAN_MAX_QUEUED_FDS;
		c->fdq_count--;
	}
	for (o = c->out_head; o; o = next) {
		next = o->next;
		out_free(o);
	}
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The whole frame at start, if its header is in: its size, else 0. */
static size_t frame_need(const struct wchan *c)
{
	const uint8_t *h;
	uint32_t n;

	if (c->end - c->start < FRAME_HEADER_SIZE)
		return 0; /* and buf may still be NULL */
	h = (const uint8_t *)c->buf + c->start;
	n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
	    h[3];
	return n > c->max_frame ? 0 : FRAME_HEADER_SIZE + (size_t)n;
}

/* Makes room for at least READ_CHUNK bytes, or for the rest of the frame
 * that has begun, whichever is more. */
static int make_room(struct wchan *c)
{
	size_t have = c->end - c->start;
	size_t want = have + READ_CHUNK;
	size_t need = frame_need(c);
	char *p;

	/* Bounded: the caller takes whole messages before reading more. */
	if (have >= (size_t)c->max_frame + FRAME_HEADER_SIZE + READ_CHUNK)
		return -ENOBUFS;
	if (need > want)
		want = need;
	if (c->cap - c->start >= want)
		return 0;
	if (c->start) {
		memmove(c->buf, c->buf + c->start, have);
		c->start = 0;
		c->end = have;
		if (c->cap >= want)
			return 0;
	}
	p = realloc(c->buf, want);
	if (!p)
		return -ENOMEM;
	c->buf = p;
	c->cap = want;
	return 0;
}

/* Queues the descriptors of one control message; on overflow closes the
 * rest and says so. */
static int take_rights(struct wchan *c, struct msghdr *mh)
{
	struct cmsghdr *cm;
	int rc = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;
		int *fds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(cm);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, fds + i, sizeof(fd));
			if (c->fdq_count == WCHAN_MAX_QUEUED_FDS) {
				close(fd);
				rc = -EPROTO;
				continue;
			}
			c->fdq[(c->fdq_head + c->fdq_count) %
			       WCHAN_MAX_QUEUED_FDS] = fd;
			c->fdq_count++;
		}
	}
	return rc;
}

ssize_t wchan_read(struct wchan *c, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WCHAN_MAX_QUEUED_FDS)];
	} ctl;
	struct msghdr mh = {0};
	struct iovec iov;
	ssize_t n;
	int rc;

	if (c->start == c->end)
		c->start = c->end = 0;
	rc = make_room(c);
	if (rc < 0)
		return rc;
	iov.iov_base = c->buf + c->end;
	iov.iov_len = c->cap - c->end;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(c->fd, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	rc = take_rights(c, &mh);
	c->end += (size_t)n;
	if (rc < 0 || (mh.msg_flags & MSG_CTRUNC))
		return -EPROTO;
	return n;
}

bool wchan_mid_frame(const struct wchan *c)
{
	return c->end > c->start;
}

int wchan_next(struct wchan *c, enum wmsg_from from, struct wmsg *m,
               struct wmsg_error *err)
{
	const char *body;
	uint32_t len;
	size_t span;

	if (c->end - c->start < FRAME_HEADER_SIZE)
		return 0;
	span = frame_whole_at(c->buf + c->start, c->end - c->start,
	                      c->max_frame, &body, &len);
	if (!span) {
		const uint8_t *h = (const uint8_t *)c->buf + c->start;
		uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		             (uint32_t)h[2] << 8 | h[3];

		if (n == 0 || n > c->max_frame) {
			snprintf(err->text, sizeof(err->text),
			         "frame of %u bytes (1..%u allowed)", n,
			         c->max_frame);
			return -EPROTO;
		}
		return 0; /* not whole yet */
	}
	if (wmsg_parse(body, len, from, m, err) < 0)
		return -EPROTO;
	c->start += span;
	if (m->nfds > c->fdq_count) {
		snprintf(err->text, sizeof(err->text),
		         "%s announces %u descriptors, %u arrived",
		         wmsg_type_name(m->type), m->nfds, c->fdq_count);
		wmsg_fini(m);
		return -EPROTO;
	}
	for (unsigned i = 0; i < m->nfds; i++) {
		m->fds[i] = c->fdq[c->fdq_head];
		c->fdq_head = (c->fdq_head + 1) % WCHAN_MAX_QUEUED_FDS;
		c->fdq_count--;
	}
	return 1;
}

/* Writes the head of the queue once. Returns bytes written or -errno. */
static ssize_t send_head(struct wchan *c, struct wchan_out *o)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WMSG_MAX_FDS)];
	} ctl;
	struct msghdr mh = {0};
	struct iovec iov;
	ssize_t n;

	iov.iov_base = o->data + o->off;
	iov.iov_len = o->len - o->off;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	/* Descriptors ride with the message's first byte (see wchan.h). */
	if (o->off == 0 && o->nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * o->nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * o->nfds);
		memcpy(CMSG_DATA(cm), o->fds, sizeof(int) * o->nfds);
	}
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (mh.msg_control) {
		/* Sent: the peer has its own copies now. */
		for (unsigned i = 0; i < o->nfds; i++)
			close(o->fds[i]);
		o->nfds = 0;
	}
	return n;
}

int wchan_flush(struct wchan *c)
{
	struct wchan_out *o;
	ssize_t n;

	while ((o = c->out_head)) {
		n = send_head(c, o);
		if (n < 0)
			return (int)n;
		o->off += (size_t)n;
		c->out_bytes -= (size_t)n;
		if (o->off < o->len)
			continue;
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		out_free(o);
	}
	return 0;
}

int wchan_send_frame(struct wchan *c, char *frame, size_t len, const int *fds,
                     unsigned nfds)
{
	struct wchan_out *o;
	int rc;

	if (nfds > WMSG_MAX_FDS) {
		free(frame);
		return -EINVAL;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		free(frame);
		return -ENOMEM;
	}
	o->data = frame;
	o->len = len;
	for (unsigned i = 0; i < nfds; i++) {
		o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (o->fds[i] < 0) {
			rc = -errno;
			out_free(o);
			return rc;
		}
		o->nfds++;
	}
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += o->len;
	return wchan_flush(c);
}

int wchan_send(struct wchan *c, const json_t *msg, const int *fds,
               unsigned nfds)
{
	char *frame;
	size_t len;
	int rc;

	rc = frame_encode(msg, &frame, &len);
	if (rc < 0)
		return rc;
	return wchan_send_frame(c, frame, len, fds, nfds);
}

size_t wchan_pending(const struct wchan *c)
{
	return c->out_bytes;
}

int wchan_memfd(const char *name, const void *data, size_t len)
{
	const char *p = data;
	size_t done = 0;
	int fd, err;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	/* Sealed, the receiver can map it without fear that the sender
	 * shrinks it underneath (SIGBUS) or changes what was checked. */
	if (fcntl(fd, F_ADD_SEALS,
	          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	return fd;
fail:
	err = errno ? errno : EIO;
	close(fd);
	return -err;
}

void *wchan_map(int fd, uint64_t size)
{
	const int need = F_SEAL_SHRINK | F_SEAL_WRITE;
	struct stat st;
	void *p;
	int seals;

	/* Only a sealed memfd: a descriptor that can shrink would let the
	 * other side crash us with SIGBUS while we read it. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & need) != need) {
		errno = EPERM;
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		return NULL;
	if (size == 0 || size > SIZE_MAX || (uint64_t)st.st_size < size) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}
