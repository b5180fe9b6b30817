/* SPDX-License-Identifier: MIT */
/* Unit tests for the YAML configuration loader (src/daemon/config/). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config/config.h"

/* Parses text named "t.yaml"; fails the test unless it succeeds. */
static struct config *ok(const char *text)
{
	struct config *c = NULL;
	char *err = NULL;
	int rc;

	rc = config_parse(text, strlen(text), "t.yaml", &c, &err);
	ck_assert_msg(rc == 0, "parse failed: %s", err ? err : "(no message)");
	ck_assert_ptr_null(err);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* Parses text and checks the one-line error message exactly. */
static void fails(const char *text, const char *want)
{
	struct config *c = NULL;
	char *err = NULL;
	int rc;

	rc = config_parse(text, strlen(text), "t.yaml", &c, &err);
	ck_assert_msg(rc == -EINVAL, "rc %d for: %s", rc, text);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(!strchr(err, '\n'), "multi-line: %s", err);
	ck_assert_str_eq(err, want);
	free(err);
}

static unsigned ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
}

static void check_defaults(const struct config *c)
{
	ck_assert_uint_eq(c->n_listen, 0);
	ck_assert_uint_eq(c->n_plugin_dirs, 0);
	ck_assert_str_eq(c->state_dir, "/var/lib/jobd");
	ck_assert_int_eq(c->log_level, 6);
	ck_assert(c->plugin_strict_modes);
	ck_assert_uint_eq(c->limits.max_connections, 10000);
	ck_assert_uint_eq(c->limits.max_frame_size, 16u << 20);
	ck_assert_uint_eq(c->limits.max_inflight_per_connection, 256);
	ck_assert_uint_eq(c->limits.idle_timeout_ms, 300000);
	ck_assert_uint_eq(c->limits.frame_timeout_ms, 30000);
	ck_assert_uint_eq(c->limits.max_output_buffer, 64ull << 20);
	ck_assert_uint_eq(c->limits.max_input_buffer, 1ull << 30);
	ck_assert_uint_eq(c->limits.shutdown_timeout_ms, 30000);
	ck_assert_uint_eq(c->limits.result_ttl_ms, 7ull * 86400 * 1000);
	ck_assert_uint_eq(c->limits.result_budget, 1ull << 30);
	ck_assert_uint_eq(c->n_plugins, 0);
}

START_TEST(test_defaults)
{
	static const char *const empties[] = {
	        "",
	        "\n",
	        "# only a comment\n",
	        "---\n",
	        "--- ~\n",
	        "{}\n",
	        "listen:\nplugin_dirs:\nlimits:\nplugins:\n",
	};
	struct config d, *c;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
		c = ok(empties[i]);
		check_defaults(c);
		ck_assert_str_eq(c->path, "t.yaml");
		config_free(c);
	}
	ck_assert_int_eq(config_defaults(&d), 0);
	check_defaults(&d);
	config_fini(&d);
	config_fini(NULL);
	config_free(NULL);
}
END_TEST

START_TEST(test_plugin_defaults)
{
	struct config_plugin p;
	struct config *c;
	const struct config_plugin *q;

	memset(&p, 0xff, sizeof(p));
	p.name = "x";
	config_plugin_defaults(&p);
	ck_assert_str_eq(p.name, "x");
	ck_assert_uint_eq(p.workers, ncpu());
	ck_assert_uint_eq(p.queue_bound, CONFIG_QUEUE_BOUND_AUTO);
	ck_assert_uint_eq(p.timeout_ms, 0);
	ck_assert_uint_eq(p.max_attempts, 3);
	ck_assert_uint_eq(p.queue_delay_ms, 1000);
	ck_assert_uint_eq(p.cache_max_bytes, 0); /* no result cache */
	ck_assert_ptr_null(p.options);

	c = ok("plugins:\n  echo:\n  other: {}\n");
	ck_assert_uint_eq(c->n_plugins, 2);
	q = config_plugin_find(c, "echo");
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(q->name, "echo");
	ck_assert_uint_eq(q->workers, ncpu());
	ck_assert_uint_eq(q->queue_bound, CONFIG_QUEUE_BOUND_AUTO);
	ck_assert_uint_eq(q->timeout_ms, 0);
	ck_assert_uint_eq(q->max_attempts, 3);
	ck_assert_uint_eq(q->queue_delay_ms, 1000);
	ck_assert(json_is_object(q->options));
	ck_assert_uint_eq(json_object_size(q->options), 0);
	ck_assert_ptr_nonnull(config_plugin_find(c, "other"));
	ck_assert_ptr_null(config_plugin_find(c, "nbody"));
	ck_assert_uint_eq(q->cache_max_bytes, 0);
	ck_assert_uint_eq(c->limits.max_array_bytes, 1024ull * 1024 * 1024);
	config_free(c);

	c = ok("limits: {max_array_bytes: 16MiB}\n"
	       "plugins:\n  echo:\n    cache: {max_bytes: 1GiB}\n");
	ck_assert_uint_eq(config_plugin_find(c, "echo")->cache_max_bytes,
	                  1024ull * 1024 * 1024);
	ck_assert_uint_eq(c->limits.max_array_bytes, 16ull * 1024 * 1024);
	config_free(c);
}
END_TEST

