/* SPDX-License-Identifier: MIT */
/* libjobd-client's public API: handle, settings, errors, call and
 * response, any-order submit/receive. The I/O is in conn.c. */
#include <errno.h>

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_priv.h"

#define CLIENT_DEFAULT_NAME          "libjobd-client"
#define CLIENT_DEFAULT_IO_TIMEOUT_MS 5000
/* After giving up on a call, how long we may spend writing its cancel. */
#define CLIENT_CANCEL_WRITE_MS 1000

int client_fail(struct jobd_client *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	c->status = status;
	return status;
}

void client_trail_add(struct jobd_client *c, const char *server,
                      const char *reason)
{
	size_t len = strlen(c->trail);

	snprintf(c->trail + len, sizeof(c->trail) - len, "%s%s (%s)",
	         len ? ", " : "", server, reason);
}

/* Every public operation starts with a clean error state. */
static void client_clear(struct jobd_client *c)
{
	c->status = JOBD_CLIENT_OK;
	c->code = JOBD_OK;
	c->code_name[0] = '\0';
	c->retry_after_ms = -1;
	c->errmsg[0] = '\0';
	c->trail[0] = '\0';
}

struct jobd_client *jobd_client_new(void)
{
	struct jobd_client *c = calloc(1, sizeof(*c));
	char err[200];

	if (!c)
		return NULL;
	c->fd = -1;
	c->io_timeout_ms = CLIENT_DEFAULT_IO_TIMEOUT_MS;
	c->next_id = 1;
	c->retry_after_ms = -1;
	idmap_init(&c->inflight);
	c->name = strdup(CLIENT_DEFAULT_NAME);
	if (!c->name || servers_parse(JOBD_CLIENT_DEFAULT_SERVER, &c->servers,
	                              err, sizeof(err)) < 0) {
		jobd_client_free(c);
		return NULL;
	}
	return c;
}

void jobd_client_free(struct jobd_client *c)
{
	if (!c)
		return;
	conn_close(c);
	idmap_fini(&c->inflight);
	answer_queue_fini(&c->queue);
	servers_fini(&c->servers);
	free(c->name);
	if (c->token)
		OPENSSL_cleanse(c->token, strlen(c->token));
	free(c->token);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	tls_ctx_free(c);
	free(c);
}

/* Takes over token (may be NULL), wiping the one it replaces. */
static void client_put_token(struct jobd_client *c, char *token)
{
	if (c->token)
		OPENSSL_cleanse(c->token, strlen(c->token));
	free(c->token);
	c->token = token;
}

int jobd_client_set_token(struct jobd_client *c, const char *token)
{
	char *t;
	size_t i, n;

	client_clear(c);
	if (!token) {
		client_put_token(c, NULL);
		return JOBD_CLIENT_OK;
	}
	n = strlen(token);
	if (n == 0 || n > 256)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "a token is 1 to 256 characters");
	for (i = 0; i < n; i++)
		if (token[i] <= ' ' || token[i] > '~')
			return client_fail(c, JOBD_CLIENT_E_INVALID,
			                   "a token is printable ASCII without "
			                   "spaces");
	t = strdup(token);
	if (!t)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	client_put_token(c, t);
	return JOBD_CLIENT_OK;
}

int jobd_client_set_token_file(struct jobd_client *c, const char *path)
{
	char why[600], *t = NULL;
	int r;

	client_clear(c);
	if (!path)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "token file is NULL");
	if (client_read_token_file(path, &t, why, sizeof(why)) < 0)
		return client_fail(c, JOBD_CLIENT_E_INVALID, "%s", why);
	r = jobd_client_set_token(c, t);
	OPENSSL_cleanse(t, strlen(t));
	free(t);
	if (r != JOBD_CLIENT_OK)
		return client_fail(c, r, "token file %s: %s", path, c->errmsg);
	return r;
}

/* Sets *slot to a copy of v (NULL allowed); -1 on ENOMEM. */
static int client_put_str(char **slot, const char *v)
{
	char *d = v ? strdup(v) : NULL;

	if (v && !d)
		return -1;
	free(*slot);
	*slot = d;
	return 0;
}

