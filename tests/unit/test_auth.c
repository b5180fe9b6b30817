/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/auth/: tokens, the users file (parse, look-ups,
 * errors that point at the line), the trusted-file check on real files
 * and directories, and the `jobd user` commands on a real users file.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "auth/subject.h"
#include "auth/token.h"
#include "auth/trusted.h"
#include "auth/usercmd.h"
#include "auth/users.h"

/* SHA-256 of "alice-token" and "bob-token", as `jobd user` would store. */
static char alice_hash[65], bob_hash[65];

static void make_hashes(void)
{
	uint8_t h[TOKEN_SHA256_SIZE];

	ck_assert_int_eq(token_sha256("alice-token", 11, h), 0);
	token_hex(h, sizeof(h), alice_hash);
	ck_assert_int_eq(token_sha256("bob-token", 9, h), 0);
	token_hex(h, sizeof(h), bob_hash);
}

static struct users *parse_ok(const char *text)
{
	struct users *u = NULL;
	char *error = NULL;
	int rc = users_parse(text, strlen(text), "users.yaml", &u, &error);

	ck_assert_msg(rc == 0, "refused: %s\n%s", error, text);
	ck_assert_ptr_null(error);
	return u;
}

/* Parses text, which must be refused with a message starting with want. */
static void parse_bad(const char *text, const char *want)
{
	struct users *u = NULL;
	char *error = NULL;
	int rc = users_parse(text, strlen(text), "users.yaml", &u, &error);

	ck_assert_msg(rc == -EINVAL, "accepted (%d): %s", rc, text);
	ck_assert_ptr_null(u);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strncmp(error, want, strlen(want)) == 0,
	              "got \"%s\", want \"%s...\"", error, want);
	ck_assert_ptr_null(strchr(error, '\n'));
	/* a hash never shows in a message */
	ck_assert_ptr_null(strstr(error, alice_hash));
	free(error);
}

static char *good_file(void)
{
	char *t;

	ck_assert_int_ge(asprintf(&t,
	                          "users:\n"
	                          "  alice:\n"
	                          "    token_sha256: %s\n"
	                          "    plugins: [nbody, \"kmeans*\"]\n"
	                          "    max_running: 4\n"
	                          "    max_queued: 100\n"
	                          "  bob:\n"
	                          "    token_sha256: %s\n"
	                          "    plugins: \"*\"\n"
	                          "    admin: true\n"
	                          "    unix_user: bob\n"
	                          "  carol:\n"
	                          "    cert_subject: \"CN=carol,O=Lab\"\n"
	                          "    plugins: [echo]\n",
	                          alice_hash, bob_hash),
	                 0);
	return t;
}

/* ---- tokens ---- */

START_TEST(test_token_generate)
{
	char a[TOKEN_TEXT_SIZE], b[TOKEN_TEXT_SIZE];

	ck_assert_int_eq(token_generate(TOKEN_BASE64URL, a), 0);
	ck_assert_int_eq(token_generate(TOKEN_BASE64URL, b), 0);
	ck_assert_uint_eq(strlen(a), 43);
	ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	                            "opqrstuvwxyz0123456789-_"),
	                  43);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(token_generate(TOKEN_HEX, a), 0);
	ck_assert_uint_eq(strlen(a), 64);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 64);
}
END_TEST