START_TEST(test_full)
{
	const struct config_plugin *p;
	struct config *c;

	c = ok("listen: [\"127.0.0.1:7878\", \"[::1]:7878\", "
	       "localhost:0]\n"
	       "plugin_dirs: [/a, b/c]\n"
	       "state_dir: /tmp/s\n"
	       "log_level: debug\n"
	       "limits:\n"
	       "  max_connections: 5\n"
	       "  max_frame_size: 64KiB\n"
	       "  max_inflight_per_connection: 1\n"
	       "  idle_timeout: 0\n"
	       "  frame_timeout: 250ms\n"
	       "  max_output_buffer: 2MB\n"
	       "  shutdown_timeout: 1h\n"
	       "  result_ttl: 2d\n"
	       "  result_budget: 10kB\n"
	       "plugins:\n"
	       "  nbody:\n"
	       "    workers: 2\n"
	       "    queue_bound: 100\n"
	       "    queue_delay: 250ms\n"
	       "    timeout: 5m\n"
	       "    max_attempts: 1\n"
	       "    options: {softening: 0.01}\n");
	ck_assert_uint_eq(c->n_listen, 3);
	ck_assert_str_eq(c->listen[0], "127.0.0.1:7878");
	ck_assert_str_eq(c->listen[1], "[::1]:7878");
	ck_assert_str_eq(c->listen[2], "localhost:0");
	ck_assert_uint_eq(c->n_plugin_dirs, 2);
	ck_assert_str_eq(c->plugin_dirs[0], "/a");
	ck_assert_str_eq(c->plugin_dirs[1], "b/c");
	ck_assert_str_eq(c->state_dir, "/tmp/s");
	ck_assert_int_eq(c->log_level, 7);
	ck_assert_uint_eq(c->limits.max_connections, 5);
	ck_assert_uint_eq(c->limits.max_frame_size, 65536);
	ck_assert_uint_eq(c->limits.max_inflight_per_connection, 1);
	ck_assert_uint_eq(c->limits.idle_timeout_ms, 0);
	ck_assert_uint_eq(c->limits.frame_timeout_ms, 250);
	ck_assert_uint_eq(c->limits.max_output_buffer, 2000000);
	ck_assert_uint_eq(c->limits.shutdown_timeout_ms, 3600000);
	ck_assert_uint_eq(c->limits.result_ttl_ms, 2ull * 86400000);
	ck_assert_uint_eq(c->limits.result_budget, 10000);
	ck_assert_uint_eq(c->n_plugins, 1);
	p = config_plugin_find(c, "nbody");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->workers, 2);
	ck_assert_uint_eq(p->queue_bound, 100);
	ck_assert_uint_eq(p->queue_delay_ms, 250);
	ck_assert_uint_eq(p->timeout_ms, 300000);
	ck_assert_uint_eq(p->max_attempts, 1);
	ck_assert(json_is_real(json_object_get(p->options, "softening")));
	ck_assert(json_real_value(json_object_get(p->options, "softening")) ==
	          0.01);
	/* The build tree passes the trust check as it is: the development
	 * config needs no plugin_strict_modes: false. */
	ck_assert(c->plugin_strict_modes);
	config_free(c);
}
END_TEST

START_TEST(test_scalar_lists)
{
	struct config *c;

	c = ok("listen: \"[::1]:80\"\nplugin_dirs: /usr/lib/jobd\n");
	ck_assert_uint_eq(c->n_listen, 1);
	ck_assert_str_eq(c->listen[0], "[::1]:80");
	ck_assert_uint_eq(c->n_plugin_dirs, 1);
	ck_assert_str_eq(c->plugin_dirs[0], "/usr/lib/jobd");
	config_free(c);

	c = ok("listen: []\nplugin_dirs: []\n");
	ck_assert_uint_eq(c->n_listen, 0);
	ck_assert_uint_eq(c->n_plugin_dirs, 0);
	config_free(c);

	c = ok("listen:\n  - 0.0.0.0:65535\n  - '[2001:db8::1]:1'\n"
	       "allow_unauthenticated: true\n");
	ck_assert_uint_eq(c->n_listen, 2);
	config_free(c);
}
END_TEST

START_TEST(test_listen_errors)
{
	fails("listen: localhost\n",
	      "t.yaml:1:9: listen: \"localhost\": expected host:port");
	fails("listen: [\"a:70000\"]\n",
	      "t.yaml:1:10: listen[0]: \"a:70000\": bad port (0..65535)");
	fails("listen: [\"a:1\", \"b:\"]\n",
	      "t.yaml:1:17: listen[1]: \"b:\": bad port (0..65535)");
	fails("listen: \"a:1x\"\n",
	      "t.yaml:1:9: listen: \"a:1x\": bad port (0..65535)");
	fails("listen: \"::1:7878\"\n",
	      "t.yaml:1:9: listen: \"::1:7878\": an IPv6 address must be in "
	      "brackets, as in [::1]:7878");
	fails("listen: \"[::g]:1\"\n",
	      "t.yaml:1:9: listen: \"[::g]:1\": bad IPv6 address");
	fails("listen: \"[::1:1\"\n",
	      "t.yaml:1:9: listen: \"[::1:1\": missing ']'");
	fails("listen: \"[::1]7878\"\n",
	      "t.yaml:1:9: listen: \"[::1]7878\": expected \":port\" after "
	      "']'");
	fails("listen: \":7878\"\n",
	      "t.yaml:1:9: listen: \":7878\": missing host");
	fails("listen: \"300.1.1.1:1\"\n",
	      "t.yaml:1:9: listen: \"300.1.1.1:1\": bad IPv4 address");
	fails("listen: \"a b:1\"\n",
	      "t.yaml:1:9: listen: \"a b:1\": bad host name");
	fails("listen:\n  - a:1\n  - a:1\n",
	      "t.yaml:3:5: listen[1]: \"a:1\" is listed twice");
	fails("listen:\n  - [a:1]\n",
	      "t.yaml:2:5: listen[0]: expected a scalar, got a sequence");
	/* One mapping is one listener entry. */
	fails("listen: {a: 1}\n", "t.yaml:1:10: listen.a: unknown key");
	fails("listen: [~]\n", "t.yaml:1:10: listen[0]: missing value");
	fails("plugin_dirs: [\"\"]\n",
	      "t.yaml:1:15: plugin_dirs[0]: empty path");
}
END_TEST