/* Rebuilds the TLS context after a settings change, so that a bad file
 * is reported by the call that named it; on failure the old settings
 * come back. */
static int client_tls_settings(struct jobd_client *c, char *ca, char *cert,
                               char *key)
{
	char *old_ca = c->ca_file, *old_cert = c->cert_file,
	     *old_key = c->key_file;
	char why[700];

	c->ca_file = ca;
	c->cert_file = cert;
	c->key_file = key;
	if (tls_ctx_build(c, why, sizeof(why)) < 0) {
		c->ca_file = old_ca;
		c->cert_file = old_cert;
		c->key_file = old_key;
		free(ca);
		free(cert);
		free(key);
		return client_fail(c, JOBD_CLIENT_E_INVALID, "%s", why);
	}
	free(old_ca);
	free(old_cert);
	free(old_key);
	return JOBD_CLIENT_OK;
}

int jobd_client_set_ca_file(struct jobd_client *c, const char *path)
{
	char *ca = NULL, *cert = NULL, *key = NULL;

	client_clear(c);
	if (client_put_str(&ca, path) < 0 ||
	    client_put_str(&cert, c->cert_file) < 0 ||
	    client_put_str(&key, c->key_file) < 0) {
		free(ca);
		free(cert);
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	}
	return client_tls_settings(c, ca, cert, key);
}

int jobd_client_set_client_cert(struct jobd_client *c, const char *cert_file,
                                const char *key_file)
{
	char *ca = NULL, *cert = NULL, *key = NULL;

	client_clear(c);
	if (!cert_file != !key_file)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "a client certificate needs its key, and a "
		                   "key its certificate");
	if (client_put_str(&ca, c->ca_file) < 0 ||
	    client_put_str(&cert, cert_file) < 0 ||
	    client_put_str(&key, key_file) < 0) {
		free(ca);
		free(cert);
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	}
	return client_tls_settings(c, ca, cert, key);
}

void jobd_client_set_plaintext_token(struct jobd_client *c, int allow)
{
	c->plaintext_token = allow != 0;
}

const char *jobd_client_user(const struct jobd_client *c)
{
	return c->fd >= 0 ? c->user : NULL;
}

int jobd_client_set_servers(struct jobd_client *c, const char *servers)
{
	struct server_list l;
	char err[300];
	int r;

	client_clear(c);
	if (!servers)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "server list is NULL");
	r = servers_parse(servers, &l, err, sizeof(err));
	if (r == -ENOMEM)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	if (r < 0)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "bad server list: %s", err);
	if (c->fd >= 0)
		conn_lost(c, JOBD_CLIENT_E_CONNECTION_LOST,
		          "closed: the server list changed");
	servers_fini(&c->servers);
	c->servers = l;
	c->cur = 0;
	client_clear(c);
	return JOBD_CLIENT_OK;
}

int jobd_client_set_name(struct jobd_client *c, const char *name)
{
	char *n;

	client_clear(c);
	if (!name)
		return client_fail(c, JOBD_CLIENT_E_INVALID, "name is NULL");
	n = strdup(name);
	if (!n)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	free(c->name);
	c->name = n;
	return JOBD_CLIENT_OK;
}

int jobd_client_set_io_timeout(struct jobd_client *c, int ms)
{
	client_clear(c);
	if (ms < 1)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "io timeout must be at least 1 ms");
	c->io_timeout_ms = ms;
	return JOBD_CLIENT_OK;
}

void jobd_client_set_progress(struct jobd_client *c, jobd_client_progress_fn fn,
                              void *userdata)
{
	c->progress_fn = fn;
	c->progress_ud = userdata;
}

int jobd_client_connect(struct jobd_client *c, int timeout_ms)
{
	client_clear(c);
	return conn_ensure(c, conn_deadline(timeout_ms));
}

const char *jobd_client_server(const struct jobd_client *c)
{
	return c->fd >= 0 ? c->servers.v[c->cur].display : NULL;
}

const char *jobd_client_server_name(const struct jobd_client *c)
{
	return c->fd >= 0 ? c->server_name : NULL;
}

