/* SPDX-License-Identifier: MIT */
/*
 * Trusted files (docs/security.md): the real daemon loads a plugin only if
 * the file and every directory above it are owned by root (or the
 * service's user) and writable by no one else, and reads its config only
 * under the same rule. Each refusal is logged with the file and the fix,
 * and the good plugins keep serving. plugin_strict_modes: false turns a
 * plugin refusal into a warning. jobd --check-config reports the same.
 *
 * Every test works in its own mkdtemp directory (0700, root's) under /tmp
 * (root's, sticky): a trusted place to start from.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Who the files the test makes belong to, as messages name them. */
static const char *me(void)
{
	const struct passwd *pw = getpwuid(geteuid());

	ck_assert_ptr_nonnull(pw);
	return pw->pw_name;
}

/* The user a file is given to that is neither root nor us. */
#define OTHER_UID 65534 /* nobody */

struct tree {
	char root[64];
	char plugins[128]; /* 0755: good plugins, and some bad files */
	char config[128];
};

static void copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(out >= 0, "open %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	/* fchmod: the mode asked for, whatever the umask. */
	ck_assert_int_eq(fchmod(out, mode), 0);
	ck_assert_int_eq(close(out), 0);
}

/* A bundled plugin (JOBD_PLUGIN_DIR) or an svcver build (beside the test
 * plugins, in tests/service), copied to dst with mode. */
static void put_plugin(const char *built, const char *dst, mode_t mode)
{
	char src[512];

	if (!strncmp(built, "svcver", 6))
		snprintf(src, sizeof(src), "%s/../service/%s",
		         getenv("JOBD_TEST_PLUGIN_DIR"), built);
	else
		snprintf(src, sizeof(src), "%s/%s", getenv("JOBD_PLUGIN_DIR"),
		         built);
	copy_file(src, dst, mode);
}

static void tree_init(struct tree *t)
{
	snprintf(t->root, sizeof(t->root), "/tmp/jobd-trust-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->root));
	snprintf(t->plugins, sizeof(t->plugins), "%s/plugins", t->root);
	snprintf(t->config, sizeof(t->config), "%s/jobd.yaml", t->root);
	ck_assert_int_eq(mkdir(t->plugins, 0755), 0);
	ck_assert_int_eq(chmod(t->plugins, 0755), 0);
}

static void tree_fini(struct tree *t)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t->root);
}

/* "ROOT/rel": a path in the tree, in a static ring of buffers. */
static const char *at(const struct tree *t, const char *rel)
{
	static char ring[8][256];
	static unsigned next;
	char *s = ring[next++ % 8];

	snprintf(s, sizeof(ring[0]), "%s/%s", t->root, rel);
	return s;
}

/* Writes the config (0644, through rename): plugin_dirs, the state dir,
 * then extra YAML. */
static void write_config(const struct tree *t, const char *dirs,
                         const char *extra)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", t->config);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "plugin_dirs: [%s]\nstate_dir: \"%s/state\"\n%s", dirs,
	        t->root, extra ? extra : "");
	ck_assert_int_eq(fchmod(fileno(f), 0644), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, t->config), 0);
}

static void start_with(struct jobd_proc *p, const struct tree *t)
{
	struct harness_opts o = {.config_file = t->config};

	ck_assert_int_eq(harness_start(p, &o), 0);
}

/* SIGHUP, then READY=1 within 10 s: the reload is done. */
static void reload(struct jobd_proc *p)
{
	char buf[512];

	ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
	ck_assert_msg(harness_wait_notify(p, "RELOADING=1", 10000, buf,
	                                  sizeof(buf)) == 0,
	              "no RELOADING=1 after SIGHUP");
	ck_assert_msg(
	        harness_wait_notify(p, "READY=1", 10000, buf, sizeof(buf)) == 0,
	        "no READY=1 after a reload");
}

static bool text_has(const char *text, const char *needle)
{
	if (strstr(text, needle))
		return true;
	fprintf(stderr, "output lacks \"%s\":\n%s\n", needle, text);
	return false;
}

static bool log_has(const struct jobd_proc *p, const char *needle)
{
	char *log = harness_log(p);
	bool found = text_has(log, needle);

	free(log);
	return found;
}