START_TEST(test_token_sha256)
{
	uint8_t h[TOKEN_SHA256_SIZE], back[TOKEN_SHA256_SIZE];
	char hex[65];

	ck_assert_int_eq(token_sha256("abc", 3, h), 0);
	token_hex(h, sizeof(h), hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	                      "b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(token_unhex(hex, 64, back, sizeof(back)), 0);
	ck_assert_mem_eq(h, back, sizeof(h));
	hex[5] = 'g';
	ck_assert_int_eq(token_unhex(hex, 64, back, sizeof(back)), -EINVAL);
	ck_assert_int_eq(token_unhex(hex, 63, back, sizeof(back)), -EINVAL);
}
END_TEST

/* ---- the users file ---- */

START_TEST(test_users_lookups)
{
	char *t = good_file();
	struct users *u = parse_ok(t);
	const struct users_entry *a, *b, *c;

	ck_assert_uint_eq(u->n, 3);
	a = users_by_token(u, "alice-token", 11);
	b = users_by_token(u, "bob-token", 9);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a->name, "alice");
	ck_assert_str_eq(b->name, "bob");
	ck_assert_ptr_null(users_by_token(u, "alice-token ", 12));
	ck_assert_ptr_null(users_by_token(u, "alice-toke", 10));
	ck_assert_ptr_null(users_by_token(u, "", 0));
	ck_assert_ptr_null(users_by_token(u, NULL, 0));

	ck_assert(!a->admin && b->admin);
	ck_assert_uint_eq(a->max_running, 4);
	ck_assert_uint_eq(a->max_queued, 100);
	ck_assert_uint_eq(b->max_running, 0);
	ck_assert(users_may_call(a, "nbody"));
	ck_assert(users_may_call(a, "kmeans"));
	ck_assert(users_may_call(a, "kmeans2"));
	ck_assert(!users_may_call(a, "echo"));
	ck_assert(!users_may_call(a, "nbodyx"));
	ck_assert(users_may_call(b, "anything"));

	ck_assert_ptr_eq(users_by_unix_user(u, "bob"), b);
	ck_assert_ptr_null(users_by_unix_user(u, "alice"));
	c = users_by_cert_subject(u, "CN=carol,O=Lab");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, "carol");
	ck_assert(!c->has_token);
	ck_assert_ptr_null(users_by_cert_subject(u, "CN=carol"));
	ck_assert_ptr_eq(users_find(u, "carol"), c);
	users_free(u);
	free(t);
}
END_TEST

START_TEST(test_users_empty)
{
	struct users *u;

	u = parse_ok("");
	ck_assert_uint_eq(u->n, 0);
	ck_assert_ptr_null(users_by_token(u, "x", 1));
	users_free(u);
	u = parse_ok("users: {}\n");
	ck_assert_uint_eq(u->n, 0);
	users_free(u);
	u = parse_ok("users:\n");
	users_free(u);
}
END_TEST

START_TEST(test_users_errors)
{
	char t[1024];

	parse_bad("user:\n  a: {}\n",
	          "users.yaml:1:1: user: unknown key (the file has one "
	          "section, users)");
	parse_bad("users:\n  alice:\n    plugins: [echo]\n",
	          "users.yaml:2:3: users.alice: no way to authenticate");
	parse_bad("users:\n  alice:\n    token_sha256: abc\n",
	          "users.yaml:3:19: users.alice.token_sha256: expected 64 hex "
	          "digits");
	snprintf(t, sizeof(t),
	         "users:\n  alice:\n    token_sha256: %s\n"
	         "    max_runing: 3\n",
	         alice_hash);
	parse_bad(t, "users.yaml:4:5: users.alice.max_runing: unknown key");
	snprintf(t, sizeof(t),
	         "users:\n  alice:\n    token_sha256: %s\n"
	         "    max_running: 0\n",
	         alice_hash);
	parse_bad(t, "users.yaml:4:18: users.alice.max_running: 0 is out of "
	             "range");
	snprintf(t, sizeof(t),
	         "users:\n  alice:\n    token_sha256: %s\n"
	         "    admin: yes\n",
	         alice_hash);
	parse_bad(t, "users.yaml:4:12: users.alice.admin: expected true or "
	             "false");
	snprintf(t, sizeof(t),
	         "users:\n  alice:\n    token_sha256: %s\n"
	         "  alice:\n    token_sha256: %s\n",
	         alice_hash, bob_hash);
	parse_bad(t, "users.yaml:4:3: users.alice: duplicate user");
	snprintf(t, sizeof(t),
	         "users:\n  alice:\n    token_sha256: %s\n"
	         "  bob:\n    token_sha256: %s\n",
	         alice_hash, alice_hash);
	parse_bad(t, "users.yaml:4:3: users.bob: same token_sha256 as user "
	             "alice");
	parse_bad("users:\n  a:\n    unix_user: x\n  b:\n    unix_user: x\n",
	          "users.yaml:4:3: users.b: same unix_user as user a");
	parse_bad("users:\n  a:\n    unix_user: x\n    plugins: [Echo]\n",
	          "users.yaml:4:15: users.a.plugins: \"Echo\": a plugin name");
	parse_bad("users:\n  \"a b\":\n    unix_user: x\n",
	          "users.yaml:2:3: users: bad user name \"a b\"");
	parse_bad("users:\n  a: &x\n    unix_user: x\n  b: *x\n",
	          "users.yaml:4:6: users.b: aliases are not supported");
	parse_bad("users: {}\n---\nusers: {}\n",
	          "users.yaml:2:1: (top level): only one YAML document");
	parse_bad("users: [\n", "users.yaml:");
	parse_bad("[]\n", "users.yaml:1:1: (top level): expected a mapping");
}
END_TEST

