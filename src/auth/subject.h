/* SPDX-License-Identifier: MIT */
/*
 * A client certificate's subject as the users file writes it
 * (cert_subject): RFC 2253 form, exactly what
 * `openssl x509 -noout -subject -nameopt RFC2253` prints after
 * "subject=", e.g. "O=Lab,CN=alice". One function, so that the daemon's
 * TLS listener and the administrator's openssl command agree.
 */
#ifndef JOBD_AUTH_SUBJECT_H
#define JOBD_AUTH_SUBJECT_H

#include <openssl/x509.h>

/* *out: a malloc'd string (caller frees). Returns 0, -EINVAL (no
 * subject) or -ENOMEM. cert is borrowed. */
int subject_rfc2253(X509 *cert, char **out);

#endif
