/* SPDX-License-Identifier: MIT */
/* The Python host when jobd-worker was built without python3-embed: a .py
 * plugin is refused with the reason (see pyhost.h). */
#include "worker/pyhost.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool pyhost_is_python(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	return n > 3 && !strcmp(path + n - 3, ".py");
}

int pyhost_load(const char *path, int fd, const struct jobd_plugin **desc,
                char **why)
{
	(void)path;
	(void)fd;
	*desc = NULL;
	*why = strdup("this jobd-worker was built without Python "
	              "(python3-embed was not found at build time)");
	return -ENOTSUP;
}
