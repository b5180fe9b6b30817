/* SPDX-License-Identifier: MIT */
#include "client_wait.h"

#include <check.h>
#include <unistd.h>

#include "harness.h"

void wait_stat(struct jobd_client *c, const char *plugin, const char *key,
               json_int_t want)
{
	uint64_t end = harness_now_ms() + 10000;
	json_int_t v = -1;
	json_t *st;

	while (harness_now_ms() < end) {
		st = NULL;
		ck_assert_int_eq(jobd_client_stats(c, 5000, &st),
		                 JOBD_CLIENT_OK);
		v = json_integer_value(json_object_get(
		        json_object_get(json_object_get(st, "plugins"), plugin),
		        key));
		json_decref(st);
		if (v == want)
			return;
		usleep(10000);
	}
	ck_abort_msg("%s.%s stayed %lld, not %lld", plugin, key, (long long)v,
	             (long long)want);
}
