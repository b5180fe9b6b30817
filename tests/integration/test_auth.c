/* SPDX-License-Identifier: MIT */
/*
 * Who may do what (docs/protocol.md §12, docs/security.md), against the
 * real jobd: users made with `jobd user`, tokens in hello, the pre-auth
 * limits, forbidden plugins and other users' jobs, revocation on SIGHUP,
 * Unix-socket peers, TLS listeners with certificates made by
 * tls-certs.sh (the openssl command), the refusal to listen openly, fair
 * share and per-user caps.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jobd/client.h>
#include <sqlite3.h>

#include "harness.h"

static char dir[64];         /* users file, its config, certificates */
static char users_cfg[256];  /* a config naming the users file */
static char users_path[256]; /* the users file */

static void setup(void)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/jobd-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(users_path, sizeof(users_path), "%s/users.yaml", dir);
	snprintf(users_cfg, sizeof(users_cfg), "%s/users-cfg.yaml", dir);
	f = fopen(users_cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "auth: {users_file: \"%s\"}\n", users_path);
	fclose(f);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* `jobd -c USERS_CFG user ARGS`; returns what it printed on stdout (the
 * token of add, without its newline), malloc'd. */
static char *user_cmd(const char *args)
{
	char cmd[1024], line[512] = "";
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "%s -c %s user %s 2>/dev/null",
	         getenv("JOBD_BIN"), users_cfg, args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	ck_assert_msg(pclose(p) == 0, "jobd user %s failed", args);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return strdup(line);
}

/* Starts jobd with the users file; more: YAML after it; listen_extra:
 * more listeners (then jobd binds them all itself). */
static void start(struct jobd_proc *p, const char *more,
                  const char *listen_extra)
{
	static char yaml[2048];
	struct harness_opts o = {0};

	snprintf(yaml, sizeof(yaml), "auth: {users_file: \"%s\"}\n%s",
	         users_path, more ? more : "");
	o.yaml = yaml;
	o.bind_from_config = listen_extra != NULL;
	o.listen_extra = listen_extra;
	ck_assert_int_eq(harness_start(p, &o), 0);
}

static json_t *send_recv(int fd, const char *text)
{
	ck_assert_int_eq(harness_send_text(fd, text), 0);
	return harness_recv_answer(fd, 10000);
}

/* A hello with token (NULL: none) and id 1. */
static json_t *hello(int fd, const char *token)
{
	char text[512];

	if (token)
		snprintf(text, sizeof(text),
		         "{\"type\":\"hello\",\"version\":1,\"id\":1,"
		         "\"token\":\"%s\"}",
		         token);
	else
		snprintf(text, sizeof(text),
		         "{\"type\":\"hello\",\"version\":1,\"id\":1}");
	return send_recv(fd, text);
}

static const char *str(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

/* A connection authenticated with token as user. */
static int login(const struct jobd_proc *p, const char *token, const char *user)
{
	int fd = harness_connect(p);
	json_t *m;

	ck_assert_int_ge(fd, 0);
	m = hello(fd, token);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(str(m, "type"), "hello");
	ck_assert_str_eq(str(m, "user"), user);
	json_decref(m);
	return fd;
}

static void expect_error(json_t *m, const char *code)
{
	ck_assert_msg(m, "no answer (wanted %s)", code);
	ck_assert_msg(!strcmp(harness_error_code(m), code), "wanted %s, got %s",
	              code, json_dumps(m, 0));
	json_decref(m);
}

/* ---- tokens ------------------------------------------------------------ */

/* No token: only hello and ping, frames capped at 64 KiB. */
START_TEST(test_no_token)
{
	struct jobd_proc p;
	char *tok = user_cmd("add alice --plugins echo");
	unsigned char big[4] = {0, 1, 0x11, 0x70}; /* 70000 */
	json_t *m;
	int fd;

	start(&p, NULL, NULL);
	fd = harness_connect(&p);
	m = harness_call(fd, 5, "echo", "{}", 10000);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 5);
	expect_error(m, "unauthorized");
	m = send_recv(fd, "{\"type\":\"jobs\",\"id\":6}");
	expect_error(m, "unauthorized");
	m = send_recv(fd, "{\"type\":\"ping\",\"id\":7}");
	ck_assert_str_eq(str(m, "type"), "pong");
	json_decref(m);
	/* A hello without token: told the small cap, no user. */
	m = hello(fd, NULL);
	ck_assert_str_eq(str(m, "type"), "hello");
	ck_assert_int_eq(
	        json_integer_value(json_object_get(m, "max_frame_size")),
	        65536);
	ck_assert_ptr_null(json_object_get(m, "user"));
	json_decref(m);
	/* A frame past 64 KiB is refused from its length alone. */
	ck_assert_int_eq(harness_send_raw(fd, big, sizeof(big)), 0);
	expect_error(harness_recv(fd, 10000), "too_large");
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);
	/* With the token, the same frame size is fine. */
	fd = login(&p, tok, "alice");
	m = hello(fd, tok);
	ck_assert_int_eq(
	        json_integer_value(json_object_get(m, "max_frame_size")),
	        16 * 1024 * 1024);
	json_decref(m);
	close(fd);
	harness_stop(&p, 0, 10000);
	free(tok);
}
END_TEST

