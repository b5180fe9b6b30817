/* SPDX-License-Identifier: MIT */
/*
 * jobd-bench: a load generator for jobd (and, for comparison, for anything
 * that speaks RESP PING, such as redis-server).
 *
 * One thread, one epoll loop, N non-blocking connections. Closed loop: each
 * connection keeps D requests in flight (D = 1 is call-and-response).
 * Open loop (--rate R): requests are sent on a fixed schedule, R per second
 * spread round-robin over the connections, whether or not answers came back,
 * and each latency is measured from the request's *scheduled* send time, so
 * a stalled server is charged for the requests it kept us from sending
 * (no coordinated omission).
 *
 * Every latency goes into a log-linear histogram (hist.h). With --pid the
 * daemon's CPU time over the measured window and its peak RSS are read
 * from /proc. Built on the wire library only (framing, message codec).
 * The last line of output is machine-readable: "RESULT key=value ...".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "wire/frame.h"
#include "wire/message.h"

#define READ_BUF_SIZE   (256 * 1024)
#define MAX_EVENTS      256
#define MAX_ERROR_CODES 32
#define OPEN_LOOP_RING  16384u /* in-flight requests one connection tracks */

enum proto { PROTO_JOBD, PROTO_RESP };

struct opts {
	const char *host;
	const char *port;
	enum proto proto;
	unsigned conns;
	unsigned depth;
	size_t size;
	const char *plugin;
	const char *input; /* JSON text; NULL: a string of `size` bytes */
	double duration_s;
	uint64_t count;
	double warmup_s;
	double drain_s;
	double rate; /* requests/s in total; 0: closed loop */
	long pid;
	unsigned idle;
	bool stats; /* ask the server for the plugin's mean service time */
	bool verbose;
};

struct bconn {
	int fd;
	unsigned idx;
	bool dead;
	bool dirty;    /* on the flush list */
	bool want_out; /* EPOLLOUT armed */
	struct bconn *next_dirty;
	struct frame_decoder dec; /* jobd */
	char *carry;              /* resp: a partial reply */
	size_t carry_len, carry_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t next_id;
	uint32_t inflight;
	uint32_t mask;
	uint64_t *slot_id;  /* jobd: id in the slot, UINT64_MAX when free */
	uint64_t *sent_ns;  /* when the request was (scheduled to be) sent */
	uint64_t fifo_head; /* resp: answers come in order */
};

struct err_count {
	char code[40];
	uint64_t n;
};

struct bench {
	struct opts o;
	int ep;
	struct bconn *c;
	struct bconn *dirty;
	char *req_prefix; /* jobd: frame body up to the id */
	size_t req_prefix_len;
	char *resp_req; /* resp: the whole request */
	size_t resp_req_len;
	char *rbuf;

	uint64_t t_begin, t_measure, t_end, t_stop;
	bool measuring, stopped;
	uint64_t sent, sent_measured, done_in_window, done_total;
	uint64_t sched_k; /* open loop: next scheduled request */
	uint64_t skipped; /* open loop: ring full, request not sent */
	struct hist h;
	struct err_count errs[MAX_ERROR_CODES];
	unsigned n_errs;
	uint64_t closed;
	unsigned live;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "jobd-bench: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc");
	return p;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		die("calloc");
	return p;
}

/* --- /proc ---------------------------------------------------------------- */

/* CPU time of all pid's threads in seconds from their schedstat
 * (nanoseconds, unlike the 10 ms ticks of /proc/pid/stat), or -1. Threads
 * that exited during the run are missed; jobd's live for its whole life. */
static double proc_cpu_sched_s(long pid)
{
	char path[300];
	unsigned long long ns, total = 0;
	struct dirent *de;
	bool any = false;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/schedstat", pid,
		         de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1) {
			total += ns;
			any = true;
		}
		fclose(f);
	}
	closedir(d);
	return any ? (double)total / 1e9 : -1;
}