START_TEST(test_users_format_roundtrip)
{
	char *t = good_file(), *out = NULL, *error = NULL;
	struct users *u = parse_ok(t), *back = NULL;
	struct users_entry e = {0};
	char why[200];
	size_t i;

	/* names YAML would read as other things stay strings */
	e.name = strdup("null");
	e.unix_user = strdup("true");
	e.cert_subject = strdup("CN=\"odd\\name\",O=Lab\x01");
	ck_assert_int_eq(users_add(u, &e, why, sizeof(why)), 0);
	ck_assert_ptr_null(e.name);
	ck_assert_int_eq(users_format(u, &out), 0);
	ck_assert_int_eq(users_parse(out, strlen(out), "out", &back, &error),
	                 0);
	ck_assert_uint_eq(back->n, u->n);
	for (i = 0; i < u->n; i++) {
		ck_assert_str_eq(back->v[i].name, u->v[i].name);
		ck_assert_int_eq(back->v[i].has_token, u->v[i].has_token);
		ck_assert_mem_eq(back->v[i].token_sha256, u->v[i].token_sha256,
		                 TOKEN_SHA256_SIZE);
		ck_assert_int_eq(back->v[i].admin, u->v[i].admin);
		ck_assert_uint_eq(back->v[i].n_plugins, u->v[i].n_plugins);
		ck_assert_uint_eq(back->v[i].max_queued, u->v[i].max_queued);
	}
	ck_assert_ptr_nonnull(users_by_unix_user(back, "true"));
	ck_assert_ptr_nonnull(
	        users_by_cert_subject(back, "CN=\"odd\\name\",O=Lab\x01"));
	ck_assert_int_eq(users_remove(back, "alice"), 0);
	ck_assert_int_eq(users_remove(back, "alice"), -ENOENT);
	ck_assert_ptr_null(users_by_token(back, "alice-token", 11));
	ck_assert_ptr_nonnull(users_by_token(back, "bob-token", 9));

	/* users_add keeps the parser's rules */
	e.name = strdup("bob");
	e.unix_user = strdup("zed");
	ck_assert_int_eq(users_add(back, &e, why, sizeof(why)), -EEXIST);
	free(e.name);
	e.name = strdup("zed");
	free(e.unix_user);
	e.unix_user = strdup("bob");
	ck_assert_int_eq(users_add(back, &e, why, sizeof(why)), -EINVAL);
	users_entry_fini(&e);
	users_free(back);
	users_free(u);
	free(out);
	free(t);
}
END_TEST

/* ---- trusted files ---- */

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/jobd-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static char *put_file(const char *name, mode_t mode, const char *text)
{
	char *p;
	int fd;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return p;
}

/* trusted_open refuses path with -EPERM and a message holding want. */
static void refused(const char *path, unsigned flags, const char *want)
{
	char *error = NULL;
	int fd = -1, rc = trusted_open(path, flags, &fd, &error);

	ck_assert_msg(rc == -EPERM, "%s: rc %d, %s", path, rc, error);
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, want), "\"%s\" lacks \"%s\"", error, want);
	ck_assert_msg(strncmp(error, path, strlen(path)) == 0,
	              "\"%s\" does not start with the file", error);
	free(error);
}