/* A wrong token: unauthorized, and the third closes; never logged. */
START_TEST(test_wrong_token)
{
	struct jobd_proc p;
	char *tok = user_cmd("add alice --plugins echo"), *log;
	json_t *m;
	int fd, i;

	start(&p, NULL, NULL);
	fd = harness_connect(&p);
	for (i = 1; i <= 3; i++) {
		m = hello(fd, "not-the-token-x7q");
		ck_assert_str_eq(str(m, "message"), "missing or wrong token");
		expect_error(m, "unauthorized");
		if (i < 3) { /* still open */
			m = send_recv(fd, "{\"type\":\"ping\",\"id\":9}");
			ck_assert_str_eq(str(m, "type"), "pong");
			json_decref(m);
		}
	}
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);
	/* Once authenticated, another token closes at once. */
	fd = login(&p, tok, "alice");
	expect_error(hello(fd, "not-the-token-x7q"), "unauthorized");
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);
	log = harness_log(&p);
	ck_assert_ptr_nonnull(strstr(log, "wrong token 3 times; closing"));
	ck_assert_ptr_null(strstr(log, "not-the-token"));
	ck_assert_ptr_null(strstr(log, tok));
	free(log);
	harness_stop(&p, 0, 10000);
	free(tok);
}
END_TEST

/* A plugin outside the user's list is forbidden, known or not. */
START_TEST(test_forbidden_plugin)
{
	struct jobd_proc p;
	char *alice = user_cmd("add alice --plugins echo,sle*");
	char *admin = user_cmd("add boss --admin --plugins '*'");
	json_t *m;
	int fd;

	start(&p, NULL, NULL);
	fd = login(&p, alice, "alice");
	m = harness_call(fd, 1, "echo", "{\"x\":1}", 10000);
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	m = harness_call(fd, 2, "sleep", "{\"ms\":1}", 10000);
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	m = harness_call(fd, 3, "nbody", "{}", 10000);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 3);
	expect_error(m, "forbidden");
	/* No way to learn which plugins exist outside the list. */
	expect_error(harness_call(fd, 4, "no_such", "{}", 10000), "forbidden");
	close(fd);
	fd = login(&p, admin, "boss");
	expect_error(harness_call(fd, 4, "no_such", "{}", 10000),
	             "unknown_plugin");
	close(fd);
	harness_stop(&p, 0, 10000);
	free(alice);
	free(admin);
}
END_TEST

/* Whose is it: a detached job is its submitter's and the admins'. */
START_TEST(test_private_jobs)
{
	struct jobd_proc p;
	char *alice = user_cmd("add alice --plugins echo,sleep");
	char *bob = user_cmd("add bob --plugins echo,sleep");
	char *admin = user_cmd("add boss --admin --plugins '*'");
	char text[256], running[32], done[32];
	json_t *m, *list, *users;
	int fa, fb, fx;
	size_t i;
	bool seen = false;

	start(&p, NULL, NULL);
	fa = login(&p, alice, "alice");
	fb = login(&p, bob, "bob");
	fx = login(&p, admin, "boss");
	m = send_recv(fa, "{\"type\":\"call\",\"id\":1,\"plugin\":\"sleep\","
	                  "\"input\":{\"ms\":20000},\"detach\":true}");
	ck_assert_str_eq(str(m, "type"), "accepted");
	snprintf(running, sizeof(running), "%s", str(m, "job"));
	json_decref(m);
	m = send_recv(fa, "{\"type\":\"call\",\"id\":2,\"plugin\":\"echo\","
	                  "\"input\":{\"y\":2},\"detach\":true}");
	ck_assert_str_eq(str(m, "type"), "accepted");
	snprintf(done, sizeof(done), "%s", str(m, "job"));
	json_decref(m);
	/* The echo job finishes: then it is read from the store. */
	snprintf(text, sizeof(text),
	         "{\"type\":\"attach\",\"id\":3,\"job\":\"%s\"}", done);
	m = send_recv(fa, text);
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);

	/* Bob: neither job is his, live or stored. */
	const char *kinds[] = {"status", "result", "attach", "cancel"};
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"%s\",\"id\":%zu,\"job\":\"%s\"}",
		         kinds[i], 10 + i, running);
		expect_error(send_recv(fb, text), "forbidden");
		snprintf(text, sizeof(text),
		         "{\"type\":\"%s\",\"id\":%zu,\"job\":\"%s\"}",
		         kinds[i], 20 + i, done);
		expect_error(send_recv(fb, text), "forbidden");
	}
	m = send_recv(fb, "{\"type\":\"jobs\",\"id\":30}");
	ck_assert_str_eq(str(m, "type"), "jobs");
	ck_assert_int_eq(json_array_size(json_object_get(m, "jobs")), 0);
	json_decref(m);
	/* Bob's stats say nothing of users. */
	m = send_recv(fb, "{\"type\":\"stats\",\"id\":31}");
	ck_assert_ptr_null(json_object_get(m, "users"));
	json_decref(m);

	/* Alice sees hers. */
	snprintf(text, sizeof(text),
	         "{\"type\":\"status\",\"id\":40,\"job\":\"%s\"}", running);
	m = send_recv(fa, text);
	ck_assert_str_eq(str(m, "type"), "status");
	ck_assert_str_eq(str(m, "state"), "running");
	ck_assert_ptr_null(json_object_get(m, "user")); /* admins only */
	json_decref(m);
	m = send_recv(fa, "{\"type\":\"jobs\",\"id\":41}");
	ck_assert_int_eq(json_array_size(json_object_get(m, "jobs")), 2);
	json_decref(m);

	/* The admin sees all, with whose, and per-user counts. */
	m = send_recv(fx, "{\"type\":\"jobs\",\"id\":50}");
	list = json_object_get(m, "jobs");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *j = json_array_get(list, i);

		ck_assert_str_eq(str(j, "user"), "alice");
		if (!strcmp(str(j, "job"), running))
			seen = true;
	}
	ck_assert(seen);
	json_decref(m);
	m = send_recv(fx, "{\"type\":\"stats\",\"id\":51}");
	users = json_object_get(m, "users");
	ck_assert_ptr_nonnull(users);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                         json_object_get(users, "alice"), "running")),
	                 1);
	json_decref(m);
	snprintf(text, sizeof(text),
	         "{\"type\":\"cancel\",\"id\":52,\"job\":\"%s\"}", running);
	m = send_recv(fx, text);
	ck_assert_str_eq(str(m, "type"), "status");
	json_decref(m);
	close(fa);
	close(fb);
	close(fx);
	harness_stop(&p, 0, 10000);
	free(alice);
	free(bob);
	free(admin);
}
END_TEST