/* How often needle occurs in jobd's log so far. */
static int log_count(const struct jobd_proc *p, const char *needle)
{
	char *log = harness_log(p), *s = log;
	int n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s += strlen(needle);
	}
	free(log);
	return n;
}

/* Open descriptors of pid. */
static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* jobd holds no more descriptors than want, within 5 s (a connection the
 * test closed may take a loop turn to go). */
static void fds_back_to(pid_t pid, int want)
{
	uint64_t end = harness_now_ms() + 5000;
	int n;

	while ((n = fd_count(pid)) > want && harness_now_ms() < end)
		usleep(20000);
	ck_assert_msg(n <= want, "jobd holds %d descriptors, had %d", n, want);
}

/* One call on a fresh connection: "result" (the answer, a new reference,
 * in *answer if asked) or the error code. */
static const char *call_once(const struct jobd_proc *p, const char *plugin,
                             const char *input, json_t **answer)
{
	static char code[64];
	json_t *m;
	int fd = harness_connect(p);

	ck_assert_int_ge(fd, 0);
	m = harness_call(fd, 1, plugin, input, 10000);
	ck_assert_ptr_nonnull(m);
	if (!strcmp(json_string_value(json_object_get(m, "type")), "result")) {
		snprintf(code, sizeof(code), "result");
		if (answer)
			*answer = json_incref(m);
	} else {
		snprintf(code, sizeof(code), "%s", harness_error_code(m));
	}
	json_decref(m);
	close(fd);
	return code;
}

/* The SHA-256 of the plugin file a result names in its provenance. */
static const char *answer_sha256(const json_t *m)
{
	const char *s = json_string_value(json_object_get(
	        json_object_get(m, "provenance"), "plugin_sha256"));

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 64);
	return s;
}

static void serves(const struct jobd_proc *p, const char *plugin,
                   const char *input)
{
	ck_assert_str_eq(call_once(p, plugin, input, NULL), "result");
}

/* Loaded: a call reaches it (whatever it thinks of the input). */
static void loaded(const struct jobd_proc *p, const char *plugin)
{
	ck_assert_str_ne(call_once(p, plugin, "{}", NULL), "unknown_plugin");
}

static void not_served(const struct jobd_proc *p, const char *plugin)
{
	ck_assert_str_eq(call_once(p, plugin, "{}", NULL), "unknown_plugin");
}

/* Runs jobd with args; its stdout and stderr into out. Returns the exit
 * status. */
