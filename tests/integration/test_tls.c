/* SPDX-License-Identifier: MIT */
/*
 * libjobd-client's TLS and tokens, for real: certificates made by
 * tls-certs.sh with the openssl command, a TLS server that is
 * `openssl s_server` (it hands the client a jobd hello frame we give it on
 * its stdin, and prints what the client sent), the real jobd for a plain
 * port, and a small forked fake for the token answers the daemon will
 * give (docs/protocol.md §13). Each failure must say what failed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jobd/client.h>

#include "harness.h"

#define TOKEN "Zm9vYmFyLXRva2VuLWZvci10ZXN0cy0xMjM0NTY3ODk"

static char certs[128]; /* the directory tls-certs.sh filled */

static void make_certs(void)
{
	char cmd[512];

	snprintf(certs, sizeof(certs), "/tmp/jobd-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(certs));
	snprintf(cmd, sizeof(cmd), "%s %s", getenv("JOBD_TLS_CERTS"), certs);
	ck_assert_int_eq(system(cmd), 0);
}

static void remove_certs(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", certs);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", certs);
}

static const char *cert(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 256, "%s/%s", certs, name);
	return p;
}

/* ---- openssl s_server ------------------------------------------------- */

struct tls_server {
	pid_t pid;
	int stdin_fd;  /* what we write, s_server sends to the client */
	char out[300]; /* its stdout: ACCEPT line, then what it received */
	uint16_t port;
};

/* A jobd hello frame, as a server would send it. */
static const char server_hello[] =
        "{\"type\":\"hello\",\"version\":1,\"server\":\"s_server\","
        "\"max_frame_size\":16777216,\"user\":\"alice\"}";

/* Starts s_server with cert/key, one connection; verify_ca: ask for a
 * client certificate signed by it (mutual TLS); extra: more s_server
 * options, NULL-terminated, or NULL. */