/* utime + stime of pid in seconds (10 ms ticks), or -1. */
static double proc_cpu_ticks_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; fields resume after ')'. */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	           &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_s(long pid)
{
	double s = proc_cpu_sched_s(pid);

	return s >= 0 ? s : proc_cpu_ticks_s(pid);
}

/* A "VmXXX:" line of /proc/pid/status in KiB, or -1. */
static long proc_status_kib(long pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* --- connections -----------------------------------------------------------
 */

static int dial(const struct opts *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
	int fd = -1, one = 1, rc;

	rc = getaddrinfo(o->host, o->port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "jobd-bench: %s:%s: %s\n", o->host, o->port,
		        gai_strerror(rc));
		exit(2);
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		            a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl");
}

static void out_reserve(struct bconn *c, size_t more)
{
	size_t need;

	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	need = c->out_len + more;
	if (need <= c->out_cap)
		return;
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		need = c->out_len + more;
		if (need <= c->out_cap)
			return;
	}
	c->out_cap = need * 2 > 4096 ? need * 2 : 4096;
	c->out = realloc(c->out, c->out_cap);
	if (!c->out)
		die("realloc");
}

static void mark_dirty(struct bench *b, struct bconn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = b->dirty;
	b->dirty = c;
}

static void conn_kill(struct bench *b, struct bconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	b->closed++;
	b->live--;
	if (b->o.verbose)
		fprintf(stderr, "jobd-bench: connection %u: %s\n", c->idx, why);
	epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
}

static void conn_flush(struct bench *b, struct bconn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		         MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_kill(b, c, "send failed");
		return;
	}
	bool want = c->out_off < c->out_len;
	if (want != c->want_out) {
		ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
		epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
}

/* --- requests --------------------------------------------------------------
 */

/* Queues one request scheduled at `at`. False if the connection cannot
 * track another one (open loop with a full ring). */
static bool send_request(struct bench *b, struct bconn *c, uint64_t at)
{
	uint64_t id = c->next_id;
	uint32_t slot;

	if (c->dead)
		return false;
	if (b->o.proto == PROTO_RESP) {
		if (c->inflight > c->mask)
			return false;
		slot = (uint32_t)(id & c->mask);
		out_reserve(c, b->resp_req_len);
		memcpy(c->out + c->out_len, b->resp_req, b->resp_req_len);
		c->out_len += b->resp_req_len;
	} else {
		char digits[24];
		int nd;
		size_t body;

		slot = (uint32_t)(id & c->mask);
		if (c->slot_id[slot] != UINT64_MAX)
			return false;
		c->slot_id[slot] = id;
		nd = snprintf(digits, sizeof(digits), "%" PRIu64 "}", id);
		body = b->req_prefix_len + (size_t)nd;
		out_reserve(c, FRAME_HEADER_SIZE + body);
		frame_put_header((uint8_t *)c->out + c->out_len,
		                 (uint32_t)body);
		c->out_len += FRAME_HEADER_SIZE;
		memcpy(c->out + c->out_len, b->req_prefix, b->req_prefix_len);
		c->out_len += b->req_prefix_len;
		memcpy(c->out + c->out_len, digits, (size_t)nd);
		c->out_len += (size_t)nd;
	}
	c->sent_ns[slot] = at;
	c->next_id++;
	c->inflight++;
	b->sent++;
	if (b->measuring)
		b->sent_measured++;
	mark_dirty(b, c);
	return true;
}

static void count_error(struct bench *b, const char *code)
{
	unsigned i;

	for (i = 0; i < b->n_errs; i++)
		if (!strcmp(b->errs[i].code, code))
			break;
	if (i == b->n_errs) {
		if (b->n_errs == MAX_ERROR_CODES)
			i = MAX_ERROR_CODES - 1;
		else
			b->n_errs++;
		snprintf(b->errs[i].code, sizeof(b->errs[i].code), "%s", code);
	}
	b->errs[i].n++;
}