START_TEST(test_trusted_good)
{
	char *p, *text = NULL, *error = NULL;
	size_t len;
	int fd = -1;

	make_dir();
	p = put_file("users.yaml", 0600, "users: {}\n");
	ck_assert_int_eq(trusted_open(p, TRUSTED_SECRET, &fd, &error), 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(
	        trusted_read(p, TRUSTED_SECRET, 1024, &text, &len, &error), 0);
	ck_assert_str_eq(text, "users: {}\n");
	free(text);
	ck_assert_int_eq(
	        trusted_read(p, TRUSTED_SECRET, 4, &text, &len, &error),
	        -EFBIG);
	free(error);
	/* not a secret: others may read it */
	ck_assert_int_eq(chmod(p, 0644), 0);
	ck_assert_int_eq(trusted_open(p, 0, &fd, &error), 0);
	close(fd);
	ck_assert_int_eq(trusted_open("/nonexistent/x", 0, &fd, &error),
	                 -ENOENT);
	ck_assert_ptr_nonnull(strstr(error, "/nonexistent/x"));
	free(error);
	unlink(p);
	free(p);
	rmdir(dir);
}
END_TEST

START_TEST(test_trusted_refusals)
{
	char *p, *q, *link, *sub, *fifo;

	make_dir();
	p = put_file("users.yaml", 0644, "users: {}\n");
	refused(p, TRUSTED_SECRET, "readable by others");
	refused(p, TRUSTED_SECRET, "run: chmod o-rwx ");
	ck_assert_int_eq(chmod(p, 0620), 0);
	refused(p, 0, "writable by its group; run: chmod go-w ");
	ck_assert_int_eq(chmod(p, 0666), 0);
	refused(p, 0, "mode 0666) is writable by others");

	/* a symlink to a writable file: the file is what counts */
	ck_assert_int_ge(asprintf(&link, "%s/link.yaml", dir), 0);
	ck_assert_int_eq(symlink(p, link), 0);
	refused(link, 0, "is writable by others");

	/* a good file in a 0777 directory */
	ck_assert_int_ge(asprintf(&sub, "%s/open", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	ck_assert_int_ge(asprintf(&q, "%s/open/users.yaml", dir), 0);
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(chmod(q, 0600), 0);
	refused(q, 0, "directory ");
	refused(q, 0, "/open (owner ");
	refused(q, 0, "is writable by others; run: chmod go-w ");
	/* the sticky bit does not save a directory root does not own */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(sub, 01777), 0);
		refused(q, 0, "writable by others");
	}
	ck_assert_int_eq(chmod(sub, 0755), 0);

	/* not a regular file */
	ck_assert_int_ge(asprintf(&fifo, "%s/fifo", dir), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	refused(fifo, 0, "not a regular file");

	/* owned by someone else (needs root to arrange) */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(q, 65534, 65534), 0);
		refused(q, 0,
		        "is owned by nobody (mode 0600), not by root; "
		        "run: chown root ");
		ck_assert_int_eq(chown(q, 0, 0), 0);
		ck_assert_int_eq(chown(sub, 65534, 65534), 0);
		refused(q, 0, "directory ");
		ck_assert_int_eq(chown(sub, 0, 0), 0);
	}
	unlink(q);
	unlink(link);
	unlink(fifo);
	rmdir(sub);
	rmdir(dir);
	free(p);
	free(q);
	free(link);
	free(sub);
	free(fifo);
}
END_TEST

