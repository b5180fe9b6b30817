/* SPDX-License-Identifier: MIT */
/*
 * Errors at the protocol boundary. The layers below speak negative errno
 * (util, store, exec, net); a client hears one of the protocol's documented
 * codes (jobd/error.h). The translation happens here, once, where a lower
 * layer's failure becomes an answer, so that an out-of-memory deep down
 * reaches the client as `internal` and not as something it would act on
 * differently (`shutting_down`, `busy`). As in dbus-broker's error.h.
 */
#ifndef JOBD_DAEMON_PROTO_ERRORS_H
#define JOBD_DAEMON_PROTO_ERRORS_H

#include <jobd/error.h>

/* The code a client gets for rc, a negative errno from a lower layer:
 * -EBUSY busy, -ESHUTDOWN shutting_down, -ETIMEDOUT timeout, -ECANCELED
 * cancelled, -ENOENT not_found, -EMSGSIZE/-E2BIG too_large; anything else
 * (-ENOMEM, -EIO, ...) internal. 0 gives JOBD_OK. */
enum jobd_error proto_error_from_errno(int rc);

#endif