/* A request sent at `sent` got its answer (ok or error `code`). */
static void complete(struct bench *b, struct bconn *c, uint64_t sent,
                     const char *code, uint64_t now)
{
	c->inflight--;
	b->done_total++;
	if (sent >= b->t_measure && b->measuring) {
		hist_add(&b->h, now - sent);
		if (now <= b->t_end)
			b->done_in_window++;
	} else if (sent >= b->t_measure && b->t_measure) {
		/* Sent in the window, answered in the drain: its latency
		 * counts, the throughput does not. */
		hist_add(&b->h, now - sent);
	}
	if (code && sent >= b->t_measure && b->t_measure)
		count_error(b, code);
	/* Closed loop: replace it at once. */
	if (!b->o.rate && !b->stopped && (!b->o.count || b->sent < b->o.count))
		send_request(b, c, now);
}

static void on_jobd_frame(struct bench *b, struct bconn *c, char *body,
                          size_t len, uint64_t now)
{
	static const char fast[] = "{\"type\":\"result\",\"id\":";
	const char *code = NULL;
	struct msg m;
	struct msg_error err;
	uint64_t id;
	uint32_t slot;
	bool parsed = false;

	/* The daemon writes type and id first: skip the JSON parser for
	 * the common answer; anything else goes through the codec. */
	if (len > sizeof(fast) && !memcmp(body, fast, sizeof(fast) - 1)) {
		id = strtoull(body + sizeof(fast) - 1, NULL, 10);
	} else {
		if (msg_parse(body, len, MSG_FROM_SERVER, &m, &err) < 0) {
			count_error(b, "client_bad_answer");
			return;
		}
		parsed = true;
		if (m.type == MSG_PROGRESS || m.type == MSG_PONG ||
		    m.type == MSG_HELLO || !m.has_id) {
			if (m.type == MSG_ERROR)
				count_error(b, m.code_name ? m.code_name
				                           : "internal");
			msg_fini(&m);
			return;
		}
		id = (uint64_t)m.id;
		if (m.type == MSG_ERROR)
			code = m.code_name ? m.code_name : "internal";
	}
	slot = (uint32_t)(id & c->mask);
	if (c->slot_id[slot] != id) {
		count_error(b, "client_unknown_id");
	} else {
		c->slot_id[slot] = UINT64_MAX;
		complete(b, c, c->sent_ns[slot], code, now);
	}
	if (parsed)
		msg_fini(&m);
}

static void on_jobd_read(struct bench *b, struct bconn *c, const char *p,
                         size_t n, uint64_t now)
{
	size_t used;
	char *body;
	size_t len;
	int st;

	while (n) {
		st = frame_decoder_feed(&c->dec, p, n, &used);
		p += used;
		n -= used;
		if (st == FRAME_READY) {
			body = frame_decoder_take(&c->dec, &len);
			on_jobd_frame(b, c, body, len, now);
			free(body);
		} else if (st < 0) {
			conn_kill(b, c, "bad frame from server");
			return;
		}
	}
}

/* Parses as many whole RESP replies as p holds; returns bytes used. */
static size_t resp_parse(struct bench *b, struct bconn *c, const char *p,
                         size_t n, uint64_t now)
{
	const char *end = p + n, *q = p, *nl;
	long blen;

	while (q < end) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (!nl)
			break;
		if (*q == '$') {
			blen = strtol(q + 1, NULL, 10);
			if (blen >= 0) {
				if (end - (nl + 1) < blen + 2)
					break;
				nl += blen + 2;
			}
		}
		if (c->inflight) {
			uint32_t slot = (uint32_t)(c->fifo_head & c->mask);

			c->fifo_head++;
			complete(b, c, c->sent_ns[slot],
			         *q == '-' ? "resp_error" : NULL, now);
		}
		q = nl + 1;
	}
	return (size_t)(q - p);
}

