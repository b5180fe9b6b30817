/* SPDX-License-Identifier: MIT */
/*
 * Who may do what (docs/protocol.md §12, docs/security.md): the users
 * table in force, the identity each session carries, and the checks that
 * requests pass. Without a users table (no auth: section) every check
 * passes and no session has a user. Loop thread.
 */
#ifndef JOBD_DAEMON_PROTO_AUTH_H
#define JOBD_DAEMON_PROTO_AUTH_H

#include <stdbool.h>

#include <jansson.h>

#include "auth/users.h"

struct job_user;
struct msg;
struct proto;
struct session;

/* The identity a session carries (session->user). One per user of a
 * users table; kept, like the job_user it points to, for the daemon's
 * life, so that a pointer held anywhere stays valid. */
struct session_user {
	struct session_user *next;
	char name[USERS_NAME_MAX_LEN + 1];
	/* Its entry in the table in force, or NULL once revoked. */
	const struct users_entry *e;
	struct job_user *ju; /* counts and caps, shared by one name */
};

struct auth {
	struct users *users; /* owned; NULL: no auth */
	struct session_user *ids;
	struct job_user *jus;
};

/* The users table from now on (taken; NULL: no auth). Sessions of users
 * that were removed, or whose token, unix_user or cert_subject changed,
 * are sent `unauthorized` ("user revoked") and closed; the others see
 * their new plugins, admin flag and caps at once. */
void auth_set_users(struct proto *pr, struct users *users);

/* Frees everything (daemon exit, after the sessions are gone). */
void auth_fini(struct proto *pr);

/* A session is ready: a Unix-socket or client-certificate peer the users
 * file names becomes that user; any other is capped at
 * PROTOCOL_PREAUTH_MAX_FRAME until its hello carries a good token. */
void auth_session_opened(struct proto *pr, struct session *s);

/* May s send m at all? Before authentication only hello and ping; any
 * other request is answered `unauthorized` here. */
bool auth_admit(struct proto *pr, struct session *s, const struct msg *m);

/* A hello: checks its token, if any. False: it was answered
 * `unauthorized` (and, after the third failure, or on a session that
 * already had a user, the session is closing). */
bool auth_hello(struct proto *pr, struct session *s, const struct msg *m);

/* Is s waiting to authenticate (an auth server, no user yet)? */
bool auth_pending(const struct proto *pr, const struct session *s);

/* May s call plugin? False: answered `forbidden` with id. */
bool auth_may_call(struct proto *pr, struct session *s, bool has_id, int64_t id,
                   const char *plugin);

/* May s see and cancel a job that owner (NULL: none) submitted? */
bool auth_may_see(const struct proto *pr, const struct session *s,
                  const char *owner);

/* The name to record as a new job's owner, or NULL. */
const char *auth_owner(const struct session *s);

/* Is s an admin (or is there no auth)? */
bool auth_is_admin(const struct proto *pr, const struct session *s);

/* The counts of user name, made on first use (jobs recovered from the
 * store name their owner). NULL without memory. */
struct job_user *auth_job_user(struct proto *pr, const char *name);

/* {"alice": {"queued": Q, "running": R}, ...}. */
json_t *auth_user_stats(const struct proto *pr);

#endif
