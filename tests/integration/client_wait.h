/* SPDX-License-Identifier: MIT */
/* Helpers for the tests that drive jobd through libjobd-client. */
#ifndef JOBD_TESTS_CLIENT_WAIT_H
#define JOBD_TESTS_CLIENT_WAIT_H

#include <jansson.h>

#include <jobd/client.h>

/* Waits (up to 10 s) until the stats of plugin show key == want; fails the
 * test otherwise. */
void wait_stat(struct jobd_client *c, const char *plugin, const char *key,
               json_int_t want);

#endif
