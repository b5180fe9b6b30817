/* SPDX-License-Identifier: MIT */
/*
 * Server lists: "host:port[,host:port...]", IPv6 literals in brackets; an
 * entry written "tls://host:port" is reached over TLS ("tcp://" may be
 * written for a plain one).
 * Pure code, no I/O (no name resolution either: that happens at connect).
 */
#ifndef JOBD_CLIENT_SERVERS_H
#define JOBD_CLIENT_SERVERS_H

#include <stdbool.h>
#include <stddef.h>

#define SERVERS_DEFAULT_PORT     "7878"
#define SERVERS_DEFAULT_TLS_PORT "7879"

struct server {
	char *host;    /* without brackets; owned */
	char *port;    /* decimal 1..65535; owned */
	char *display; /* "host:port", "[v6]:port" or "tls://host:port", for
	                  messages; owned */
	bool tls;      /* "tls://": TLS, server name verified against host */
	bool numeric;  /* host is an IP literal (verified as an IP, no SNI) */
};

struct server_list {
	struct server *v; /* owned array */
	size_t n;
};

/*
 * Parses text into *out (which must be empty or finalized). A missing port
 * means SERVERS_DEFAULT_PORT (SERVERS_DEFAULT_TLS_PORT after tls://); spaces
 * around entries are ignored. Returns 0, -ENOMEM, or -EINVAL with a reason
 * naming the entry in err.
 */
int servers_parse(const char *text, struct server_list *out, char *err,
                  size_t err_size);

/* Frees the entries; leaves an empty list. Accepts an empty list. */
void servers_fini(struct server_list *l);

#endif
