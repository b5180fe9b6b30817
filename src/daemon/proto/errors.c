/* SPDX-License-Identifier: MIT */
#include "daemon/proto/errors.h"

#include <errno.h>

enum jobd_error proto_error_from_errno(int rc)
{
	switch (rc) {
	case 0:
		return JOBD_OK;
	case -EBUSY:
		return JOBD_E_BUSY;
	case -ESHUTDOWN:
		return JOBD_E_SHUTTING_DOWN;
	case -ETIMEDOUT:
		return JOBD_E_TIMEOUT;
	case -ECANCELED:
		return JOBD_E_CANCELLED;
	case -ENOENT:
		return JOBD_E_NOT_FOUND;
	case -EMSGSIZE:
	case -E2BIG:
		return JOBD_E_TOO_LARGE;
	default:
		return JOBD_E_INTERNAL;
	}
}
