/* SPDX-License-Identifier: MIT */
/* Python plugins as the registry sees them (see pyplugin.h). */
#include "daemon/exec/pyplugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pyplugin_is_python(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	return n > 3 && !strcmp(path + n - 3, ".py");
}

int pyplugin_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t n, i;

	base = base ? base + 1 : path;
	if (!pyplugin_is_python(base))
		return -EINVAL;
	n = strlen(base) - 3;
	if (n < 1 || n > 64 || n >= size)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char c = base[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return -EINVAL;
	}
	memcpy(name, base, n);
	name[n] = '\0';
	return 0;
}

char *pyplugin_refusal(const char *name, const struct config_plugin *section)
{
	char *why;

	/* The section's own word only: a top-level isolation: thread is the
	 * default for .so plugins, and a Python plugin overrides it. */
	if (section->isolation == CONFIG_ISOLATION_THREAD) {
		if (asprintf(&why,
		             "plugins.%s.isolation: thread: a Python plugin "
		             "runs only in worker processes (isolation: "
		             "process)",
		             name) < 0)
			why = NULL;
		return why;
	}
	/* NOTE: what remains (docs/python-plugins.md, "Status"): open the
	 * .py as a plugin without dlopen and start it in a process pool
	 * whose init carries its path; then this returns NULL. */
	if (asprintf(&why,
	             "a Python plugin runs only in worker processes, and the "
	             "process pool cannot open a .py yet; plugins.%s is not "
	             "served",
	             name) < 0)
		why = NULL;
	return why;
}
