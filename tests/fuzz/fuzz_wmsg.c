/* SPDX-License-Identifier: MIT */
/*
 * The worker protocol codec on arbitrary frame bodies from both directions,
 * and the socket end on arbitrary byte streams.
 *
 * Properties: a refusal leaves the message empty and says why. An accepted
 * message has the fields its type requires, in range: descriptor indexes
 * below the announced count, exactly one of an inline payload or a
 * descriptor, a fraction in [0, 1], a code a plugin may return. It
 * survives encode + parse unchanged, and the builder given its fields
 * makes a message that parses to the same fields. The same bytes sent as a
 * stream over a real socketpair are taken whole or refused, never read out
 * of bounds, and hold no descriptor.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "ipc/wchan.h"
#include "ipc/wmsg.h"

static void reparse(json_t *v, enum wmsg_from from, struct wmsg *out)
{
	struct wmsg_error err;
	char *text;

	FUZZ_CHECK(v != NULL);
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(wmsg_parse(text, strlen(text), from, out, &err) == 0);
	free(text);
}

static void check_fields(const struct wmsg *m)
{
	FUZZ_CHECK(wmsg_type_name(m->type) != NULL);
	FUZZ_CHECK(m->nfds <= WMSG_MAX_FDS);
	for (unsigned i = 0; i < WMSG_MAX_FDS; i++)
		FUZZ_CHECK(m->fds[i] == -1);
	FUZZ_CHECK(m->plugin_fd < (int)m->nfds);
	FUZZ_CHECK(m->input_fd < (int)m->nfds);
	FUZZ_CHECK(m->output_fd < (int)m->nfds);
	FUZZ_CHECK(m->job >= 0 && m->job <= WMSG_JOB_MAX);
	switch (m->type) {
	case WMSG_INIT:
		FUZZ_CHECK(m->plugin && json_is_object(m->options));
		FUZZ_CHECK(m->log_level >= 3 && m->log_level <= 7);
		break;
	case WMSG_JOB:
		FUZZ_CHECK((m->input != NULL) != (m->input_fd >= 0));
		if (m->input_fd >= 0)
			FUZZ_CHECK(m->input_size >= 1);
		break;
	case WMSG_READY:
		FUZZ_CHECK(m->name && m->pid >= 1);
		break;
	case WMSG_PROGRESS:
		FUZZ_CHECK(m->fraction >= 0.0 && m->fraction <= 1.0);
		break;
	case WMSG_LOG:
		FUZZ_CHECK(m->text && m->level >= 3 && m->level <= 7);
		break;
	case WMSG_RESULT:
		FUZZ_CHECK((m->output != NULL) != (m->output_fd >= 0));
		FUZZ_CHECK(m->has_usage);
		break;
	case WMSG_ERROR:
		FUZZ_CHECK(m->message && m->code_name);
		FUZZ_CHECK(wmsg_plugin_code_ok(m->code) ||
		           m->code == JOBD_E_INTERNAL);
		break;
	case WMSG_INIT_FAILED:
		FUZZ_CHECK(m->stage && m->message);
		break;
	default:
		break;
	}
}

/* The builder, given the parsed fields, agrees with the parser. */
static void check_rebuild(const struct wmsg *m, enum wmsg_from from)
{
	struct wmsg again;
	json_t *v = NULL;

	switch (m->type) {
	case WMSG_JOB:
		v = wmsg_job(m->job, m->input, m->input_fd, m->input_size,
		             m->timeout_ms, m->job_id, m->nfds);
		break;
	case WMSG_PROGRESS:
		v = wmsg_progress(m->job, m->fraction, m->message);
		break;
	case WMSG_RESULT:
		v = wmsg_result(m->job, json_incref(m->output), m->output_fd,
		                m->output_size, &m->usage, m->nfds);
		break;
	case WMSG_ERROR:
		v = wmsg_error(m->job, m->code, m->message,
		               m->has_usage ? &m->usage : NULL);
		break;
	default:
		return;
	}
	reparse(v, from, &again);
	json_decref(v);
	FUZZ_CHECK(again.type == m->type && again.job == m->job);
	FUZZ_CHECK(again.nfds == m->nfds || m->type == WMSG_PROGRESS ||
	           m->type == WMSG_ERROR);
	FUZZ_CHECK(json_equal(again.input, m->input) ||
	           (!again.input && !m->input));
	FUZZ_CHECK(json_equal(again.output, m->output) ||
	           (!again.output && !m->output));
	FUZZ_CHECK(again.input_fd == m->input_fd &&
	           again.output_fd == m->output_fd);
	if (m->message)
		FUZZ_CHECK(again.message && !strcmp(again.message, m->message));
	if (m->has_usage)
		FUZZ_CHECK(again.usage.maxrss_kb == m->usage.maxrss_kb &&
		           again.usage.peak_reset == m->usage.peak_reset);
	wmsg_fini(&again);
}

/* The bytes as a stream into a socket end: frames are taken or refused. */
static void check_stream(const uint8_t *data, size_t size)
{
	struct wmsg_error err;
	struct wchan c;
	struct wmsg m;
	int sv[2];
	int rc = 0;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Inputs are far below the socket buffer: one write, no block. */
	if (size)
		FUZZ_CHECK(write(sv[1], data, size) == (ssize_t)size);
	close(sv[1]);
	wchan_init(&c, sv[0], 1u << 20);
	for (int i = 0; i < 100000; i++) {
		rc = wchan_next(&c, i & 1 ? WMSG_FROM_WORKER : WMSG_FROM_DAEMON,
		                &m, &err);
		if (rc < 0) {
			FUZZ_CHECK(err.text[0] != '\0');
			break;
		}
		if (rc == 1) {
			/* No descriptor ever came: announcing one fails. */
			FUZZ_CHECK(m.nfds == 0);
			wmsg_fini(&m);
			continue;
		}
		if (wchan_read(&c, 0) <= 0)
			break;
	}
	wchan_fini(&c);
	close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum wmsg_from dirs[] = {WMSG_FROM_DAEMON,
	                                      WMSG_FROM_WORKER};
	struct wmsg_error err;
	struct wmsg m, again;

	for (size_t i = 0; i < 2; i++) {
		if (wmsg_parse((const char *)data, size, dirs[i], &m, &err) ==
		    0) {
			check_fields(&m);
			reparse(m.root, dirs[i], &again);
			FUZZ_CHECK(again.type == m.type);
			FUZZ_CHECK(json_equal(again.root, m.root));
			wmsg_fini(&again);
			check_rebuild(&m, dirs[i]);
			wmsg_fini(&m);
		} else {
			FUZZ_CHECK(m.root == NULL);
			FUZZ_CHECK(memchr(err.text, '\0', sizeof(err.text)));
			FUZZ_CHECK(err.text[0] != '\0');
		}
	}
	check_stream(data, size);
	return 0;
}
