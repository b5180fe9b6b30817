/* SPDX-License-Identifier: MIT */
/* Answers handed out by jobd_client_receive(), and the queue that holds
 * them until then. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_priv.h"

struct jobd_client_answer *answer_new(enum jobd_client_answer_kind kind,
                                      uint64_t id)
{
	struct jobd_client_answer *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->kind = kind;
	a->id = id;
	a->retry_after_ms = -1;
	a->fraction = -1;
	return a;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct jobd_client_answer *answer_from_msg(enum jobd_client_answer_kind kind,
                                           uint64_t id, json_t *steal_msg)
{
	struct jobd_client_answer *a = answer_new(kind, id);
	const char *code;
	json_t *v;

	if (!a) {
		json_decref(steal_msg);
		return NULL;
	}
	a->msg = steal_msg;
	switch (kind) {
	case JOBD_CLIENT_ANSWER_RESULT:
		a->output = json_object_get(steal_msg, "output");
		break;
	case JOBD_CLIENT_ANSWER_ERROR:
		a->status = JOBD_CLIENT_E_SERVER;
		code = json_string_value(json_object_get(steal_msg, "code"));
		a->code = msg_error_from_name(code);
		a->code_name = dup_or_null(code);
		a->text = dup_or_null(json_string_value(
		        json_object_get(steal_msg, "message")));
		v = json_object_get(steal_msg, "retry_after_ms");
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			a->retry_after_ms = json_integer_value(v);
		break;
	case JOBD_CLIENT_ANSWER_PROGRESS:
		a->fraction = json_number_value(
		        json_object_get(steal_msg, "fraction"));
		a->text = dup_or_null(json_string_value(
		        json_object_get(steal_msg, "message")));
		break;
	}
	return a;
}

struct jobd_client_answer *answer_local_error(uint64_t id, int status,
                                              const char *text)
{
	struct jobd_client_answer *a = answer_new(JOBD_CLIENT_ANSWER_ERROR, id);

	if (!a)
		return NULL;
	a->status = status;
	a->text = strdup(text);
	return a;
}

int answer_take_arrays(struct jobd_client_answer *a, void *steal_data,
                       const struct jobd_array *arrays, size_t n)
{
	a->data = steal_data;
	if (!n)
		return 0;
	a->arrays = malloc(n * sizeof(*arrays));
	if (!a->arrays)
		return -ENOMEM;
	memcpy(a->arrays, arrays, n * sizeof(*arrays));
	a->n_arrays = n;
	return 0;
}

void jobd_client_answer_free(struct jobd_client_answer *a)
{
	if (!a)
		return;
	free(a->arrays);
	free(a->data);
	json_decref(a->msg);
	free(a->code_name);
	free(a->text);
	free(a);
}

enum jobd_client_answer_kind
jobd_client_answer_kind(const struct jobd_client_answer *a)
{
	return a->kind;
}

uint64_t jobd_client_answer_id(const struct jobd_client_answer *a)
{
	return a->id;
}

json_t *jobd_client_answer_output(const struct jobd_client_answer *a)
{
	return a->output;
}

json_t *jobd_client_answer_message(const struct jobd_client_answer *a)
{
	return a->msg;
}

int jobd_client_answer_status(const struct jobd_client_answer *a)
{
	return a->kind == JOBD_CLIENT_ANSWER_ERROR ? a->status : JOBD_CLIENT_OK;
}

enum jobd_error
jobd_client_answer_error_code(const struct jobd_client_answer *a)
{
	return a->code;
}

const char *jobd_client_answer_text(const struct jobd_client_answer *a)
{
	if (a->kind == JOBD_CLIENT_ANSWER_ERROR && !a->text)
		return "";
	return a->text;
}

int64_t jobd_client_answer_retry_after_ms(const struct jobd_client_answer *a)
{
	return a->retry_after_ms;
}

double jobd_client_answer_fraction(const struct jobd_client_answer *a)
{
	return a->fraction;
}

size_t jobd_client_answer_array_count(const struct jobd_client_answer *a)
{
	return a->n_arrays;
}

const struct jobd_array *
jobd_client_answer_array(const struct jobd_client_answer *a, size_t i)
{
	return i < a->n_arrays ? &a->arrays[i] : NULL;
}

const struct jobd_array *
jobd_client_answer_array_by_name(const struct jobd_client_answer *a,
                                 const char *name)
{
	for (size_t i = 0; name && i < a->n_arrays; i++)
		if (strcmp(a->arrays[i].name, name) == 0)
			return &a->arrays[i];
	return NULL;
}

void answer_queue_push(struct answer_queue *q, struct jobd_client_answer *a)
{
	a->next = NULL;
	if (q->tail)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
	q->count++;
}

struct jobd_client_answer *answer_queue_pop(struct answer_queue *q)
{
	struct jobd_client_answer *a = q->head;

	if (!a)
		return NULL;
	q->head = a->next;
	if (!q->head)
		q->tail = NULL;
	a->next = NULL;
	q->count--;
	return a;
}

/* Unlinks a, whose predecessor is prev (NULL at the head). */
static void answer_queue_unlink(struct answer_queue *q,
                                struct jobd_client_answer *prev,
                                struct jobd_client_answer *a)
{
	if (prev)
		prev->next = a->next;
	else
		q->head = a->next;
	if (q->tail == a)
		q->tail = prev;
	a->next = NULL;
	q->count--;
}

struct jobd_client_answer *answer_queue_take(struct answer_queue *q,
                                             uint64_t id)
{
	struct jobd_client_answer *a, *prev = NULL;

	for (a = q->head; a; prev = a, a = a->next) {
		if (a->id == id && a->kind != JOBD_CLIENT_ANSWER_PROGRESS) {
			answer_queue_unlink(q, prev, a);
			return a;
		}
	}
	return NULL;
}

void answer_queue_drop(struct answer_queue *q, uint64_t id)
{
	struct jobd_client_answer *a = q->head, *prev = NULL, *next;

	while (a) {
		next = a->next;
		if (a->id == id) {
			answer_queue_unlink(q, prev, a);
			jobd_client_answer_free(a);
		} else {
			prev = a;
		}
		a = next;
	}
}

void answer_queue_fini(struct answer_queue *q)
{
	struct jobd_client_answer *a;

	while ((a = answer_queue_pop(q)))
		jobd_client_answer_free(a);
}
