/* SPDX-License-Identifier: MIT */
/*
 * NumPy .npy files (see npy.h). The header is a Python literal; only the
 * subset NumPy writes is accepted: a dict of string keys whose values are
 * strings, True/False, or tuples of integers.
 */
#include "jobctl/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN     64

__attribute__((format(printf, 3, 4))) static int
npy_fail(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the header literal ---- */

struct lex {
	const char *p, *end;
};

static void skip_ws(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' ||
	                         *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

static bool eat(struct lex *l, char c)
{
	skip_ws(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return true;
	}
	return false;
}

/* A quoted string without escapes (NumPy writes none in these keys and
 * the descr values we accept) into out[size]. */
static bool read_str(struct lex *l, char *out, size_t size)
{
	char q;
	size_t n = 0;

	skip_ws(l);
	if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
		return false;
	q = *l->p++;
	while (l->p < l->end && *l->p != q) {
		if (*l->p == '\\' || n + 1 >= size)
			return false;
		out[n++] = *l->p++;
	}
	if (l->p >= l->end)
		return false;
	l->p++;
	out[n] = '\0';
	return true;
}

static bool read_word(struct lex *l, const char *w)
{
	size_t n = strlen(w);

	skip_ws(l);
	if ((size_t)(l->end - l->p) >= n && memcmp(l->p, w, n) == 0) {
		l->p += n;
		return true;
	}
	return false;
}

/* (d0, d1, ...) with an optional trailing comma; Python 2 files may have
 * an L after each number. */
static int read_shape(struct lex *l, struct jobd_array *a, char *why,
                      size_t why_size)
{
	a->ndim = 0;
	if (!eat(l, '('))
		return npy_fail(why, why_size, "'shape' is not a tuple");
	for (;;) {
		uint64_t v = 0;
		const char *start;

		if (eat(l, ')'))
			return 0;
		skip_ws(l);
		start = l->p;
		while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return npy_fail(why, why_size,
				                "a dimension of 'shape' is too "
				                "large");
			v = v * 10 + (uint64_t)(*l->p++ - '0');
		}
		if (l->p == start)
			return npy_fail(why, why_size,
			                "'shape' holds something other than "
			                "integers >= 0");
		if (l->p < l->end && *l->p == 'L')
			l->p++;
		if (a->ndim == JOBD_ARRAY_MAX_DIMS)
			return npy_fail(why, why_size,
			                "more than %d dimensions; jobd arrays "
			                "have at most %d",
			                JOBD_ARRAY_MAX_DIMS,
			                JOBD_ARRAY_MAX_DIMS);
		a->shape[a->ndim++] = v;
		if (eat(l, ','))
			continue;
		if (eat(l, ')'))
			return 0;
		return npy_fail(why, why_size, "'shape' is not a tuple");
	}
}

/* The dtype for a NumPy descr, or INVALID with why filled. */
static uint32_t descr_dtype(const char *d, char *why, size_t why_size)
{
	static const struct {
		char kind;
		char size;
		uint32_t dtype;
	} table[] = {
	        {'f', '8', JOBD_DTYPE_F64}, {'f', '4', JOBD_DTYPE_F32},
	        {'i', '8', JOBD_DTYPE_I64}, {'i', '4', JOBD_DTYPE_I32},
	        {'i', '2', JOBD_DTYPE_I16}, {'i', '1', JOBD_DTYPE_I8},
	        {'u', '8', JOBD_DTYPE_U64}, {'u', '4', JOBD_DTYPE_U32},
	        {'u', '2', JOBD_DTYPE_U16}, {'u', '1', JOBD_DTYPE_U8},
	};
	static const char hint[] = "jobd takes u1 i1 u2 i2 u4 i4 u8 i8 f4 f8";

	if (strlen(d) == 3 && strchr("<>|=", d[0])) {
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
			if (table[i].kind != d[1] || table[i].size != d[2])
				continue;
			/* One byte has no order; '=' is native, which is
			 * little-endian on every machine jobd runs on. */
			if (d[2] == '1' || d[0] == '<' || d[0] == '=')
				return table[i].dtype;
			if (d[0] == '>') {
				npy_fail(
				        why, why_size,
				        "dtype '%s' is big-endian; jobd arrays "
				        "are little-endian: save "
				        "arr.astype('<%c%c') instead",
				        d, d[1], d[2]);
				return JOBD_DTYPE_INVALID;
			}
		}
	}
	if (!strcmp(d, "|b1"))
		npy_fail(why, why_size,
		         "dtype '|b1' (bool) is not supported; %s: save "
		         "arr.astype('u1') instead",
		         hint);
	else
		npy_fail(why, why_size, "dtype '%s' is not supported; %s", d,
		         hint);
	return JOBD_DTYPE_INVALID;
}