/* TRUSTED_DIRECTORY: a plugin directory about to be listed. */
START_TEST(test_trusted_directory)
{
	char *sub, *inner, *link, *p;
	struct dirent *e;
	int fd = -1, n = 0;
	char *error = NULL;
	DIR *d;

	make_dir();
	p = put_file("a.so", 0644, "x");
	ck_assert_int_eq(trusted_open(dir, TRUSTED_DIRECTORY, &fd, &error), 0);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += !strcmp(e->d_name, "a.so");
	closedir(d);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(trusted_open("/", TRUSTED_DIRECTORY, &fd, &error), 0);
	close(fd);

	/* through a symlink: the target is checked and opened */
	ck_assert_int_ge(asprintf(&link, "%s/link", dir), 0);
	ck_assert_int_eq(symlink(dir, link), 0);
	ck_assert_int_eq(trusted_open(link, TRUSTED_DIRECTORY, &fd, &error), 0);
	close(fd);

	/* a regular file is not a directory */
	ck_assert_int_eq(trusted_open(p, TRUSTED_DIRECTORY, &fd, &error),
	                 -ENOTDIR);
	ck_assert_ptr_nonnull(strstr(error, p));
	free(error);

	/* 0777, itself or above */
	ck_assert_int_ge(asprintf(&sub, "%s/open", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	refused(sub, TRUSTED_DIRECTORY,
	        "mode 0777) is writable by others; run: chmod go-w ");
	ck_assert_int_ge(asprintf(&inner, "%s/open/in", dir), 0);
	ck_assert_int_eq(mkdir(inner, 0755), 0);
	refused(inner, TRUSTED_DIRECTORY, "refused: directory ");
	refused(inner, TRUSTED_DIRECTORY, "/open (owner ");
	ck_assert_int_eq(chmod(sub, 0755), 0);
	ck_assert_int_eq(trusted_open(inner, TRUSTED_DIRECTORY, &fd, &error),
	                 0);
	close(fd);
	rmdir(inner);
	rmdir(sub);
	unlink(link);
	unlink(p);
	rmdir(dir);
	free(inner);
	free(sub);
	free(link);
	free(p);
}
END_TEST

/* A file swapped back and forth between a trusted one and one anyone may
 * write, while it is read: what is read is always what was checked. */
START_TEST(test_trusted_swap_race)
{
	char *good, *bad, *text = NULL, *error = NULL;
	int i, status, ok = 0, refused_n = 0;
	size_t len;
	pid_t pid;

	make_dir();
	good = put_file("users.yaml", 0600, "good");
	bad = put_file("other.yaml", 0666, "bad!");
	ck_assert_int_eq(chmod(bad, 0666), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 20000; i++)
			if (renameat2(AT_FDCWD, good, AT_FDCWD, bad,
			              RENAME_EXCHANGE) < 0)
				_exit(1);
		_exit(0);
	}
	for (i = 0; i < 20000; i++) {
		int rc = trusted_read(good, 0, 64, &text, &len, &error);

		if (rc == 0) {
			ck_assert_str_eq(text, "good");
			ok++;
		} else {
			ck_assert_int_eq(rc, -EPERM);
			ck_assert_ptr_nonnull(
			        strstr(error, "writable by others"));
			refused_n++;
		}
		free(text);
		free(error);
		text = error = NULL;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (i == 20000)
		waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_gt(ok + refused_n, 0);
	unlink(good);
	unlink(bad);
	rmdir(dir);
	free(good);
	free(bad);
}
END_TEST

START_TEST(test_users_load_checks)
{
	struct users *u = NULL;
	char *p, *t = good_file(), *error = NULL;

	make_dir();
	p = put_file("users.yaml", 0604, t);
	ck_assert_int_eq(users_load(p, &u, &error), -EPERM);
	ck_assert_ptr_nonnull(strstr(error, "readable by others"));
	free(error);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(users_load(p, &u, &error), 0);
	ck_assert_ptr_nonnull(users_by_token(u, "bob-token", 9));
	ck_assert_str_eq(u->path, p);
	users_free(u);
	unlink(p);
	rmdir(dir);
	free(p);
	free(t);
}
END_TEST

/* ---- jobd user ---- */

/* Runs `jobd user ARGS...` on path; stdout into out (a buffer). */
static int run_cmd(const char *path, char *out, size_t cap, char *err,
                   size_t ecap, int argc, char **argv)
{
	FILE *o = fmemopen(out, cap, "w"), *e = fmemopen(err, ecap, "w");
	int rc;

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(e);
	memset(out, 0, cap);
	memset(err, 0, ecap);
	rc = usercmd_run(argc, argv, path, o, e);
	fclose(o);
	fclose(e);
	return rc;
}

START_TEST(test_usercmd)
{
	char out[512], err[1024], tok[128], *path, *error = NULL;
	char *add[] = {"add", "--plugins", "nbody,kmeans*", "alice", "--admin"};
	char *add2[] = {"add", "bob", "--max-running", "2"};
	char *rotate[] = {"rotate", "alice"};
	char *revoke[] = {"revoke", "alice"};
	char *list[] = {"list"};
	char *bad[] = {"add", "bob"};
	struct users *u = NULL;
	const struct users_entry *e;
	struct stat st;

	make_dir();
	ck_assert_int_ge(asprintf(&path, "%s/users.yaml", dir), 0);

	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 5, add),
	        USERCMD_OK);
	ck_assert_uint_eq(strlen(out), 44); /* 43 + newline */
	snprintf(tok, sizeof(tok), "%.43s", out);
	ck_assert_ptr_null(strstr(err, tok)); /* shown once, on out only */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(users_load(path, &u, &error), 0);
	e = users_by_token(u, tok, strlen(tok));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->name, "alice");
	ck_assert(e->admin);
	ck_assert(users_may_call(e, "kmeans3"));
	ck_assert(!users_may_call(e, "echo"));
	users_free(u);

	/* a group-readable file stays so (root:jobd 0640) */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 4, add2),
	        USERCMD_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 2, bad),
	        USERCMD_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "exists already"));

	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 1, list),
	        USERCMD_OK);
	ck_assert_ptr_nonnull(strstr(out, "alice admin plugins=nbody,kmeans* "
	                                  "token\n"));
	ck_assert_ptr_nonnull(strstr(out, "bob plugins=* token "
	                                  "max_running=2\n"));

	/* rotate: the old token stops working */
	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 2, rotate),
	        USERCMD_OK);
	ck_assert_int_eq(users_load(path, &u, &error), 0);
	ck_assert_ptr_null(users_by_token(u, tok, strlen(tok)));
	snprintf(tok, sizeof(tok), "%.43s", out);
	ck_assert_ptr_nonnull(users_by_token(u, tok, strlen(tok)));
	users_free(u);

	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 2, revoke),
	        USERCMD_OK);
	ck_assert_int_eq(users_load(path, &u, &error), 0);
	ck_assert_ptr_null(users_find(u, "alice"));
	ck_assert_ptr_null(users_by_token(u, tok, strlen(tok)));
	ck_assert_ptr_nonnull(users_find(u, "bob"));
	users_free(u);
	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 2, revoke),
	        USERCMD_USAGE);

	/* a new file where others may write: the token is out (the user
	 * exists), and so is the fix */
	{
		char *sub, *p2;

		ck_assert_int_ge(asprintf(&sub, "%s/open", dir), 0);
		ck_assert_int_eq(mkdir(sub, 0777), 0);
		ck_assert_int_eq(chmod(sub, 0777), 0);
		ck_assert_int_ge(asprintf(&p2, "%s/users.yaml", sub), 0);
		ck_assert_int_eq(
		        run_cmd(p2, out, sizeof(out), err, sizeof(err), 5, add),
		        USERCMD_FAILED);
		ck_assert_uint_eq(strlen(out), 44);
		ck_assert_msg(strstr(err, "written, but jobd will refuse it") &&
		                      strstr(err, "run: chmod go-w "),
		              "%s", err);
		unlink(p2);
		rmdir(sub);
		free(p2);
		free(sub);
	}

	/* an untrusted file is not touched */
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(
	        run_cmd(path, out, sizeof(out), err, sizeof(err), 5, add),
	        USERCMD_FAILED);
	ck_assert_ptr_nonnull(strstr(err, "chmod go-w"));
	ck_assert_str_eq(out, "");

	unlink(path);
	rmdir(dir);
	free(path);
}
END_TEST

