/* SPDX-License-Identifier: MIT */
/*
 * The YAML reader under the config schema, private to config/.
 *
 * Built on libyaml's event API as a recursive-descent reader: each event is
 * consumed once, so every error can point at the mark of the node that
 * caused it, aliases are seen (and refused) where they occur instead of being
 * silently expanded, and plain scalars can be told from quoted ones when
 * plugin options are turned into JSON (YAML 1.2 core schema).
 *
 * The first error stops the parse; its message is kept in struct reader and
 * returned as one line "file:line:column: key: what is wrong".
 */
#ifndef JOBD_DAEMON_CONFIG_READER_H
#define JOBD_DAEMON_CONFIG_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "daemon/config/units.h" /* MIB */

/* Bounds options: nesting, which an adversarial file could make deep enough
 * to exhaust the stack. */
#define MAX_DEPTH 64

/* Refuse absurd files before reading them into memory. */
#define MAX_FILE_SIZE (16ull * MIB)

#define PATH_CAP 512

struct reader {
	yaml_parser_t yp;
	yaml_event_t ev; /* the current event, valid while have_ev */
	bool have_ev;
	const char *name;
	const char *text;
	size_t len;
	char *error; /* first error, malloc'd */
	int rc;
	char path[PATH_CAP]; /* dotted key of the node being read */
	size_t path_len;
	int depth;
};

/* Calls fn for each key/value pair of the mapping whose start is the
 * current event. fn sees the value as the current event and must consume
 * exactly that node. Keys must be scalars; duplicates are refused. */
typedef int (*pair_fn)(struct reader *r, const char *key,
                       const yaml_mark_t *key_mark, void *data);

/* Checks one string of a list; returns reader_fail()'s value to refuse. */
typedef int (*check_fn)(struct reader *r, const char *s,
                        const yaml_mark_t *mark);

/* Records the first error at mark, prefixed with the current key path.
 * Returns the error code to pass up. */
__attribute__((format(printf, 3, 4))) int
reader_fail(struct reader *r, const yaml_mark_t *mark, const char *fmt, ...);
void reader_consider_key(const char *key, const char *cand, const char **best,
                         unsigned *best_d);
const char *reader_event_kind(const yaml_event_t *ev);
int reader_fail_nomem(struct reader *r);
int reader_fail_unknown_key(struct reader *r, const yaml_mark_t *mark,
                            const char *key, const char *const *known);
int reader_fail_unknown_near(struct reader *r, const yaml_mark_t *mark,
                             const char *best);
int reader_for_each_pair(struct reader *r, const char *dup_what, pair_fn fn,
                         void *data);
bool reader_is_null(const yaml_event_t *ev);
bool reader_is_null_text(const char *s, size_t n);
int reader_next(struct reader *r);
void reader_path_pop(struct reader *r, size_t old);
size_t reader_path_push_index(struct reader *r, size_t i);
int reader_section(struct reader *r, pair_fn fn, void *data);
int reader_string_list(struct reader *r, char ***list, size_t *n,
                       check_fn check);
int reader_want_scalar(struct reader *r, const char **s);

#endif
