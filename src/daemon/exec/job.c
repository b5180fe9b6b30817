/* SPDX-License-Identifier: MIT */
#include "daemon/exec/job.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/exec/arrays.h"
#include "daemon/exec/plugin.h"
#include "daemon/exec/provenance.h"

struct job *job_new(struct plugin *plugin, json_t *input)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		json_decref(input);
		return NULL;
	}
	j->pub.host = &plugin->host.pub;
	j->done.kind = CQ_JOB_DONE;
	j->plugin = plugin_ref(plugin);
	j->input = input;
	j->t_queued_ns = monotonic_ns();
	j->queued_wall_ms = wall_ms();
	atomic_init(&j->stop_reason, 0);
	pthread_mutex_init(&j->lock, NULL);
	return j;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->deadline_ev)
		event_free(j->deadline_ev);
	if (j->input_bytes)
		*j->input_account -= j->input_bytes;
	json_decref(j->input);
	json_decref(j->output);
	json_decref(j->provenance);
	pthread_mutex_destroy(&j->lock);
	free(j->fail_msg);
	free(j->frame);
	arrays_free(j->arrays);
	free(j->arrays_sha256);
	plugin_unref(j->plugin);
	free(j);
}