static int run_jobd(const char *args, char *out, size_t size)
{
	char cmd[1024];
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", getenv("JOBD_BIN"), args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int check_config(const struct tree *t, char *out, size_t size)
{
	char args[300];

	snprintf(args, sizeof(args), "--check-config --config '%s'", t->config);
	return run_jobd(args, out, size);
}

/*
 * The bad plugins of the issue, each beside a good one:
 * - plugins/template.so, mode 0666;
 * - open/sleep.so: a good file in a 0777 directory;
 * - plugins/kmeans.so owned by nobody (as root only);
 * - plugins/beam.so, a symlink to elsewhere/beam.so, mode 0666;
 * - plugins/nbody.so, a symlink to a good file: served.
 * plugins/echo.so is good.
 */
static void bad_tree(struct tree *t, bool *other_owner)
{
	char dirs[400];

	tree_init(t);
	put_plugin("echo.so", at(t, "plugins/echo.so"), 0755);
	put_plugin("template.so", at(t, "plugins/template.so"), 0666);
	ck_assert_int_eq(mkdir(at(t, "open"), 0777), 0);
	ck_assert_int_eq(chmod(at(t, "open"), 0777), 0);
	put_plugin("sleep.so", at(t, "open/sleep.so"), 0755);
	*other_owner = geteuid() == 0;
	if (*other_owner) {
		put_plugin("kmeans.so", at(t, "plugins/kmeans.so"), 0755);
		ck_assert_int_eq(
		        chown(at(t, "plugins/kmeans.so"), OTHER_UID, OTHER_UID),
		        0);
	}
	ck_assert_int_eq(mkdir(at(t, "elsewhere"), 0755), 0);
	ck_assert_int_eq(chmod(at(t, "elsewhere"), 0755), 0);
	put_plugin("beam.so", at(t, "elsewhere/beam.so"), 0666);
	ck_assert_int_eq(
	        symlink(at(t, "elsewhere/beam.so"), at(t, "plugins/beam.so")),
	        0);
	put_plugin("nbody.so", at(t, "elsewhere/nbody.so"), 0755);
	ck_assert_int_eq(
	        symlink(at(t, "elsewhere/nbody.so"), at(t, "plugins/nbody.so")),
	        0);
	snprintf(dirs, sizeof(dirs), "\"%s\", \"%s\"", t->plugins,
	         at(t, "open"));
	write_config(t, dirs, "log_level: debug\n");
}

/* The refusal of each bad plugin, with the file and the fix, in text. */
static void has_refusals(const struct tree *t, const char *text,
                         bool other_owner)
{
	char want[1024];
	const char *f;

	f = at(t, "plugins/template.so");
	snprintf(want, sizeof(want),
	         "plugin %s: refused: file %s (owner %s, mode 0666) is "
	         "writable by others; run: chmod go-w %s",
	         f, f, me(), f);
	ck_assert(text_has(text, want));

	f = at(t, "open");
	snprintf(want, sizeof(want),
	         "plugin_dirs: %s: refused: directory %s (owner %s, mode "
	         "0777) is writable by others; run: chmod go-w %s",
	         f, f, me(), f);
	ck_assert(text_has(text, want));

	if (other_owner) {
		f = at(t, "plugins/kmeans.so");
		snprintf(want, sizeof(want),
		         "plugin %s: refused: file %s is owned by nobody (mode "
		         "0755), not by root; run: chown root %s",
		         f, f, f);
		ck_assert(text_has(text, want));
	}

	/* The link's target is what counts, and the message says so. */
	snprintf(want, sizeof(want),
	         "plugin %s: refused: file %s (owner %s, mode 0666) is "
	         "writable by others; run: chmod go-w %s",
	         at(t, "plugins/beam.so"), at(t, "elsewhere/beam.so"), me(),
	         at(t, "elsewhere/beam.so"));
	ck_assert(text_has(text, want));
}

START_TEST(bad_plugins_refused_good_ones_serve)
{
	struct jobd_proc p;
	struct tree t;
	bool other_owner;
	char out[16384];

	bad_tree(&t, &other_owner);
	start_with(&p, &t);
	serves(&p, "echo", "{\"hello\":\"lab\"}");
	loaded(&p, "nbody"); /* through a symlink to a good file */
	not_served(&p, "template");
	not_served(&p, "sleep");
	not_served(&p, "beam");
	if (other_owner)
		not_served(&p, "kmeans");
	{
		char *log = harness_log(&p);

		has_refusals(&t, log, other_owner);
		free(log);
	}

	/* --check-config says the same, and fails. */
	ck_assert_int_eq(check_config(&t, out, sizeof(out)), 1);
	has_refusals(&t, out, other_owner);
	ck_assert(text_has(out, other_owner ? "4 plugin files or directories "
	                                      "refused"
	                                    : "3 plugin files or directories "
	                                      "refused"));

	/* Run the fixes the messages name; a reload loads them. */
	ck_assert_int_eq(chmod(at(&t, "plugins/template.so"), 0755), 0);
	ck_assert_int_eq(chmod(at(&t, "open"), 0755), 0);
	ck_assert_int_eq(chmod(at(&t, "elsewhere/beam.so"), 0644), 0);
	if (other_owner)
		ck_assert_int_eq(chown(at(&t, "plugins/kmeans.so"), 0, 0), 0);
	reload(&p);
	serves(&p, "template", "{\"name\":\"Ada\"}");
	serves(&p, "sleep", "{\"ms\":1}");
	serves(&p, "echo", "[1]");
	loaded(&p, "beam");
	if (other_owner)
		loaded(&p, "kmeans");
	ck_assert_int_eq(check_config(&t, out, sizeof(out)), 0);
	ck_assert(text_has(out, ": ok"));

	/* A loaded file made writable in place (same file, same mtime) is
	 * refused at the next reload, and its plugin goes; echo stays. */
	ck_assert_int_eq(chmod(at(&t, "plugins/template.so"), 0646), 0);
	reload(&p);
	not_served(&p, "template");
	serves(&p, "echo", "[2]");
	ck_assert(log_has(&p, "is writable by others; run: chmod go-w "));
	ck_assert(log_has(&p, "plugin template: removed"));

	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	tree_fini(&t);
}
END_TEST

START_TEST(strict_modes_off_warns_and_loads)
{
	struct jobd_proc p;
	struct tree t;
	bool other_owner;
	char out[16384], dirs[400];
	char *log;

	bad_tree(&t, &other_owner);
	snprintf(dirs, sizeof(dirs), "\"%s\", \"%s\"", t.plugins,
	         at(&t, "open"));
	write_config(&t, dirs,
	             "log_level: debug\nplugin_strict_modes: false\n");
	start_with(&p, &t);
	serves(&p, "echo", "[1]");
	serves(&p, "template", "{\"name\":\"Ada\"}");
	serves(&p, "sleep", "{\"ms\":1}");
	loaded(&p, "beam");
	if (other_owner)
		loaded(&p, "kmeans");
	log = harness_log(&p);
	/* The same messages, as warnings. */
	has_refusals(&t, log, other_owner);
	ck_assert(text_has(log, "warning: plugin_strict_modes: false, so used "
	                        "anyway: plugin "));
	ck_assert(text_has(log, "warning: plugin_strict_modes: false, so used "
	                        "anyway: plugin_dirs: "));
	ck_assert_ptr_null(strstr(log, "error: plugin "));
	free(log);

	/* --check-config warns the same way, and passes. */
	ck_assert_int_eq(check_config(&t, out, sizeof(out)), 0);
	has_refusals(&t, out, other_owner);
	ck_assert(text_has(out, ": ok"));

	/* Modes are let go, not the kind of file: a FIFO named like a
	 * plugin is refused (and does not hang the reload). */
	ck_assert_int_eq(mkfifo(at(&t, "plugins/fifo.so"), 0600), 0);
	reload(&p);
	serves(&p, "echo", "[2]");
	ck_assert(log_has(&p, "fifo.so is not a regular file"));
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	tree_fini(&t);
}
END_TEST

START_TEST(config_file_bad_mode)
{
	struct jobd_proc p;
	struct tree t;
	char out[8192], args[300], want[600], dirs[200];

	tree_init(&t);
	put_plugin("echo.so", at(&t, "plugins/echo.so"), 0755);
	snprintf(dirs, sizeof(dirs), "\"%s\"", t.plugins);
	write_config(&t, dirs, NULL);
	ck_assert_int_eq(chmod(t.config, 0666), 0);
	snprintf(want, sizeof(want),
	         "jobd: %s: refused: file %s (owner %s, mode 0666) is "
	         "writable by others; run: chmod go-w %s",
	         t.config, t.config, me(), t.config);

	/* A start refuses it, before anything else. */
	snprintf(args, sizeof(args), "--config '%s'", t.config);
	ck_assert_int_eq(run_jobd(args, out, sizeof(out)), 1);
	ck_assert(text_has(out, want));
	ck_assert_int_eq(check_config(&t, out, sizeof(out)), 1);
	ck_assert(text_has(out, want));

	/* In a directory others may write, too. */
	ck_assert_int_eq(chmod(t.config, 0644), 0);
	ck_assert_int_eq(chmod(t.root, 0775), 0);
	ck_assert_int_eq(check_config(&t, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
	         "refused: directory %s (owner %s, mode 0775) is writable "
	         "by its group; run: chmod go-w %s",
	         t.root, me(), t.root);
	ck_assert(text_has(out, want));
	ck_assert_int_eq(chmod(t.root, 0700), 0);

	/* A reload refuses it and keeps the running config; echo serves. */
	start_with(&p, &t);
	serves(&p, "echo", "[1]");
	write_config(&t, "[]", NULL); /* would drop every plugin */
	ck_assert_int_eq(chmod(t.config, 0606), 0);
	reload(&p);
	snprintf(want, sizeof(want),
	         "reload: %s: refused: file %s (owner %s, mode 0606) is "
	         "writable by others; run: chmod go-w %s; keeping the running "
	         "config",
	         t.config, t.config, me(), t.config);
	ck_assert(log_has(&p, want));
	serves(&p, "echo", "[2]");
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	tree_fini(&t);
}
END_TEST

/*
 * The file is swapped between a trusted build (svcver 1, mode 0755) and a
 * build anyone may write (svcver 2, mode 0666) by rename, as fast as a
 * process can, while jobd reloads again and again. Whatever jobd loaded
 * must be the build it checked: svcver answers with build 1 or not at
 * all, never with build 2.
 */
START_TEST(swap_during_reloads)
{
	struct jobd_proc p;
	struct tree t;
	char dirs[200];
	json_t *first = NULL;
	int i, status, build1 = 0, absent = 0, fds;
	struct stat st;
	pid_t swapper;

	tree_init(&t);
	put_plugin("echo.so", at(&t, "plugins/echo.so"), 0755);
	put_plugin("svcver_v1.so", at(&t, "plugins/svcver.so"), 0755);
	/* Not *.so: only svcver.so is a plugin file. */
	put_plugin("svcver_v2.so", at(&t, "plugins/svcver.other"), 0666);
	snprintf(dirs, sizeof(dirs), "\"%s\"", t.plugins);
	write_config(&t, dirs, "log_level: debug\n");
	start_with(&p, &t);
	ck_assert_str_eq(call_once(&p, "svcver", "{\"ms\":0}", &first),
	                 "result");
	fds = fd_count(p.pid);

	swapper = fork();
	ck_assert_int_ge(swapper, 0);
	if (swapper == 0) {
		char a[256], b[256];
		long n;

		snprintf(a, sizeof(a), "%s", at(&t, "plugins/svcver.so"));
		snprintf(b, sizeof(b), "%s", at(&t, "plugins/svcver.other"));
		/* Bounded; the test stops it much sooner. */
		for (n = 0; n < 50000000L; n++)
			if (renameat2(AT_FDCWD, a, AT_FDCWD, b,
			              RENAME_EXCHANGE) < 0)
				_exit(1);
		_exit(0);
	}
	for (i = 0; i < 40; i++) {
		json_t *m = NULL;
		const char *r;

		reload(&p);
		r = call_once(&p, "svcver", "{\"ms\":0}", &m);
		if (!strcmp(r, "result")) {
			ck_assert_int_eq(
			        json_integer_value(json_object_get(
			                json_object_get(m, "output"), "build")),
			        1);
			/* Provenance names the file that was loaded: hashed
			 * from the same descriptor. */
			ck_assert_str_eq(answer_sha256(m),
			                 answer_sha256(first));
			build1++;
		} else {
			ck_assert_str_eq(r, "unknown_plugin");
			absent++;
		}
		json_decref(m);
		serves(&p, "echo", "[1]");
	}
	kill(swapper, SIGKILL);
	ck_assert_int_eq(waitpid(swapper, &status, 0), swapper);
	ck_assert_msg(!WIFEXITED(status), "the swapper failed");
	/* Back to the trusted build: svcver serves, and all the refusals
	 * and loads left no descriptor behind. */
	ck_assert_int_eq(stat(at(&t, "plugins/svcver.so"), &st), 0);
	if (st.st_mode & 002)
		ck_assert_int_eq(
		        renameat2(AT_FDCWD, at(&t, "plugins/svcver.so"),
		                  AT_FDCWD, at(&t, "plugins/svcver.other"),
		                  RENAME_EXCHANGE),
		        0);
	reload(&p);
	serves(&p, "svcver", "{\"ms\":0}");
	fds_back_to(p.pid, fds);
	json_decref(first);
	fprintf(stderr,
	        "swap_during_reloads: build 1 served %d times, "
	        "refused %d times\n",
	        build1, absent);
	ck_assert_int_eq(log_count(&p, "svcver 2.0.0 loaded"), 0);
	ck_assert_int_gt(log_count(&p, "svcver.so: refused: file "), 0);
	ck_assert_int_eq(harness_stop(&p, 0, 10000), 0);
	tree_fini(&t);
}
END_TEST

static Suite *trust_suite(void)
{
	Suite *s = suite_create("trust");
	TCase *tc = tcase_create("trust");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, bad_plugins_refused_good_ones_serve);
	tcase_add_test(tc, strict_modes_off_warns_and_loads);
	tcase_add_test(tc, config_file_bad_mode);
	tcase_add_test(tc, swap_during_reloads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(trust_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