/* A job store from before users (schema 1): it gains the owner column,
 * and its jobs, owned by nobody, are the admins' to see. */
START_TEST(test_store_from_before_users)
{
	static const char v1[] =
	        "CREATE TABLE jobs (id TEXT PRIMARY KEY NOT NULL, plugin TEXT "
	        "NOT NULL, input TEXT NOT NULL, timeout_ms INTEGER NOT NULL "
	        "DEFAULT 0, state TEXT NOT NULL CHECK (state IN ('queued', "
	        "'running', 'done', 'failed', 'cancelled', 'interrupted')), "
	        "attempts INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT "
	        "NULL, started_ms INTEGER, finished_ms INTEGER, code TEXT, "
	        "message TEXT, output TEXT, provenance TEXT, size INTEGER NOT "
	        "NULL DEFAULT 0, CHECK ((finished_ms IS NULL) = (state IN "
	        "('queued', 'running'))));"
	        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value);"
	        "INSERT INTO jobs VALUES ('00000000000000aa', 'echo', '{}', 0, "
	        "'done', 1, 1000, 1000, 1001, NULL, NULL, '{\"old\":1}', NULL, "
	        "10);"
	        "PRAGMA user_version=1;";
	struct jobd_proc p;
	struct harness_opts o = {0};
	char *alice = user_cmd("add alice --plugins echo");
	char *admin = user_cmd("add boss --admin --plugins '*'");
	char state[128], db[160], yaml[300];
	sqlite3 *sq;
	json_t *m;
	int fa, fx;

	snprintf(state, sizeof(state), "%s/state", dir);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	snprintf(db, sizeof(db), "%s/jobs.db", state);
	ck_assert_int_eq(sqlite3_open(db, &sq), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(sq, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(sq);
	snprintf(yaml, sizeof(yaml), "auth: {users_file: \"%s\"}\n",
	         users_path);
	o.yaml = yaml;
	o.state_dir = state;
	ck_assert_int_eq(harness_start(&p, &o), 0);
	fa = login(&p, alice, "alice");
	fx = login(&p, admin, "boss");
	expect_error(send_recv(fa, "{\"type\":\"result\",\"id\":1,"
	                           "\"job\":\"00000000000000aa\"}"),
	             "forbidden");
	m = send_recv(fa, "{\"type\":\"jobs\",\"id\":2}");
	ck_assert_int_eq(json_array_size(json_object_get(m, "jobs")), 0);
	json_decref(m);
	m = send_recv(fx, "{\"type\":\"result\",\"id\":3,"
	                  "\"job\":\"00000000000000aa\"}");
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	/* New jobs are stored with their owner. */
	m = send_recv(fa, "{\"type\":\"call\",\"id\":4,\"plugin\":\"echo\","
	                  "\"input\":{},\"detach\":true}");
	ck_assert_str_eq(str(m, "type"), "accepted");
	json_decref(m);
	m = send_recv(fa, "{\"type\":\"jobs\",\"id\":5}");
	ck_assert_int_eq(json_array_size(json_object_get(m, "jobs")), 1);
	json_decref(m);
	close(fa);
	close(fx);
	harness_stop(&p, 0, 10000);
	ck_assert_int_eq(sqlite3_open(db, &sq), SQLITE_OK);
	{
		sqlite3_stmt *st;

		ck_assert_int_eq(
		        sqlite3_prepare_v2(
		                sq,
		                "SELECT count(*) FROM jobs WHERE owner "
		                "= 'alice'",
		                -1, &st, NULL),
		        SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
		sqlite3_finalize(st);
	}
	sqlite3_close(sq);
	free(alice);
	free(admin);
}
END_TEST

/* Revoked: the open connection is told and closed at the reload. */
START_TEST(test_revoke)
{
	struct jobd_proc p;
	char *alice = user_cmd("add alice --plugins echo");
	char *bob = user_cmd("add bob --plugins echo");
	char buf[256];
	json_t *m;
	int fa, fb, fd;

	start(&p, NULL, NULL);
	fa = login(&p, alice, "alice");
	fb = login(&p, bob, "bob");
	free(user_cmd("revoke alice"));
	ck_assert_int_eq(kill(p.pid, SIGHUP), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "READY=1", 10000, buf, sizeof(buf)), 0);
	m = harness_recv(fa, 5000);
	ck_assert_str_eq(str(m, "message"), "user revoked");
	expect_error(m, "unauthorized");
	ck_assert(harness_wait_closed(fa, 5000));
	close(fa);
	/* Bob's connection is untouched. */
	m = harness_call(fb, 1, "echo", "{}", 10000);
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	close(fb);
	/* The old token no longer works. */
	fd = harness_connect(&p);
	expect_error(hello(fd, alice), "unauthorized");
	close(fd);
	harness_stop(&p, 0, 10000);
	free(alice);
	free(bob);
}
END_TEST

/* ---- Unix socket: the peer's uid names the user ------------------------ */

START_TEST(test_peercred)
{
	struct jobd_proc p;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char extra[300];
	json_t *m;
	int fd;

	/* The test runs as root: map the Unix user root to a jobd user. */
	free(user_cmd("add local --unix-user root --no-token --plugins echo"));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/jobd.sock", dir);
	snprintf(extra, sizeof(extra), "  - \"unix:%s\"", sa.sun_path);
	start(&p, NULL, extra);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	m = hello(fd, NULL);
	ck_assert_str_eq(str(m, "user"), "local");
	json_decref(m);
	m = harness_call(fd, 2, "echo", "{\"u\":1}", 10000);
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	close(fd);
	/* Over TCP the same process is nobody until it sends a token. */
	fd = harness_connect(&p);
	expect_error(harness_call(fd, 3, "echo", "{}", 10000), "unauthorized");
	close(fd);
	harness_stop(&p, 0, 10000);
}
END_TEST

/* ---- the safe default ---------------------------------------------------- */

/* Runs jobd ARGS with config text; returns its exit status, output in
 * out. */
static int run_jobd(const char *yaml, const char *args, char *out, size_t size)
{
	char path[256], cmd[600];
	FILE *f;
	size_t n;
	int st;

	snprintf(path, sizeof(path), "%s/open.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(yaml, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s -c %s %s 2>&1", getenv("JOBD_BIN"), path,
	         args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_open_refused)
{
	char out[2048], yaml[512];

	ck_assert_int_eq(run_jobd("plugin_dirs: [/nonexistent]\n"
	                          "listen: [\"127.0.0.1:1\", \"0.0.0.0:7\"]\n",
	                          "--check-config", out, sizeof(out)),
	                 1);
	ck_assert_msg(strstr(out, "open.yaml:2:25: listen[1]: \"0.0.0.0:7\" "
	                          "can be reached from other machines"),
	              "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "allow_unauthenticated: true"));
	/* Starting is refused the same way, before anything is bound. */
	ck_assert_int_eq(
	        run_jobd("listen: [\"0.0.0.0:7\"]\n", "", out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "no auth section"));
	ck_assert_int_eq(run_jobd("listen: [\"0.0.0.0:7\"]\n"
	                          "allow_unauthenticated: true\n",
	                          "--check-config", out, sizeof(out)),
	                 0);
	/* --check-config reads the users file as a start would. */
	free(user_cmd("add alice --plugins echo"));
	snprintf(yaml, sizeof(yaml),
	         "listen: [\"0.0.0.0:7\"]\nauth: {users_file: %s}\n",
	         users_path);
	ck_assert_int_eq(run_jobd(yaml, "--check-config", out, sizeof(out)), 0);
	ck_assert_int_eq(run_jobd("listen: [\"[::1]:7\", \"localhost:7\"]\n",
	                          "--check-config", out, sizeof(out)),
	                 0);
}
END_TEST

/* A socket from systemd is held to the same rule, on the address it is
 * bound to: here 0.0.0.0, with no auth. */
START_TEST(test_activated_open_refused)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char cfg[256], logp[256], yaml[512], *log = NULL;
	int lfd, st = -1, i, logfd;
	size_t n = 0;
	pid_t pid;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/act.yaml", dir);
	snprintf(logp, sizeof(logp), "%s/act.log", dir);
	snprintf(yaml, sizeof(yaml), "plugin_dirs: []\nstate_dir: %s/state\n",
	         dir);
	f = fopen(cfg, "w");
	ck_assert_ptr_nonnull(f);
	fputs(yaml, f);
	fclose(f);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char pidbuf[32];

		logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(logfd, STDERR_FILENO);
		if (lfd != 3) {
			dup2(lfd, 3);
			close(lfd);
		}
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		unsetenv("NOTIFY_SOCKET");
		execl(getenv("JOBD_BIN"), "jobd", "-c", cfg, (char *)NULL);
		_exit(127);
	}
	close(lfd);
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(50 * 1000);
	}
	if (i == 200) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ck_abort_msg("jobd served an open socket without auth");
	}
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(getdelim(&log, &n, '\0', f), 0);
	fclose(f);
	ck_assert_msg(strstr(log, "socket activation: fd:3 is bound to an "
	                          "address other machines can reach"),
	              "%s", log);
	free(log);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------
 */

