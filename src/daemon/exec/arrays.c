/* SPDX-License-Identifier: MIT */
#include "daemon/exec/arrays.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec/provenance.h"
#include "daemon/util/shm.h"
#include "wire/array.h"

struct job_arrays *arrays_new(void)
{
	return calloc(1, sizeof(struct job_arrays));
}

void arrays_free(struct job_arrays *a)
{
	size_t i;

	if (!a)
		return;
	frame_out_fini(&a->answer);
	for (i = 0; i < a->n_out; i++)
		shm_free(a->out_blocks[i]);
	shm_free(a->in_block);
	free(a);
}

void arrays_free_cb(void *a)
{
	arrays_free(a);
}

int arrays_set_input(struct job_arrays *a, void *block, uint64_t len,
                     const struct jobd_array *in, size_t n)
{
	size_t i;

	if (a->in_block || a->n_in || n > JOBD_ARRAYS_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		a->in[i] = in[i];
		snprintf(a->in_names[i], sizeof(a->in_names[i]), "%s",
		         in[i].name);
		a->in[i].name = a->in_names[i];
	}
	a->n_in = n;
	a->in_block = block;
	a->in_block_len = len;
	return 0;
}

const struct jobd_array *arrays_find_input(const struct job_arrays *a,
                                           const char *name)
{
	size_t i;

	for (i = 0; a && name && i < a->n_in; i++)
		if (strcmp(a->in[i].name, name) == 0)
			return &a->in[i];
	return NULL;
}

int arrays_add_output(struct job_arrays *a, const char *name, uint32_t dtype,
                      uint32_t ndim, const uint64_t *shape, uint64_t max_total,
                      void **data, char *why, size_t why_size)
{
	struct jobd_array *o;
	uint64_t nbytes;
	void *block = NULL;
	size_t i;

	*data = NULL;
	if (!name || !array_name_ok(name, strlen(name))) {
		snprintf(why, why_size,
		         "output array name must be 1 to %d of [A-Za-z0-9_-]",
		         JOBD_ARRAY_NAME_MAX);
		return -EINVAL;
	}
	for (i = 0; i < a->n_out; i++)
		if (strcmp(a->out[i].name, name) == 0) {
			snprintf(why, why_size, "output array \"%s\" twice",
			         name);
			return -EINVAL;
		}
	if (a->n_out >= JOBD_ARRAYS_MAX) {
		snprintf(why, why_size, "more than %d output arrays",
		         JOBD_ARRAYS_MAX);
		return -EINVAL;
	}
	if (ndim > JOBD_ARRAY_MAX_DIMS || (ndim && !shape) ||
	    array_shape_bytes(dtype, ndim, shape, &nbytes) < 0) {
		snprintf(why, why_size,
		         "output array \"%s\": unknown dtype, more than %d "
		         "dimensions, or a shape whose size overflows",
		         name, JOBD_ARRAY_MAX_DIMS);
		return -EINVAL;
	}
	if (nbytes > max_total || a->out_total + nbytes > max_total) {
		snprintf(why, why_size,
		         "output arrays would take %llu bytes, over "
		         "max_array_bytes %llu",
		         (unsigned long long)(a->out_total + nbytes),
		         (unsigned long long)max_total);
		return -EFBIG;
	}
	if (nbytes) {
		block = shm_alloc(nbytes, "jobd-array");
		if (!block) {
			snprintf(why, why_size, "out of memory for \"%s\"",
			         name);
			return -ENOMEM;
		}
	}
	o = &a->out[a->n_out];
	memset(o, 0, sizeof(*o));
	snprintf(a->out_names[a->n_out], sizeof(a->out_names[0]), "%s", name);
	o->name = a->out_names[a->n_out];
	o->dtype = dtype;
	o->ndim = ndim;
	for (i = 0; i < ndim; i++)
		o->shape[i] = shape[i];
	o->data = block;
	o->nbytes = (size_t)nbytes;
	a->out_blocks[a->n_out] = block;
	a->n_out++;
	a->out_total += nbytes;
	*data = block;
	return 0;
}

int arrays_in_fd(const struct job_arrays *a)
{
	return a && a->in_block ? shm_fd(a->in_block) : -1;
}

int arrays_out_fd(const struct job_arrays *a, size_t i)
{
	return a && i < a->n_out && a->out_blocks[i] ? shm_fd(a->out_blocks[i])
	                                             : -1;
}

int arrays_input_hashes(const struct job_arrays *a, char **text)
{
	char hex[SHA256_HEX_LEN + 1], *buf, *p;
	size_t i, size;

	*text = NULL;
	if (!a || !a->n_in)
		return 0;
	/* Names are [A-Za-z0-9_-]: nothing to escape. */
	size = 2 + a->n_in * (JOBD_ARRAY_NAME_MAX + SHA256_HEX_LEN + 8);
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	p = buf;
	*p++ = '{';
	for (i = 0; i < a->n_in; i++) {
		if (sha256_hex(a->in[i].data ? a->in[i].data : "",
		               a->in[i].nbytes, hex) < 0) {
			free(buf);
			return -EIO;
		}
		p += snprintf(p, size - (size_t)(p - buf), "%s\"%s\":\"%s\"",
		              i ? "," : "", a->in[i].name, hex);
	}
	*p++ = '}';
	*p = '\0';
	*text = buf;
	return 0;
}