static void tls_server_start_with(struct tls_server *s, const char *crt,
                                  const char *key, const char *verify_ca,
                                  const char *const *extra)
{
	const char *argv[24];
	char buf[4096];
	int in[2], n = 0, i, fd;
	uint8_t hdr[4];
	uint32_t len = (uint32_t)strlen(server_hello);
	char *p;

	snprintf(s->out, sizeof(s->out), "%s/s_server.%d.out", certs,
	         (int)getpid());
	ck_assert_int_eq(pipe(in), 0);
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = "0";
	argv[n++] = "-naccept";
	argv[n++] = "1";
	argv[n++] = "-cert";
	argv[n++] = crt;
	argv[n++] = "-key";
	argv[n++] = key;
	if (verify_ca) {
		argv[n++] = "-Verify";
		argv[n++] = "1";
		argv[n++] = "-CAfile";
		argv[n++] = verify_ca;
	}
	while (extra && *extra)
		argv[n++] = *extra++;
	argv[n] = NULL;
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(in[0], 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(in[1]);
		execvp("openssl", (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	s->stdin_fd = in[1];
	/* s_server reads its stdin once a client is connected and sends it:
	 * the hello frame is ready for whoever connects. */
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	ck_assert_int_eq(write(s->stdin_fd, hdr, 4), 4);
	ck_assert_int_eq(write(s->stdin_fd, server_hello, len), (ssize_t)len);
	s->port = 0;
	for (i = 0; i < 100 && !s->port; i++) {
		usleep(50000);
		fd = open(s->out, O_RDONLY);
		if (fd < 0)
			continue;
		n = (int)read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		p = strstr(buf, "ACCEPT ");
		if (p && (p = strstr(p, "]:")))
			s->port = (uint16_t)atoi(p + 2);
	}
	ck_assert_msg(s->port, "s_server did not start: %s", buf);
}

static void tls_server_start(struct tls_server *s, const char *crt,
                             const char *key, const char *verify_ca)
{
	tls_server_start_with(s, crt, key, verify_ca, NULL);
}

/* Stops it and returns what it printed (malloc'd). */
static char *tls_server_stop(struct tls_server *s)
{
	char *text = calloc(1, 65536);
	int fd, status, i;
	ssize_t n;

	/* With -naccept 1 it exits once its client has gone, having
	 * printed all it got; a kill is only for one that hangs. Its stdin
	 * stays open till then: at the end of stdin it would quit before
	 * reading what the client sent. */
	for (i = 0; i < 60; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			break;
		usleep(50000);
	}
	close(s->stdin_fd);
	if (i == 60) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
	}
	fd = open(s->out, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, text, 65535);
	text[n > 0 ? n : 0] = '\0';
	/* It prints what it received raw, frame headers and all. */
	for (i = 0; i < n; i++)
		if (!text[i])
			text[i] = '.';
	close(fd);
	unlink(s->out);
	return text;
}

/* A client for server "base:port" ("tls://localhost", "127.0.0.1"). */
static struct jobd_client *client_to(const char *base, unsigned port)
{
	struct jobd_client *c = jobd_client_new();
	char servers[128];

	ck_assert_ptr_nonnull(c);
	snprintf(servers, sizeof(servers), "%s:%u", base, port);
	ck_assert_int_eq(jobd_client_set_servers(c, servers), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_io_timeout(c, 3000), JOBD_CLIENT_OK);
	return c;
}

/* Connecting fails with E_CONNECT and a message that holds want. */
static void connect_fails(struct jobd_client *c, const char *want)
{
	int r = jobd_client_connect(c, 10000);

	ck_assert_msg(r == JOBD_CLIENT_E_CONNECT, "status %d: %s", r,
	              jobd_client_errmsg(c));
	ck_assert_msg(strstr(jobd_client_errmsg(c), want),
	              "\"%s\" lacks \"%s\"", jobd_client_errmsg(c), want);
}

/* ---- TLS ---------------------------------------------------------------- */

/* The right CA: the handshake, the hello, the token over TLS. */
START_TEST(test_right_ca)
{
	struct tls_server s;
	struct jobd_client *c;
	char *seen;

	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_token(c, TOKEN), JOBD_CLIENT_OK);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	ck_assert_str_eq(jobd_client_server_name(c), "s_server");
	ck_assert_str_eq(jobd_client_user(c), "alice");
	ck_assert_ptr_nonnull(strstr(jobd_client_server(c), "tls://"));
	jobd_client_free(c);
	seen = tls_server_stop(&s);
	/* s_server printed the decrypted hello: the token went over TLS */
	ck_assert_msg(strstr(seen, "\"token\":\"" TOKEN "\""), "%s", seen);
	ck_assert_ptr_nonnull(strstr(seen, "\"type\":\"hello\""));
	free(seen);
}
END_TEST

/* By address: the certificate's IP entry is what is checked. And the CA
 * from $JOBD_CA. */
START_TEST(test_ip_and_env_ca)
{
	struct tls_server s;
	struct jobd_client *c;

	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	setenv("JOBD_CA", cert("ca.pem"), 1);
	c = client_to("tls://127.0.0.1", s.port);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	jobd_client_free(c);
	unsetenv("JOBD_CA");
	free(tls_server_stop(&s));
}
END_TEST

START_TEST(test_wrong_ca)
{
	struct tls_server s;
	struct jobd_client *c;
	char *seen;

	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("other-ca.pem")),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_token(c, TOKEN), JOBD_CLIENT_OK);
	connect_fails(c, "server certificate not accepted: unable to get "
	                 "local issuer certificate (give the CA that signed "
	                 "it: --ca FILE or JOBD_CA)");
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "tls://localhost"));
	jobd_client_free(c);
	seen = tls_server_stop(&s);
	ck_assert_ptr_null(strstr(seen, TOKEN)); /* never sent */
	free(seen);
}
END_TEST

