/* SPDX-License-Identifier: MIT */
/*
 * Array descriptors (see array.h, docs/protocol.md §12). Every check is
 * made on the descriptor alone before any pointer into the data block is
 * formed, so a lying descriptor can never make a reader step outside the
 * block.
 */
#include "wire/array.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* JSON integers are signed 64-bit in jansson: lengths stay below 2^63. */
#define ARRAY_BYTES_MAX ((uint64_t)INT64_MAX)

uint32_t array_dtype_from_name(const char *name, size_t len)
{
	for (uint32_t t = JOBD_DTYPE_INVALID + 1; t < JOBD_DTYPE_COUNT_; t++) {
		const char *n = jobd_dtype_name(t);
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return t;
	}
	return JOBD_DTYPE_INVALID;
}

bool array_name_ok(const char *s, size_t len)
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

int array_shape_bytes(uint32_t dtype, uint32_t ndim, const uint64_t *shape,
                      uint64_t *nbytes)
{
	uint64_t n = jobd_dtype_size(dtype);

	if (n == 0 || ndim > JOBD_ARRAY_MAX_DIMS)
		return -EINVAL;
	/* Each dimension must fit on its own; then a zero dimension makes
	 * the product 0 whatever the others are, as NumPy has it. */
	for (uint32_t i = 0; i < ndim; i++)
		if (shape[i] > ARRAY_BYTES_MAX)
			return -EOVERFLOW;
	for (uint32_t i = 0; i < ndim; i++)
		if (shape[i] == 0) {
			*nbytes = 0;
			return 0;
		}
	n = jobd_dtype_size(dtype);
	for (uint32_t i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(n, shape[i], &n) ||
		    n > ARRAY_BYTES_MAX)
			return -EOVERFLOW;
	*nbytes = n;
	return 0;
}

