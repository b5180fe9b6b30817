/* SPDX-License-Identifier: MIT */
/*
 * Config loader (config_parse) on arbitrary text.
 *
 * Properties: exactly one of a config or an error comes back; an error is
 * one line that starts with the file name (file:line:column: key: what);
 * an accepted config keeps every documented bound, and its plugin options
 * are a JSON value that encodes.
 */
#include <errno.h>
#include <string.h>

#include "daemon/config/config.h"
#include "fuzz.h"
#include "wire/frame.h"

static void check_config(const struct config *c)
{
	size_t i;
	char *s;

	FUZZ_CHECK(c->limits.max_frame_size >= 1 &&
	           c->limits.max_frame_size <= FRAME_MAX_LIMIT);
	FUZZ_CHECK(c->limits.max_connections >= 1);
	FUZZ_CHECK(c->limits.max_inflight_per_connection >= 1);
	FUZZ_CHECK(c->log_level >= 3 && c->log_level <= 7);
	FUZZ_CHECK(c->state_dir && c->state_dir[0]);
	for (i = 0; i < c->n_listen; i++)
		FUZZ_CHECK(c->listen[i] && c->listen[i][0]);
	for (i = 0; i < c->n_plugin_dirs; i++)
		FUZZ_CHECK(c->plugin_dirs[i] && c->plugin_dirs[i][0]);
	for (i = 0; i < c->n_plugins; i++) {
		const struct config_plugin *p = &c->plugins[i];

		FUZZ_CHECK(p->name && p->name[0]);
		FUZZ_CHECK(p->workers >= 1);
		FUZZ_CHECK(p->queue_bound <= 1000000);
		FUZZ_CHECK(config_plugin_find(c, p->name) != NULL);
		if (p->options) {
			s = json_dumps(p->options, JSON_ENCODE_ANY);
			FUZZ_CHECK(s != NULL);
			free(s);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char name[] = "fuzz.yaml";
	struct config *c = NULL;
	char *error = NULL;
	int rc;

	rc = config_parse((const char *)data, size, name, &c, &error);
	if (rc == 0) {
		FUZZ_CHECK(c != NULL && error == NULL);
		check_config(c);
	} else {
		FUZZ_CHECK(rc < 0 && c == NULL && error != NULL);
		FUZZ_CHECK(strchr(error, '\n') == NULL);
		if (rc == -EINVAL)
			FUZZ_CHECK(!strncmp(error, name, sizeof(name) - 1) &&
			           error[sizeof(name) - 1] == ':');
	}
	config_free(c);
	free(error);
	return 0;
}