const char *jobd_client_errmsg(const struct jobd_client *c)
{
	return c->errmsg;
}

enum jobd_error jobd_client_error_code(const struct jobd_client *c)
{
	return c->status == JOBD_CLIENT_E_SERVER ||
	                       c->status == JOBD_CLIENT_E_AUTH
	               ? c->code
	               : JOBD_OK;
}

const char *jobd_client_error_name(const struct jobd_client *c)
{
	return c->status == JOBD_CLIENT_E_SERVER ||
	                       c->status == JOBD_CLIENT_E_AUTH
	               ? c->code_name
	               : NULL;
}

int64_t jobd_client_retry_after_ms(const struct jobd_client *c)
{
	return c->retry_after_ms;
}

const char *jobd_client_status_str(int status)
{
	switch (status) {
	case JOBD_CLIENT_OK:
		return "ok";
	case JOBD_CLIENT_E_SERVER:
		return "error from server";
	case JOBD_CLIENT_E_CONNECT:
		return "cannot connect";
	case JOBD_CLIENT_E_TIMEOUT:
		return "timeout";
	case JOBD_CLIENT_E_CONNECTION_LOST:
		return "connection lost";
	case JOBD_CLIENT_E_PROTOCOL:
		return "protocol error";
	case JOBD_CLIENT_E_INVALID:
		return "invalid argument";
	case JOBD_CLIENT_E_SYSTEM:
		return "system error";
	case JOBD_CLIENT_E_IDLE:
		return "nothing in flight";
	case JOBD_CLIENT_E_AUTH:
		return "not authorized";
	case JOBD_CLIENT_E_UNSUPPORTED:
		return "not supported by the server";
	default:
		return "unknown status";
	}
}

size_t jobd_client_inflight(const struct jobd_client *c)
{
	return c->n_calls;
}

size_t jobd_client_queued(const struct jobd_client *c)
{
	return c->queue.count;
}

int jobd_client_fd(const struct jobd_client *c)
{
	return c->fd;
}

int jobd_client_protocol_version(const struct jobd_client *c)
{
	return c->fd >= 0 && c->hello_seen ? c->version : 0;
}

/* A fresh id, never 0, unique among the ids in flight. */
static uint64_t client_alloc_id(struct jobd_client *c)
{
	uint64_t id;

	do {
		id = c->next_id++;
		if (c->next_id > (uint64_t)MSG_ID_MAX)
			c->next_id = 1;
	} while (idmap_get(&c->inflight, id));
	return id;
}

/* Copies an error answer into the handle's last error; returns its status. */
static int client_fail_answer(struct jobd_client *c,
                              const struct jobd_client_answer *a)
{
	client_fail(c, a->status, "%s", a->text ? a->text : "");
	if (a->status == JOBD_CLIENT_E_SERVER) {
		c->code = a->code;
		snprintf(c->code_name, sizeof(c->code_name), "%s",
		         a->code_name ? a->code_name : "internal");
		c->retry_after_ms = a->retry_after_ms;
	}
	return a->status;
}

/* Waits for the final answer to id. */
static int client_wait(struct jobd_client *c, uint64_t id, int64_t deadline,
                       struct jobd_client_answer **out)
{
	int r;

	for (;;) {
		*out = answer_queue_take(&c->queue, id);
		if (*out)
			return JOBD_CLIENT_OK;
		if (c->fd < 0) /* lost without an answer: out of memory */
			return client_fail(c, JOBD_CLIENT_E_CONNECTION_LOST,
			                   "connection lost");
		r = conn_pump(c, deadline);
		if (r == JOBD_CLIENT_E_TIMEOUT || r == JOBD_CLIENT_E_SYSTEM)
			return r;
	}
}

/* Gives up on id after a timeout: asks the server to cancel it, and drops
 * whatever still comes for it. */
