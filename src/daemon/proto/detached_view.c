/* SPDX-License-Identifier: MIT */
/* Detached jobs as the protocol shows them: records to messages. */
#include "daemon/proto/detached.h"
#include "daemon/proto/detached_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/config/config.h"
#include "daemon/exec/job.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/pool.h"
#include "daemon/exec/provenance.h"
#include "daemon/exec/registry.h"
#include "daemon/net/net.h"
#include "daemon/proto/dispatch.h"
#include "daemon/proto/proto.h"
#include "daemon/store/store.h"
#include "daemon/util/clock.h"
#include "daemon/util/log.h"
#include "wire/message.h"

void djob_put_id(json_t *o, bool has_id, int64_t id)
{
	if (o && has_id)
		json_object_set_new(o, "id", json_integer(id));
}

/* A job as `status` and `jobs` show it. progress: the live job's, or
 * NULL. */
json_t *djob_json(const struct store_rec *r, const struct djob *x)
{
	json_t *o;

	o = json_pack("{ss ss ss sI so so so}", "job", r->id, "plugin",
	              r->plugin ? r->plugin : "", "state",
	              job_state_name(r->state), "attempts",
	              (json_int_t)r->attempts, "queued_at",
	              iso8601_json(r->created_ms), "started_at",
	              iso8601_json(r->started_ms), "finished_at",
	              iso8601_json(r->finished_ms));
	if (!o)
		return NULL;
	/* Users see only their own jobs; admins see whose each is. */
	if (r->owner && *r->owner)
		json_object_set_new(o, "user", json_string(r->owner));
	if (r->code)
		json_object_set_new(o, "error",
		                    json_pack("{ss ss}", "code", r->code,
		                              "message",
		                              r->message ? r->message : ""));
	if (x && x->has_progress)
		json_object_set_new(
		        o, "progress",
		        x->message[0]
		                ? json_pack("{sf ss}", "fraction", x->fraction,
		                            "message", x->message)
		                : json_pack("{sf}", "fraction", x->fraction));
	return o;
}

json_t *djob_status_msg(bool has_id, int64_t id, const struct store_rec *r,
                        const struct djob *x)
{
	json_t *o = djob_json(r, x);

	if (o) {
		json_object_set_new(o, "type", json_string("status"));
		djob_put_id(o, has_id, id);
	}
	return o;
}

/* The final answer for a finished job: result, or error with its code. */
json_t *djob_final_msg(bool has_id, int64_t id, const struct store_rec *r)
{
	json_t *o;

	if (r->state == JOB_DONE) {
		o = json_pack("{ss sO*}", "type", "result", "output",
		              r->output);
		if (o && !r->output)
			json_object_set_new(o, "output", json_null());
	} else {
		o = json_pack("{ss ss ss}", "type", "error", "code",
		              r->code ? r->code : "internal", "message",
		              r->message ? r->message : "");
	}
	if (!o)
		return NULL;
	djob_put_id(o, has_id, id);
	json_object_set_new(o, "job", json_string(r->id));
	json_object_set_new(o, "state", json_string(job_state_name(r->state)));
	if (r->provenance)
		json_object_set(o, "provenance", r->provenance);
	return o;
}

/* A live job's record, from memory. */
void djob_live_rec(const struct djob *x, struct store_rec *r)
{
	struct job *j = x->job;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", x->id);
	r->plugin = (char *)x->plugin; /* borrowed: never fini'd */
	r->owner = x->owner[0] ? (char *)x->owner : NULL; /* borrowed */
	r->created_ms = x->created_ms;
	r->state = JOB_QUEUED;
	if (j) {
		r->attempts = j->prior_attempts;
		pthread_mutex_lock(&j->lock);
		if (j->start_recorded) {
			r->state = JOB_RUNNING;
			r->started_ms = j->started_wall_ms;
			r->attempts++;
		}
		pthread_mutex_unlock(&j->lock);
	}
}