START_TEST(test_expired)
{
	struct tls_server s;
	struct jobd_client *c;

	tls_server_start(&s, cert("expired.pem"), cert("expired.key"), NULL);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	connect_fails(c, "server certificate not accepted: certificate has "
	                 "expired");
	jobd_client_free(c);
	free(tls_server_stop(&s));
}
END_TEST

START_TEST(test_name_mismatch)
{
	struct tls_server s;
	struct jobd_client *c;

	tls_server_start(&s, cert("wrongname.pem"), cert("wrongname.key"),
	                 NULL);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	connect_fails(c, "server certificate not accepted: hostname mismatch "
	                 "(the certificate is for another name");
	jobd_client_free(c);
	free(tls_server_stop(&s));

	/* by address: server.pem names 127.0.0.1, not 127.0.0.2 */
	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	c = client_to("tls://127.0.0.2", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	connect_fails(c, "IP address mismatch");
	jobd_client_free(c);
	free(tls_server_stop(&s));
}
END_TEST

START_TEST(test_mutual_tls)
{
	struct tls_server s;
	struct jobd_client *c;
	char *seen;

	/* with a client certificate */
	tls_server_start(&s, cert("server.pem"), cert("server.key"),
	                 cert("ca.pem"));
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_client_cert(c, cert("client.pem"),
	                                             cert("client.key")),
	                 JOBD_CLIENT_OK);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	jobd_client_free(c);
	seen = tls_server_stop(&s);
	ck_assert_msg(strstr(seen, "CN = alice"), "%s", seen);
	free(seen);

	/* without one: the server refuses, and the client says so */
	tls_server_start(&s, cert("server.pem"), cert("server.key"),
	                 cert("ca.pem"));
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	ck_assert_int_ne(jobd_client_connect(c, 10000), JOBD_CLIENT_OK);
	ck_assert_msg(
	        strstr(jobd_client_errmsg(c), "certificate required") ||
	                strstr(jobd_client_errmsg(c), "handshake failure"),
	        "%s", jobd_client_errmsg(c));
	jobd_client_free(c);
	free(tls_server_stop(&s));
}
END_TEST

/* A server that offers only TLS 1.1: refused, the floor is 1.2. */
START_TEST(test_old_tls)
{
	static const char *const old[] = {"-tls1_1", "-cipher",
	                                  "DEFAULT@SECLEVEL=0", NULL};
	struct tls_server s;
	struct jobd_client *c;

	tls_server_start_with(&s, cert("server.pem"), cert("server.key"), NULL,
	                      old);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	connect_fails(c, "(this client speaks TLS 1.2 or newer only)");
	jobd_client_free(c);
	free(tls_server_stop(&s));
}
END_TEST

