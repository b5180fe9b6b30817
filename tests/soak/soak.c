/* SPDX-License-Identifier: MIT */
/*
 * The soak loop (see soak.h). One thread, poll(): each client keeps a few
 * requests in flight, checks each answer against what its request should
 * get, and after a random number of requests leaves, politely or not
 * (mid-frame, by reset, with calls in flight). Progress messages are
 * skipped; an answer with an unknown id is unexpected.
 */
#include "soak.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_PENDING 6
#define BIG_LEN     (64 * 1024)
#define LOST_MS     30000 /* an answer later than this is lost */

enum expect {
	X_ECHO,      /* result: output.n == id */
	X_ECHO_BIG,  /* result: a string of BIG_LEN bytes */
	X_SLEEP,     /* result, or busy */
	X_FAIL,      /* plugin_failed */
	X_PONG,      /* pong */
	X_STATS,     /* stats */
	X_UNKNOWN,   /* unknown_plugin */
	X_TIMEOUT,   /* timeout (or busy) */
	X_CANCEL,    /* cancelled, or result if it won the race, or busy */
	X_BAD_JSON,  /* bad_json without id */
	X_DUPLICATE, /* duplicate_id: a second call with a pending id */
	X_COUNT_
};

struct pending {
	int64_t id;
	enum expect x;
	uint64_t sent_ms;
};

struct client {
	int fd;
	int64_t next_id;
	struct pending pend[MAX_PENDING + 1];
	int n_pend;
	int anon; /* id-less errors still to come */
	unsigned ops_left;
	char *in;
	size_t in_len, in_cap;
};

struct soak {
	const struct soak_opts *o;
	struct soak_result *r;
	struct client *c;
	unsigned n;
	unsigned seed;
	char *big_call; /* a frame body with BIG_LEN bytes of input */
	unsigned reported;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long soak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int soak_fd_count(pid_t pid)
{
	return soak_fd_count_so(pid, NULL);
}

int soak_fd_count_so(pid_t pid, int *so)
{
	char dir[64], path[400], target[256];
	struct dirent *e;
	ssize_t len;
	DIR *d;
	int n = 0;

	if (so)
		*so = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (!so)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		if (len > 3 && !strcmp(target + len - 3, ".so"))
			(*so)++;
	}
	closedir(d);
	return n;
}