static int parse_header(const char *h, size_t len, struct jobd_array *a,
                        char *why, size_t why_size)
{
	struct lex l = {h, h + len};
	char key[32], descr[64] = "";
	bool seen_descr = false, seen_order = false, seen_shape = false;
	bool fortran = false;

	if (!eat(&l, '{'))
		return npy_fail(why, why_size, "header is not a dict");
	for (;;) {
		if (eat(&l, '}'))
			break;
		if (!read_str(&l, key, sizeof(key)) || !eat(&l, ':'))
			return npy_fail(why, why_size,
			                "header is not a dict of "
			                "'descr', 'fortran_order', 'shape'");
		if (!strcmp(key, "descr")) {
			skip_ws(&l);
			if (l.p < l.end && *l.p == '[')
				return npy_fail(
				        why, why_size,
				        "structured dtypes (records) are "
				        "not supported: save one array "
				        "per field");
			if (!read_str(&l, descr, sizeof(descr)))
				return npy_fail(why, why_size,
				                "'descr' is not a simple dtype "
				                "string");
			seen_descr = true;
		} else if (!strcmp(key, "fortran_order")) {
			if (read_word(&l, "True"))
				fortran = true;
			else if (!read_word(&l, "False"))
				return npy_fail(
				        why, why_size,
				        "'fortran_order' is not True or "
				        "False");
			seen_order = true;
		} else if (!strcmp(key, "shape")) {
			if (read_shape(&l, a, why, why_size) < 0)
				return -1;
			seen_shape = true;
		} else {
			return npy_fail(why, why_size,
			                "unknown key '%.24s' in the header",
			                key);
		}
		if (eat(&l, ','))
			continue;
		if (eat(&l, '}'))
			break;
		return npy_fail(why, why_size, "header is not a dict");
	}
	skip_ws(&l);
	if (l.p != l.end)
		return npy_fail(why, why_size, "text after the header's dict");
	if (!seen_descr || !seen_order || !seen_shape)
		return npy_fail(why, why_size, "header lacks %s",
		                !seen_descr   ? "'descr'"
		                : !seen_order ? "'fortran_order'"
		                              : "'shape'");
	if (fortran)
		return npy_fail(why, why_size,
		                "the array is in Fortran order; jobd takes C "
		                "order only: save np.ascontiguousarray(arr) "
		                "instead");
	a->dtype = descr_dtype(descr, why, why_size);
	return a->dtype == JOBD_DTYPE_INVALID ? -1 : 0;
}

static uint64_t shape_elems(const struct jobd_array *a, bool *overflow)
{
	uint64_t n = 1;

	*overflow = false;
	for (uint32_t i = 0; i < a->ndim; i++)
		if (a->shape[i] == 0)
			return 0;
	for (uint32_t i = 0; i < a->ndim; i++)
		if (__builtin_mul_overflow(n, a->shape[i], &n))
			*overflow = true;
	return n;
}

int npy_parse(const void *buf, size_t len, struct jobd_array *out, char *why,
              size_t why_size)
{
	const unsigned char *p = buf;
	size_t hlen, off, elsize;
	uint64_t elems, nbytes;
	bool overflow;

	memset(out, 0, sizeof(*out));
	if (len < NPY_MAGIC_LEN + 4 || memcmp(p, NPY_MAGIC, NPY_MAGIC_LEN))
		return npy_fail(why, why_size,
		                "not a NumPy .npy file (no \\x93NUMPY magic)");
	switch (p[6]) {
	case 1:
		hlen = (size_t)p[8] | (size_t)p[9] << 8;
		off = 10;
		break;
	case 2:
	case 3:
		if (len < 12)
			return npy_fail(why, why_size, "truncated header");
		hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 |
		       (size_t)p[11] << 24;
		off = 12;
		break;
	default:
		return npy_fail(why, why_size,
		                ".npy format version %u.%u is not supported "
		                "(1.0, 2.0, 3.0 are)",
		                p[6], p[7]);
	}
	if (hlen > len - off)
		return npy_fail(why, why_size,
		                "truncated header (%zu bytes announced, %zu "
		                "there)",
		                hlen, len - off);
	if (parse_header((const char *)p + off, hlen, out, why, why_size) < 0)
		return -1;
	off += hlen;
	elsize = jobd_dtype_size(out->dtype);
	elems = shape_elems(out, &overflow);
	if (overflow || __builtin_mul_overflow(elems, elsize, &nbytes) ||
	    nbytes > (uint64_t)INT64_MAX)
		return npy_fail(why, why_size, "shape is too large");
	if (nbytes != len - off)
		return npy_fail(why, why_size,
		                "the data is %zu bytes but dtype and shape "
		                "make %" PRIu64 "%s",
		                len - off, nbytes,
		                nbytes > len - off ? " (truncated file?)" : "");
	out->nbytes = (size_t)nbytes;
	out->data = nbytes ? p + off : NULL;
	return 0;
}