START_TEST(test_bad_settings)
{
	struct jobd_client *c = jobd_client_new();

	ck_assert_int_eq(jobd_client_set_ca_file(c, "/nonexistent/ca.pem"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(
	        strstr(jobd_client_errmsg(c), "CA file /nonexistent/ca.pem"));
	/* a key that is not the certificate's */
	ck_assert_int_eq(jobd_client_set_client_cert(c, cert("client.pem"),
	                                             cert("server.key")),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "does not match"));
	ck_assert_int_eq(
	        jobd_client_set_client_cert(c, cert("client.pem"), NULL),
	        JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_servers(c, "ftp://x:1"),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_ptr_nonnull(strstr(jobd_client_errmsg(c), "unknown scheme"));
	ck_assert_int_eq(jobd_client_set_token(c, ""), JOBD_CLIENT_E_INVALID);
	ck_assert_int_eq(jobd_client_set_token(c, "a b"),
	                 JOBD_CLIENT_E_INVALID);
	jobd_client_free(c);
}
END_TEST

/* A TLS client at the real jobd's plain port, and a plain client at a
 * TLS port: each a clear failure, never a hang. */
START_TEST(test_wrong_kind_of_port)
{
	struct jobd_proc p;
	struct tls_server s;
	struct jobd_client *c;
	uint64_t t0;

	ck_assert_int_eq(harness_start(&p, NULL), 0);
	c = client_to("tls://127.0.0.1", p.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	t0 = harness_now_ms();
	connect_fails(c, "is it a plain jobd port? then write the entry "
	                 "without tls://");
	ck_assert_uint_lt(harness_now_ms() - t0, 2500);
	jobd_client_free(c);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);

	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	c = client_to("127.0.0.1", s.port);
	t0 = harness_now_ms();
	ck_assert_int_ne(jobd_client_connect(c, 10000), JOBD_CLIENT_OK);
	ck_assert_msg(strstr(jobd_client_errmsg(c),
	                     "if it is a TLS port, write the entry as "
	                     "tls://127.0.0.1:"),
	              "%s", jobd_client_errmsg(c));
	ck_assert_uint_lt(harness_now_ms() - t0, 2500);
	jobd_client_free(c);
	free(tls_server_stop(&s));
}
END_TEST

/* ---- tokens --------------------------------------------------------------
 * A forked fake speaks the answers of docs/protocol.md §13: it reads the
 * hello and answers with hello+user when the token is right, else with
 * error unauthorized; it writes the hello it got to a pipe. */

static pid_t fake_start(uint16_t *port, int *seen_fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int lfd, pfd[2];
	pid_t pid;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);
		json_t *hello = harness_recv(fd, 5000), *tok, *ans;
		char *text = hello ? json_dumps(hello, 0) : NULL;

		if (text && write(pfd[1], text, strlen(text)) < 0)
			_exit(1);
		tok = json_object_get(hello, "token");
		if (json_is_string(tok) &&
		    !strcmp(json_string_value(tok), TOKEN))
			ans = json_pack("{s:s,s:i,s:s,s:s}", "type", "hello",
			                "version", 1, "server", "fake", "user",
			                "alice");
		else
			ans = json_pack("{s:s,s:s,s:s}", "type", "error",
			                "code", "unauthorized", "message",
			                "missing or wrong token");
		harness_send(fd, ans);
		/* keep the connection: the client must not wait for a
		 * close to see the refusal */
		harness_wait_closed(fd, 5000);
		_exit(0);
	}
	close(lfd);
	close(pfd[1]);
	*seen_fd = pfd[0];
	return pid;
}

static char *fake_stop(pid_t pid, int seen_fd)
{
	char *buf = calloc(1, 4096);
	ssize_t n;
	int status;

	waitpid(pid, &status, 0);
	n = read(seen_fd, buf, 4095);
	buf[n > 0 ? n : 0] = '\0';
	close(seen_fd);
	return buf;
}