static void on_resp_read(struct bench *b, struct bconn *c, const char *p,
                         size_t n, uint64_t now)
{
	size_t used;

	if (c->carry_len) {
		if (c->carry_len + n > c->carry_cap) {
			c->carry_cap = (c->carry_len + n) * 2;
			c->carry = realloc(c->carry, c->carry_cap);
			if (!c->carry)
				die("realloc");
		}
		memcpy(c->carry + c->carry_len, p, n);
		c->carry_len += n;
		used = resp_parse(b, c, c->carry, c->carry_len, now);
		memmove(c->carry, c->carry + used, c->carry_len - used);
		c->carry_len -= used;
		return;
	}
	used = resp_parse(b, c, p, n, now);
	if (used < n) {
		if (n - used > c->carry_cap) {
			c->carry_cap = (n - used) * 2;
			c->carry = realloc(c->carry, c->carry_cap);
			if (!c->carry)
				die("realloc");
		}
		memcpy(c->carry, p + used, n - used);
		c->carry_len = n - used;
	}
}

static void conn_readable(struct bench *b, struct bconn *c)
{
	ssize_t n;
	uint64_t now;

	for (;;) {
		n = recv(c->fd, b->rbuf, READ_BUF_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_kill(b, c, n ? "recv failed" : "closed by server");
			return;
		}
		now = now_ns();
		if (b->o.proto == PROTO_RESP)
			on_resp_read(b, c, b->rbuf, (size_t)n, now);
		else
			on_jobd_read(b, c, b->rbuf, (size_t)n, now);
		if (c->dead || (size_t)n < READ_BUF_SIZE)
			return;
	}
}

/* --- idle connections ------------------------------------------------------
 */

/* Opens n connections, each answering one ping, and keeps them. */
static int *open_idle(const struct opts *o, unsigned n)
{
	static const char ping[] = "{\"type\":\"ping\",\"id\":1}";
	static const char resp_ping[] = "*1\r\n$4\r\nPING\r\n";
	struct timeval tv = {5, 0};
	char frame[64], buf[256];
	size_t flen;
	int *fds = xcalloc(n, sizeof(int));
	unsigned i;

	if (o->proto == PROTO_RESP) {
		memcpy(frame, resp_ping, sizeof(resp_ping) - 1);
		flen = sizeof(resp_ping) - 1;
	} else {
		frame_put_header((uint8_t *)frame, sizeof(ping) - 1);
		memcpy(frame + FRAME_HEADER_SIZE, ping, sizeof(ping) - 1);
		flen = FRAME_HEADER_SIZE + sizeof(ping) - 1;
	}
	for (i = 0; i < n; i++) {
		fds[i] = dial(o);
		if (fds[i] < 0) {
			fprintf(stderr, "jobd-bench: idle connection %u: %s\n",
			        i, strerror(errno));
			exit(2);
		}
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (send(fds[i], frame, flen, MSG_NOSIGNAL) != (ssize_t)flen ||
		    recv(fds[i], buf, sizeof(buf), 0) <= 0) {
			fprintf(stderr,
			        "jobd-bench: idle connection %u got no pong\n",
			        i);
			exit(2);
		}
	}
	return fds;
}

/* The plugin's mean_service_ms from a stats request, or -1. */
static double query_service_ms(const struct opts *o)
{
	static const char req[] = "{\"type\":\"stats\",\"id\":1}";
	struct timeval tv = {5, 0};
	char frame[64], hdr[4];
	const json_t *v;
	double ms = -1;
	uint32_t n;
	char *body;
	json_t *m;
	size_t got = 0;
	ssize_t r;
	int fd;

	fd = dial(o);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	frame_put_header((uint8_t *)frame, sizeof(req) - 1);
	memcpy(frame + FRAME_HEADER_SIZE, req, sizeof(req) - 1);
	if (send(fd, frame, FRAME_HEADER_SIZE + sizeof(req) - 1, MSG_NOSIGNAL) <
	            0 ||
	    recv(fd, hdr, 4, MSG_WAITALL) != 4)
		goto out;
	n = (uint32_t)(uint8_t)hdr[0] << 24 | (uint32_t)(uint8_t)hdr[1] << 16 |
	    (uint32_t)(uint8_t)hdr[2] << 8 | (uint8_t)hdr[3];
	body = xmalloc(n ? n : 1);
	while (got < n && (r = recv(fd, body + got, n - got, 0)) > 0)
		got += (size_t)r;
	m = got == n ? json_loadb(body, n, 0, NULL) : NULL;
	free(body);
	v = json_object_get(
	        json_object_get(json_object_get(m, "plugins"), o->plugin),
	        "mean_service_ms");
	if (json_is_number(v))
		ms = json_number_value(v);
	json_decref(m);
out:
	close(fd);
	return ms;
}

