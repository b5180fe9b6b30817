/* SPDX-License-Identifier: MIT */
/* Loading and checking a plugin in the worker (see plugin_load.h). */
#include "worker/plugin_load.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *strdup_printf(const char *fmt, ...) JOBD_PRINTF(1, 2);
static char *strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

bool plugin_name_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= 64;
}

int plugin_desc_check(const struct jobd_plugin *d, char **why)
{
	*why = NULL;
	if (!d)
		*why = strdup_printf("%s returned NULL",
		                     JOBD_PLUGIN_ENTRY_SYMBOL);
	else if (d->abi_major != JOBD_PLUGIN_ABI_MAJOR)
		*why = strdup_printf("ABI %u.%u, but this jobd speaks %u.%u",
		                     d->abi_major, d->abi_minor,
		                     JOBD_PLUGIN_ABI_MAJOR,
		                     JOBD_PLUGIN_ABI_MINOR);
	/* Every field of ABI 1.0 must be there; later minors only append. */
	else if (d->size <
	         offsetof(struct jobd_plugin, process) + sizeof(d->process))
		*why = strdup_printf("descriptor of %u bytes is too small",
		                     d->size);
	else if (!plugin_name_ok(d->name))
		*why = strdup_printf("invalid name (want 1-64 of [a-z0-9_-])");
	else if (!d->process)
		*why = strdup_printf("%s has no process function", d->name);
	else
		return 0;
	if (!*why)
		*why = strdup("out of memory");
	return -EINVAL;
}

int plugin_load(const char *path, int fd, void **dl,
                const struct jobd_plugin **desc, char **why)
{
	jobd_plugin_entry_fn entry;
	char name[32];
	void *h;
	int rc;

	*dl = NULL;
	*desc = NULL;
	*why = NULL;
	if (fd >= 0) {
		snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
		path = name;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*why = strdup_printf("cannot load: %s", dlerror());
		return -EINVAL;
	}
	*(void **)&entry = dlsym(h, JOBD_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		*why = strdup_printf("no %s symbol: not a jobd plugin",
		                     JOBD_PLUGIN_ENTRY_SYMBOL);
		dlclose(h);
		return -EINVAL;
	}
	*desc = entry();
	rc = plugin_desc_check(*desc, why);
	if (rc < 0) {
		*desc = NULL;
		dlclose(h);
		return rc;
	}
	*dl = h;
	return 0;
}