__attribute__((format(printf, 2, 3))) static int fail(struct array_error *err,
                                                      const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = JOBD_E_BAD_REQUEST;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* "[2,3]" for error texts, cut to fit. */
static void shape_text(char *buf, size_t size, uint32_t ndim,
                       const uint64_t *shape)
{
	size_t used = 0;
	int k;

	k = snprintf(buf, size, "[");
	used = k > 0 ? (size_t)k : 0;
	for (uint32_t i = 0; i < ndim && used < size; i++) {
		k = snprintf(buf + used, size - used, "%s%" PRIu64,
		             i ? "," : "", shape[i]);
		if (k < 0)
			return;
		used += (size_t)k;
	}
	if (used < size)
		snprintf(buf + used, size - used, "]");
}

/* One descriptor, checked on its own; i is its index for error texts. */
static int parse_one(const json_t *d, size_t i, struct jobd_array *a,
                     struct array_error *err)
{
	const json_t *v, *dim;
	char shp[96];
	uint64_t need;
	size_t k;
	int rc;

	if (!json_is_object(d))
		return fail(err, "arrays[%zu]: must be an object", i);
	v = json_object_get(d, "name");
	if (!json_is_string(v) ||
	    !array_name_ok(json_string_value(v), json_string_length(v)))
		return fail(err,
		            "arrays[%zu]: \"name\" must be 1 to 64 characters "
		            "of [A-Za-z0-9_-]",
		            i);
	a->name = json_string_value(v);

	v = json_object_get(d, "dtype");
	if (!json_is_string(v))
		return fail(err,
		            "arrays[%zu] \"%s\": \"dtype\" must be a string", i,
		            a->name);
	a->dtype = array_dtype_from_name(json_string_value(v),
	                                 json_string_length(v));
	if (a->dtype == JOBD_DTYPE_INVALID)
		return fail(err,
		            "arrays[%zu] \"%s\": dtype \"%.16s\" is not one of "
		            "u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bytes",
		            i, a->name, json_string_value(v));

	v = json_object_get(d, "shape");
	if (!json_is_array(v) || json_array_size(v) > JOBD_ARRAY_MAX_DIMS)
		return fail(err,
		            "arrays[%zu] \"%s\": \"shape\" must be an array of "
		            "at most %d integers >= 0",
		            i, a->name, JOBD_ARRAY_MAX_DIMS);
	a->ndim = (uint32_t)json_array_size(v);
	json_array_foreach(v, k, dim)
	{
		if (!json_is_integer(dim) || json_integer_value(dim) < 0)
			return fail(err,
			            "arrays[%zu] \"%s\": \"shape\" must be an "
			            "array of at most %d integers >= 0",
			            i, a->name, JOBD_ARRAY_MAX_DIMS);
		a->shape[k] = (uint64_t)json_integer_value(dim);
	}
	if (a->dtype == JOBD_DTYPE_BYTES && a->ndim != 1)
		return fail(err,
		            "arrays[%zu] \"%s\": dtype bytes takes a shape of "
		            "one dimension, [length]",
		            i, a->name);
	shape_text(shp, sizeof(shp), a->ndim, a->shape);
	rc = array_shape_bytes(a->dtype, a->ndim, a->shape, &need);
	if (rc < 0)
		return fail(err,
		            "arrays[%zu] \"%s\": shape %s of %s overflows "
		            "(more than 2^63 bytes)",
		            i, a->name, shp, jobd_dtype_name(a->dtype));

	v = json_object_get(d, "nbytes");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(err,
		            "arrays[%zu] \"%s\": \"nbytes\" must be an integer "
		            ">= 0",
		            i, a->name);
	if ((uint64_t)json_integer_value(v) != need)
		return fail(
		        err,
		        "arrays[%zu] \"%s\": nbytes is %" JSON_INTEGER_FORMAT
		        " but shape %s of %s is %" PRIu64 " bytes",
		        i, a->name, json_integer_value(v), shp,
		        jobd_dtype_name(a->dtype), need);
	a->nbytes = (size_t)need;
	return 0;
}

int array_parse(const json_t *list, const void *data, uint64_t data_len,
                struct jobd_array *out, size_t *n, struct array_error *err)
{
	uint64_t off = 0;
	size_t count, i, j;

	*n = 0;
	if (err)
		memset(err, 0, sizeof(*err));
	if (!list) {
		if (data_len)
			return fail(err,
			            "the frame carries %" PRIu64
			            " bytes of array "
			            "data but the message lists no \"arrays\"",
			            data_len);
		return 0;
	}
	if (!json_is_array(list))
		return fail(err, "\"arrays\" must be an array");
	count = json_array_size(list);
	if (count > JOBD_ARRAYS_MAX)
		return fail(err, "\"arrays\" lists %zu arrays; at most %d",
		            count, JOBD_ARRAYS_MAX);
	for (i = 0; i < count; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if (parse_one(json_array_get(list, i), i, &out[i], err) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(out[j].name, out[i].name) == 0)
				return fail(err,
				            "arrays[%zu]: name \"%s\" is used "
				            "twice",
				            i, out[i].name);
		/* Sum first, then compare: both stay below 2^64 since each
		 * aligned section is below 2^63 + 64 and the running total
		 * never passes data_len before it is compared. */
		if (array_align(out[i].nbytes) > data_len - off)
			return fail(
			        err,
			        "arrays[%zu] \"%s\": its %zu bytes run past "
			        "the frame's %" PRIu64 " bytes of array data",
			        i, out[i].name, out[i].nbytes, data_len);
		out[i].data = out[i].nbytes ? (const char *)data + off : NULL;
		off += array_align(out[i].nbytes);
	}
	if (off != data_len)
		return fail(err,
		            "\"arrays\" account for %" PRIu64 " bytes of array "
		            "data but the frame carries %" PRIu64,
		            off, data_len);
	*n = count;
	return 0;
}

int array_check_list(const struct jobd_array *a, size_t n, uint64_t *data_len,
                     char *why, size_t why_size)
{
	uint64_t total = 0, need;

	if (n > JOBD_ARRAYS_MAX) {
		snprintf(why, why_size, "%zu arrays; at most %d", n,
		         JOBD_ARRAYS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = a[i].name ? a[i].name : "";

		if (!array_name_ok(name, strlen(name))) {
			snprintf(why, why_size,
			         "array %zu: name \"%.64s\" is not 1 to 64 "
			         "characters of [A-Za-z0-9_-]",
			         i, name);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(a[j].name, name) == 0) {
				snprintf(why, why_size,
				         "array name \"%s\" is used twice",
				         name);
				return -1;
			}
		if (!jobd_dtype_name(a[i].dtype) ||
		    a[i].dtype == JOBD_DTYPE_INVALID) {
			snprintf(why, why_size,
			         "array \"%s\": unknown dtype %u", name,
			         a[i].dtype);
			return -1;
		}
		if (a[i].dtype == JOBD_DTYPE_BYTES && a[i].ndim != 1) {
			snprintf(
			        why, why_size,
			        "array \"%s\": dtype bytes takes one dimension",
			        name);
			return -1;
		}
		if (array_shape_bytes(a[i].dtype, a[i].ndim, a[i].shape,
		                      &need) < 0) {
			snprintf(why, why_size,
			         "array \"%s\": %u dimensions or a shape that "
			         "overflows",
			         name, a[i].ndim);
			return -1;
		}
		if (need != a[i].nbytes || (need && !a[i].data)) {
			snprintf(why, why_size,
			         "array \"%s\": nbytes is %zu but its shape of "
			         "%s is %" PRIu64 " bytes%s",
			         name, a[i].nbytes, jobd_dtype_name(a[i].dtype),
			         need,
			         need && !a[i].data ? " (data is NULL)" : "");
			return -1;
		}
		if (__builtin_add_overflow(total, array_align(need), &total) ||
		    total > ARRAY_BYTES_MAX) {
			snprintf(why, why_size, "arrays total over 2^63 bytes");
			return -1;
		}
	}
	*data_len = total;
	return 0;
}

int array_dump(const struct jobd_array *a, size_t n, array_sink_fn sink,
               void *arg)
{
	char buf[400];
	int k, rc;

	if ((rc = sink("[", 1, arg)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t used;

		/* Names are [A-Za-z0-9_-] and dtype names fixed: no escaping
		 * needed, so the text is written directly. */
		k = snprintf(buf, sizeof(buf),
		             "%s{\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":[",
		             i ? "," : "", a[i].name,
		             jobd_dtype_name(a[i].dtype));
		used = (size_t)k;
		for (uint32_t d = 0; d < a[i].ndim; d++) {
			k = snprintf(buf + used, sizeof(buf) - used,
			             "%s%" PRIu64, d ? "," : "", a[i].shape[d]);
			used += (size_t)k;
		}
		k = snprintf(buf + used, sizeof(buf) - used,
		             "],\"nbytes\":%zu}", a[i].nbytes);
		used += (size_t)k;
		if ((rc = sink(buf, used, arg)) < 0)
			return rc;
	}
	return sink("]", 1, arg);
}
