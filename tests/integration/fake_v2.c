/* SPDX-License-Identifier: MIT */
/* The version 2 test server (see fake_v2.h). */
#include "fake_v2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wire/frame.h"
#include "wire/message.h"

static int write_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_out(int fd, const struct frame_out *o)
{
	for (int i = 0; i < o->iovcnt; i++)
		if (write_all(fd, o->iov[i].iov_base, o->iov[i].iov_len) < 0)
			return -1;
	return 0;
}

static void fake_send_json(int fd, json_t *steal)
{
	struct frame_out o;

	if (frame_encode_arrays(steal, NULL, NULL, 0, &o) == 0) {
		write_out(fd, &o);
		frame_out_fini(&o);
	}
	json_decref(steal);
}

/* One whole frame from the client. */
static void fake_frame(int fd, struct frame_decoder *d, enum fake_v2_mode mode,
                       const char *body, size_t len, void *data,
                       uint64_t data_len)
{
	struct jobd_array a[JOBD_ARRAYS_MAX];
	struct frame_out o;
	struct msg m;
	struct msg_error e;
	size_t n;

	if (msg_parse(body, len, MSG_FROM_CLIENT, &m, &e) < 0) {
		fake_send_json(fd, msg_error(e.has_id, e.id, e.code, e.text));
		return;
	}
	if (m.type == MSG_HELLO && mode == FAKE_V2_AS_V1) {
		fake_send_json(fd, msg_hello_server("fake1", 1u << 20));
	} else if (m.type == MSG_HELLO) {
		fake_send_json(fd,
		               json_pack("{ss si ss si si}", "type", "hello",
		                         "version", m.version >= 2 ? 2 : 1,
		                         "server", "fake2", "max_frame_size",
		                         1 << 20, "max_array_bytes",
		                         FAKE_MAX_ARRAY_BYTES));
		if (m.version >= 2)
			frame_decoder_allow_arrays(d, FAKE_MAX_ARRAY_BYTES,
			                           NULL);
	} else if ((m.type == MSG_RESULT || m.type == MSG_ATTACH) && m.has_id) {
		/* A finished job's stored result, with an array. */
		static const int32_t r[3] = {1, 2, 3};
		struct jobd_array ra = {"r", JOBD_DTYPE_I32, 1, {3}, r, 12};
		json_t *out = json_pack("{ss}", "job", m.job);

		if (frame_encode_result_arrays(m.id, out, NULL, &ra, 1, &o) ==
		    0) {
			write_out(fd, &o);
			frame_out_fini(&o);
		}
		json_decref(out);
	} else if (m.type == MSG_CALL && mode == FAKE_V2_BAD_ARRAYS) {
		static const char lie[] =
		        "{\"type\":\"result\",\"id\":%lld,\"output\":1,"
		        "\"arrays\":[{\"name\":\"x\",\"dtype\":\"f64\","
		        "\"shape\":[2],\"nbytes\":8}]}";
		char json[256], frame[512] = {0};
		int jl = snprintf(json, sizeof(json), lie, (long long)m.id);

		frame_put_array_prefix((uint8_t *)frame, (uint32_t)jl, 64);
		memcpy(frame + 16, json, (size_t)jl);
		write_all(fd, frame,
		          16 + (size_t)jl + frame_array_pad((uint32_t)jl) + 64);
	} else if (m.type == MSG_CALL) {
		if (msg_arrays(&m, data, data_len, a, &n, &e) < 0) {
			fake_send_json(fd,
			               msg_error(true, m.id, e.code, e.text));
		} else if (frame_encode_result_arrays(m.id, m.input, NULL, a, n,
		                                      &o) == 0) {
			write_out(fd, &o);
			frame_out_fini(&o);
		}
	} else if (m.has_id) {
		fake_send_json(fd, msg_pong(true, m.id));
	}
	msg_fini(&m);
}

void fake_v2_serve(int lfd, enum fake_v2_mode mode)
{
	static char buf[1 << 16];
	struct frame_decoder d;
	size_t pos, used, len;
	uint64_t dlen;
	void *data;
	char *body;
	ssize_t got;
	int fd, st;

	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		frame_decoder_init(&d, 1u << 20);
		while ((got = recv(fd, buf, sizeof(buf), 0)) > 0) {
			for (pos = 0; pos < (size_t)got;) {
				st = frame_decoder_feed(&d, buf + pos,
				                        (size_t)got - pos,
				                        &used);
				pos += used;
				if (st == FRAME_SIZED)
					continue;
				if (st == FRAME_MORE)
					break;
				if (st == FRAME_TOO_LARGE) {
					/* As jobd answers an array frame on a
					 * version 1 connection. */
					fake_send_json(
					        fd,
					        msg_error(false, 0,
					                  JOBD_E_TOO_LARGE,
					                  "frame too large"));
					break;
				}
				if (st != FRAME_READY)
					_exit(3);
				body = frame_decoder_take_data(&d, &len, &data,
				                               &dlen);
				fake_frame(fd, &d, mode, body, len, data, dlen);
				free(body);
				free(data);
			}
			if (d.error)
				break;
		}
		frame_decoder_fini(&d);
		close(fd);
	}
}