static void note(struct soak *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Reports the first few unexpected things in full, then only counts. */
static void note(struct soak *s, const char *fmt, ...)
{
	va_list ap;

	s->r->unexpected++;
	if (!s->o->log || s->reported++ > 20)
		return;
	va_start(ap, fmt);
	fprintf(s->o->log, "soak: unexpected: ");
	vfprintf(s->o->log, fmt, ap);
	fputc('\n', s->o->log);
	va_end(ap);
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
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

static int send_frame(int fd, const char *body, size_t len)
{
	uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	                  (uint8_t)(len >> 8), (uint8_t)len};

	if (send_all(fd, hdr, 4) < 0)
		return -1;
	return send_all(fd, body, len);
}

static void client_drop(struct soak *s, struct client *c, bool abrupt)
{
	struct linger lg = {1, 0};

	if (c->fd < 0)
		return;
	if (abrupt && rand_r(&s->seed) % 2)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
	s->r->abandoned += (uint64_t)c->n_pend;
	if (abrupt)
		s->r->disconnects++;
	c->n_pend = 0;
	c->anon = 0;
	c->in_len = 0;
}

static void client_open(struct soak *s, struct client *c)
{
	c->fd = tcp_connect(s->o->port);
	if (c->fd < 0)
		return;
	s->r->connections++;
	c->next_id = 1;
	c->n_pend = 0;
	c->anon = 0;
	c->in_len = 0;
	c->ops_left = 1 + rand_r(&s->seed) % 60;
}

static void track(struct soak *s, struct client *c, int64_t id, enum expect x)
{
	struct pending *p = &c->pend[c->n_pend++];

	p->id = id;
	p->x = x;
	p->sent_ms = now_ms();
	s->r->sent++;
}

/* Sends one random request; returns -1 if the connection broke. */
static int client_send(struct soak *s, struct client *c)
{
	char text[512];
	int64_t id = c->next_id++;
	unsigned k = rand_r(&s->seed) % 100;
	int rc;

	if (k < 30) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"echo\","
		         "\"input\":{\"n\":%lld,\"s\":\"soak \\u00e9\\u0000\","
		         "\"a\":[1,2.5,null,true]}}",
		         (long long)id, (long long)id);
		track(s, c, id, X_ECHO);
	} else if (k < 36) {
		int n = snprintf(s->big_call, 64, "{\"id\":%-20lld",
		                 (long long)id);

		s->big_call[n] = ','; /* keeps the fixed-width prefix */
		track(s, c, id, X_ECHO_BIG);
		return send_frame(c->fd, s->big_call, strlen(s->big_call));
	} else if (k < 52) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":%u}}",
		         (long long)id, rand_r(&s->seed) % 40);
		track(s, c, id, X_SLEEP);
	} else if (k < 58) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":"
		         "\"misbehave\",\"input\":{\"do\":\"%s\"}}",
		         (long long)id, rand_r(&s->seed) % 2 ? "fail" : "null");
		track(s, c, id, X_FAIL);
	} else if (k < 68) {
		snprintf(text, sizeof(text), "{\"type\":\"ping\",\"id\":%lld}",
		         (long long)id);
		track(s, c, id, X_PONG);
	} else if (k < 71) {
		snprintf(text, sizeof(text), "{\"type\":\"stats\",\"id\":%lld}",
		         (long long)id);
		track(s, c, id, X_STATS);
	} else if (k < 74) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"nope\","
		         "\"input\":null}",
		         (long long)id);
		track(s, c, id, X_UNKNOWN);
	} else if (k < 80) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":3000},\"timeout_ms\":%u}",
		         (long long)id, 5 + rand_r(&s->seed) % 50);
		track(s, c, id, X_TIMEOUT);
	} else if (k < 86) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":%u}}",
		         (long long)id, rand_r(&s->seed) % 300);
		track(s, c, id, X_CANCEL);
		rc = send_frame(c->fd, text, strlen(text));
		if (rc < 0)
			return rc;
		if (rand_r(&s->seed) % 2)
			usleep(rand_r(&s->seed) % 20000);
		snprintf(text, sizeof(text),
		         "{\"type\":\"cancel\",\"id\":%lld}", (long long)id);
	} else if (k < 90 && c->n_pend < MAX_PENDING - 2) {
		/* An id reused while its call is in flight: duplicate_id for
		 * the second, the first goes on (the sleep queue is never
		 * full in the soak's config, so the first is in flight when
		 * the second is read). */
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":300}}",
		         (long long)id);
		track(s, c, id, X_SLEEP);
		rc = send_frame(c->fd, text, strlen(text));
		if (rc < 0)
			return rc;
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%lld,\"plugin\":\"echo\","
		         "\"input\":0}",
		         (long long)id);
		track(s, c, id, X_DUPLICATE);
	} else if (k < 94) {
		snprintf(text, sizeof(text), "{\"type\":\"call\",\"id\":%lld,",
		         (long long)id);
		c->anon++;
		s->r->sent++;
	} else {
		snprintf(text, sizeof(text), "{\"type\":\"ping\",\"id\":%lld}",
		         (long long)id);
		track(s, c, id, X_PONG);
	}
	return send_frame(c->fd, text, strlen(text));
}

static bool code_is(const json_t *m, const char *code)
{
	const char *c = json_string_value(json_object_get(m, "code"));

	return c && !strcmp(c, code);
}