/* The subject the daemon will compute is what the openssl command shows
 * the administrator, and it finds the user. */
START_TEST(test_cert_subject)
{
	char cmd[1024], shown[512], *p, *subj = NULL, *t, *error = NULL;
	struct users *u = NULL;
	X509 *x;
	FILE *f;

	make_dir();
	snprintf(cmd, sizeof(cmd),
	         "cd %s && openssl req -x509 -newkey ec -pkeyopt "
	         "ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem "
	         "-days 1 -subj '/CN=Doe\\, Jane/OU=Bio+UID=jd/O=Lab' "
	         "-multivalue-rdn 2>/dev/null && openssl x509 -in c.pem "
	         "-noout -subject -nameopt RFC2253 > shown",
	         dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/shown", dir);
	f = fopen(cmd, "r");
	ck_assert_ptr_nonnull(fgets(shown, sizeof(shown), f));
	fclose(f);
	shown[strcspn(shown, "\n")] = '\0';
	ck_assert(!strncmp(shown, "subject=", 8));
	snprintf(cmd, sizeof(cmd), "%s/c.pem", dir);
	f = fopen(cmd, "r");
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(subject_rfc2253(x, &subj), 0);
	ck_assert_str_eq(subj, shown + 8);
	ck_assert_ptr_nonnull(strstr(subj, "CN=Doe\\, Jane"));

	ck_assert_int_ge(
	        asprintf(&t, "users:\n  jane:\n    cert_subject: '%s'\n", subj),
	        0);
	ck_assert_int_eq(users_parse(t, strlen(t), "u", &u, &error), 0);
	ck_assert_ptr_nonnull(users_by_cert_subject(u, subj));
	ck_assert_int_eq(subject_rfc2253(NULL, &p), -EINVAL);
	users_free(u);
	free(t);
	free(subj);
	X509_free(x);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, make_hashes, NULL);
	tcase_add_checked_fixture(tc, make_hashes, NULL);
	tcase_add_test(tc, test_token_generate);
	tcase_add_test(tc, test_token_sha256);
	tcase_add_test(tc, test_users_lookups);
	tcase_add_test(tc, test_users_empty);
	tcase_add_test(tc, test_users_errors);
	tcase_add_test(tc, test_users_format_roundtrip);
	tcase_add_test(tc, test_trusted_good);
	tcase_add_test(tc, test_trusted_refusals);
	tcase_add_test(tc, test_trusted_directory);
	tcase_add_test(tc, test_trusted_swap_race);
	tcase_add_test(tc, test_users_load_checks);
	tcase_add_test(tc, test_usercmd);
	tcase_add_test(tc, test_cert_subject);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
