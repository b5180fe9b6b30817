/* SPDX-License-Identifier: MIT */
/*
 * Binary arrays at jobctl's edge (docs/protocol.md §12): --array
 * NAME=@FILE.npy files mapped and sent beside the JSON input, and the
 * arrays of a result written as NAME.npy files into --out-dir. The .npy
 * format itself is npy.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobctl/jobctl.h"

/* Names become file names: 1..64 of [A-Za-z0-9_-], as the protocol says,
 * so no name can leave --out-dir or hide a file. */
static bool arrays_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > JOBD_ARRAY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int jobctl_array_arg(struct jobctl *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : 0;

	if (!eq || eq[1] != '@' || !eq[2]) {
		jobctl_err("--array %s: expected NAME=@FILE.npy", arg);
		return JOBCTL_USAGE;
	}
	if (!arrays_name_ok(arg, len)) {
		jobctl_err("--array %s: the name must be 1 to %d characters of "
		           "[A-Za-z0-9_-]",
		           arg, JOBD_ARRAY_NAME_MAX);
		return JOBCTL_USAGE;
	}
	for (size_t i = 0; i < j->n_arrays; i++)
		if (strlen(j->arrays[i].name) == len &&
		    !memcmp(j->arrays[i].name, arg, len)) {
			jobctl_err("--array %.*s is given twice", (int)len,
			           arg);
			return JOBCTL_USAGE;
		}
	if (j->n_arrays == JOBD_ARRAYS_MAX) {
		jobctl_err("--array: at most %d arrays per call",
		           JOBD_ARRAYS_MAX);
		return JOBCTL_USAGE;
	}
	memcpy(j->arrays[j->n_arrays].name, arg, len);
	j->arrays[j->n_arrays].name[len] = '\0';
	j->arrays[j->n_arrays].path = eq + 2;
	j->n_arrays++;
	return JOBCTL_OK;
}

static int arrays_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		jobctl_err("--out-dir %s: %s", dir, strerror(errno));
		return JOBCTL_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		jobctl_err("--out-dir %s: not a directory", dir);
		return JOBCTL_USAGE;
	}
	return JOBCTL_OK;
}

int jobctl_arrays_load(struct jobctl *j)
{
	char why[512];

	/* A bad --out-dir is found before the job runs, not after. */
	if (j->out_dir && arrays_check_dir(j->out_dir) != JOBCTL_OK)
		return JOBCTL_USAGE;
	for (size_t i = 0; i < j->n_arrays; i++) {
		struct jobctl_array_arg *a = &j->arrays[i];

		if (npy_read(a->path, &a->file, why, sizeof(why)) < 0) {
			jobctl_err("--array %s: %s", a->name, why);
			jobctl_arrays_fini(j);
			return JOBCTL_USAGE;
		}
		j->sent[i] = a->file.array;
		j->sent[i].name = a->name;
	}
	return JOBCTL_OK;
}

void jobctl_arrays_fini(struct jobctl *j)
{
	for (size_t i = 0; i < j->n_arrays; i++)
		npy_close(&j->arrays[i].file);
}

/* DIR/NAME.npy, or NAME.npy without --out-dir. */
static void arrays_path(const struct jobctl *j, const char *name, char *out,
                        size_t size)
{
	if (j->out_dir)
		snprintf(out, size, "%s%s%s.npy", j->out_dir,
		         j->out_dir[strlen(j->out_dir) - 1] == '/' ? "" : "/",
		         name);
	else
		snprintf(out, size, "%s.npy", name);
}

static json_t *arrays_describe(const char *path, const struct jobd_array *a)
{
	json_t *shape = json_array();

	for (uint32_t d = 0; shape && d < a->ndim; d++)
		json_array_append_new(shape,
		                      json_integer((json_int_t)a->shape[d]));
	return json_pack("{ss ss so*}", "file", path, "dtype",
	                 jobd_dtype_name(a->dtype), "shape", shape);
}

int jobctl_arrays_save(const struct jobctl *j,
                       const struct jobd_client_answer *ans, json_t **written)
{
	size_t n = jobd_client_answer_array_count(ans);
	char path[4096 + 80], why[4400];
	json_t *out;

	*written = NULL;
	if (!n)
		return JOBCTL_OK;
	/* The server checked the names; a file name is made only of one
	 * that also passes here. */
	for (size_t i = 0; i < n; i++) {
		const struct jobd_array *a = jobd_client_answer_array(ans, i);

		if (!arrays_name_ok(a->name, strlen(a->name))) {
			jobctl_err("the result has an array named \"%.64s\", "
			           "which is no file name",
			           a->name);
			return JOBCTL_JOB_FAILED;
		}
		arrays_path(j, a->name, path, sizeof(path));
		if (!j->force && access(path, F_OK) == 0) {
			jobctl_err("%s exists; --force overwrites it (no "
			           "array of the result was written)",
			           path);
			return JOBCTL_JOB_FAILED;
		}
	}
	out = json_object();
	if (!out) {
		jobctl_err("out of memory");
		return JOBCTL_JOB_FAILED;
	}
	for (size_t i = 0; i < n; i++) {
		const struct jobd_array *a = jobd_client_answer_array(ans, i);

		arrays_path(j, a->name, path, sizeof(path));
		if (npy_write(path, a, j->force, why, sizeof(why)) < 0) {
			jobctl_err("%s", why);
			json_decref(out);
			return JOBCTL_JOB_FAILED;
		}
		json_object_set_new(out, a->name, arrays_describe(path, a));
	}
	*written = out;
	return JOBCTL_OK;
}