/* --- the run ---------------------------------------------------------------
 */

static void build_requests(struct bench *b)
{
	const struct opts *o = &b->o;
	size_t cap;
	char *payload = NULL;

	if (!o->input) {
		payload = xmalloc(o->size + 1);
		memset(payload, 'x', o->size);
		payload[o->size] = '\0';
	}
	if (o->proto == PROTO_RESP) {
		cap = 64 + o->size;
		b->resp_req = xmalloc(cap);
		if (o->size)
			b->resp_req_len = (size_t)snprintf(
			        b->resp_req, cap,
			        "*2\r\n$4\r\nPING\r\n$%zu\r\n%s\r\n", o->size,
			        payload);
		else
			b->resp_req_len = (size_t)snprintf(
			        b->resp_req, cap, "*1\r\n$4\r\nPING\r\n");
	} else {
		cap = 96 + strlen(o->plugin) +
		      (o->input ? strlen(o->input) : o->size);
		b->req_prefix = xmalloc(cap);
		/* Member order is free in JSON; the id goes last so that
		 * only its digits change from request to request. */
		if (o->input)
			b->req_prefix_len = (size_t)snprintf(
			        b->req_prefix, cap,
			        "{\"type\":\"call\",\"plugin\":\"%s\","
			        "\"input\":%s,\"id\":",
			        o->plugin, o->input);
		else
			b->req_prefix_len = (size_t)snprintf(
			        b->req_prefix, cap,
			        "{\"type\":\"call\",\"plugin\":\"%s\","
			        "\"input\":\"%s\",\"id\":",
			        o->plugin, payload);
	}
	free(payload);
}

static void open_conns(struct bench *b)
{
	const struct opts *o = &b->o;
	uint32_t ring = 1;
	unsigned i, j;

	/* Room for every request a connection can have in flight. */
	while (ring < (o->rate ? OPEN_LOOP_RING : 2 * o->depth + 16))
		ring <<= 1;
	b->c = xcalloc(o->conns, sizeof(*b->c));
	for (i = 0; i < o->conns; i++) {
		struct bconn *c = &b->c[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		c->idx = i;
		c->fd = dial(o);
		if (c->fd < 0) {
			fprintf(stderr, "jobd-bench: connect %s:%s: %s\n",
			        o->host, o->port, strerror(errno));
			exit(2);
		}
		set_nonblock(c->fd);
		frame_decoder_init(&c->dec, FRAME_MAX_LIMIT);
		c->mask = ring - 1;
		c->slot_id = xmalloc(ring * sizeof(*c->slot_id));
		c->sent_ns = xcalloc(ring, sizeof(*c->sent_ns));
		for (j = 0; j < ring; j++)
			c->slot_id[j] = UINT64_MAX;
		c->next_id = 1;
		c->fifo_head = 1; /* resp: the first answer is for id 1 */
		if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl");
		b->live++;
	}
}

static void flush_dirty(struct bench *b)
{
	struct bconn *c;

	while ((c = b->dirty)) {
		b->dirty = c->next_dirty;
		c->dirty = false;
		if (!c->dead)
			conn_flush(b, c);
	}
}

static uint64_t sched_time(const struct bench *b, uint64_t k)
{
	return b->t_begin + (uint64_t)((double)k * 1e9 / b->o.rate);
}

static uint64_t total_inflight(const struct bench *b)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < b->o.conns; i++)
		if (!b->c[i].dead)
			n += b->c[i].inflight;
	return n;
}