static void client_abandon(struct jobd_client *c, uint64_t id)
{
	struct idmap_slot *s = idmap_get(&c->inflight, id);
	json_t *m;

	answer_queue_drop(&c->queue, id);
	if (!s)
		return;
	s->flags |= ID_ABANDONED;
	if (s->flags & ID_CALL)
		c->n_calls--;
	m = msg_cancel(true, (int64_t)id, NULL);
	if (m && c->fd >= 0)
		conn_send(c, m, conn_deadline(CLIENT_CANCEL_WRITE_MS));
	json_decref(m);
}

/* Registers id with flags; undone by idmap_del. */
static int client_track(struct jobd_client *c, uint64_t id, unsigned flags)
{
	if (idmap_put(&c->inflight, id, flags) < 0)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	if (flags & ID_CALL)
		c->n_calls++;
	return JOBD_CLIENT_OK;
}

static void client_untrack(struct jobd_client *c, uint64_t id)
{
	int flags = idmap_del(&c->inflight, id);

	if (flags >= 0 && (flags & ID_CALL) && !(flags & ID_ABANDONED))
		c->n_calls--;
}

/* Server-side timeout for a call sent now with this client deadline. */
static int64_t client_server_timeout(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return 0;
	left = deadline - conn_now_ms();
	return left < 1 ? 1 : left;
}

/*
 * Sends msg (which gets the new id) with the given tracking flags, on the
 * current connection or after connecting. A connection lost while writing
 * (the request never reached a server whole) moves on to the next server.
 */
static int client_send_tracked(struct jobd_client *c, json_t *msg,
                               const struct jobd_array *arrays, size_t n,
                               unsigned flags, int64_t deadline, uint64_t *id)
{
	struct jobd_client_answer *a;
	size_t tries;
	int r = JOBD_CLIENT_E_CONNECT;

	for (tries = 0; tries < c->servers.n; tries++) {
		r = conn_ensure(c, deadline);
		if (r != JOBD_CLIENT_OK)
			return r;
		*id = client_alloc_id(c);
		r = client_track(c, *id, flags);
		if (r != JOBD_CLIENT_OK)
			return r;
		if (json_object_set_new(msg, "id",
		                        json_integer((json_int_t)*id)) < 0) {
			client_untrack(c, *id);
			return client_fail(c, JOBD_CLIENT_E_SYSTEM,
			                   "out of memory");
		}
		r = conn_send_arrays(c, msg, arrays, n, deadline);
		if (r == JOBD_CLIENT_OK)
			return r;
		if (r != JOBD_CLIENT_E_CONNECTION_LOST) {
			client_untrack(c, *id);
			return r;
		}
		/* conn_lost() queued an error answer for this id: drop it,
		 * the request goes to the next server instead. */
		a = answer_queue_take(&c->queue, *id);
		jobd_client_answer_free(a);
	}
	return client_fail(c, r, "connection lost: %s", c->trail);
}

static int client_check_timeout(struct jobd_client *c, int timeout_ms)
{
	if (timeout_ms < 1 && timeout_ms != JOBD_CLIENT_FOREVER)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "timeout must be at least 1 ms or "
		                   "JOBD_CLIENT_FOREVER");
	return JOBD_CLIENT_OK;
}

/* A call with arrays, waited for; *out is the RESULT answer. */
static int client_call(struct jobd_client *c, const char *plugin,
                       const json_t *input, const struct jobd_array *arrays,
                       size_t n, int timeout_ms,
                       struct jobd_client_answer **out)
{
	struct jobd_client_answer *a = NULL;
	int64_t deadline;
	size_t losses = 0;
	uint64_t id;
	json_t *msg;
	int r;

