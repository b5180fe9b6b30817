/* SPDX-License-Identifier: MIT */
/*
 * jobd error codes: the closed list that travels on the wire as the `code`
 * string of an `error` message (docs/protocol.md). Shared by the daemon,
 * plugins (as the return value of process()) and the client library.
 *
 * The numbers are part of the ABI: new codes are only ever appended.
 */
#ifndef JOBD_ERROR_H
#define JOBD_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum jobd_error {
	JOBD_OK = 0,
	JOBD_E_BAD_FRAME = 1,    /* framing broken; the server closes */
	JOBD_E_TOO_LARGE = 2,    /* frame over max_frame_size (closes), or a
	                            call over max_queued_input */
	JOBD_E_BAD_JSON = 3,     /* frame body is not valid UTF-8 JSON */
	JOBD_E_BAD_REQUEST = 4,  /* missing/ill-typed field, bad input */
	JOBD_E_UNKNOWN_TYPE = 5, /* `type` is not a known message */
	JOBD_E_UNSUPPORTED_VERSION = 6, /* hello asked for a version we lack */
	JOBD_E_DUPLICATE_ID = 7,        /* id already in flight on this conn */
	JOBD_E_UNKNOWN_PLUGIN = 8,      /* no loaded plugin of that name */
	JOBD_E_BUSY = 9,           /* a full queue, or max_queued_input held */
	JOBD_E_TIMEOUT = 10,       /* the job's deadline passed */
	JOBD_E_CANCELLED = 11,     /* cancelled by a client */
	JOBD_E_PLUGIN_FAILED = 12, /* the plugin reported a failure */
	JOBD_E_SHUTTING_DOWN = 13, /* the server is draining */
	JOBD_E_NOT_FOUND = 14,     /* no job with that id */
	JOBD_E_TOO_MANY_CONNECTIONS = 15, /* max_connections reached; closes */
	JOBD_E_INTERNAL = 16, /* a bug or resource failure in jobd */
	JOBD_E_IDLE_TIMEOUT =
	        17,              /* connection idle or frame too slow; closes */
	JOBD_E_INTERRUPTED = 18, /* job was running when jobd stopped */
	/* Who may do what (docs/protocol.md §13, docs/security.md): */
	JOBD_E_UNAUTHORIZED = 19, /* no token, or a wrong one; only hello and
	                             ping are served until one is right */
	JOBD_E_FORBIDDEN = 20,    /* this user may not call that plugin or
	                             touch that job */
	/* Plugins in worker processes (docs/isolation.md): */
	JOBD_E_PLUGIN_CRASHED = 21, /* the worker running the job died; the
	                               message names the signal or status */
	JOBD_E_UNAVAILABLE = 22,    /* the plugin is quarantined after
	                               repeated crashes; retry_after_ms */
	JOBD_E_OUT_OF_MEMORY = 23,  /* the worker reached memory_limit */
	JOBD_E_COUNT_
};

#ifdef __cplusplus
}
#endif

#endif
