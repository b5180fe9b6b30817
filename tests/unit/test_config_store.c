/* SPDX-License-Identifier: MIT */
/* The store: section of the config: backend, dsn, host, lease; errors with
 * file, line, column and key; a dsn never quoted in an error. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config/config.h"

static struct config *parses(const char *text)
{
	struct config *c = NULL;
	char *err = NULL;

	ck_assert_msg(config_parse(text, strlen(text), "t.yaml", &c, &err) == 0,
	              "%s", err ? err : "?");
	return c;
}

static void fails(const char *text, const char *want)
{
	struct config *c = NULL;
	char *err = NULL;

	ck_assert_int_eq(config_parse(text, strlen(text), "t.yaml", &c, &err),
	                 -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strstr(err, "hunter2"));
	free(err);
}

START_TEST(defaults_are_sqlite)
{
	struct config *c = parses("log_level: info\n");

	ck_assert_int_eq(c->store.backend, CONFIG_STORE_SQLITE);
	ck_assert_ptr_null(c->store.dsn);
	ck_assert_ptr_null(c->store.host);
	ck_assert_uint_eq(c->store.lease_ms, 30000);
	ck_assert_str_eq(config_store_backend_name(c->store.backend), "sqlite");
	config_free(c);
	c = parses("store:\n");
	ck_assert_int_eq(c->store.backend, CONFIG_STORE_SQLITE);
	config_free(c);
}
END_TEST

START_TEST(postgresql)
{
	struct config *c =
	        parses("store:\n"
	               "  backend: postgresql\n"
	               "  dsn: \"host=db dbname=jobd password=hunter2\"\n"
	               "  host: gpu-1.lab\n"
	               "  lease: 45s\n");

	ck_assert_int_eq(c->store.backend, CONFIG_STORE_POSTGRESQL);
	ck_assert_str_eq(c->store.dsn, "host=db dbname=jobd password=hunter2");
	ck_assert_str_eq(c->store.host, "gpu-1.lab");
	ck_assert_uint_eq(c->store.lease_ms, 45000);
	config_free(c);
	/* A bare number is seconds, as elsewhere. */
	c = parses("store: {backend: postgresql, dsn: \"postgresql://db/jobd\","
	           " lease: 10}\n");
	ck_assert_uint_eq(c->store.lease_ms, 10000);
	config_free(c);
}
END_TEST

START_TEST(errors)
{
	fails("store:\n  backend: mysql\n",
	      "t.yaml:2:12: store.backend: unknown backend \"mysql\" (use "
	      "sqlite or postgresql)");
	fails("store:\n  backend: postgresql\n",
	      "t.yaml:1:1: store: backend postgresql needs a dsn (a libpq "
	      "connection string, such as \"host=db dbname=jobd\")");
	fails("store:\n  dsn: \"password=hunter2\"\n",
	      "t.yaml:2:3: store: dsn is for backend postgresql; the sqlite "
	      "backend keeps its database in state_dir");
	fails("store:\n  backend: postgresql\n  dsn: \"\"\n",
	      "t.yaml:3:8: store.dsn: empty connection string");
	fails("store:\n  dsn: {password: hunter2}\n",
	      "t.yaml:2:8: store.dsn: expected a scalar, got a mapping");
	fails("store:\n  host: \"a b\"\n",
	      "t.yaml:2:9: store.host: bad host name \"a b\" (1 to 64 of A-Z, "
	      "a-z, 0-9, '.', '-', '_')");
	fails("store:\n  lease: 500ms\n",
	      "t.yaml:2:10: store.lease: 500ms is out of range (1s..1d)");
	fails("store:\n  lease: soon\n",
	      "t.yaml:2:10: store.lease: \"soon\" is not a duration");
	fails("store:\n  leas: 1s\n",
	      "t.yaml:2:3: store.leas: unknown key; did you mean \"lease\"?");
	fails("store: postgresql\n",
	      "t.yaml:1:8: store: expected a mapping, got a scalar");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config-store");
	TCase *tc = tcase_create("store");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults_are_sqlite);
	tcase_add_test(tc, postgresql);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