	*out = NULL;
	r = client_check_timeout(c, timeout_ms);
	if (r != JOBD_CLIENT_OK)
		return r;
	deadline = conn_deadline(timeout_ms);
	for (;;) {
		msg = msg_call(0, plugin, json_incref((json_t *)input),
		               client_server_timeout(deadline), false);
		if (!msg)
			return client_fail(c, JOBD_CLIENT_E_SYSTEM,
			                   "out of memory");
		r = client_send_tracked(c, msg, arrays, n, ID_WAIT, deadline,
		                        &id);
		json_decref(msg);
		if (r != JOBD_CLIENT_OK)
			return r;
		r = client_wait(c, id, deadline, &a);
		if (r == JOBD_CLIENT_E_TIMEOUT) {
			client_abandon(c, id);
			return client_fail(c, JOBD_CLIENT_E_TIMEOUT,
			                   "no answer within %d ms (call "
			                   "cancelled)",
			                   timeout_ms);
		}
		if (r != JOBD_CLIENT_OK)
			return r;
		if (a->kind == JOBD_CLIENT_ANSWER_RESULT) {
			*out = a;
			return JOBD_CLIENT_OK;
		}
		r = client_fail_answer(c, a);
		jobd_client_answer_free(a);
		if (r != JOBD_CLIENT_E_CONNECTION_LOST &&
		    r != JOBD_CLIENT_E_PROTOCOL)
			return r;
		/* The connection went before the answer: the next server
		 * gets the call, each server at most once. */
		if (++losses >= c->servers.n)
			return client_fail(c, r, "connection lost: %s",
			                   c->trail);
	}
}

int jobd_client_call(struct jobd_client *c, const char *plugin,
                     const json_t *input, int timeout_ms, json_t **output)
{
	struct jobd_client_answer *a;
	int r;

	client_clear(c);
	if (!plugin || !input || !output)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "plugin, input and output are required");
	*output = NULL;
	r = client_call(c, plugin, input, NULL, 0, timeout_ms, &a);
	if (r == JOBD_CLIENT_OK) {
		*output = json_incref(a->output);
		jobd_client_answer_free(a);
	}
	return r;
}

int jobd_client_call_arrays(struct jobd_client *c, const char *plugin,
                            const json_t *input,
                            const struct jobd_array *arrays, size_t n,
                            int timeout_ms, struct jobd_client_answer **answer)
{
	client_clear(c);
	if (!plugin || !input || !answer || (n && !arrays))
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "plugin, input and answer are required, and "
		                   "arrays when n > 0");
	return client_call(c, plugin, input, arrays, n, timeout_ms, answer);
}

/* A request with one answer (arrays allowed); *out is the RESULT
 * answer holding the reply. */
static int client_request(struct jobd_client *c, const char *type,
                          const json_t *fields, const struct jobd_array *arrays,
                          size_t n, int timeout_ms,
                          struct jobd_client_answer **out)
{
	struct jobd_client_answer *a = NULL;
	int64_t deadline;
	uint64_t id;
	json_t *msg;
	int r;

	*out = NULL;
	r = client_check_timeout(c, timeout_ms);
	if (r != JOBD_CLIENT_OK)
		return r;
	deadline = conn_deadline(timeout_ms);
	/* A shallow copy: the values are shared, only encoded. */
	msg = fields ? json_copy((json_t *)fields) : json_object();
	if (!msg || json_object_set_new(msg, "type", json_string(type)) < 0) {
		json_decref(msg);
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	}
	r = client_send_tracked(c, msg, arrays, n, ID_WAIT, deadline, &id);
	json_decref(msg);
	if (r != JOBD_CLIENT_OK)
		return r;
	r = client_wait(c, id, deadline, &a);
	if (r == JOBD_CLIENT_E_TIMEOUT) {
		client_abandon(c, id);
		return client_fail(c, r, "no answer to %s within %d ms", type,
		                   timeout_ms);
	}
	if (r != JOBD_CLIENT_OK)
		return r;
	if (a->kind == JOBD_CLIENT_ANSWER_RESULT) {
		*out = a;
		return JOBD_CLIENT_OK;
	}
	r = client_fail_answer(c, a);
	jobd_client_answer_free(a);
	return r;
}

int jobd_client_request(struct jobd_client *c, const char *type,
                        const json_t *fields, int timeout_ms, json_t **reply)
{
	struct jobd_client_answer *a;
	int r;

	client_clear(c);
	if (!type || !reply || (fields && !json_is_object(fields)))
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "type and reply are required; fields must "
		                   "be an object");
	*reply = NULL;
	r = client_request(c, type, fields, NULL, 0, timeout_ms, &a);
	if (r == JOBD_CLIENT_OK) {
		*reply = json_incref(a->msg);
		jobd_client_answer_free(a);
	}
	return r;
}

