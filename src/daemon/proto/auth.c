/* SPDX-License-Identifier: MIT */
#include "daemon/proto/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/exec/fairq.h"
#include "daemon/net/net.h"
#include "daemon/proto/proto.h"
#include "daemon/util/log.h"
#include "wire/message.h"

/* Wrong tokens a connection may send before it is closed. */
#define AUTH_MAX_FAILURES 3

struct job_user *auth_job_user(struct proto *pr, const char *name)
{
	struct job_user *u;

	for (u = pr->auth.jus; u; u = u->next)
		if (!strcmp(u->name, name))
			return u;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->name = strdup(name))) {
		free(u);
		return NULL;
	}
	u->next = pr->auth.jus;
	pr->auth.jus = u;
	return u;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Would a session that authenticated as a still authenticate as b? */
static bool same_credentials(const struct users_entry *a,
                             const struct users_entry *b)
{
	return a->has_token == b->has_token &&
	       (!a->has_token || !memcmp(a->token_sha256, b->token_sha256,
	                                 sizeof(a->token_sha256))) &&
	       same_str(a->unix_user, b->unix_user) &&
	       same_str(a->cert_subject, b->cert_subject);
}

static struct session_user *identity_of(struct proto *pr,
                                        const struct users_entry *e)
{
	struct session_user *id;

	for (id = pr->auth.ids; id; id = id->next)
		if (id->e == e)
			return id;
	return NULL;
}

static void revoke_session(struct session *s, void *arg)
{
	const struct users *users = arg;

	if (!users) {
		s->user = NULL; /* no auth any more: nobody is anybody */
		return;
	}
	if (!s->user || s->user->e)
		return;
	log_notice("%s: user %s revoked; closing", s->peer, s->user->name);
	s->user = NULL;
	session_close(s, JOBD_E_UNAUTHORIZED, "user revoked");
}

void auth_set_users(struct proto *pr, struct users *users)
{
	struct users *old = pr->auth.users;
	struct session_user *id;
	const struct users_entry *e;
	struct job_user *ju;
	size_t i;

	/* Identities follow their name into the new table, unless what
	 * proved them changed. */
	for (id = pr->auth.ids; id; id = id->next) {
		if (!id->e)
			continue;
		e = users ? users_find(users, id->name) : NULL;
		id->e = e && same_credentials(id->e, e) ? e : NULL;
	}
	for (i = 0; users && i < users->n; i++) {
		e = &users->v[i];
		ju = auth_job_user(pr, e->name);
		if (ju) {
			atomic_store(&ju->max_running, e->max_running);
			atomic_store(&ju->max_queued, e->max_queued);
		}
		if (identity_of(pr, e))
			continue;
		id = calloc(1, sizeof(*id));
		if (!id) {
			log_error("users: out of memory; %s cannot log in",
			          e->name);
			continue;
		}
		snprintf(id->name, sizeof(id->name), "%s", e->name);
		id->e = e;
		id->ju = ju;
		id->next = pr->auth.ids;
		pr->auth.ids = id;
	}
	pr->auth.users = users;
	if (pr->net)
		session_foreach(&pr->net->sessions, revoke_session, users);
	users_free(old);
}

void auth_fini(struct proto *pr)
{
	struct session_user *id;
	struct job_user *u;

	while ((id = pr->auth.ids)) {
		pr->auth.ids = id->next;
		free(id);
	}
	while ((u = pr->auth.jus)) {
		pr->auth.jus = u->next;
		free(u->name);
		free(u);
	}
	users_free(pr->auth.users);
	pr->auth.users = NULL;
}

void auth_session_opened(struct proto *pr, struct session *s)
{
	const struct users_entry *e = NULL;

	if (!pr->auth.users)
		return;
	if (s->peer_cert_subject)
		e = users_by_cert_subject(pr->auth.users, s->peer_cert_subject);
	if (!e && s->peer_unix_user)
		e = users_by_unix_user(pr->auth.users, s->peer_unix_user);
	if (e && (s->user = identity_of(pr, e))) {
		log_info("%s: user %s (%s)", s->peer, e->name,
		         s->peer_cert_subject ? "client certificate"
		                              : "Unix user");
		return;
	}
	session_set_frame_cap(s, PROTOCOL_PREAUTH_MAX_FRAME);
}

bool auth_pending(const struct proto *pr, const struct session *s)
{
	return pr->auth.users && !s->user;
}

bool auth_admit(struct proto *pr, struct session *s, const struct msg *m)
{
	if (!auth_pending(pr, s) || m->type == MSG_HELLO || m->type == MSG_PING)
		return true;
	session_send_error(s, m->has_id, m->id, JOBD_E_UNAUTHORIZED,
	                   "this server needs a token: send a hello with "
	                   "your token first");
	return false;
}

bool auth_hello(struct proto *pr, struct session *s, const struct msg *m)
{
	const struct users_entry *e;
	struct session_user *id;

	if (!pr->auth.users || !m->token)
		return true;
	e = users_by_token(pr->auth.users, m->token, m->token_len);
	id = e ? identity_of(pr, e) : NULL;
	if (id && (!s->user || s->user == id)) {
		if (!s->user)
			log_info("%s: user %s (token)", s->peer, id->name);
		s->user = id;
		session_set_frame_cap(s, 0);
		return true;
	}
	/* Never the token, nor whether the user exists. */
	session_send_error(s, m->has_id, m->id, JOBD_E_UNAUTHORIZED,
	                   "missing or wrong token");
	if (s->user) {
		log_warning("%s: user %s sent a hello with another token; "
		            "closing",
		            s->peer, s->user->name);
		session_close(s, JOBD_OK, NULL);
	} else if (++s->auth_failures >= AUTH_MAX_FAILURES) {
		log_warning("%s: wrong token %u times; closing", s->peer,
		            s->auth_failures);
		session_close(s, JOBD_OK, NULL);
	} else {
		log_warning("%s: wrong token", s->peer);
	}
	return false;
}

bool auth_may_call(struct proto *pr, struct session *s, bool has_id, int64_t id,
                   const char *plugin)
{
	if (!pr->auth.users ||
	    (s->user && s->user->e && users_may_call(s->user->e, plugin)))
		return true;
	session_send_error(s, has_id, id, JOBD_E_FORBIDDEN,
	                   "you may not call plugin \"%s\"", plugin);
	return false;
}

bool auth_is_admin(const struct proto *pr, const struct session *s)
{
	return !pr->auth.users || (s->user && s->user->e && s->user->e->admin);
}

bool auth_may_see(const struct proto *pr, const struct session *s,
                  const char *owner)
{
	if (auth_is_admin(pr, s))
		return true;
	return s->user && owner && !strcmp(owner, s->user->name);
}

const char *auth_owner(const struct session *s)
{
	return s->user ? s->user->name : NULL;
}

json_t *auth_user_stats(const struct proto *pr)
{
	json_t *o = json_object();
	struct job_user *u;

	for (u = pr->auth.jus; o && u; u = u->next)
		json_object_set_new(
		        o, u->name,
		        json_pack("{sI sI}", "queued",
		                  (json_int_t)atomic_load(&u->queued),
		                  "running",
		                  (json_int_t)atomic_load(&u->running)));
	return o;
}
