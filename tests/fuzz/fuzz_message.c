/* SPDX-License-Identifier: MIT */
/*
 * Message parser and validator on arbitrary frame bodies, from both
 * directions.
 *
 * Properties: a refusal has a code from the documented set, a non-empty
 * text, an id only when the id was valid, and can always be sent (the
 * daemon builds msg_error() from it and encodes it: an error it cannot
 * encode would be an answer silently lost). A raw NUL byte is always
 * bad_json. An accepted message has the fields its type requires, and
 * survives encode + parse unchanged. An accepted call's input, echoed back
 * in a result the way the echo plugin does, arrives equal (json_equal).
 */
#include <string.h>

#include "fuzz.h"
#include "wire/frame.h"
#include "wire/message.h"

/* The daemon answers a refusal with this frame; it must exist. */
static void check_refusal(const struct msg_error *err, enum msg_from from)
{
	json_t *e;
	char *frame;
	size_t len;

	FUZZ_CHECK(err->code == JOBD_E_BAD_JSON ||
	           err->code == JOBD_E_BAD_REQUEST ||
	           err->code == JOBD_E_UNKNOWN_TYPE ||
	           err->code == JOBD_E_UNSUPPORTED_VERSION);
	FUZZ_CHECK(memchr(err->text, '\0', sizeof(err->text)) != NULL);
	FUZZ_CHECK(err->text[0] != '\0');
	if (err->has_id)
		FUZZ_CHECK(err->id >= 0 && err->id <= MSG_ID_MAX);
	e = msg_error(err->has_id, err->id, err->code, err->text);
	FUZZ_CHECK(e != NULL);
	FUZZ_CHECK(frame_encode(e, &frame, &len) == 0);
	free(frame);
	json_decref(e);
}

static void check_fields(const struct msg *m, enum msg_from from)
{
	FUZZ_CHECK(m->root && json_is_object(m->root));
	FUZZ_CHECK(msg_type_name(m->type) != NULL);
	if (m->has_id)
		FUZZ_CHECK(m->id >= 0 && m->id <= MSG_ID_MAX);
	if (from == MSG_FROM_CLIENT && m->type == MSG_CALL) {
		FUZZ_CHECK(m->has_id && m->plugin && m->input);
		FUZZ_CHECK(strlen(m->plugin) >= 1 &&
		           strlen(m->plugin) <= MSG_NAME_MAX_LEN);
		FUZZ_CHECK(m->timeout_ms >= 0);
	}
	if (from == MSG_FROM_CLIENT && m->type == MSG_HELLO)
		FUZZ_CHECK(m->version >= 1);
	if (from == MSG_FROM_CLIENT && m->type == MSG_CANCEL)
		FUZZ_CHECK(m->has_id || m->job);
	if (m->job)
		FUZZ_CHECK(strlen(m->job) >= 1 &&
		           strlen(m->job) <= MSG_JOB_ID_MAX_LEN);
	if (from == MSG_FROM_SERVER && m->type == MSG_PROGRESS)
		FUZZ_CHECK(m->fraction >= 0.0 && m->fraction <= 1.0);
	if (from == MSG_FROM_SERVER && m->type == MSG_ERROR)
		FUZZ_CHECK(m->code_name && m->message);
	if (from == MSG_FROM_SERVER && m->type == MSG_RESULT)
		FUZZ_CHECK(m->has_id && m->output);
}

/* Encodes v as the daemon would and parses it back as `from` sent it. */
static void reparse(const json_t *v, enum msg_from from, struct msg *out)
{
	struct msg_error err;
	char *frame;
	size_t len;

	FUZZ_CHECK(frame_encode(v, &frame, &len) == 0);
	FUZZ_CHECK(msg_parse(frame + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE,
	                     from, out, &err) == 0);
	free(frame);
}

static void check_accepted(const struct msg *m, enum msg_from from)
{
	struct msg again, echo;
	json_t *res;

	check_fields(m, from);
	reparse(m->root, from, &again);
	FUZZ_CHECK(again.type == m->type && again.has_id == m->has_id &&
	           again.id == m->id);
	FUZZ_CHECK(json_equal(again.root, m->root));
	msg_fini(&again);

	if (from == MSG_FROM_CLIENT && m->type == MSG_CALL) {
		/* What the echo plugin answers: the input, unchanged. */
		res = msg_result(m->id, json_deep_copy(m->input));
		FUZZ_CHECK(res != NULL);
		reparse(res, MSG_FROM_SERVER, &echo);
		FUZZ_CHECK(echo.type == MSG_RESULT && echo.id == m->id);
		FUZZ_CHECK(json_equal(echo.output, m->input));
		msg_fini(&echo);
		json_decref(res);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum msg_from dirs[] = {MSG_FROM_CLIENT, MSG_FROM_SERVER};
	struct msg m;
	struct msg_error err;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (msg_parse((const char *)data, size, dirs[i], &m, &err) ==
		    0) {
			FUZZ_CHECK(memchr(data, '\0', size) == NULL);
			check_accepted(&m, dirs[i]);
			msg_fini(&m);
		} else {
			FUZZ_CHECK(m.root == NULL);
			if (memchr(data, '\0', size))
				FUZZ_CHECK(err.code == JOBD_E_BAD_JSON);
			check_refusal(&err, dirs[i]);
		}
	}
	return 0;
}