START_TEST(test_token_accepted_and_refused)
{
	struct jobd_client *c;
	uint16_t port;
	int seen_fd;
	char *seen;
	pid_t pid;
	uint64_t t0;

	pid = fake_start(&port, &seen_fd);
	c = client_to("127.0.0.1", port);
	setenv("JOBD_TOKEN", TOKEN, 1); /* loopback: plain TCP is fine */
	ck_assert_msg(jobd_client_connect(c, 5000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	unsetenv("JOBD_TOKEN");
	ck_assert_str_eq(jobd_client_user(c), "alice");
	jobd_client_free(c);
	seen = fake_stop(pid, seen_fd);
	ck_assert_msg(strstr(seen, TOKEN), "%s", seen);
	free(seen);

	pid = fake_start(&port, &seen_fd);
	c = client_to("127.0.0.1", port);
	ck_assert_int_eq(jobd_client_set_token(c, "wrong"), JOBD_CLIENT_OK);
	t0 = harness_now_ms();
	ck_assert_int_eq(jobd_client_connect(c, 5000), JOBD_CLIENT_E_AUTH);
	ck_assert_uint_lt(harness_now_ms() - t0, 2000);
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_UNAUTHORIZED);
	ck_assert_str_eq(jobd_client_error_name(c), "unauthorized");
	ck_assert_msg(
	        strstr(jobd_client_errmsg(c), "not authorized: 127.0.0.1:") &&
	                strstr(jobd_client_errmsg(c),
	                       "refused: unauthorized: missing or "
	                       "wrong token"),
	        "%s", jobd_client_errmsg(c));
	ck_assert_ptr_null(strstr(jobd_client_errmsg(c), "wrong\""));
	jobd_client_free(c);
	free(fake_stop(pid, seen_fd));
}
END_TEST

START_TEST(test_token_file)
{
	struct jobd_client *c = jobd_client_new();
	char path[300];
	uint16_t port;
	int fd, seen_fd;
	char *seen;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/token.%d", certs, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, TOKEN "\n", sizeof(TOKEN)),
	                 (ssize_t)sizeof(TOKEN));
	close(fd);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(jobd_client_set_token_file(c, path),
	                 JOBD_CLIENT_E_INVALID);
	ck_assert_msg(strstr(jobd_client_errmsg(c), "run: chmod 600 "), "%s",
	              jobd_client_errmsg(c));
	ck_assert_ptr_null(strstr(jobd_client_errmsg(c), TOKEN));
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(jobd_client_set_token_file(c, path), JOBD_CLIENT_OK);

	pid = fake_start(&port, &seen_fd);
	snprintf(path, sizeof(path), "127.0.0.1:%u", port);
	ck_assert_int_eq(jobd_client_set_servers(c, path), JOBD_CLIENT_OK);
	ck_assert_msg(jobd_client_connect(c, 5000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	jobd_client_free(c);
	seen = fake_stop(pid, seen_fd);
	ck_assert_msg(strstr(seen, "\"token\": \"" TOKEN "\""), "%s", seen);
	free(seen);
}
END_TEST

/* ---- jobctl -------------------------------------------------------------- */

/* Runs $JOBCTL_BIN with argv (NULL-terminated, after "jobctl"); its
 * stderr into err. Returns the exit status. */
static int jobctl(char *err, size_t cap, const char *const *args)
{
	char path[] = "/tmp/jobd-tls-err-XXXXXX";
	const char *argv[16];
	int fd, status, n = 0;
	ssize_t got;
	pid_t pid;

	argv[n++] = "jobctl";
	while (*args)
		argv[n++] = *args++;
	argv[n] = NULL;
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 2);
		execv(getenv("JOBCTL_BIN"), (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	got = pread(fd, err, cap - 1, 0);
	err[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_jobctl_flags)
{
	char err[4096], server[128], tokfile[300];
	struct tls_server s;
	uint16_t port;
	int fd, seen_fd;
	char *seen;
	pid_t pid;

	snprintf(tokfile, sizeof(tokfile), "%s/jobctl-token.%d", certs,
	         (int)getpid());
	fd = open(tokfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, TOKEN "\n", sizeof(TOKEN)),
	                 (ssize_t)sizeof(TOKEN));
	close(fd);

	/* --ca and --token-file: verified, and the token goes over TLS. The
	 * fake TLS server never answers the ping: a timeout (4), not a
	 * connect failure (3), is the proof that the handshake passed. */
	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	snprintf(server, sizeof(server), "tls://localhost:%u", s.port);
	{
		const char *a[] = {
		        "--ca",  cert("ca.pem"), "-s", server, "--token-file",
		        tokfile, "--timeout",    "1s", "ping", NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 4);
	}
	seen = tls_server_stop(&s);
	ck_assert_msg(strstr(seen, "\"token\":\"" TOKEN "\""), "%s", seen);
	ck_assert_ptr_nonnull(strstr(seen, "\"type\":\"ping\""));
	free(seen);

	/* a wrong --ca: exit 3 and why */
	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	snprintf(server, sizeof(server), "tls://localhost:%u", s.port);
	{
		const char *a[] = {"--ca", cert("other-ca.pem"),
		                   "-s",   server,
		                   "ping", NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 3);
	}
	ck_assert_msg(strstr(err, "server certificate not accepted"), "%s",
	              err);
	free(tls_server_stop(&s));

	/* mutual TLS through --cert/--key */
	tls_server_start(&s, cert("server.pem"), cert("server.key"),
	                 cert("ca.pem"));
	snprintf(server, sizeof(server), "tls://localhost:%u", s.port);
	{
		const char *a[] = {"--ca",      cert("ca.pem"),
		                   "--cert",    cert("client.pem"),
		                   "--key",     cert("client.key"),
		                   "-s",        server,
		                   "--timeout", "1s",
		                   "ping",      NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 4);
	}
	free(tls_server_stop(&s));

	/* bad flags: exit 2 before anything is sent */
	{
		const char *a[] = {"--cert", cert("client.pem"), "ping", NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 2);
		ck_assert_ptr_nonnull(strstr(err, "--cert and --key"));
	}
	ck_assert_int_eq(chmod(tokfile, 0640), 0);
	{
		const char *a[] = {"--token-file", tokfile, "ping", NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 2);
		ck_assert_ptr_nonnull(strstr(err, "run: chmod 600"));
	}

	/* a refused token: exit 6, "not authorized" */
	pid = fake_start(&port, &seen_fd);
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	setenv("JOBD_TOKEN", "wrong-token", 1);
	{
		const char *a[] = {"-s", server, "ping", NULL};
		ck_assert_int_eq(jobctl(err, sizeof(err), a), 6);
	}
	unsetenv("JOBD_TOKEN");
	ck_assert_msg(strstr(err, "not authorized") &&
	                      strstr(err, "unauthorized"),
	              "%s", err);
	seen = fake_stop(pid, seen_fd);
	ck_assert_ptr_nonnull(strstr(seen, "wrong-token"));
	free(seen);
	unlink(tokfile);
}
END_TEST

/* The server vanishes while a large request is being written over TLS:
 * the client reports a lost connection; it must not raise SIGPIPE,
 * which would kill this process. */
START_TEST(test_no_sigpipe)
{
	struct tls_server s;
	struct jobd_client *c;
	json_t *big;
	char *text;
	uint64_t id;
	int r, status;
	pid_t killer;

	tls_server_start(&s, cert("server.pem"), cert("server.key"), NULL);
	c = client_to("tls://localhost", s.port);
	ck_assert_int_eq(jobd_client_set_ca_file(c, cert("ca.pem")),
	                 JOBD_CLIENT_OK);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	/* It stops reading, so the request fills the socket; then it dies
	 * while the client waits to write the rest: the kernel resets the
	 * connection under a half-written TLS record. */
	kill(s.pid, SIGSTOP);
	killer = fork();
	ck_assert_int_ge(killer, 0);
	if (killer == 0) {
		usleep(300000);
		kill(s.pid, SIGKILL);
		_exit(0);
	}
	text = malloc(8 << 20);
	memset(text, 'x', 8 << 20);
	text[(8 << 20) - 1] = '\0';
	big = json_string(text);
	free(text);
	r = jobd_client_submit(c, "echo", big, 0, &id);
	ck_assert_msg(r == JOBD_CLIENT_E_CONNECTION_LOST ||
	                      r == JOBD_CLIENT_E_CONNECT,
	              "status %d: %s", r, jobd_client_errmsg(c));
	json_decref(big);
	jobd_client_free(c);
	waitpid(killer, &status, 0);
	waitpid(s.pid, &status, 0);
	close(s.stdin_fd);
	unlink(s.out);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_right_ca);
	tcase_add_test(tc, test_ip_and_env_ca);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_expired);
	tcase_add_test(tc, test_name_mismatch);
	tcase_add_test(tc, test_mutual_tls);
	tcase_add_test(tc, test_old_tls);
	tcase_add_test(tc, test_bad_settings);
	tcase_add_test(tc, test_wrong_kind_of_port);
	tcase_add_test(tc, test_token_accepted_and_refused);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_jobctl_flags);
	tcase_add_test(tc, test_no_sigpipe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	/* SIGPIPE keeps its default action: the client must never raise it
	 * (a test would die of it), TLS or not. */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
