/* SPDX-License-Identifier: MIT */
#include "auth/subject.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

int subject_rfc2253(X509 *cert, char **out)
{
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	BIO *b;
	char *data;
	long n;
	int rc = -ENOMEM;

	*out = NULL;
	if (!name)
		return -EINVAL;
	b = BIO_new(BIO_s_mem());
	if (!b)
		return -ENOMEM;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0)
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n < 0)
		goto out;
	*out = strndup(data, (size_t)n);
	if (*out)
		rc = 0;
out:
	BIO_free(b);
	return rc;
}
