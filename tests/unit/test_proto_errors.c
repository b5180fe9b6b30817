/* SPDX-License-Identifier: MIT */
/*
 * Errors at the protocol boundary (src/daemon/proto/errors.c): a lower
 * layer's errno becomes the code a client hears. An out-of-memory must
 * read as internal, never as shutting_down or busy, which a client would
 * act on differently (stop, or retry).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "daemon/proto/errors.h"

START_TEST(test_expected_codes)
{
	ck_assert_int_eq(proto_error_from_errno(0), JOBD_OK);
	ck_assert_int_eq(proto_error_from_errno(-EBUSY), JOBD_E_BUSY);
	ck_assert_int_eq(proto_error_from_errno(-ESHUTDOWN),
	                 JOBD_E_SHUTTING_DOWN);
	ck_assert_int_eq(proto_error_from_errno(-ETIMEDOUT), JOBD_E_TIMEOUT);
	ck_assert_int_eq(proto_error_from_errno(-ECANCELED), JOBD_E_CANCELLED);
	ck_assert_int_eq(proto_error_from_errno(-ENOENT), JOBD_E_NOT_FOUND);
	ck_assert_int_eq(proto_error_from_errno(-EMSGSIZE), JOBD_E_TOO_LARGE);
}
END_TEST

START_TEST(test_resource_failures_are_internal)
{
	static const int rcs[] = {-ENOMEM, -EIO, -EAGAIN, -EINVAL, -ENOSPC};
	size_t i;

	for (i = 0; i < sizeof(rcs) / sizeof(rcs[0]); i++)
		ck_assert_int_eq(proto_error_from_errno(rcs[i]),
		                 JOBD_E_INTERNAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("errno");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_expected_codes);
	tcase_add_test(tc, test_resource_failures_are_internal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
