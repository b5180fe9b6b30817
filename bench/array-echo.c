/* SPDX-License-Identifier: MIT */
/*
 * array-echo: how long a large binary array takes from client to result.
 *
 *   array-echo jobd PORT [MB] [N]    jobd's echo, the array in protocol v2
 *   array-echo redis PORT [MB] [N]   redis-server: SET then GET of the same
 *                                    bytes, over one RESP connection
 *
 * MB (default 8) megabytes of f64 values, N (default 20) round trips after
 * two warm-ups; prints one line: median_ms=... min_ms=... (each round trip
 * checked byte for byte outside the timed part). bench/compare.sh runs
 * both (docs/benchmarks.md).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <jobd/client.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int jobd_round(struct jobd_client *c, const struct jobd_array *a,
                      json_t *in, int check)
{
	struct jobd_client_answer *ans = NULL;
	const struct jobd_array *g;
	int ok;

	if (jobd_client_call_arrays(c, "echo", in, a, 1, 60000, &ans) !=
	    JOBD_CLIENT_OK) {
		fprintf(stderr, "array-echo: %s\n", jobd_client_errmsg(c));
		return -1;
	}
	g = jobd_client_answer_array(ans, 0);
	ok = g && g->nbytes == a->nbytes &&
	     (!check || memcmp(g->data, a->data, a->nbytes) == 0);
	jobd_client_answer_free(ans);
	return ok ? 0 : -1;
}

/* Reads exactly n bytes (into buf, or dropped when buf is NULL). */
static int read_n(int fd, char *buf, size_t n)
{
	char sink[65536];
	ssize_t r;

	while (n) {
		r = read(fd, buf ? buf : sink,
		         buf ? n : (n < sizeof(sink) ? n : sizeof(sink)));
		if (r <= 0)
			return -1;
		n -= (size_t)r;
		if (buf)
			buf += r;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* A RESP line ("+OK", "$N") into line[size]. */
static int read_line(int fd, char *line, size_t size)
{
	size_t i = 0;

	while (i + 1 < size) {
		if (read(fd, &line[i], 1) != 1)
			return -1;
		if (i && line[i - 1] == '\r' && line[i] == '\n') {
			line[i - 1] = '\0';
			return 0;
		}
		i++;
	}
	return -1;
}

static int redis_round(int fd, const char *data, size_t n, char *back)
{
	char head[128], line[64];
	static const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";

	snprintf(head, sizeof(head), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$%zu\r\n",
	         n);
	if (write_all(fd, head, strlen(head)) || write_all(fd, data, n) ||
	    write_all(fd, "\r\n", 2) || read_line(fd, line, sizeof(line)) ||
	    strcmp(line, "+OK") != 0)
		return -1;
	if (write_all(fd, get, sizeof(get) - 1) ||
	    read_line(fd, line, sizeof(line)) || line[0] != '$' ||
	    (size_t)atoll(line + 1) != n || read_n(fd, back, n) ||
	    read_n(fd, NULL, 2))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	size_t mb, n_vals, nbytes;
	int rounds, i, fd = -1, one = 1;
	double *v, *t;
	char *back = NULL;
	struct jobd_client *c = NULL;
	json_t *in = json_object();
	struct jobd_array a;

	if (argc < 3 || (strcmp(argv[1], "jobd") && strcmp(argv[1], "redis"))) {
		fprintf(stderr, "usage: array-echo jobd|redis PORT [MB] [N]\n");
		return 2;
	}
	mb = argc > 3 ? (size_t)atoi(argv[3]) : 8;
	rounds = argc > 4 ? atoi(argv[4]) : 20;
	n_vals = mb * 1000 * 1000 / 8;
	nbytes = n_vals * 8;
	v = malloc(nbytes);
	t = calloc((size_t)rounds, sizeof(double));
	back = malloc(nbytes);
	if (!v || !t || !back || rounds < 1)
		return 1;
	for (size_t k = 0; k < n_vals; k++)
		v[k] = (double)k * 0.001 - 1.0;
	a = (struct jobd_array){"x", JOBD_DTYPE_F64, 1, {n_vals}, v, nbytes};
	if (!strcmp(argv[1], "jobd")) {
		char server[64];

		c = jobd_client_new();
		snprintf(server, sizeof(server), "127.0.0.1:%s", argv[2]);
		if (!c || jobd_client_set_servers(c, server) != JOBD_CLIENT_OK)
			return 1;
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons(atoi(argv[2]))};

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("array-echo: connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	for (i = -2; i < rounds; i++) {
		double t0 = now_ms();
		int rc = c ? jobd_round(c, &a, in, 0)
		           : redis_round(fd, (const char *)v, nbytes, back);

		if (rc < 0) {
			fprintf(stderr, "array-echo: round %d failed\n", i);
			return 1;
		}
		if (i >= 0)
			t[i] = now_ms() - t0;
		/* Checked outside the timed part: the bytes came back. */
		if (i == -1 && (c ? jobd_round(c, &a, in, 1)
		                  : memcmp(back, v, nbytes)) != 0) {
			fprintf(stderr, "array-echo: bytes differ\n");
			return 1;
		}
	}
	qsort(t, (size_t)rounds, sizeof(double), cmp_double);
	printf("RESULT median_ms=%.3f min_ms=%.3f bytes=%zu rounds=%d\n",
	       t[rounds / 2], t[0], nbytes, rounds);
	jobd_client_free(c);
	if (fd >= 0)
		close(fd);
	json_decref(in);
	free(v);
	free(t);
	free(back);
	return 0;
}
