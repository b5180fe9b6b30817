/* SPDX-License-Identifier: MIT */
#include "daemon/exec/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/exec/provenance.h"

#define CACHE_BUCKETS 4096
#define KEY_LEN       SHA256_HEX_LEN

/* One stored result, in the LRU list (head: most recently used) and in
 * its hash bucket. */
struct entry {
	struct entry *prev, *next; /* LRU */
	struct entry *chain;       /* bucket */
	char key[KEY_LEN + 1];
	uint64_t bytes;
	int64_t used_ns; /* for the order at start-up */
};

struct result_cache {
	pthread_mutex_t lock;
	char *dir;
	uint64_t max_bytes, bytes, count;
	struct entry *head, *tail;
	struct entry *buckets[CACHE_BUCKETS];
};

static unsigned bucket_of(const char *key)
{
	unsigned h = 0;

	for (int i = 0; i < 8; i++)
		h = h * 16 + (unsigned)(key[i] <= '9' ? key[i] - '0'
		                                      : key[i] - 'a' + 10);
	return h % CACHE_BUCKETS;
}

static bool key_ok(const char *s, size_t n)
{
	return n == KEY_LEN && strspn(s, "0123456789abcdef") == KEY_LEN;
}

static void lru_unlink(struct result_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct result_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static struct entry *find(struct result_cache *c, const char *key)
{
	struct entry *e;

	for (e = c->buckets[bucket_of(key)]; e; e = e->chain)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void path_of(const struct result_cache *c, const char *key, char *buf,
                    size_t size)
{
	snprintf(buf, size, "%s/%s.json", c->dir, key);
}

/* Takes e out of every list and frees it; the file is removed. */
static void drop(struct result_cache *c, struct entry *e, bool unlink_file)
{
	struct entry **pp = &c->buckets[bucket_of(e->key)];
	char path[4200];

	while (*pp && *pp != e)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = e->chain;
	lru_unlink(c, e);
	c->bytes -= e->bytes;
	c->count--;
	if (unlink_file) {
		path_of(c, e->key, path, sizeof(path));
		unlink(path);
	}
	free(e);
}

static void evict(struct result_cache *c)
{
	while (c->bytes > c->max_bytes && c->tail)
		drop(c, c->tail, true);
}

static struct entry *add(struct result_cache *c, const char *key,
                         uint64_t bytes)
{
	struct entry *e = calloc(1, sizeof(*e));
	unsigned b;

	if (!e)
		return NULL;
	memcpy(e->key, key, KEY_LEN);
	e->bytes = bytes;
	b = bucket_of(key);
	e->chain = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->bytes += bytes;
	c->count++;
	return e;
}

static int cmp_used(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a;
	const struct entry *y = *(struct entry *const *)b;

	return (x->used_ns > y->used_ns) - (x->used_ns < y->used_ns);
}

/* mkdir -p for dir (its parent state_dir exists). */
static int make_dirs(const char *dir)
{
	char tmp[4096];
	size_t i, n = strlen(dir);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		tmp[i] = dir[i];
	}
	return 0;
}

/* Indexes the files of c->dir, oldest use first, so that the most recent
 * ends at the head. */
static int scan(struct result_cache *c)
{
	struct entry **v = NULL, *e;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	char path[4200];
	DIR *d = opendir(c->dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len != KEY_LEN + 5 ||
		    strcmp(de->d_name + KEY_LEN, ".json") ||
		    !key_ok(de->d_name, KEY_LEN)) {
			/* A temporary file a crash left behind. */
			if (strstr(de->d_name, ".tmp.")) {
				snprintf(path, sizeof(path), "%s/%s", c->dir,
				         de->d_name);
				unlink(path);
			}
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", c->dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct entry **nv;

			cap = cap ? 2 * cap : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			break;
		memcpy(e->key, de->d_name, KEY_LEN);
		e->bytes = (uint64_t)st.st_size;
		e->used_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		             st.st_mtim.tv_nsec;
		v[n++] = e;
	}
	closedir(d);
	if (n > 1) /* v is NULL for an empty cache: qsort wants an array */
		qsort(v, n, sizeof(*v), cmp_used);
	for (i = 0; i < n; i++) {
		struct entry *a = add(c, v[i]->key, v[i]->bytes);

		if (a)
			a->used_ns = v[i]->used_ns;
		free(v[i]);
	}
	free(v);
	return 0;
}

struct result_cache *result_cache_open(const char *dir, uint64_t max_bytes,
                                       char **why)
{
	struct result_cache *c = calloc(1, sizeof(*c));
	int rc;

	*why = NULL;
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		*why = strdup("out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->max_bytes = max_bytes;
	rc = make_dirs(dir);
	if (rc == 0)
		rc = scan(c);
	if (rc < 0) {
		char buf[4300];

		snprintf(buf, sizeof(buf), "cache directory %s: %s", dir,
		         strerror(-rc));
		*why = strdup(buf);
		result_cache_free(c);
		return NULL;
	}
	evict(c);
	return c;
}

void result_cache_free(struct result_cache *c)
{
	struct entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
}

int cache_key(const char *plugin_sha256, const char *options_sha256,
              const char *input_sha256, const char *arrays_sha256, char out[65])
{
	const char *parts[4] = {plugin_sha256, options_sha256, input_sha256,
	                        arrays_sha256 ? arrays_sha256 : ""};
	size_t len = 0, i, k;
	char *buf;
	int rc;

	for (i = 0; i < 4; i++)
		len += strlen(parts[i]) + 1;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	for (i = 0, k = 0; i < 4; i++) {
		size_t n = strlen(parts[i]) + 1;

		memcpy(buf + k, parts[i], n);
		k += n;
	}
	rc = sha256_hex(buf, len, out);
	free(buf);
	return rc;
}

int result_cache_get(struct result_cache *c, const char *key, json_t **output)
{
	char path[4200];
	struct entry *e;
	json_t *v;

	*output = NULL;
	pthread_mutex_lock(&c->lock);
	e = find(c, key);
	if (e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (!e)
		return -ENOENT;
	path_of(c, key, path, sizeof(path));
	v = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!v) {
		/* Gone or damaged on disk: forget it and run the plugin. */
		pthread_mutex_lock(&c->lock);
		e = find(c, key);
		if (e)
			drop(c, e, true);
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	/* The last use, in the file itself: the order survives restarts. */
	utimensat(AT_FDCWD, path, NULL, 0);
	*output = v;
	return 0;
}

int result_cache_put(struct result_cache *c, const char *key,
                     const json_t *output)
{
	const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
	char path[4200], tmp[4300];
	char *text = json_dumps(output, flags);
	size_t len;
	struct entry *e;
	int fd, rc = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len > c->max_bytes) {
		free(text);
		return -EFBIG;
	}
	path_of(c, key, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp.%lu", c->dir, key,
	         (unsigned long)pthread_self());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	if (write(fd, text, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	close(fd);
	free(text);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	e = find(c, key);
	if (e)
		drop(c, e, false); /* replaced: the file is the new one */
	if (!add(c, key, len))
		rc = -ENOMEM;
	evict(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void result_cache_usage(struct result_cache *c, uint64_t *entries,
                        uint64_t *bytes)
{
	pthread_mutex_lock(&c->lock);
	*entries = c->count;
	*bytes = c->bytes;
	pthread_mutex_unlock(&c->lock);
}