/* Listeners with TLS or a Unix socket; auth; the open-listener rule. */
START_TEST(test_access)
{
	struct config *c;

	c = ok("listen:\n"
	       "  - \"127.0.0.1:1\"\n"
	       "  - unix:/run/jobd/jobd.sock\n"
	       "  - {address: \"0.0.0.0:7879\", tls: {cert: /c.pem, key: "
	       "/k.pem, client_ca: /ca.pem}}\n"
	       "  - {address: \"[::1]:2\", tls: {cert: /c.pem, key: /k.pem}}\n"
	       "auth: {users_file: /etc/jobd/users.yaml}\n");
	ck_assert_uint_eq(c->n_listen, 4);
	ck_assert_str_eq(c->listen[1], "unix:/run/jobd/jobd.sock");
	ck_assert_ptr_null(c->listen_opts[0].tls);
	ck_assert_ptr_null(c->listen_opts[1].tls);
	ck_assert_str_eq(c->listen[2], "0.0.0.0:7879");
	ck_assert_str_eq(c->listen_opts[2].tls->cert, "/c.pem");
	ck_assert_str_eq(c->listen_opts[2].tls->key, "/k.pem");
	ck_assert_str_eq(c->listen_opts[2].tls->client_ca, "/ca.pem");
	ck_assert_ptr_null(c->listen_opts[3].tls->client_ca);
	ck_assert_uint_eq(c->listen_opts[2].line, 4);
	ck_assert_str_eq(c->users_file, "/etc/jobd/users.yaml");
	ck_assert(!c->allow_unauthenticated);
	config_free(c);

	c = ok("listen: [\"0.0.0.0:1\"]\nallow_unauthenticated: true\n");
	ck_assert(c->allow_unauthenticated);
	config_free(c);
	/* Loopback, localhost and Unix sockets need nothing. */
	c = ok("listen: [\"127.1.2.3:1\", \"[::1]:1\", \"localhost:1\", "
	       "\"unix:/s\"]\n");
	config_free(c);
	ck_assert(config_address_is_local("127.0.0.1:7878"));
	ck_assert(!config_address_is_local("128.0.0.1:7878"));
	ck_assert(!config_address_is_local("[::]:1"));
	ck_assert(!config_address_is_local("lab.example:1"));

	fails("listen:\n  - \"127.0.0.1:1\"\n  - \"0.0.0.0:7878\"\n",
	      "t.yaml:3:5: listen[1]: \"0.0.0.0:7878\" can be reached from "
	      "other machines, and there is no auth section: anyone who "
	      "reaches it could run any plugin and read or cancel every job. "
	      "Add auth: {users_file: ...} (docs/security.md), listen on a "
	      "loopback address, or say allow_unauthenticated: true");
	fails("listen: [{address: \"[::]:1\", tls: {cert: /c, key: /k}}]\n",
	      "t.yaml:1:10: listen[0]: \"[::]:1\" can be reached from other "
	      "machines, and there is no auth section: anyone who reaches it "
	      "could run any plugin and read or cancel every job. Add auth: "
	      "{users_file: ...} (docs/security.md), listen on a loopback "
	      "address, or say allow_unauthenticated: true");
	fails("http: {listen: [\"127.0.0.1:8080\", \"0.0.0.0:8080\"]}\n",
	      "t.yaml: http.listen[1]: \"0.0.0.0:8080\" can be reached from "
	      "other machines, and there is no auth section: anyone who "
	      "reaches it could run any plugin and read or cancel every job. "
	      "Add auth: {users_file: ...} (docs/security.md), listen on a "
	      "loopback address, or say allow_unauthenticated: true");
	fails("listen: [{address: \"127.0.0.1:1\", tls: {cert: /c}}]\n",
	      "t.yaml:1:40: listen[0].tls: a TLS listener needs cert and key");
	fails("listen: [{tls: {cert: /c, key: /k}}]\n",
	      "t.yaml:1:10: listen[0]: a listener needs an address");
	fails("listen: [{address: \"127.0.0.1:1\", tls: {cert: /c, key: /k, "
	      "ca: /x}}]\n",
	      "t.yaml:1:60: listen[0].tls.ca: unknown key");
	fails("listen: [{address: \"unix:/s\", tls: {cert: /c, key: /k}}]\n",
	      "t.yaml:1:36: listen[0]: TLS is for TCP listeners; a Unix "
	      "socket names its peer itself");
	fails("listen: [unix:run/jobd.sock]\n",
	      "t.yaml:1:10: listen[0]: \"unix:run/jobd.sock\": a Unix socket "
	      "needs an absolute path, as in unix:/run/jobd/jobd.sock");
	fails("listen: [{address: \"a:99999\"}]\n",
	      "t.yaml:1:20: listen[0].address: \"a:99999\": bad port "
	      "(0..65535)");
	fails("auth: {}\n", "t.yaml:1:7: auth: auth needs users_file (the "
	                    "users and their hashed tokens, docs/security.md)");
	fails("auth: {users: /x}\n", "t.yaml:1:8: auth.users: unknown key");
	fails("allow_unauthenticated: yes\n",
	      "t.yaml:1:24: allow_unauthenticated: \"yes\" is not a boolean "
	      "(use true or false)");
}
END_TEST

