/*
 * test_status_page.c - the status page compiled into weir is the file in
 * the tree, byte for byte (WEIR_STATUS_PAGE names job/status_page.html),
 * and it is a whole HTML document. What the page shows is tested in
 * headless Chromium by tests/integration/test_status_page.py.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_page.h"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

START_TEST(embedded_is_the_file)
{
	const char *path = getenv("WEIR_STATUS_PAGE");
	const char *body = NULL;
	size_t len = 0, flen;
	char *file;

	ck_assert_msg(path != NULL, "WEIR_STATUS_PAGE is not set (meson sets "
	                            "it to job/status_page.html)");
	ck_assert_int_eq(http_status_page(&body, &len), 0);
	ck_assert_ptr_nonnull(body);
	file = read_file(path, &flen);
	ck_assert_uint_eq(len, flen);
	ck_assert_msg(memcmp(body, file, len) == 0,
	              "the page in the binary differs from %s: rebuild", path);
	free(file);
}
END_TEST

START_TEST(whole_document)
{
	const char *body;
	size_t len;
	static const char head[] = "<!doctype html>";
	static const char tail[] = "</html>\n";

	ck_assert_int_eq(http_status_page(&body, &len), 0);
	ck_assert_uint_gt(len, sizeof(head) + sizeof(tail));
	ck_assert_msg(memcmp(body, head, sizeof(head) - 1) == 0,
	              "the page does not start with %s", head);
	ck_assert_msg(memcmp(body + len - (sizeof(tail) - 1), tail,
	                     sizeof(tail) - 1) == 0,
	              "the page does not end with </html> and a newline");
	/* Served as UTF-8 text: no NUL inside. */
	ck_assert_ptr_null(memchr(body, '\0', len));
}
END_TEST

static Suite *status_page_suite(void)
{
	Suite *s = suite_create("status_page");
	TCase *tc = tcase_create("status_page");

	tcase_add_test(tc, embedded_is_the_file);
	tcase_add_test(tc, whole_document);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(status_page_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