/* Whether answer m is what x should get; *failed: an expected error. */
static bool answer_ok(enum expect x, const json_t *m, int64_t id, bool *failed)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	const json_t *out = json_object_get(m, "output");
	bool result = type && !strcmp(type, "result");

	*failed = !result;
	switch (x) {
	case X_ECHO:
		return result &&
		       json_integer_value(json_object_get(out, "n")) == id &&
		       json_string_length(json_object_get(out, "s")) == 8;
	case X_ECHO_BIG:
		return result && json_string_length(out) == BIG_LEN;
	case X_SLEEP:
		return result || code_is(m, "busy");
	case X_FAIL:
		return code_is(m, "plugin_failed");
	case X_PONG:
		return type && !strcmp(type, "pong");
	case X_STATS:
		return type && !strcmp(type, "stats");
	case X_UNKNOWN:
		return code_is(m, "unknown_plugin");
	case X_TIMEOUT:
		return code_is(m, "timeout") || code_is(m, "busy");
	case X_CANCEL:
		return result || code_is(m, "cancelled") || code_is(m, "busy");
	case X_DUPLICATE:
		return code_is(m, "duplicate_id");
	default:
		return false;
	}
}

static void client_answer(struct soak *s, struct client *c, json_t *m)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	json_t *idv = json_object_get(m, "id");
	int64_t id = json_integer_value(idv);
	bool failed;
	int i;

	if (type && !strcmp(type, "progress"))
		return;
	if (!idv) {
		if (c->anon > 0 && code_is(m, "bad_json")) {
			c->anon--;
			s->r->answered++;
			s->r->failed++;
		} else {
			char *t = json_dumps(m, JSON_COMPACT);

			note(s, "answer without id: %s", t);
			free(t);
		}
		return;
	}
	/* duplicate_id answers come before the original's: match them
	 * first, newest first. */
	for (i = c->n_pend - 1; i >= 0; i--)
		if (c->pend[i].id == id &&
		    (c->pend[i].x == X_DUPLICATE) == code_is(m, "duplicate_id"))
			break;
	if (i < 0) {
		char *t = json_dumps(m, JSON_COMPACT);

		note(s, "answer for no pending request: %.200s", t);
		free(t);
		return;
	}
	if (answer_ok(c->pend[i].x, m, id, &failed)) {
		s->r->answered++;
		if (failed)
			s->r->failed++;
	} else {
		char *t = json_dumps(m, JSON_COMPACT);

		note(s, "request kind %d id %lld got %.200s", c->pend[i].x,
		     (long long)id, t);
		free(t);
	}
	c->pend[i] = c->pend[--c->n_pend];
}