int npy_read(const char *path, struct npy_file *f, char *why, size_t why_size)
{
	struct stat st;
	char inner[256];
	void *map;
	int fd;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return npy_fail(why, why_size, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return npy_fail(why, why_size, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return npy_fail(why, why_size, "%s: empty file", path);
	}
	/* Mapped: an 8 GB array is sent from the page cache, never read
	 * into a buffer of ours. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return npy_fail(why, why_size, "%s: mmap: %s", path,
		                strerror(errno));
	if (npy_parse(map, (size_t)st.st_size, &f->array, inner,
	              sizeof(inner)) < 0) {
		munmap(map, (size_t)st.st_size);
		return npy_fail(why, why_size, "%s: %s", path, inner);
	}
	f->map = map;
	f->map_len = (size_t)st.st_size;
	return 0;
}

void npy_close(struct npy_file *f)
{
	if (f && f->map)
		munmap(f->map, f->map_len);
	if (f)
		memset(f, 0, sizeof(*f));
}

static const char *dtype_descr(uint32_t dtype)
{
	switch (dtype) {
	case JOBD_DTYPE_U8:
	case JOBD_DTYPE_BYTES:
		return "|u1";
	case JOBD_DTYPE_I8:
		return "|i1";
	case JOBD_DTYPE_U16:
		return "<u2";
	case JOBD_DTYPE_I16:
		return "<i2";
	case JOBD_DTYPE_U32:
		return "<u4";
	case JOBD_DTYPE_I32:
		return "<i4";
	case JOBD_DTYPE_U64:
		return "<u8";
	case JOBD_DTYPE_I64:
		return "<i8";
	case JOBD_DTYPE_F32:
		return "<f4";
	case JOBD_DTYPE_F64:
		return "<f8";
	default:
		return NULL;
	}
}

size_t npy_preamble(const struct jobd_array *a, char *out, size_t size)
{
	const char *descr = dtype_descr(a->dtype);
	char dict[400];
	size_t n, total, hlen, off;
	int k;

	if (!descr || a->ndim > JOBD_ARRAY_MAX_DIMS)
		return 0;
	k = snprintf(dict, sizeof(dict),
	             "{'descr': '%s', 'fortran_order': False, 'shape': (",
	             descr);
	n = (size_t)k;
	for (uint32_t i = 0; i < a->ndim; i++) {
		k = snprintf(dict + n, sizeof(dict) - n, "%s%" PRIu64,
		             i ? ", " : "", a->shape[i]);
		n += (size_t)k;
	}
	/* A one-element tuple needs its comma, as Python writes it. */
	k = snprintf(dict + n, sizeof(dict) - n, "%s), }",
	             a->ndim == 1 ? "," : "");
	n += (size_t)k;
	/* Version 1.0: 10 bytes before the header; it ends with '\n' and is
	 * padded with spaces so the data starts on a multiple of 64. */
	off = 10;
	total = (off + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
	hlen = total - off;
	if (hlen > 65535) {
		off = 12;
		total = (off + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
		hlen = total - off;
	}
	if (total > size)
		return 0;
	memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
	out[6] = off == 10 ? 1 : 2;
	out[7] = 0;
	out[8] = (char)(hlen & 0xff);
	out[9] = (char)((hlen >> 8) & 0xff);
	if (off == 12) {
		out[10] = (char)((hlen >> 16) & 0xff);
		out[11] = (char)((hlen >> 24) & 0xff);
	}
	memcpy(out + off, dict, n);
	memset(out + off + n, ' ', hlen - n - 1);
	out[total - 1] = '\n';
	return total;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int npy_write(const char *path, const struct jobd_array *a, bool force,
              char *why, size_t why_size)
{
	char pre[512], *tmp;
	const char *slash = strrchr(path, '/');
	size_t plen = npy_preamble(a, pre, sizeof(pre));
	mode_t um;
	int fd, rc, err;
	bool bad;

	if (!plen)
		return npy_fail(why, why_size, "%s: dtype %u has no .npy form",
		                path, a->dtype);
	/* Written beside the target under a temporary name, then renamed:
	 * a reader never sees half a file, and a failure leaves none. */
	if (asprintf(&tmp, "%.*s.%s.XXXXXX",
	             slash ? (int)(slash - path + 1) : 0, path,
	             slash ? slash + 1 : path) < 0)
		return npy_fail(why, why_size, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = npy_fail(why, why_size, "%s: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	um = umask(0);
	umask(um);
	bad = fchmod(fd, 0666 & ~um) < 0 || write_all(fd, pre, plen) < 0 ||
	      (a->nbytes && write_all(fd, a->data, a->nbytes) < 0);
	err = errno;
	if (close(fd) < 0 && !bad) {
		bad = true;
		err = errno;
	}
	if (bad) {
		rc = npy_fail(why, why_size, "%s: %s", path, strerror(err));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	if (force)
		rc = rename(tmp, path);
	else
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	if (rc < 0) {
		rc = errno == EEXIST
		             ? npy_fail(why, why_size,
		                        "%s exists; --force overwrites it",
		                        path)
		             : npy_fail(why, why_size, "%s: %s", path,
		                        strerror(errno));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return 0;
}
