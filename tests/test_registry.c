/*
 * test_registry.c - how weir reads an operator table of each API version
 * (registry_adopt): a version-1 table is read only up to close (its
 * bytes after that are not the plugin's), a version-2 table up to its
 * struct_size, with members cut by it left NULL; a table of a newer
 * version, of version 0, or with a struct_size too small or absurd is
 * refused with a message that names the library and what to do.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

static int proc(weir_ctx_t *ctx, void *st, const weir_record_t *rec)
{
	(void)ctx;
	(void)st;
	(void)rec;
	return WEIR_OK;
}

static int timer(weir_ctx_t *ctx, void *st, int domain, int64_t t)
{
	(void)ctx;
	(void)st;
	(void)domain;
	(void)t;
	return WEIR_OK;
}

static int ended(weir_ctx_t *ctx, void *st)
{
	(void)ctx;
	(void)st;
	return WEIR_OK;
}

static int aborted(weir_ctx_t *ctx, void *st, uint64_t id)
{
	(void)ctx;
	(void)st;
	(void)id;
	return WEIR_OK;
}

/* A full table of this version whose every byte after close is 0xAB
 * before the version-2 members are set: what a version-1 plugin's memory
 * past its table may hold. */
static void full_table(weir_operator_t *op, uint32_t version)
{
	memset(op, 0xAB, sizeof(*op));
	op->api_version = version;
	op->name = "t";
	op->state_version = 1;
	op->open = NULL;
	op->process = proc;
	op->snapshot = NULL;
	op->restore = NULL;
	op->checkpoint_complete = NULL;
	op->close = NULL;
	op->struct_size = WEIR_OPERATOR_SIZE;
	op->on_timer = timer;
	op->end_input = ended;
	op->checkpoint_aborted = aborted;
}

/* registry_adopt's result and the one message it added, if any. */
static int adopt(const weir_operator_t *op, weir_operator_t *out, char *msg,
                 size_t len)
{
	struct errlist errs = {0};
	int rc = registry_adopt(op, "libx.so", "operators[0]", &errs, out);

	ck_assert_uint_eq(errs.n, rc < 0 ? 1 : 0);
	snprintf(msg, len, "%s", errs.n ? errs.msgs[0] : "");
	errlist_clear(&errs);
	return rc;
}

START_TEST(version_1_reads_to_close)
{
	weir_operator_t op, out;
	char msg[512];

	full_table(&op, 1);
	/* Version 1 has no struct_size: these bytes are not the plugin's. */
	memset(&op.struct_size, 0xAB,
	       sizeof(op) - offsetof(weir_operator_t, struct_size));
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), 0);
	ck_assert(out.process == proc);
	ck_assert_str_eq(out.name, "t");
	ck_assert_uint_eq(out.struct_size, WEIR_OPERATOR_SIZE);
	ck_assert(out.on_timer == NULL);
	ck_assert(out.end_input == NULL);
	ck_assert(out.checkpoint_aborted == NULL);
}
END_TEST

START_TEST(version_2_reads_to_struct_size)
{
	weir_operator_t op, out;
	char msg[512];

	full_table(&op, 2);
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), 0);
	ck_assert(out.on_timer == timer);
	ck_assert(out.end_input == ended);
	ck_assert(out.checkpoint_aborted == aborted);

	/* A table that ends after on_timer and half of end_input. */
	op.struct_size = (uint32_t)(offsetof(weir_operator_t, end_input) + 4);
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), 0);
	ck_assert(out.on_timer == timer);
	ck_assert(out.end_input == NULL);
	ck_assert(out.checkpoint_aborted == NULL);

	/* Bigger than this weir knows (a later minor addition): read what
	 * this weir knows. */
	op.struct_size = WEIR_OPERATOR_SIZE + 64;
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), 0);
	ck_assert(out.checkpoint_aborted == aborted);
	ck_assert_uint_eq(out.struct_size, WEIR_OPERATOR_SIZE);
}
END_TEST

START_TEST(refusals)
{
	weir_operator_t op, out;
	char msg[512], want[512];

	full_table(&op, WEIR_API_VERSION + 1);
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), -1);
	snprintf(want, sizeof(want),
	         "operators[0].library: \"libx.so\" was built for weir "
	         "operator API version %d, this weir has version %d (it "
	         "loads versions 1 to %d); run it with a weir of that "
	         "version, or rebuild the plugin against this weir's weir.h",
	         WEIR_API_VERSION + 1, WEIR_API_VERSION, WEIR_API_VERSION);
	ck_assert_str_eq(msg, want);
	ck_assert(out.process == NULL);

	full_table(&op, 0);
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), -1);
	ck_assert_ptr_nonnull(strstr(msg, "API version 0,"));

	full_table(&op, 2);
	op.struct_size = (uint32_t)offsetof(weir_operator_t, struct_size) + 3;
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), -1);
	snprintf(want, sizeof(want),
	         "operators[0].library: \"libx.so\" has struct_size %u in "
	         "its weir_operator_t (API version 2), expected %zu to "
	         "4096; set .struct_size = WEIR_OPERATOR_SIZE in the "
	         "plugin's table",
	         op.struct_size, offsetof(weir_operator_t, struct_size) + 4);
	ck_assert_str_eq(msg, want);

	op.struct_size = 0; /* a version-2 table that forgot it */
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), -1);
	op.struct_size = 1u << 20;
	ck_assert_int_eq(adopt(&op, &out, msg, sizeof(msg)), -1);
	ck_assert_ptr_nonnull(strstr(msg, "struct_size 1048576"));
}
END_TEST

START_TEST(builtins_are_version_2)
{
	const char *types[] = {"filter", "count", "map", "dedup"};

	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		struct job_op_cfg cfg = {.type = (char *)types[i]};
		struct errlist errs = {0};
		weir_operator_t out;

		ck_assert_int_eq(
		    registry_find(&cfg, "operators[0]", &errs, &out), 0);
		ck_assert_uint_eq(out.api_version, WEIR_API_VERSION);
		ck_assert(out.process != NULL);
		errlist_clear(&errs);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, version_1_reads_to_close);
	tcase_add_test(tc, version_2_reads_to_struct_size);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, builtins_are_version_2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