START_TEST(test_http)
{
	struct config *c = ok("listen: \"127.0.0.1:1\"\n");

	ck_assert_uint_eq(c->http.n_listen, 0);
	ck_assert_uint_eq(c->http.max_header_size, 16 * 1024);
	ck_assert_uint_eq(c->http.header_timeout_ms, 10000);
	ck_assert_ptr_null(c->http.web_dir);
	config_free(c);
	c = ok("http:\n  listen: [\"127.0.0.1:7880\", \"[::1]:7880\"]\n"
	       "  max_header_size: 8KiB\n  header_timeout: 2s\n"
	       "  web_dir: /srv/web\n");
	ck_assert_uint_eq(c->http.n_listen, 2);
	ck_assert_str_eq(c->http.listen[1], "[::1]:7880");
	ck_assert_uint_eq(c->http.max_header_size, 8 * 1024);
	ck_assert_uint_eq(c->http.header_timeout_ms, 2000);
	ck_assert_str_eq(c->http.web_dir, "/srv/web");
	config_free(c);
	fails("http:\n  listen: [\"a\"]\n",
	      "t.yaml:2:12: http.listen[0]: \"a\": expected host:port");
	fails("http:\n  max_header_size: 100\n",
	      "t.yaml:2:20: http.max_header_size: 100 is out of range "
	      "(1KiB..1MiB)");
	fails("http:\n  body_timeout: 1s\n",
	      "t.yaml:2:3: http.body_timeout: unknown key");
}
END_TEST

START_TEST(test_log_levels)
{
	static const char *const names[] = {"error", "warning", "notice",
	                                    "info", "debug"};
	char text[64];
	struct config *c;
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "log_level: %s\n", names[i]);
		c = ok(text);
		ck_assert_int_eq(c->log_level, 3 + i);
		ck_assert_str_eq(config_log_level_name(3 + i), names[i]);
		ck_assert_int_eq(config_log_level_from_name(names[i]), 3 + i);
		config_free(c);
	}
	ck_assert_int_eq(config_log_level_from_name("warn"), -1);
	ck_assert_ptr_null(config_log_level_name(2));
	ck_assert_ptr_null(config_log_level_name(8));
	fails("log_level: loud\n", "t.yaml:1:12: log_level: unknown "
	                           "level \"loud\" (use error, "
	                           "warning, notice, info or debug)");
	fails("log_level:\n", "t.yaml:1:11: log_level: missing value");
}
END_TEST

START_TEST(test_plugin_strict_modes)
{
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};
	char text[64];
	struct config *c;
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "plugin_strict_modes: %s\n",
		         no[i]);
		c = ok(text);
		ck_assert(!c->plugin_strict_modes);
		config_free(c);
		snprintf(text, sizeof(text), "plugin_strict_modes: %s\n",
		         yes[i]);
		c = ok(text);
		ck_assert(c->plugin_strict_modes);
		config_free(c);
	}
	fails("plugin_strict_modes: no\n",
	      "t.yaml:1:22: plugin_strict_modes: \"no\" is not a "
	      "boolean "
	      "(use true or false)");
	fails("plugin_strict_modes: [false]\n",
	      "t.yaml:1:22: plugin_strict_modes: expected a scalar, "
	      "got a "
	      "sequence");
}
END_TEST

