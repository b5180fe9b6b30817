/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz harness on files, without libFuzzer: every file named on the
 * command line, and every regular file inside a directory named there. The
 * normal test suite (gcc, plain and ASan+UBSan) uses it to replay the
 * committed seed corpus and every crash ever found, so a fixed bug stays
 * fixed even where clang is absent.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0)
		goto fail;
	/* An exact-size heap copy: ASan sees any read past the input. */
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto fail;
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	free(buf);
	return 0;
fail:
	perror(path);
	free(buf);
	fclose(f);
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order, so that runs are reproducible. */
static int run_dir(const char *dir, unsigned *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t count = 0, i;
	int rc = 0;
	struct stat st;

	if (!d) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d))) {
		char **grown;

		if (e->d_name[0] == '.')
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (!grown) {
			rc = -1;
			break;
		}
		names = grown;
		names[count] = strdup(e->d_name);
		if (!names[count]) {
			rc = -1;
			break;
		}
		count++;
	}
	closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				rc = -1;
			(*n)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	struct stat st;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &n) < 0)
				rc = 1;
		} else {
			if (run_file(argv[i]) < 0)
				rc = 1;
			n++;
		}
	}
	printf("replayed %u input(s)\n", n);
	return rc;
}