static void run(struct bench *b, double *cpu0, double *cpu1)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now, wait_ns;
	struct timespec ts;
	unsigned i, k;
	int n;

	b->t_begin = now_ns();
	b->t_measure = b->t_begin + (uint64_t)(b->o.warmup_s * 1e9);
	b->t_end = b->o.count
	                   ? UINT64_MAX
	                   : b->t_measure + (uint64_t)(b->o.duration_s * 1e9);
	if (!b->o.warmup_s) {
		b->measuring = true;
		*cpu0 = b->o.pid ? proc_cpu_s(b->o.pid) : 0;
	}
	if (!b->o.rate)
		for (i = 0; i < b->o.conns; i++)
			for (k = 0; k < b->o.depth; k++)
				if (!b->o.count || b->sent < b->o.count)
					send_request(b, &b->c[i], b->t_begin);
	for (;;) {
		now = now_ns();
		if (!b->measuring && !b->stopped && now >= b->t_measure) {
			b->measuring = true;
			*cpu0 = b->o.pid ? proc_cpu_s(b->o.pid) : 0;
		}
		if (!b->stopped &&
		    (interrupted ||
		     (b->o.count ? b->sent >= b->o.count : now >= b->t_end))) {
			b->stopped = true;
			b->t_stop = now;
			if (!b->o.count) {
				b->measuring = false;
				*cpu1 = b->o.pid ? proc_cpu_s(b->o.pid) : 0;
			}
		}
		if (b->stopped &&
		    (!total_inflight(b) || !b->live ||
		     now - b->t_stop > (uint64_t)(b->o.drain_s * 1e9))) {
			if (b->o.count) {
				/* Count mode measures until the last answer. */
				b->t_end = now;
				b->measuring = false;
				*cpu1 = b->o.pid ? proc_cpu_s(b->o.pid) : 0;
			}
			break;
		}
		if (b->o.rate && !b->stopped) {
			/* Send everything that is due: late sends keep their
			 * scheduled time, so lateness counts as latency. */
			uint64_t due;

			while ((due = sched_time(b, b->sched_k)) <= now) {
				struct bconn *c =
				        &b->c[b->sched_k % b->o.conns];

				if (!send_request(b, c, due) && b->measuring)
					b->skipped++;
				b->sched_k++;
			}
		}
		flush_dirty(b);
		if (b->o.rate && !b->stopped) {
			uint64_t due = sched_time(b, b->sched_k);

			now = now_ns();
			wait_ns = due > now ? due - now : 0;
		} else {
			wait_ns = 50 * 1000000ull; /* re-check the clock */
		}
		ts.tv_sec = (time_t)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long)(wait_ns % 1000000000ull);
		n = epoll_pwait2(b->ep, evs, MAX_EVENTS, &ts, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_pwait2");
		for (i = 0; i < (unsigned)(n > 0 ? n : 0); i++) {
			struct bconn *c = evs[i].data.ptr;

			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_readable(b, c);
			if (!c->dead && (evs[i].events & EPOLLOUT))
				mark_dirty(b, c);
		}
		flush_dirty(b);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: jobd-bench [OPTION]...\n"
	        "Drive jobd (or a RESP server) and report throughput and "
	        "latency.\n\n"
	        "  -H, --host HOST       server address (127.0.0.1)\n"
	        "  -p, --port PORT       server port (7878)\n"
	        "      --proto P         jobd (default) or resp (PING, for "
	        "redis-server)\n"
	        "  -c, --conns N         connections (50)\n"
	        "  -d, --depth D         requests in flight per connection, "
	        "closed loop (1)\n"
	        "  -s, --size BYTES      payload: input is a string of BYTES "
	        "(64)\n"
	        "  -P, --plugin NAME     plugin to call (echo)\n"
	        "  -i, --input JSON      input as JSON text (overrides -s)\n"
	        "  -t, --duration SEC    measured time (5)\n"
	        "  -n, --count N         stop after N requests instead\n"
	        "  -w, --warmup SEC      unmeasured lead-in (1)\n"
	        "  -r, --rate R          open loop: R requests/s in total, "
	        "on schedule\n"
	        "      --drain SEC       wait this long for late answers (5)\n"
	        "      --pid PID         the server's pid: report its CPU "
	        "time and RSS\n"
	        "      --idle N          first open N connections (one ping "
	        "each) and hold them\n"
	        "      --stats           report the plugin's mean service "
	        "time (jobd stats)\n"
	        "  -v, --verbose\n"
	        "  -h, --help\n");
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	        {"host", required_argument, NULL, 'H'},
	        {"port", required_argument, NULL, 'p'},
	        {"proto", required_argument, NULL, 1},
	        {"conns", required_argument, NULL, 'c'},
	        {"depth", required_argument, NULL, 'd'},
	        {"size", required_argument, NULL, 's'},
	        {"plugin", required_argument, NULL, 'P'},
	        {"input", required_argument, NULL, 'i'},
	        {"duration", required_argument, NULL, 't'},
	        {"count", required_argument, NULL, 'n'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"rate", required_argument, NULL, 'r'},
	        {"drain", required_argument, NULL, 2},
	        {"pid", required_argument, NULL, 3},
	        {"idle", required_argument, NULL, 4},
	        {"stats", no_argument, NULL, 5},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){
	        .host = "127.0.0.1",
	        .port = "7878",
	        .conns = 50,
	        .depth = 1,
	        .size = 64,
	        .plugin = "echo",
	        .duration_s = 5,
	        .warmup_s = 1,
	        .drain_s = 5,
	};
	while ((ch = getopt_long(argc, argv, "H:p:c:d:s:P:i:t:n:w:r:vh", lo,
	                         NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 1:
			if (!strcmp(optarg, "resp"))
				o->proto = PROTO_RESP;
			else if (!strcmp(optarg, "jobd"))
				o->proto = PROTO_JOBD;
			else
				goto bad;
			break;
		case 'c':
			o->conns = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o->depth = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->size = strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o->plugin = optarg;
			break;
		case 'i':
			o->input = optarg;
			break;
		case 't':
			o->duration_s = strtod(optarg, NULL);
			break;
		case 'n':
			o->count = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			o->warmup_s = strtod(optarg, NULL);
			break;
		case 'r':
			o->rate = strtod(optarg, NULL);
			break;
		case 2:
			o->drain_s = strtod(optarg, NULL);
			break;
		case 3:
			o->pid = strtol(optarg, NULL, 10);
			break;
		case 4:
			o->idle = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 5:
			o->stats = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (o->conns < 1 || o->depth < 1 || o->rate < 0 ||
	    o->depth > OPEN_LOOP_RING / 2 || (o->count && o->rate))
		goto bad;
	if (o->count)
		o->warmup_s = 0;
	return;
bad:
	usage(stderr);
	exit(2);
}

static void raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#define US(ns) ((double)(ns) / 1000.0)

int main(int argc, char **argv)
{
	struct bench *b = xcalloc(1, sizeof(*b));
	double cpu0 = 0, cpu1 = 0, secs, cpu;
	long rss_before = -1, rss_after = -1, hwm;
	double per_idle = 0, service_ms;
	int *idle = NULL;
	unsigned i;

	parse_opts(argc, argv, &b->o);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_sigint);
	raise_nofile(b->o.conns + b->o.idle + 64);
	b->rbuf = xmalloc(READ_BUF_SIZE);
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	if (b->ep < 0)
		die("epoll_create1");
	build_requests(b);

	if (b->o.idle) {
		if (b->o.pid)
			rss_before = proc_status_kib(b->o.pid, "VmRSS");
		idle = open_idle(&b->o, b->o.idle);
		/* Let the daemon settle (its timers, its allocator). */
		usleep(200 * 1000);
		if (b->o.pid) {
			rss_after = proc_status_kib(b->o.pid, "VmRSS");
			per_idle = (double)(rss_after - rss_before) * 1024.0 /
			           b->o.idle;
		}
	}
	open_conns(b);
	run(b, &cpu0, &cpu1);
	service_ms = b->o.stats && b->o.proto == PROTO_JOBD
	                     ? query_service_ms(&b->o)
	                     : -1;

	secs = (double)(b->t_end - b->t_measure) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	cpu = cpu1 - cpu0;
	hwm = b->o.pid ? proc_status_kib(b->o.pid, "VmHWM") : -1;
	uint64_t errors = 0;
	for (i = 0; i < b->n_errs; i++)
		errors += b->errs[i].n;

	printf("%s %s:%s  conns=%u  %s  payload=%zu  plugin=%s\n",
	       b->o.proto == PROTO_RESP ? "resp" : "jobd", b->o.host, b->o.port,
	       b->o.conns, b->o.rate ? "open loop" : "closed loop", b->o.size,
	       b->o.proto == PROTO_RESP ? "-" : b->o.plugin);
	if (b->o.rate)
		printf("  offered     %.0f req/s\n", b->o.rate);
	else
		printf("  depth       %u\n", b->o.depth);
	printf("  requests    %" PRIu64 " answered in %.2f s window "
	       "(%" PRIu64 " latency samples)\n",
	       b->done_in_window, secs, b->h.count);
	printf("  throughput  %.0f req/s\n", (double)b->done_in_window / secs);
	printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
	       "max %.1f  mean %.1f\n",
	       US(hist_quantile(&b->h, 0.5)), US(hist_quantile(&b->h, 0.9)),
	       US(hist_quantile(&b->h, 0.99)), US(hist_quantile(&b->h, 0.999)),
	       US(b->h.max), US(hist_mean(&b->h)));
	printf("  errors      %" PRIu64, errors);
	for (i = 0; i < b->n_errs; i++)
		printf("  %s=%" PRIu64, b->errs[i].code, b->errs[i].n);
	printf("\n");
	if (b->skipped)
		printf("  not sent    %" PRIu64
		       " (open loop: a connection had %u in flight)\n",
		       b->skipped, OPEN_LOOP_RING);
	if (b->closed)
		printf("  closed      %" PRIu64 " connections lost\n",
		       b->closed);
	if (b->o.pid)
		printf("  server      cpu %.2f s (%.1f us/req, %.0f%% of one "
		       "core)  peak rss %ld KiB\n",
		       cpu,
		       b->done_in_window ? cpu * 1e6 / b->done_in_window : 0,
		       100.0 * cpu / secs, hwm);
	if (service_ms >= 0)
		printf("  service     %.3f ms mean per job (jobd stats, since "
		       "start)\n",
		       service_ms);
	if (b->o.idle)
		printf("  idle conns  %u held: rss %ld -> %ld KiB, %.0f B per "
		       "connection\n",
		       b->o.idle, rss_before, rss_after, per_idle);
	printf("RESULT proto=%s conns=%u depth=%u rate=%.0f requests=%" PRIu64
	       " secs=%.3f rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f max_us=%.1f mean_us=%.1f errors=%" PRIu64
	       " skipped=%" PRIu64 " closed=%" PRIu64
	       " cpu_s=%.3f hwm_kib=%ld idle=%u idle_b_per_conn=%.0f "
	       "service_ms=%.4f\n",
	       b->o.proto == PROTO_RESP ? "resp" : "jobd", b->o.conns,
	       b->o.depth, b->o.rate, b->done_in_window, secs,
	       (double)b->done_in_window / secs, US(hist_quantile(&b->h, 0.5)),
	       US(hist_quantile(&b->h, 0.9)), US(hist_quantile(&b->h, 0.99)),
	       US(hist_quantile(&b->h, 0.999)), US(b->h.max),
	       US(hist_mean(&b->h)), errors, b->skipped, b->closed, cpu, hwm,
	       b->o.idle, per_idle, service_ms);
	if (idle)
		for (i = 0; i < b->o.idle; i++)
			close(idle[i]);
	free(idle);
	return errors || b->closed ? 1 : 0;
}