int jobd_client_request_arrays(struct jobd_client *c, const char *type,
                               const json_t *fields,
                               const struct jobd_array *arrays, size_t n,
                               int timeout_ms,
                               struct jobd_client_answer **answer)
{
	client_clear(c);
	if (!type || !answer || (fields && !json_is_object(fields)) ||
	    (n && !arrays))
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "type and answer are required; fields must "
		                   "be an object; arrays when n > 0");
	*answer = NULL;
	return client_request(c, type, fields, arrays, n, timeout_ms, answer);
}

int jobd_client_ping(struct jobd_client *c, int timeout_ms)
{
	json_t *reply = NULL;
	int r = jobd_client_request(c, "ping", NULL, timeout_ms, &reply);

	json_decref(reply);
	return r;
}

int jobd_client_stats(struct jobd_client *c, int timeout_ms, json_t **stats)
{
	return jobd_client_request(c, "stats", NULL, timeout_ms, stats);
}

int jobd_client_submit_arrays(struct jobd_client *c, const char *plugin,
                              const json_t *input,
                              const struct jobd_array *arrays, size_t n,
                              int timeout_ms, uint64_t *id)
{
	json_t *msg;
	int r;

	client_clear(c);
	if (!plugin || !input || !id || timeout_ms < 0 || (n && !arrays))
		return client_fail(
		        c, JOBD_CLIENT_E_INVALID,
		        "plugin, input and id are required; "
		        "timeout_ms must be >= 0; arrays when n > 0");
	msg = msg_call(0, plugin, json_incref((json_t *)input), timeout_ms,
	               false);
	if (!msg)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	r = client_send_tracked(c, msg, arrays, n, ID_CALL,
	                        conn_deadline(c->io_timeout_ms), id);
	json_decref(msg);
	return r;
}

int jobd_client_submit(struct jobd_client *c, const char *plugin,
                       const json_t *input, int timeout_ms, uint64_t *id)
{
	return jobd_client_submit_arrays(c, plugin, input, NULL, 0, timeout_ms,
	                                 id);
}

int jobd_client_receive(struct jobd_client *c, int timeout_ms,
                        struct jobd_client_answer **answer)
{
	int64_t deadline;
	int r;

	client_clear(c);
	if (!answer)
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "answer is required");
	*answer = NULL;
	deadline = conn_deadline(timeout_ms);
	for (;;) {
		*answer = answer_queue_pop(&c->queue);
		if (*answer)
			return JOBD_CLIENT_OK;
		if (c->n_calls == 0 || c->fd < 0)
			return client_fail(c, JOBD_CLIENT_E_IDLE,
			                   "no call in flight");
		r = conn_pump(c, deadline);
		if (r == JOBD_CLIENT_E_TIMEOUT)
			return client_fail(c, r, "no answer within %d ms",
			                   timeout_ms);
		if (r == JOBD_CLIENT_E_SYSTEM)
			return r;
	}
}

/* Sends m (stolen) about call id, which must be in flight. */
static int send_about_call(struct jobd_client *c, uint64_t id, json_t *m)
{
	struct idmap_slot *s = idmap_get(&c->inflight, id);
	int r;

	client_clear(c);
	if (!s || !(s->flags & ID_CALL) || (s->flags & ID_ABANDONED)) {
		json_decref(m);
		return client_fail(c, JOBD_CLIENT_E_INVALID,
		                   "call %llu is not in flight",
		                   (unsigned long long)id);
	}
	if (!m)
		return client_fail(c, JOBD_CLIENT_E_SYSTEM, "out of memory");
	r = conn_send(c, m, conn_deadline(c->io_timeout_ms));
	json_decref(m);
	return r;
}

int jobd_client_cancel(struct jobd_client *c, uint64_t id)
{
	return send_about_call(c, id, msg_cancel(true, (int64_t)id, NULL));
}

int jobd_client_detach(struct jobd_client *c, uint64_t id)
{
	return send_about_call(c, id, msg_detach((int64_t)id));
}