/* Reads what is there and handles every whole frame; -1 on EOF/error. */
static int client_read(struct soak *s, struct client *c)
{
	ssize_t n;
	uint32_t len;
	size_t off = 0;
	json_t *m;

	for (;;) {
		if (c->in_cap - c->in_len < 65536) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
			char *p = realloc(c->in, cap);

			if (!p)
				return -1;
			c->in = p;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
		         MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		return -1;
	}
	while (c->in_len - off >= 4) {
		const uint8_t *h = (const uint8_t *)c->in + off;

		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		      (uint32_t)h[2] << 8 | h[3];
		if (c->in_len - off - 4 < len)
			break;
		m = json_loadb(c->in + off + 4, len,
		               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (!m)
			note(s, "an answer that is not JSON");
		else
			client_answer(s, c, m);
		json_decref(m);
		off += 4 + len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

/* Leaves at a random bad moment, or politely once all is answered. */
static void client_leave(struct soak *s, struct client *c)
{
	static const char partial[] = "\0\0\0\x40{\"type\":\"call\",";
	unsigned k = rand_r(&s->seed) % 4;

	if (k == 0) {
		send_all(c->fd, partial, 4 + rand_r(&s->seed) % 10);
		client_drop(s, c, true);
	} else if (k == 1) {
		client_drop(s, c, true); /* whatever is in flight */
	} else if (c->n_pend == 0 && c->anon == 0) {
		client_drop(s, c, false);
	}
	/* else: wait for the answers, leave on a later turn */
}

static void rewrite_config(const char *path, unsigned generation)
{
	FILE *f = fopen(path, "r+");
	char buf[8192], *p;
	size_t n;

	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	p = strstr(buf, SOAK_GENERATION_KEY);
	if (p && strlen(p) > sizeof(SOAK_GENERATION_KEY) + 8) {
		/* Same width every time: the file keeps its length. */
		p += sizeof(SOAK_GENERATION_KEY) - 1;
		snprintf(p, 9, "%08u", generation % 100000000u);
		p[8] = '}';
		rewind(f);
		fwrite(buf, 1, n, f);
	}
	fclose(f);
}

/* What the descriptors are, when their number did not come back. */
static void list_fds(FILE *f, pid_t pid)
{
	char dir[64], path[400], target[256];
	struct dirent *e;
	ssize_t n;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(f, "soak: jobd fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

static bool daemon_alive(pid_t pid)
{
	return kill(pid, 0) == 0 && soak_rss_kb(pid) > 0;
}

static void check_lost(struct soak *s, struct client *c, uint64_t t)
{
	int i;

	for (i = 0; i < c->n_pend; i++) {
		if (t > c->pend[i].sent_ms + LOST_MS) {
			s->r->lost++;
			note(s, "no answer in %d ms to kind %d id %lld",
			     LOST_MS, c->pend[i].x, (long long)c->pend[i].id);
			c->pend[i] = c->pend[--c->n_pend];
			i--;
		}
	}
}

static void drain_notify(int fd)
{
	char buf[512];

	if (fd < 0)
		return;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* One turn of the loop: send, poll, read. */
static void turn(struct soak *s, bool sending)
{
	struct pollfd pfd[256];
	unsigned i, np = 0;
	uint64_t t = now_ms();

	drain_notify(s->o->notify_fd);

	for (i = 0; i < s->n; i++) {
		struct client *c = &s->c[i];

		if (c->fd < 0 && sending)
			client_open(s, c);
		if (c->fd < 0)
			continue;
		if (sending && c->ops_left == 0)
			client_leave(s, c);
		else if (!sending && c->n_pend == 0 && c->anon == 0)
			client_drop(s, c, false);
		if (c->fd < 0)
			continue;
		while (sending && c->ops_left && c->n_pend < MAX_PENDING - 1) {
			c->ops_left--;
			if (client_send(s, c) < 0) {
				note(s, "send failed: %s", strerror(errno));
				client_drop(s, c, true);
				break;
			}
		}
		if (c->fd < 0)
			continue;
		check_lost(s, c, t);
		pfd[np].fd = c->fd;
		pfd[np].events = POLLIN;
		pfd[np].revents = 0;
		np++;
	}
	if (poll(pfd, np, 20) <= 0)
		return;
	for (i = 0; i < s->n; i++) {
		struct client *c = &s->c[i];
		unsigned k;

		if (c->fd < 0)
			continue;
		for (k = 0; k < np && pfd[k].fd != c->fd; k++)
			;
		if (k == np || !pfd[k].revents)
			continue;
		if (client_read(s, c) < 0) {
			if (c->n_pend || c->anon)
				note(s,
				     "jobd closed a connection with %d "
				     "answers due",
				     c->n_pend + c->anon);
			client_drop(s, c, false);
		}
	}
}

static int make_big_call(struct soak *s)
{
	static const char tail[] = "\"type\":\"call\",\"plugin\":\"echo\","
	                           "\"input\":\"";
	size_t n;

	s->big_call = malloc(BIG_LEN + 200);
	if (!s->big_call)
		return -1;
	/* "{\"id\":" + 20 chars, then ',' and the rest: see client_send. */
	n = (size_t)snprintf(s->big_call, 128, "{\"id\":%-20d,%s", 0, tail);
	memset(s->big_call + n, 'x', BIG_LEN);
	memcpy(s->big_call + n + BIG_LEN, "\"}", 3);
	return 0;
}

int soak_run(const struct soak_opts *o, struct soak_result *r)
{
	struct soak s = {.o = o, .r = r, .seed = o->seed ? o->seed : 1};
	uint64_t t0, end, next_reload, next_log, settle;
	unsigned i, generation = 0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	s.n = o->clients ? o->clients : 16;
	if (s.n > 200)
		s.n = 200;
	s.c = calloc(s.n, sizeof(*s.c));
	if (!s.c || make_big_call(&s) < 0)
		return -1;
	for (i = 0; i < s.n; i++)
		s.c[i].fd = -1;
	r->rss_start_kb = soak_rss_kb(o->pid);
	r->fds_start = soak_fd_count_so(o->pid, &r->so_fds_start);
	t0 = now_ms();
	end = t0 + (uint64_t)o->seconds * 1000u;
	next_reload = t0 + (o->reload_ms ? o->reload_ms : 0);
	next_log = t0 + 10000;
	while (now_ms() < end) {
		turn(&s, true);
		if (o->reload_ms && now_ms() >= next_reload) {
			if (o->config)
				rewrite_config(o->config, ++generation);
			kill(o->pid, SIGHUP);
			r->reloads++;
			next_reload = now_ms() + o->reload_ms;
		}
		if (o->log && now_ms() >= next_log) {
			fprintf(o->log,
			        "soak: %llus: %llu sent, %llu answered, %llu "
			        "unexpected; RSS %ld kB, %d fds\n",
			        (unsigned long long)(now_ms() - t0) / 1000,
			        (unsigned long long)r->sent,
			        (unsigned long long)r->answered,
			        (unsigned long long)r->unexpected,
			        soak_rss_kb(o->pid), soak_fd_count(o->pid));
			next_log = now_ms() + 10000;
		}
		if (!daemon_alive(o->pid)) {
			r->daemon_died = true;
			break;
		}
	}
	/* Drain: every kept connection gets its answers, then closes. */
	settle = now_ms() + LOST_MS + 5000;
	for (;;) {
		bool open = false;

		for (i = 0; i < s.n; i++)
			open |= s.c[i].fd >= 0;
		if (!open || now_ms() > settle)
			break;
		turn(&s, false);
	}
	for (i = 0; i < s.n; i++) {
		r->lost += (uint64_t)s.c[i].n_pend;
		client_drop(&s, &s.c[i], false);
		free(s.c[i].in);
	}
	/* jobd notices the last closes, finishes abandoned jobs. */
	settle = now_ms() + 10000;
	do {
		usleep(100 * 1000);
		r->fds_end = soak_fd_count_so(o->pid, &r->so_fds_end);
	} while (r->fds_end - r->so_fds_end > r->fds_start - r->so_fds_start &&
	         now_ms() < settle);
	r->rss_end_kb = soak_rss_kb(o->pid);
	if (o->log &&
	    r->fds_end - r->so_fds_end > r->fds_start - r->so_fds_start)
		list_fds(o->log, o->pid);
	if (!daemon_alive(o->pid))
		r->daemon_died = true;
	/* Sockets, plugin files and the rest must come back exactly: every
	 * instance of a plugin file shares one descriptor (plugin.c). */
	if (r->unexpected || r->lost || r->daemon_died ||
	    r->fds_end - r->so_fds_end > r->fds_start - r->so_fds_start ||
	    r->so_fds_end > r->so_fds_start)
		rc = -1;
	free(s.big_call);
	free(s.c);
	return rc;
}

void soak_print(FILE *f, const struct soak_result *r)
{
	fprintf(f,
	        "soak: %llu requests sent, %llu answered as expected (%llu of "
	        "them expected errors), %llu unexpected, %llu lost, %llu "
	        "abandoned by disconnects\n"
	        "soak: %llu connections, %llu dropped abruptly, %llu "
	        "reloads%s\n"
	        "soak: jobd RSS %ld kB -> %ld kB, open fds %d -> %d (plugin "
	        "files %d -> %d)\n",
	        (unsigned long long)r->sent, (unsigned long long)r->answered,
	        (unsigned long long)r->failed,
	        (unsigned long long)r->unexpected, (unsigned long long)r->lost,
	        (unsigned long long)r->abandoned,
	        (unsigned long long)r->connections,
	        (unsigned long long)r->disconnects,
	        (unsigned long long)r->reloads,
	        r->daemon_died ? "; JOBD DIED" : "", r->rss_start_kb,
	        r->rss_end_kb, r->fds_start, r->fds_end, r->so_fds_start,
	        r->so_fds_end);
}