static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static const char *cert(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 256, "%s/certs/%s", dir, name);
	return p;
}

static struct jobd_client *client_to(const char *base, unsigned port)
{
	struct jobd_client *c = jobd_client_new();
	char servers[128];

	ck_assert_ptr_nonnull(c);
	snprintf(servers, sizeof(servers), "%s:%u", base, port);
	ck_assert_int_eq(jobd_client_set_servers(c, servers), JOBD_CLIENT_OK);
	ck_assert_int_eq(jobd_client_set_io_timeout(c, 5000), JOBD_CLIENT_OK);
	return c;
}

static void connect_fails(struct jobd_client *c, const char *want)
{
	int r = jobd_client_connect(c, 10000);

	ck_assert_msg(r == JOBD_CLIENT_E_CONNECT, "status %d: %s", r,
	              jobd_client_errmsg(c));
	ck_assert_msg(strstr(jobd_client_errmsg(c), want),
	              "\"%s\" lacks \"%s\"", jobd_client_errmsg(c), want);
}

static void call_echo(struct jobd_client *c)
{
	json_t *in = json_pack("{si}", "n", 7), *out = NULL;
	int r = jobd_client_call(c, "echo", in, 10000, &out);

	ck_assert_msg(r == JOBD_CLIENT_OK, "%s", jobd_client_errmsg(c));
	ck_assert(json_equal(in, out));
	json_decref(in);
	json_decref(out);
}

