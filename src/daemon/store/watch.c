/* SPDX-License-Identifier: MIT */
#include "daemon/store/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "daemon/config/config.h"
#include "daemon/util/log.h"

#define RETRY_FIRST_MS 200u
#define RETRY_MAX_MS   5000u

struct store_watch {
	char *dsn; /* secret */
	char where[256];
	PGconn *conn;
	bool connecting; /* PQconnectPoll under way */
	bool listening;
	bool lost_said;
	unsigned retry_ms;
	enum store_watch_wait wait;
};

static const char *const keys[] = {"application_name", "dbname",
                                   "client_encoding", NULL};

static void deliver(PGnotify *n, store_event_fn fn, void *arg)
{
	json_t *o = json_loads(n->extra, 0, NULL);
	struct store_event ev = {0};
	json_t *v;
	int st;

	if (!o)
		return; /* not ours: someone else NOTIFYs on jobd */
	ev.job = json_string_value(json_object_get(o, "job"));
	ev.plugin = json_string_value(json_object_get(o, "plugin"));
	st = job_state_from_name(
	        json_string_value(json_object_get(o, "state")));
	ev.attempt =
	        (unsigned)json_integer_value(json_object_get(o, "attempt"));
	ev.host = json_string_value(json_object_get(o, "host"));
	ev.cancel = json_is_true(json_object_get(o, "cancel"));
	v = json_object_get(o, "fraction");
	ev.has_progress = json_is_number(v);
	ev.fraction = json_number_value(v);
	ev.message = json_string_value(json_object_get(o, "message"));
	if (ev.job && st >= 0) {
		ev.state = (enum job_state)st;
		fn(arg, &ev);
	}
	json_decref(o);
}

static void drop(struct store_watch *w, const char *why)
{
	if (!w->lost_said)
		log_warning("job store %s: lost the connection that hears "
		            "other hosts (%s); reconnecting, and reading the "
		            "jobs' state meanwhile",
		            w->where, why);
	w->lost_said = true;
	PQfinish(w->conn);
	w->conn = NULL;
	w->connecting = false;
	w->listening = false;
}

/* Starts a connection without blocking. */
static void begin_connect(struct store_watch *w)
{
	const char *vals[] = {"jobd-watch", w->dsn, "UTF8", NULL};

	w->conn = PQconnectStartParams(keys, vals, 1);
	if (!w->conn || PQstatus(w->conn) == CONNECTION_BAD) {
		PQfinish(w->conn);
		w->conn = NULL;
		return;
	}
	w->connecting = true;
	w->wait = STORE_WATCH_WRITE;
}

/* Sends LISTEN on a fresh connection, without waiting for the answer. */
static int send_listen(struct store_watch *w)
{
	if (PQsetnonblocking(w->conn, 1) < 0 ||
	    !PQsendQuery(w->conn, "LISTEN jobd"))
		return -EIO;
	return 0;
}

enum store_watch_wait store_watch_step(struct store_watch *w, store_event_fn fn,
                                       void *arg, unsigned *retry_ms,
                                       bool *resync)
{
	PGnotify *n;
	PGresult *res;

	*resync = false;
	if (!w->conn) {
		begin_connect(w);
		if (!w->conn) {
			*retry_ms = w->retry_ms;
			w->retry_ms = w->retry_ms * 2 > RETRY_MAX_MS
			                      ? RETRY_MAX_MS
			                      : w->retry_ms * 2;
			return STORE_WATCH_TIMER;
		}
		return w->wait;
	}
	if (w->connecting) {
		switch (PQconnectPoll(w->conn)) {
		case PGRES_POLLING_READING:
			return w->wait = STORE_WATCH_READ;
		case PGRES_POLLING_WRITING:
			return w->wait = STORE_WATCH_WRITE;
		case PGRES_POLLING_OK:
			w->connecting = false;
			if (send_listen(w) < 0) {
				drop(w, PQerrorMessage(w->conn));
				*retry_ms = w->retry_ms;
				return STORE_WATCH_TIMER;
			}
			break;
		default:
			drop(w, PQerrorMessage(w->conn));
			*retry_ms = w->retry_ms;
			return STORE_WATCH_TIMER;
		}
	}
	/* The LISTEN may still be on its way out. */
	if (PQflush(w->conn) == 1)
		return w->wait = STORE_WATCH_WRITE;
	if (!PQconsumeInput(w->conn)) {
		drop(w, PQerrorMessage(w->conn));
		*retry_ms = RETRY_FIRST_MS;
		return STORE_WATCH_TIMER;
	}
	/* The LISTEN's own answer, once. */
	while (!PQisBusy(w->conn) && (res = PQgetResult(w->conn))) {
		if (PQresultStatus(res) == PGRES_COMMAND_OK && !w->listening) {
			w->listening = true;
			w->retry_ms = RETRY_FIRST_MS;
			if (w->lost_said)
				log_notice("job store %s: hearing other hosts "
				           "again",
				           w->where);
			w->lost_said = false;
			/* Whatever happened before this LISTEN took effect
			 * was not heard. */
			*resync = true;
		}
		PQclear(res);
	}
	while ((n = PQnotifies(w->conn))) {
		deliver(n, fn, arg);
		PQfreemem(n);
	}
	if (PQstatus(w->conn) == CONNECTION_BAD) {
		drop(w, PQerrorMessage(w->conn));
		*retry_ms = RETRY_FIRST_MS;
		return STORE_WATCH_TIMER;
	}
	return w->wait = STORE_WATCH_READ;
}

int store_watch_fd(const struct store_watch *w)
{
	return w->conn ? PQsocket(w->conn) : -1;
}

void store_watch_close(struct store_watch *w)
{
	if (!w)
		return;
	PQfinish(w->conn);
	if (w->dsn)
		explicit_bzero(w->dsn, strlen(w->dsn));
	free(w->dsn);
	free(w);
}

int store_watch_open(const struct config_store *cs, struct store_watch **out,
                     char **why)
{
	const char *vals[4];
	struct store_watch *w;
	char err[200];

	*out = NULL;
	*why = NULL;
	if (cs->backend != CONFIG_STORE_POSTGRESQL || !cs->dsn) {
		*why = strdup(
		        "only a postgresql store has other hosts to hear");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->dsn = strdup(cs->dsn))) {
		free(w);
		return -ENOMEM;
	}
	w->retry_ms = RETRY_FIRST_MS;
	store_pg_describe(cs->dsn, w->where, sizeof(w->where));
	vals[0] = "jobd-watch";
	vals[1] = w->dsn;
	vals[2] = "UTF8";
	vals[3] = NULL;
	w->conn = PQconnectdbParams(keys, vals, 1);
	if (!w->conn || PQstatus(w->conn) != CONNECTION_OK ||
	    send_listen(w) < 0) {
		snprintf(err, sizeof(err), "%s",
		         w->conn ? PQerrorMessage(w->conn) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		if (asprintf(why, "job store %s: cannot listen: %s", w->where,
		             err) < 0)
			*why = NULL;
		store_watch_close(w);
		return -EIO;
	}
	w->wait = STORE_WATCH_READ;
	*out = w;
	return 0;
}