START_TEST(test_units)
{
	static const struct {
		const char *s;
		uint64_t v;
	} durations[] =
	        {
	                {"250ms", 250},  {"30s", 30000},    {"5m", 300000},
	                {"1h", 3600000}, {"7d", 604800000}, {"12", 12000},
	                {"0", 0},        {"0ms", 0},        {"2 s", 2000},
	        },
	  sizes[] = {
	          {"512", 512},         {"64KiB", 65536}, {"16MiB", 16777216},
	          {"1GiB", 1073741824}, {"10kB", 10000},  {"2MB", 2000000},
	          {"1GB", 1000000000},  {"3B", 3},        {"1TiB", 1ull << 40},
	          {"4 KiB", 4096},
	  };
	static const char *const bad[] = {"",     "s",  "1.5s", "-1", "1sec",
	                                  "1 s ", "1S", "0x10", " 1"};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(durations) / sizeof(*durations); i++) {
		ck_assert_msg(config_parse_duration(durations[i].s, &v) == 0,
		              "%s", durations[i].s);
		ck_assert_uint_eq(v, durations[i].v);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		ck_assert_msg(config_parse_size(sizes[i].s, &v) == 0, "%s",
		              sizes[i].s);
		ck_assert_uint_eq(v, sizes[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_int_eq(config_parse_duration(bad[i], &v), -EINVAL);
		ck_assert_int_eq(config_parse_size(bad[i], &v), -EINVAL);
	}
	ck_assert_int_eq(config_parse_size("16mib", &v), -EINVAL);
	ck_assert_int_eq(config_parse_size("99999999999999999999", &v),
	                 -ERANGE);
	ck_assert_int_eq(config_parse_size("20000000TiB", &v), -ERANGE);
	ck_assert_int_eq(config_parse_duration("999999999999999999d", &v),
	                 -ERANGE);
}
END_TEST

START_TEST(test_ranges)
{
	fails("limits:\n  max_connections: 0\n",
	      "t.yaml:2:20: limits.max_connections: 0 is out of range "
	      "(1..1000000)");
	fails("limits:\n  max_connections: 1000001\n",
	      "t.yaml:2:20: limits.max_connections: 1000001 is out of "
	      "range "
	      "(1..1000000)");
	fails("limits: {max_frame_size: 8}\n",
	      "t.yaml:1:26: limits.max_frame_size: 8 is out of range "
	      "(16B..1GiB)");
	fails("limits: {max_frame_size: 2GB}\n",
	      "t.yaml:1:26: limits.max_frame_size: 2GB is out of range "
	      "(16B..1GiB)");
	fails("limits: {max_inflight_per_connection: 65537}\n",
	      "t.yaml:1:39: limits.max_inflight_per_connection: 65537 "
	      "is out "
	      "of range (1..65536)");
	fails("limits: {shutdown_timeout: 0}\n",
	      "t.yaml:1:28: limits.shutdown_timeout: 0 is out of range "
	      "(1ms..3650d)");
	fails("limits: {result_ttl: 99999999999999999999}\n",
	      "t.yaml:1:22: limits.result_ttl: 99999999999999999999 is "
	      "out of "
	      "range (1ms..3650d)");
	fails("limits: {max_output_buffer: 1000}\n",
	      "t.yaml:1:29: limits.max_output_buffer: 1000 is out of "
	      "range "
	      "(1KiB..1TiB)");
	fails("plugins:\n  a:\n    workers: 0\n",
	      "t.yaml:3:14: plugins.a.workers: 0 is out of range "
	      "(1..1024)");
	fails("plugins:\n  a:\n    workers: 1025\n",
	      "t.yaml:3:14: plugins.a.workers: 1025 is out of range "
	      "(1..1024)");
	fails("plugins: {a: {queue_bound: 0}}\n",
	      "t.yaml:1:28: plugins.a.queue_bound: 0 is out of range "
	      "(1..1000000)");
	fails("plugins: {a: {queue_bound: 1000001}}\n",
	      "t.yaml:1:28: plugins.a.queue_bound: 1000001 is out of "
	      "range "
	      "(1..1000000)");
	fails("plugins: {a: {queue_delay: 0}}\n",
	      "t.yaml:1:28: plugins.a.queue_delay: 0 is out of range "
	      "(1ms..1h)");
	fails("plugins: {a: {queue_delay: 2h}}\n",
	      "t.yaml:1:28: plugins.a.queue_delay: 2h is out of range "
	      "(1ms..1h)");
	fails("plugins: {a: {max_attempts: 101}}\n",
	      "t.yaml:1:29: plugins.a.max_attempts: 101 is out of "
	      "range "
	      "(1..100)");
	fails("plugins: {a: {max_attempts: 0}}\n",
	      "t.yaml:1:29: plugins.a.max_attempts: 0 is out of range "
	      "(1..100)");
}
END_TEST

START_TEST(test_bad_values)
{
	struct config *c;

	fails("limits:\n  idle_timeout: 5 minutes\n",
	      "t.yaml:2:17: limits.idle_timeout: bad unit in \"5 "
	      "minutes\" "
	      "(use ms, s, m, h or d)");
	fails("limits:\n  idle_timeout: soon\n",
	      "t.yaml:2:17: limits.idle_timeout: \"soon\" is not a "
	      "duration");
	fails("limits:\n  max_frame_size: 16mb\n",
	      "t.yaml:2:19: limits.max_frame_size: bad unit in "
	      "\"16mb\" (use "
	      "B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)");
	fails("limits:\n  max_frame_size: big\n",
	      "t.yaml:2:19: limits.max_frame_size: \"big\" is not a "
	      "size");
	fails("limits:\n  max_connections: 10k\n",
	      "t.yaml:2:20: limits.max_connections: \"10k\" is not a "
	      "whole "
	      "number");
	fails("limits:\n  max_connections: -1\n",
	      "t.yaml:2:20: limits.max_connections: \"-1\" is not a "
	      "whole "
	      "number");
	fails("plugins: {a: {queue_bound: lots}}\n",
	      "t.yaml:1:28: plugins.a.queue_bound: expected a number "
	      "or "
	      "\"auto\", got \"lots\"");
	fails("plugins: {a: {timeout: 3x}}\n",
	      "t.yaml:1:24: plugins.a.timeout: bad unit in \"3x\" (use "
	      "ms, s, "
	      "m, h or d)");

	c = ok("limits: {idle_timeout: 0, frame_timeout: \"0\"}\n"
	       "plugins: {a: {timeout: 0, queue_bound: \"auto\"}, "
	       "b: {queue_bound: \"7\"}}\n");
	ck_assert_uint_eq(c->limits.idle_timeout_ms, 0);
	ck_assert_uint_eq(c->limits.frame_timeout_ms, 0);
	ck_assert_uint_eq(config_plugin_find(c, "a")->timeout_ms, 0);
	ck_assert_uint_eq(config_plugin_find(c, "a")->queue_bound,
	                  CONFIG_QUEUE_BOUND_AUTO);
	ck_assert_uint_eq(config_plugin_find(c, "b")->queue_bound, 7);
	config_free(c);
}
END_TEST

/* Worker processes (docs/isolation.md): isolation at the top and per
 * plugin, the limits and their defaults. */
START_TEST(test_isolation)
{
	const struct config_plugin *p;
	struct config_plugin d;
	struct config *c;

	config_plugin_defaults(&d);
	ck_assert_int_eq(d.isolation, CONFIG_ISOLATION_UNSET);
	ck_assert_uint_eq(d.memory_limit, 0);
	ck_assert_uint_eq(d.kill_grace_ms, 5000);
	ck_assert_uint_eq(d.max_crashes, 5);
	ck_assert_uint_eq(d.crash_window_ms, 60000);
	c = ok("plugins: {a: {}}\n");
	ck_assert_int_eq(c->isolation, CONFIG_ISOLATION_THREAD);
	config_free(c);
	c = ok("isolation: process\n"
	       "plugins:\n"
	       "  a: {isolation: thread, memory_limit: 64MiB, kill_grace: 2s,"
	       " max_crashes: 3, crash_window: 10s}\n"
	       "  b: {}\n");
	ck_assert_int_eq(c->isolation, CONFIG_ISOLATION_PROCESS);
	p = config_plugin_find(c, "a");
	ck_assert_int_eq(p->isolation, CONFIG_ISOLATION_THREAD);
	ck_assert_uint_eq(p->memory_limit, 64u << 20);
	ck_assert_uint_eq(p->kill_grace_ms, 2000);
	ck_assert_uint_eq(p->max_crashes, 3);
	ck_assert_uint_eq(p->crash_window_ms, 10000);
	ck_assert_int_eq(config_plugin_find(c, "b")->isolation,
	                 CONFIG_ISOLATION_UNSET);
	config_free(c);
	fails("isolation: fork\n",
	      "t.yaml:1:12: isolation: expected \"process\" or \"thread\", "
	      "got \"fork\"");
	fails("plugins: {a: {isolation: vm}}\n",
	      "t.yaml:1:26: plugins.a.isolation: expected \"process\" or "
	      "\"thread\", got \"vm\"");
	fails("plugins: {a: {max_crashes: 0}}\n",
	      "t.yaml:1:28: plugins.a.max_crashes: 0 is out of range "
	      "(1..1000000)");
}
END_TEST

START_TEST(test_unknown_keys)
{
	fails("listen: []\nlisten_on: x\n",
	      "t.yaml:2:1: listen_on: unknown key");
	fails("log_levle: info\n",
	      "t.yaml:1:1: log_levle: unknown key; did you mean "
	      "\"log_level\"?");
	fails("plugin_dir: /x\n",
	      "t.yaml:1:1: plugin_dir: unknown key; did you mean "
	      "\"plugin_dirs\"?");
	fails("limits:\n  idel_timeout: 5s\n",
	      "t.yaml:2:3: limits.idel_timeout: unknown key; did you "
	      "mean "
	      "\"idle_timeout\"?");
	fails("limits:\n  max_connection: 5\n",
	      "t.yaml:2:3: limits.max_connection: unknown key; did you "
	      "mean "
	      "\"max_connections\"?");
	fails("limits:\n  speed: 5\n", "t.yaml:2:3: limits.speed: unknown key");
	fails("plugins:\n  nbody:\n    worker: 2\n",
	      "t.yaml:3:5: plugins.nbody.worker: unknown key; did you "
	      "mean "
	      "\"workers\"?");
	fails("plugins:\n  nbody:\n    option: {}\n",
	      "t.yaml:3:5: plugins.nbody.option: unknown key; did you "
	      "mean "
	      "\"options\"?");
	fails("plugins:\n  nbody:\n    threads: 2\n",
	      "t.yaml:3:5: plugins.nbody.threads: unknown key");
}
END_TEST

START_TEST(test_wrong_types)
{
	fails("limits: [1, 2]\n",
	      "t.yaml:1:9: limits: expected a mapping, got a sequence");
	fails("limits: 5\n", "t.yaml:1:9: limits: expected a mapping, got a "
	                     "scalar");
	fails("state_dir: {a: 1}\n", "t.yaml:1:12: state_dir: expected "
	                             "a scalar, got a mapping");
	fails("limits:\n  idle_timeout:\n    - 5s\n",
	      "t.yaml:3:5: limits.idle_timeout: expected a scalar, got "
	      "a "
	      "sequence");
	fails("plugins: [echo]\n", "t.yaml:1:10: plugins: expected a "
	                           "mapping of plugin names, got "
	                           "a sequence");
	fails("plugins:\n  echo: 4\n",
	      "t.yaml:2:9: plugins.echo: expected a mapping, got a "
	      "scalar");
	fails("plugins:\n  echo:\n    workers: {n: 1}\n",
	      "t.yaml:3:14: plugins.echo.workers: expected a scalar, "
	      "got a "
	      "mapping");
	fails("? [a]\n: 1\n",
	      "t.yaml:1:3: (top level): keys must be scalars, not a "
	      "sequence");
	fails("state_dir: \"a\\0b\"\n",
	      "t.yaml:1:12: state_dir: contains a NUL byte");
	fails("state_dir: ''\n", "t.yaml:1:12: state_dir: empty path");
}
END_TEST

START_TEST(test_duplicates)
{
	fails("log_level: info\nstate_dir: /x\nlog_level: debug\n",
	      "t.yaml:3:1: log_level: duplicate key (first at line 1)");
	fails("limits:\n  idle_timeout: 1s\n  idle_timeout: 2s\n",
	      "t.yaml:3:3: limits.idle_timeout: duplicate key (first "
	      "at line "
	      "2)");
	fails("plugins:\n  echo:\n    workers: 1\n  nbody: {}\n  "
	      "echo:\n",
	      "t.yaml:5:3: plugins.echo: duplicate plugin section "
	      "(first at "
	      "line 2)");
	fails("plugins:\n  echo:\n    options: {a: 1, b: 2, a: 3}\n",
	      "t.yaml:3:27: plugins.echo.options.a: duplicate key "
	      "(first at "
	      "line 3)");
	fails("plugins:\n  echo:\n    workers: 1\n    workers: 2\n",
	      "t.yaml:4:5: plugins.echo.workers: duplicate key (first "
	      "at line "
	      "3)");
}
END_TEST

START_TEST(test_bad_yaml)
{
	fails("listen: [a:1\n",
	      "t.yaml:2:1: invalid YAML: did not find expected ',' or "
	      "']' "
	      "(while parsing a flow sequence at line 1, column 9)");
	fails("state_dir: \"abc\n",
	      "t.yaml:2:1: invalid YAML: found unexpected end of "
	      "stream "
	      "(while scanning a quoted scalar at line 1, column 12)");
	fails("limits:\n  idle_timeout: 1\n b: 2\n",
	      "t.yaml:3:2: invalid YAML: did not find expected key "
	      "(while "
	      "parsing a block mapping at line 1, column 1)");
	fails("a: \t\x01\n", "t.yaml:1:5: invalid YAML: control "
	                     "characters are not allowed");
	fails("a: \xff\n", "t.yaml:1:4: invalid YAML: invalid leading UTF-8 "
	                   "octet");
}
END_TEST

START_TEST(test_top_level)
{
	fails("- a\n- b\n", "t.yaml:1:1: (top level): expected a "
	                    "mapping, got a sequence");
	fails("42\n", "t.yaml:1:1: (top level): expected a mapping, got a "
	              "scalar");
	fails("--- {}\n--- {}\n", "t.yaml:2:1: (top level): only one "
	                          "YAML document is allowed");
}
END_TEST

START_TEST(test_aliases)
{
	fails("plugins:\n  a: &x {workers: 1}\n  b: *x\n",
	      "t.yaml:3:6: plugins.b: aliases (*x) are not supported");
	fails("plugins:\n  a:\n    options: {x: &y [1], z: *y}\n",
	      "t.yaml:3:29: plugins.a.options.z: aliases (*y) are not "
	      "supported");
}
END_TEST

START_TEST(test_plugin_names)
{
	char text[128];
	struct config *c;

	c = ok("plugins:\n  a_b-9: {}\n");
	config_free(c);
	fails("plugins:\n  NBody: {}\n",
	      "t.yaml:2:3: plugins.NBody: bad plugin name (1 to 64 of "
	      "a-z, "
	      "0-9, '_', '-')");
	fails("plugins:\n  \"\": {}\n", "t.yaml:2:3: plugins.\"\": bad "
	                                "plugin name (1 to 64 of a-z, "
	                                "0-9, '_', '-')");
	fails("plugins:\n  a.b: {}\n", "t.yaml:2:3: plugins.a.b: bad "
	                               "plugin name (1 to 64 of a-z, "
	                               "0-9, '_', '-')");
	snprintf(text, sizeof(text), "plugins:\n  %s: {}\n",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "aaaaaaaa"
	         "aa"
	         "a");
	c = ok(text);
	config_free(c);
	snprintf(text, sizeof(text), "plugins:\n  %s: {}\n",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "aaaaaaaa"
	         "aa"
	         "aa");
	fails(text, "t.yaml:2:3: "
	            "plugins.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	            "aaaaaaaaaaaaaaaaaaaaaaaaaa: bad plugin name (1 to 64 of "
	            "a-z, 0-9, '_', '-')");
}
END_TEST

/* options: text -> the JSON it must become (compact, sorted keys). */
static void options_are(const char *yaml_opts, const char *want_json)
{
	struct config *c;
	char text[1024];
	char *got;
	json_t *want;

	snprintf(text, sizeof(text), "plugins:\n  p:\n    options: %s\n",
	         yaml_opts);
	c = ok(text);
	got = json_dumps(config_plugin_find(c, "p")->options,
	                 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	want = json_loads(want_json, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(want);
	ck_assert_msg(json_equal(want, config_plugin_find(c, "p")->options),
	              "%s: got %s, want %s", yaml_opts, got, want_json);
	free(got);
	json_decref(want);
	config_free(c);
}

START_TEST(test_options_json)
{
	options_are("{softening: 0.01}", "{\"softening\": 0.01}");
	options_are("{a: 1, b: -2, c: +3, d: 0o17, e: 0x1F, f: 007}",
	            "{\"a\":1,\"b\":-2,\"c\":3,\"d\":15,\"e\":31,\"f\":7}");
	options_are("{a: 1.5, b: -.5, c: 1e3, d: 2.5E-1, e: 1.}",
	            "{\"a\":1.5,\"b\":-0.5,\"c\":1000.0,\"d\":0.25,"
	            "\"e\":1.0}");
	options_are("{a: true, b: False, c: TRUE, d: null, e: ~, f: }",
	            "{\"a\":true,\"b\":false,\"c\":true,\"d\":null,"
	            "\"e\":null,\"f\":null}");
	options_are("{a: \"1\", b: '2', c: \"true\", d: 'null', e: "
	            "!!str 3}",
	            "{\"a\":\"1\",\"b\":\"2\",\"c\":\"true\",\"d\":"
	            "\"null\","
	            "\"e\":\"3\"}");
	options_are("{a: yes, b: no, c: on, d: 1_000, e: 0b1, f: 1:20}",
	            "{\"a\":\"yes\",\"b\":\"no\",\"c\":\"on\",\"d\":"
	            "\"1_000\","
	            "\"e\":\"0b1\",\"f\":\"1:20\"}");
	options_are("[1, [2, {x: [y]}], {}]", "[1,[2,{\"x\":[\"y\"]}],{}]");
	options_are("hello world", "\"hello world\"");
	options_are("42", "42");
	options_are("", "null");
	options_are("{1: a, true: b, null: c}",
	            "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}");
	options_are("{s: \"caf\\u00e9 \\t\"}", "{\"s\":\"caf\\u00e9 \\t\"}");
	options_are("{big: 9223372036854775807}",
	            "{\"big\": 9223372036854775807}");
	options_are("|\n      two\n      lines", "\"two\\nlines\\n\"");

	fails("plugins: {p: {options: {a: .inf}}}\n",
	      "t.yaml:1:28: plugins.p.options.a: .inf cannot be "
	      "represented "
	      "in JSON");
	fails("plugins: {p: {options: [-.NaN]}}\n",
	      "t.yaml:1:25: plugins.p.options[0]: -.NaN cannot be "
	      "represented in JSON");
	fails("plugins: {p: {options: {a: 9223372036854775808}}}\n",
	      "t.yaml:1:28: plugins.p.options.a: integer "
	      "9223372036854775808 is out of range");
	fails("plugins: {p: {options: {a: 1e999}}}\n",
	      "t.yaml:1:28: plugins.p.options.a: number 1e999 is out "
	      "of "
	      "range");
	fails("plugins: {p: {options: {a: !foo 1}}}\n",
	      "t.yaml:1:28: plugins.p.options.a: unsupported tag !foo");
	fails("plugins: {p: {options: {[a]: 1}}}\n",
	      "t.yaml:1:25: plugins.p.options: keys must be scalars, "
	      "not a "
	      "sequence");
}
END_TEST

START_TEST(test_deep_nesting)
{
	char text[512], want[512];
	struct config *c;
	size_t n = 0;
	int i;

	/* 64 levels are fine, 65 are not. */
	n += (size_t)snprintf(text, sizeof(text), "plugins: {p: {options: ");
	for (i = 0; i < 63; i++)
		text[n++] = '[';
	for (i = 0; i < 63; i++)
		text[n++] = ']';
	memcpy(text + n, "}}\n", 4);
	c = ok(text);
	config_free(c);

	n = (size_t)snprintf(text, sizeof(text), "plugins: {p: {options: ");
	for (i = 0; i < 65; i++)
		text[n++] = '[';
	for (i = 0; i < 65; i++)
		text[n++] = ']';
	memcpy(text + n, "}}\n", 4);
	n = (size_t)snprintf(want, sizeof(want),
	                     "t.yaml:1:88: plugins.p.options");
	for (i = 0; i < 64; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "[0]");
	snprintf(want + n, sizeof(want) - n,
	         ": nested more than 64 levels deep");
	fails(text, want);
}
END_TEST

START_TEST(test_load_errors)
{
	struct config *c = NULL;
	char *err = NULL;
	char path[] = "/tmp/jobd-test-config-XXXXXX";
	int fd;

	ck_assert_int_eq(config_load("/nonexistent/jobd.yaml", &c, &err),
	                 -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err,
	                 "/nonexistent/jobd.yaml: No such file or directory");
	free(err);

	ck_assert_int_eq(config_load("/", &c, &err), -EPERM);
	ck_assert_str_eq(err, "/: refused: / is not a regular file");
	free(err);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "limits:\n  bogus: 1\n", 19), 19);
	close(fd);
	ck_assert_int_eq(config_load(path, &c, &err), -EINVAL);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, ":2:3: limits.bogus: unknown key"));
	ck_assert_int_eq(strncmp(err, path, strlen(path)), 0);
	free(err);

	/* Only the administrator may change the config (the
	 * trusted-file check): a file anyone may write is refused,
	 * naming the fix. */
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(config_load(path, &c, &err), -EPERM);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(strncmp(err, path, strlen(path)), 0);
	ck_assert_msg(strstr(err, "mode 0666) is writable by others; run: "
	                          "chmod go-w "),
	              "%s", err);
	free(err);
	unlink(path);

	/* No message wanted: still no leak. */
	ck_assert_int_eq(config_parse("[", 1, "x", &c, NULL), -EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

/* The configured files live in the build tree: meson test runs us from
 * its root; JOBD_BUILD_ROOT overrides that for runs by hand. */
static struct config *load_built(const char *rel)
{
	const char *root = getenv("JOBD_BUILD_ROOT");
	struct config *c = NULL;
	char path[4096];
	char *err = NULL;

	snprintf(path, sizeof(path), "%s%s%s", root ? root : "",
	         root ? "/" : "", rel);
	ck_assert_msg(access(path, R_OK) == 0,
	              "%s not found; run from the build root or set "
	              "JOBD_BUILD_ROOT",
	              path);
	ck_assert_msg(config_load(path, &c, &err) == 0, "%s", err);
	return c;
}

START_TEST(test_installed_config)
{
	struct config *c = load_built("conf/jobd.yaml");

	ck_assert_uint_eq(c->n_listen, 2);
	ck_assert_str_eq(c->listen[0], "127.0.0.1:7878");
	ck_assert_str_eq(c->listen[1], "[::1]:7878");
	ck_assert_uint_eq(c->n_plugin_dirs, 2);
	ck_assert_ptr_nonnull(strstr(c->plugin_dirs[0], "/jobd/plugins"));
	ck_assert_ptr_nonnull(strstr(c->plugin_dirs[1], "/jobd/plugins"));
	ck_assert_ptr_null(strchr(c->plugin_dirs[0], '@'));
	/* Every value written there is the default. */
	free(c->listen[0]);
	free(c->listen[1]);
	free(c->listen_opts[0].address);
	free(c->listen_opts[1].address);
	c->n_listen = 0;
	free(c->plugin_dirs[0]);
	free(c->plugin_dirs[1]);
	c->n_plugin_dirs = 0;
	check_defaults(c);
	config_free(c);
}
END_TEST

START_TEST(test_dev_config)
{
	struct config *c = load_built("conf/jobd-dev.yaml");
	const struct config_plugin *p;

	ck_assert_uint_eq(c->n_listen, 1);
	ck_assert_str_eq(c->listen[0], "127.0.0.1:7878");
	ck_assert_uint_eq(c->n_plugin_dirs, 1);
	ck_assert_ptr_nonnull(strstr(c->plugin_dirs[0], "/plugins"));
	ck_assert_ptr_null(strchr(c->plugin_dirs[0], '@'));
	ck_assert_ptr_null(strchr(c->state_dir, '@'));
	ck_assert_ptr_nonnull(config_plugin_find(c, "echo"));
	ck_assert_ptr_nonnull(config_plugin_find(c, "sleep"));
	p = config_plugin_find(c, "nbody");
	ck_assert_ptr_nonnull(p);
	ck_assert(json_real_value(json_object_get(p->options, "softening")) ==
	          0.01);
	/* The build tree passes the trust check as it is: the
	 * development config needs no plugin_strict_modes: false. */
	ck_assert(c->plugin_strict_modes);
	config_free(c);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_plugin_defaults);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_scalar_lists);
	tcase_add_test(tc, test_listen_errors);
	tcase_add_test(tc, test_access);
	tcase_add_test(tc, test_http);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_plugin_strict_modes);
	tcase_add_test(tc, test_units);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_isolation);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_bad_yaml);
	tcase_add_test(tc, test_top_level);
	tcase_add_test(tc, test_aliases);
	tcase_add_test(tc, test_plugin_names);
	tcase_add_test(tc, test_options_json);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_installed_config);
	tcase_add_test(tc, test_dev_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