START_TEST(test_tls)
{
	struct jobd_proc p;
	char cmd[1024], extra[1500], buf[256], *log;
	char *alice = user_cmd("add alice --plugins echo");
	uint16_t tls = free_port(), mtls = free_port(), old = free_port();
	struct jobd_client *c;
	json_t *m;
	uint64_t t0;
	int fd;

	free(user_cmd("add carla --cert-subject O=Lab,CN=alice --no-token "
	              "--plugins echo"));
	snprintf(cmd, sizeof(cmd), "%s %s/certs", getenv("JOBD_TLS_CERTS"),
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	/* live.*: the certificate the first listener serves, replaced
	 * below to see SIGHUP re-read it. */
	snprintf(cmd, sizeof(cmd),
	         "cp -p %s/certs/server.pem %s/certs/live.pem && "
	         "cp -p %s/certs/server.key %s/certs/live.key",
	         dir, dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(extra, sizeof(extra),
	         "  - {address: \"127.0.0.1:%u\", tls: {cert: %s, key: %s}}\n"
	         "  - {address: \"127.0.0.1:%u\", tls: {cert: %s, key: %s, "
	         "client_ca: %s}}\n"
	         "  - {address: \"127.0.0.1:%u\", tls: {cert: %s, key: %s}}",
	         tls, cert("live.pem"), cert("live.key"), mtls,
	         cert("server.pem"), cert("server.key"), cert("ca.pem"), old,
	         cert("expired.pem"), cert("expired.key"));
	start(&p, NULL, extra);

	/* The right CA, a token over TLS. */
	c = client_to("tls://localhost", tls);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	jobd_client_set_token(c, alice);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	ck_assert_str_eq(jobd_client_user(c), "alice");
	call_echo(c);
	jobd_client_free(c);

	/* A CA that did not sign the server's certificate. */
	c = client_to("tls://localhost", tls);
	jobd_client_set_ca_file(c, cert("other-ca.pem"));
	jobd_client_set_token(c, alice);
	connect_fails(c, "server certificate not accepted: unable to get "
	                 "local issuer certificate");
	jobd_client_free(c);

	/* An expired certificate. */
	c = client_to("tls://localhost", old);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	connect_fails(c, "certificate has expired");
	jobd_client_free(c);

	/* Mutual TLS: the certificate names the user, no token. */
	c = client_to("tls://localhost", mtls);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	jobd_client_set_client_cert(c, cert("client.pem"), cert("client.key"));
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	ck_assert_str_eq(jobd_client_user(c), "carla");
	call_echo(c);
	jobd_client_free(c);
	/* Without a certificate: connected, but nobody until a token. */
	c = client_to("tls://localhost", mtls);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	ck_assert_ptr_null(jobd_client_user(c));
	m = json_object();
	{
		json_t *out = NULL;

		ck_assert_int_eq(jobd_client_call(c, "echo", m, 10000, &out),
		                 JOBD_CLIENT_E_SERVER);
		json_decref(out);
	}
	ck_assert_int_eq(jobd_client_error_code(c), JOBD_E_UNAUTHORIZED);
	json_decref(m);
	jobd_client_free(c);

	/* Plaintext to the TLS port: a plain error that says why. */
	t0 = harness_now_ms();
	{
		struct jobd_proc q = p;

		q.port = tls;
		fd = harness_connect(&q);
	}
	ck_assert_int_ge(fd, 0);
	m = hello(fd, NULL);
	ck_assert_ptr_nonnull(strstr(str(m, "message"), "this port speaks "
	                                                "TLS"));
	expect_error(m, "bad_frame");
	ck_assert(harness_wait_closed(fd, 5000));
	close(fd);
	/* TLS to the plain port: fails at once, and the log says why. */
	c = client_to("tls://localhost", p.port);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	ck_assert_int_eq(jobd_client_connect(c, 10000), JOBD_CLIENT_E_CONNECT);
	jobd_client_free(c);
	ck_assert_uint_lt(harness_now_ms() - t0, 5000);
	log = harness_log(&p);
	ck_assert_ptr_nonnull(strstr(log, "a TLS handshake on a plain port"));
	ck_assert_ptr_nonnull(strstr(log, "plaintext on a TLS port"));
	free(log);

	/* SIGHUP re-reads the certificate: now one for other.example. */
	snprintf(cmd, sizeof(cmd),
	         "cp %s/certs/wrongname.pem %s/certs/live.pem && "
	         "cp %s/certs/wrongname.key %s/certs/live.key",
	         dir, dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(kill(p.pid, SIGHUP), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "READY=1", 10000, buf, sizeof(buf)), 0);
	c = client_to("tls://localhost", tls);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	connect_fails(c, "hostname mismatch");
	jobd_client_free(c);
	harness_stop(&p, 0, 10000);
	free(alice);
}
END_TEST

/* ---- secrets others may read or write (docs/security.md) ----------------
 */

/* Who owns the files the test makes, as messages name them. */
static const char *me(void)
{
	const struct passwd *pw = getpwuid(geteuid());

	ck_assert_ptr_nonnull(pw);
	return pw->pw_name;
}

/* Runs jobd -c CFG ARGS (bounded by timeout(1): a start that is not
 * refused would serve on); exit status, output in out. */
static int run_cfg(const char *yaml, const char *args, char *out, size_t size)
{
	char path[256], cmd[700];
	FILE *f;
	size_t n;
	int st;

	snprintf(path, sizeof(path), "%s/secrets.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fchmod(fileno(f), 0600), 0);
	fprintf(f, "plugin_dirs: []\nstate_dir: %s/state\n%s", dir, yaml);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "timeout 20 %s -c %s %s 2>&1",
	         getenv("JOBD_BIN"), path, args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Both a start and --check-config refuse yaml, saying want. */
static void refused(const char *yaml, const char *want)
{
	char out[4096];

	ck_assert_int_eq(run_cfg(yaml, "", out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, want), "start: \"%s\" lacks \"%s\"", out,
	              want);
	ck_assert_int_eq(run_cfg(yaml, "--check-config", out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, want), "check: \"%s\" lacks \"%s\"", out,
	              want);
}

START_TEST(test_users_file_modes)
{
	char yaml[512], want[1024], out[4096];

	free(user_cmd("add alice --plugins echo"));
	snprintf(yaml, sizeof(yaml),
	         "listen: [\"127.0.0.1:%u\"]\nauth: {users_file: %s}\n",
	         free_port(), users_path);
	ck_assert_int_eq(run_cfg(yaml, "--check-config", out, sizeof(out)), 0);

	ck_assert_int_eq(chmod(users_path, 0644), 0);
	snprintf(want, sizeof(want),
	         "auth.users_file: %s: refused: %s holds secrets but is "
	         "readable by others (owner %s, mode 0644); run: chmod o-rwx "
	         "%s",
	         users_path, users_path, me(), users_path);
	refused(yaml, want);

	ck_assert_int_eq(chmod(users_path, 0660), 0);
	snprintf(want, sizeof(want),
	         "auth.users_file: %s: refused: file %s (owner %s, mode 0660) "
	         "is writable by its group; run: chmod go-w %s",
	         users_path, users_path, me(), users_path);
	refused(yaml, want);

	ck_assert_int_eq(chmod(users_path, 0666), 0);
	snprintf(want, sizeof(want),
	         "auth.users_file: %s: refused: file %s (owner %s, mode 0666) "
	         "is writable by others; run: chmod go-w %s",
	         users_path, users_path, me(), users_path);
	refused(yaml, want);
}
END_TEST

START_TEST(test_tls_key_mode)
{
	char cmd[512], yaml[1024], want[1024], out[4096];
	const char *key = cert("server.key");
	unsigned port = free_port();

	snprintf(cmd, sizeof(cmd), "%s %s/certs", getenv("JOBD_TLS_CERTS"),
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(yaml, sizeof(yaml),
	         "listen:\n  - {address: \"127.0.0.1:%u\", tls: {cert: %s, "
	         "key: %s}}\n",
	         port, cert("server.pem"), key);
	ck_assert_int_eq(run_cfg(yaml, "--check-config", out, sizeof(out)), 0);
	ck_assert_int_eq(chmod(key, 0644), 0);
	snprintf(want, sizeof(want),
	         "listen 127.0.0.1:%u: tls.key: %s: refused: %s holds secrets "
	         "but is readable by others (owner %s, mode 0644); run: chmod "
	         "o-rwx %s",
	         port, key, key, me(), key);
	refused(yaml, want);
}
END_TEST

/* At SIGHUP a users file or key gone bad is refused; what runs stays. */
START_TEST(test_secrets_bad_at_reload)
{
	struct jobd_proc p;
	char cmd[512], extra[600], want[1024], buf[256], *log;
	char *alice = user_cmd("add alice --plugins echo");
	uint16_t tls = free_port();
	struct jobd_client *c, *c2;
	int fa;

	snprintf(cmd, sizeof(cmd), "%s %s/certs", getenv("JOBD_TLS_CERTS"),
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(extra, sizeof(extra),
	         "  - {address: \"127.0.0.1:%u\", tls: {cert: %s, key: %s}}",
	         tls, cert("server.pem"), cert("server.key"));
	start(&p, NULL, extra);
	fa = login(&p, alice, "alice");
	c = client_to("tls://localhost", tls);
	jobd_client_set_ca_file(c, cert("ca.pem"));
	jobd_client_set_token(c, alice);
	ck_assert_msg(jobd_client_connect(c, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c));
	call_echo(c);

	/* The users file, writable by others: refused, alice stays. */
	ck_assert_int_eq(chmod(users_path, 0666), 0);
	ck_assert_int_eq(kill(p.pid, SIGHUP), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "READY=1", 10000, buf, sizeof(buf)), 0);
	log = harness_log(&p);
	snprintf(want, sizeof(want),
	         "auth.users_file: %s: refused: file %s (owner %s, mode 0666) "
	         "is writable by others; run: chmod go-w %s",
	         users_path, users_path, me(), users_path);
	ck_assert_msg(strstr(log, want), "%s", log);
	ck_assert_ptr_nonnull(
	        strstr(log, "reload: keeping the running config and users"));
	free(log);
	{
		json_t *m = harness_call(fa, 2, "echo", "{}", 10000);

		ck_assert_str_eq(str(m, "type"), "result");
		json_decref(m);
	}
	close(login(&p, alice, "alice")); /* the running users */
	call_echo(c);

	/* The key, readable by others: the old certificate stays. */
	ck_assert_int_eq(chmod(users_path, 0600), 0);
	ck_assert_int_eq(chmod(cert("server.key"), 0644), 0);
	ck_assert_int_eq(kill(p.pid, SIGHUP), 0);
	ck_assert_int_eq(
	        harness_wait_notify(&p, "READY=1", 10000, buf, sizeof(buf)), 0);
	log = harness_log(&p);
	snprintf(want, sizeof(want),
	         "listen 127.0.0.1:%u: tls.key: %s: refused: %s holds secrets "
	         "but is readable by others (owner %s, mode 0644); run: chmod "
	         "o-rwx %s",
	         tls, cert("server.key"), cert("server.key"), me(),
	         cert("server.key"));
	ck_assert_msg(strstr(log, want), "%s", log);
	snprintf(want, sizeof(want),
	         "listen 127.0.0.1:%u: keeping the certificate loaded before",
	         tls);
	ck_assert_msg(strstr(log, want), "%s", log);
	free(log);
	call_echo(c);
	c2 = client_to("tls://localhost", tls);
	jobd_client_set_ca_file(c2, cert("ca.pem"));
	jobd_client_set_token(c2, alice);
	ck_assert_msg(jobd_client_connect(c2, 10000) == JOBD_CLIENT_OK, "%s",
	              jobd_client_errmsg(c2));
	call_echo(c2);
	jobd_client_free(c2);
	jobd_client_free(c);
	close(fa);
	harness_stop(&p, 0, 10000);
	free(alice);
}
END_TEST

/* ---- fair share and caps --------------------------------------------------
 */

/* A queues 200 jobs on a one-worker plugin, then B one: B's starts
 * after at most one more of A's (a FIFO would make it wait for all). */
START_TEST(test_fair_share)
{
	struct jobd_proc p;
	char *a = user_cmd("add a --plugins sleep");
	char *b = user_cmd("add b --plugins sleep");
	char text[200];
	int fa, fb, i, a_before = 0, a_during = 0;
	json_t *m;

	start(&p, "plugins: {sleep: {workers: 1, queue_bound: 1000}}\n", NULL);
	fa = login(&p, a, "a");
	fb = login(&p, b, "b");
	for (i = 1; i <= 200; i++) {
		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":100}}",
		         i);
		ck_assert_int_eq(harness_send_text(fa, text), 0);
	}
	/* A's first is done: the rest wait in the queue. */
	m = harness_recv_answer(fa, 10000);
	ck_assert_msg(!strcmp(str(m, "type"), "result"), "%s",
	              json_dumps(m, 0));
	json_decref(m);
	a_before = 1;
	ck_assert_int_eq(harness_send_text(fb, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\","
	                                       "\"input\":{\"ms\":100}}"),
	                 0);
	m = harness_recv_answer(fb, 5000);
	ck_assert_msg(m, "B's job did not run within 5 s");
	ck_assert_str_eq(str(m, "type"), "result");
	json_decref(m);
	while ((m = harness_recv_answer(fa, 20))) {
		a_during++;
		json_decref(m);
	}
	/* The one running when B came, and at most one more. */
	ck_assert_msg(a_during <= 2, "%d of A's jobs ran before B's", a_during);
	(void)a_before;
	close(fa);
	close(fb);
	harness_stop(&p, 0, 10000);
	free(a);
	free(b);
}
END_TEST

/* max_queued answers busy; max_running makes the rest wait even with
 * free workers. */
START_TEST(test_caps)
{
	struct jobd_proc p;
	char *c = user_cmd("add carol --plugins sleep --max-running 1 "
	                   "--max-queued 2");
	char *admin = user_cmd("add boss --admin --plugins '*'");
	json_t *m, *u;
	uint64_t t0;
	int fd, fx, i, got = 0;

	start(&p, "plugins: {sleep: {workers: 2}}\n", NULL);
	fd = login(&p, c, "carol");
	fx = login(&p, admin, "boss");
	ck_assert_int_eq(harness_send_text(fd, "{\"type\":\"call\",\"id\":1,"
	                                       "\"plugin\":\"sleep\","
	                                       "\"input\":{\"ms\":400}}"),
	                 0);
	usleep(150 * 1000); /* it runs */
	t0 = harness_now_ms();
	for (i = 2; i <= 4; i++) {
		char text[200];

		snprintf(text, sizeof(text),
		         "{\"type\":\"call\",\"id\":%d,\"plugin\":\"sleep\","
		         "\"input\":{\"ms\":400}}",
		         i);
		ck_assert_int_eq(harness_send_text(fd, text), 0);
	}
	/* The fourth: two wait already. */
	m = harness_recv_answer(fd, 2000);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 4);
	ck_assert_int_ge(
	        json_integer_value(json_object_get(m, "retry_after_ms")), 1);
	expect_error(m, "busy");
	/* One running, two waiting, though a worker is free. */
	m = send_recv(fx, "{\"type\":\"stats\",\"id\":9}");
	u = json_object_get(json_object_get(m, "users"), "carol");
	ck_assert_int_eq(json_integer_value(json_object_get(u, "running")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "queued")), 2);
	json_decref(m);
	while (got < 3 && (m = harness_recv_answer(fd, 5000))) {
		ck_assert_str_eq(str(m, "type"), "result");
		got++;
		json_decref(m);
	}
	ck_assert_int_eq(got, 3);
	/* One after another: 2 and 3 did not run side by side. */
	ck_assert_uint_ge(harness_now_ms() - t0, 900);
	close(fd);
	close(fx);
	harness_stop(&p, 0, 10000);
	free(c);
	free(admin);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_no_token);
	tcase_add_test(tc, test_wrong_token);
	tcase_add_test(tc, test_forbidden_plugin);
	tcase_add_test(tc, test_private_jobs);
	tcase_add_test(tc, test_store_from_before_users);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_peercred);
	tcase_add_test(tc, test_open_refused);
	tcase_add_test(tc, test_activated_open_refused);
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_users_file_modes);
	tcase_add_test(tc, test_tls_key_mode);
	tcase_add_test(tc, test_secrets_bad_at_reload);
	tcase_add_test(tc, test_fair_share);
	tcase_add_test(tc, test_caps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
