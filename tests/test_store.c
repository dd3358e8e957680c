/*
 * test_store.c - the checkpoint store: state files survive a round trip and
 * every kind of damage is refused with a message naming the file; metadata,
 * verification, restore fallback, retention, garbage collection of
 * shared/, the directory lock, injected I/O failures, and the `weir
 * checkpoints` listing.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lz4frame.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "instance_dir.h"
#include "store.h"
#include "util.h"

#define HDR_LEN 32
#define TRAILER_LEN 16

static char *tmpdir;
static char err[2048];

/* ---- fixtures and helpers ------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	char tmpl[] = "/tmp/weir-test-store-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	tmpdir = xstrdup(tmpl);
	err[0] = '\0';
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(tmpdir);
	tmpdir = NULL;
}

static struct ckpt_store *open_store(const struct ckpt_io *io)
{
	struct ckpt_store *st = ckpt_store_open(tmpdir, io, err, sizeof(err));

	ck_assert_msg(st != NULL, "open: %s", err);
	return st;
}

static char *path_of(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *path_of(const char *fmt, ...)
{
	char rel[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	return xasprintf("%s/%s", tmpdir, rel);
}

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *b;
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fstat(fileno(f), &sb), 0);
	b = xmalloc((size_t)sb.st_size + 1);
	*len = fread(b, 1, (size_t)sb.st_size, f);
	ck_assert_uint_eq(*len, (size_t)sb.st_size);
	fclose(f);
	return b;
}

static void write_all(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void flip_bit(const char *path, size_t off, int bit)
{
	size_t len;
	unsigned char *b = read_all(path, &len);

	ck_assert_uint_lt(off, len);
	b[off] ^= (unsigned char)(1u << bit);
	write_all(path, b, len);
	free(b);
}

/* Rewrites the trailer so the file's own checksum agrees with its bytes:
 * damage that only the inner checks can catch. */
static void reseal(unsigned char *b, size_t len)
{
	uint64_t sum = XXH64(b, len - TRAILER_LEN, 0);

	for (int i = 0; i < 8; i++)
		b[len - 8 + i] = (unsigned char)(sum >> (8 * i));
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *b = xmalloc(n);
	uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (unsigned char)x;
	}
	return b;
}

static void payload_for(uint64_t id, int task, char *buf, size_t len)
{
	snprintf(buf, len,
	         "state of task %d in checkpoint %" PRIu64
	         " -- aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         task, id);
}

/* Writes checkpoint id with ntasks tasks t0..; _metadata when complete. */
static void make_ckpt(struct ckpt_store *st, uint64_t id, int ntasks,
                      bool complete)
{
	struct ckpt_task_entry *tasks = xcalloc((size_t)ntasks, sizeof(*tasks));
	struct ckpt_meta m = {0};
	char name[32], payload[256];

	for (int i = 0; i < ntasks; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		payload_for(id, i, payload, sizeof(payload));
		tasks[i].task = xstrdup(name);
		tasks[i].parallelism = (uint32_t)i; /* 0: not recorded */
		ck_assert_msg(ckpt_write_state(st, id, name, 3, payload,
		                               strlen(payload), &tasks[i].file,
		                               err, sizeof(err)) == 0,
		              "write_state: %s", err);
	}
	m.job = "job1";
	m.fingerprint = "fp";
	m.id = id;
	m.triggered_ms = 1000 * (int64_t)id;
	m.completed_ms = 1000 * (int64_t)id + 5;
	m.tasks = tasks;
	m.ntasks = (size_t)ntasks;
	m.offsets_json = "{\"logs\":{\"0\":120,\"1\":98}}";
	if (complete)
		ck_assert_msg(ckpt_write_meta(st, &m, err, sizeof(err)) == 0,
		              "write_meta: %s", err);
	for (int i = 0; i < ntasks; i++)
		free(tasks[i].task);
	free(tasks);
}

/* Reads task t of checkpoint id without expectations; must fail. */
static void expect_read_fails(struct ckpt_store *st, uint64_t id,
                              const char *task,
                              const struct ckpt_file_info *expect,
                              const char *must_contain)
{
	void *p = NULL;
	size_t len = 0;
	uint32_t sv = 0;
	char rel[128];

	snprintf(rel, sizeof(rel), "chk-%" PRIu64 "/%s.state", id, task);
	err[0] = '\0';
	ck_assert_int_eq(ckpt_read_state(st, id, task, expect, &p, &len, &sv,
	                                 err, sizeof(err)),
	                 -1);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, rel), "message does not name %s: %s", rel,
	              err);
	if (must_contain)
		ck_assert_msg(strstr(err, must_contain),
		              "message lacks \"%s\": %s", must_contain, err);
}

/* ---- state files --------------------------------------------------------- */

static void roundtrip(struct ckpt_store *st, const char *task, uint32_t ver,
                      const void *data, size_t n)
{
	struct ckpt_file_info info, again;
	void *p = NULL;
	size_t len = 99;
	uint32_t sv = 0;
	struct stat sb;
	char *path;

	ck_assert_msg(ckpt_write_state(st, 1, task, ver, data, n, &info, err,
	                               sizeof(err)) == 0,
	              "write: %s", err);
	path = path_of("chk-1/%s.state", task);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(info.size, (uint64_t)sb.st_size);
	ck_assert_uint_eq(info.state_version, ver);
	ck_assert_str_eq(strrchr(path, '/') + 1, info.name);
	ck_assert_msg(ckpt_read_state(st, 1, task, &info, &p, &len, &sv, err,
	                              sizeof(err)) == 0,
	              "read: %s", err);
	ck_assert_uint_eq(len, n);
	ck_assert_uint_eq(sv, ver);
	ck_assert(n == 0 || memcmp(p, data, n) == 0);
	free(p);
	/* Same bytes in, same file out: the checksum is deterministic. */
	ck_assert_int_eq(ckpt_write_state(st, 1, task, ver, data, n, &again,
	                                  err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(again.checksum, info.checksum);
	free(path);
}

START_TEST(state_roundtrip)
{
	struct ckpt_store *st = open_store(NULL);
	unsigned char *big = random_bytes(5 * 1024 * 1024, 1);
	char *tmp;

	roundtrip(st, "empty", 0, NULL, 0);
	roundtrip(st, "one", 7, "x", 1);
	roundtrip(st, "op0-count-1", 42, big, 5 * 1024 * 1024);
	memset(big, 'z', 3 * 1024 * 1024); /* compresses ~250:1 */
	roundtrip(st, "zeros", UINT32_MAX, big, 3 * 1024 * 1024);
	free(big);
	tmp = path_of("chk-1/op0-count-1.state.tmp");
	ck_assert(!exists(tmp));
	free(tmp);
	ck_assert_str_eq(ckpt_store_dir(st), tmpdir);
	ckpt_store_close(st);
}
END_TEST

START_TEST(state_task_names)
{
	static const char *bad[] = {"",     "a/b", "..",          ".hidden",
	                            "a..b", "a b", "caf\xc3\xa9", "x\n"};
	struct ckpt_store *st = open_store(NULL);
	char longname[101];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(ckpt_write_state(st, 1, bad[i], 1, "x", 1,
		                                  NULL, err, sizeof(err)),
		                 -1);
		ck_assert_msg(strstr(err, "invalid task name"), "%s", err);
	}
	memset(longname, 'a', 100);
	longname[100] = '\0';
	ck_assert_int_eq(ckpt_write_state(st, 1, longname, 1, "x", 1, NULL, err,
	                                  sizeof(err)),
	                 -1);
	longname[99] = '\0';
	ck_assert_int_eq(ckpt_write_state(st, 1, longname, 1, "x", 1, NULL, err,
	                                  sizeof(err)),
	                 0);
	ck_assert_int_eq(ckpt_write_state(st, 1, "Op_1.x-2", 1, "x", 1, NULL,
	                                  err, sizeof(err)),
	                 0);
	ckpt_store_close(st);
}
END_TEST

START_TEST(state_truncated)
{
	struct ckpt_store *st = open_store(NULL);
	unsigned char *data = random_bytes(100000, 2), *orig;
	struct ckpt_file_info info;
	char *path = path_of("chk-1/t.state");
	size_t len;

	ck_assert_int_eq(ckpt_write_state(st, 1, "t", 1, data, 100000, &info,
	                                  err, sizeof(err)),
	                 0);
	orig = read_all(path, &len);
	size_t cuts[] = {0,
	                 5,
	                 HDR_LEN - 1,
	                 HDR_LEN,
	                 HDR_LEN + 10,
	                 len / 2,
	                 len - TRAILER_LEN - 1,
	                 len - TRAILER_LEN,
	                 len - 9,
	                 len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		write_all(path, orig, cuts[i]);
		expect_read_fails(st, 1, "t", NULL, NULL);
		expect_read_fails(st, 1, "t", &info, "truncated");
	}
	write_all(path, orig, HDR_LEN + TRAILER_LEN - 1);
	expect_read_fails(st, 1, "t", NULL, "too short");
	write_all(path, orig, len / 2);
	expect_read_fails(st, 1, "t", NULL, "end marker missing");
	free(orig);
	free(data);
	free(path);
	ckpt_store_close(st);
}
END_TEST

START_TEST(state_bit_flips)
{
	struct ckpt_store *st = open_store(NULL);
	char text[600], *path = path_of("chk-1/t.state");
	struct ckpt_file_info info;
	unsigned char *orig;
	size_t len;

	for (size_t i = 0; i + 1 < sizeof(text); i++)
		text[i] = (char)('a' + (i * 7) % 13);
	text[sizeof(text) - 1] = '\0';
	ck_assert_int_eq(ckpt_write_state(st, 1, "t", 9, text, strlen(text),
	                                  &info, err, sizeof(err)),
	                 0);
	orig = read_all(path, &len);
	/* Every byte of the file, one bit each: header, frame, trailer. */
	for (size_t off = 0; off < len; off++) {
		write_all(path, orig, len);
		flip_bit(path, off, (int)(off % 8));
		expect_read_fails(st, 1, "t", NULL, NULL);
		expect_read_fails(st, 1, "t", &info, NULL);
	}
	write_all(path, orig, len);
	flip_bit(path, HDR_LEN + 20, 3);
	expect_read_fails(st, 1, "t", NULL, "checksum mismatch");
	write_all(path, orig, len);
	flip_bit(path, 0, 0);
	expect_read_fails(st, 1, "t", NULL, "bad magic");
	write_all(path, orig, len);
	flip_bit(path, len - 5, 1);
	expect_read_fails(st, 1, "t", NULL, "checksum mismatch");
	write_all(path, orig, len);
	flip_bit(path, len - 16, 1);
	expect_read_fails(st, 1, "t", NULL, "end marker");
	free(orig);
	free(path);
	ckpt_store_close(st);
}
END_TEST

/* Damage with a valid outer checksum: only the inner checks can see it. */
START_TEST(state_forged)
{
	struct ckpt_store *st = open_store(NULL);
	char *path = path_of("chk-1/t.state");
	unsigned char *orig, *b;
	char text[5000];
	size_t len, flen, plen;
	int accepted = 0;
	void *p;

	for (size_t i = 0; i + 1 < sizeof(text); i++)
		text[i] = (char)('a' + (i * i) % 17);
	text[sizeof(text) - 1] = '\0';
	ck_assert_int_eq(ckpt_write_state(st, 1, "t", 1, text, strlen(text),
	                                  NULL, err, sizeof(err)),
	                 0);
	orig = read_all(path, &len);
	flen = len - HDR_LEN - TRAILER_LEN;
	b = xmalloc(len + 64);

	memcpy(b, orig, len);
	put_le(b + 8, 3, 4);
	reseal(b, len);
	write_all(path, b, len);
	expect_read_fails(st, 1, "t", NULL, "format version 3");

	/* The content field: a delta is not a task's state. */
	memcpy(b, orig, len);
	put_le(b + 24, 2, 4);
	reseal(b, len);
	write_all(path, b, len);
	expect_read_fails(st, 1, "t", NULL, "holds a keyed-state delta");

	struct {
		uint64_t claim;
		const char *msg;
	} lens[] = {
	    {strlen(text) + 1, "header says"},
	    {strlen(text) - 1, "the file is damaged"},
	    {0, "the file is damaged"},
	    {(uint64_t)8 << 30, "header says"}, /* must not allocate 8 GiB */
	    {(uint64_t)1 << 40, "limit"},
	    {UINT64_MAX, "limit"},
	};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(b, orig, len);
		put_le(b + 16, lens[i].claim, 8);
		reseal(b, len);
		write_all(path, b, len);
		expect_read_fails(st, 1, "t", NULL, lens[i].msg);
	}

	/* Trailing garbage between the frame and the trailer. */
	memcpy(b, orig, HDR_LEN + flen);
	memcpy(b + HDR_LEN + flen, "garbage!", 8);
	memcpy(b + HDR_LEN + flen + 8, orig + HDR_LEN + flen, TRAILER_LEN);
	reseal(b, len + 8);
	write_all(path, b, len + 8);
	expect_read_fails(st, 1, "t", NULL, "trailing garbage");

	/* Frame cut short, trailer intact. */
	memcpy(b, orig, HDR_LEN + flen / 2);
	memcpy(b + HDR_LEN + flen / 2, orig + HDR_LEN + flen, TRAILER_LEN);
	reseal(b, HDR_LEN + flen / 2 + TRAILER_LEN);
	write_all(path, b, HDR_LEN + flen / 2 + TRAILER_LEN);
	expect_read_fails(st, 1, "t", NULL, NULL);

	/* Random damage inside the frame: nothing may crash, and nothing
	 * but the original content may come out. */
	srand(7);
	for (int round = 0; round < 3000; round++) {
		int nflips = 1 + rand() % 4;
		memcpy(b, orig, len);
		for (int k = 0; k < nflips; k++)
			b[HDR_LEN + (size_t)rand() % flen] ^=
			    (unsigned char)(1 + rand() % 255);
		reseal(b, len);
		write_all(path, b, len);
		if (ckpt_read_state(st, 1, "t", NULL, &p, &plen, NULL, err,
		                    sizeof(err)) == 0) {
			/* lz4 frame headers hold fields that do not change the
			 * content (block size, independence) and only an 8-bit
			 * header checksum: accepted only if the content is
			 * exactly what was written (its XXH32 agrees). */
			ck_assert_uint_eq(plen, strlen(text));
			ck_assert_int_eq(memcmp(p, text, plen), 0);
			free(p);
			accepted++;
			continue;
		}
		ck_assert_msg(strstr(err, "chk-1/t.state: ") == err &&
		                  strstr(err, "the file is damaged"),
		              "%s", err);
	}
	ck_assert_int_lt(accepted, 100);
	free(b);
	free(orig);
	free(path);
	ckpt_store_close(st);
}
END_TEST

/* A state file of format 1 (weir before incremental checkpoints: a
 * 24-byte header without the content field) still reads: a checkpoint
 * written by the previous format restores. */
START_TEST(state_format1_reads)
{
	struct ckpt_store *st = open_store(NULL);
	char *path = path_of("chk-1/t.state");
	const char text[] = "the state of a task, as weir 1 wrote it";
	unsigned char *orig, *b;
	size_t len;
	void *p = NULL;
	size_t plen = 0;
	uint32_t sv = 0;

	ck_assert_int_eq(ckpt_write_state(st, 1, "t", 7, text, sizeof(text),
	                                  NULL, err, sizeof(err)),
	                 0);
	orig = read_all(path, &len);
	b = xmalloc(len);
	memcpy(b, orig, 24);
	memcpy(b + 24, orig + HDR_LEN, len - HDR_LEN);
	put_le(b + 8, 1, 4);
	reseal(b, len - 8);
	write_all(path, b, len - 8);
	ck_assert_msg(ckpt_read_state(st, 1, "t", NULL, &p, &plen, &sv, err,
	                              sizeof(err)) == 0,
	              "%s", err);
	ck_assert_uint_eq(plen, sizeof(text));
	ck_assert_uint_eq(sv, 7);
	ck_assert_mem_eq(p, text, sizeof(text));
	free(p);
	free(b);
	free(orig);
	free(path);
	ckpt_store_close(st);
}
END_TEST

START_TEST(state_expect_mismatch)
{
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_file_info a, b, e;

	ck_assert_int_eq(
	    ckpt_write_state(st, 1, "a", 1, "aaaa", 4, &a, err, sizeof(err)),
	    0);
	ck_assert_int_eq(
	    ckpt_write_state(st, 1, "b", 1, "bbbb", 4, &b, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(a.size, b.size);
	ck_assert_uint_ne(a.checksum, b.checksum);
	e = a;
	e.size++;
	expect_read_fails(st, 1, "a", &e, "_metadata says");
	e = a;
	e.checksum ^= 1;
	expect_read_fails(st, 1, "a", &e, "in _metadata");
	e = a;
	e.state_version = 2;
	expect_read_fails(st, 1, "a", &e, "state version");
	/* A valid file in the place of another one. */
	expect_read_fails(st, 1, "b", &a, "in _metadata");
	expect_read_fails(st, 1, "missing", NULL, "No such file");
	ckpt_store_close(st);
}
END_TEST

/* ---- metadata ------------------------------------------------------------ */

START_TEST(meta_roundtrip)
{
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_meta m;
	char *path;

	make_ckpt(st, 7, 3, true);
	ck_assert_msg(ckpt_read_meta(st, 7, &m, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_str_eq(m.job, "job1");
	ck_assert_str_eq(m.fingerprint, "fp");
	ck_assert_uint_eq(m.id, 7);
	ck_assert_int_eq(m.triggered_ms, 7000);
	ck_assert_int_eq(m.completed_ms, 7005);
	ck_assert_uint_eq(m.ntasks, 3);
	ck_assert_str_eq(m.tasks[2].task, "t2");
	ck_assert_str_eq(m.tasks[2].file.name, "t2.state");
	ck_assert_uint_eq(m.tasks[2].file.state_version, 3);
	ck_assert_uint_eq(m.tasks[0].parallelism, 0);
	ck_assert_uint_eq(m.tasks[2].parallelism, 2);
	ck_assert_str_eq(m.offsets_json, "{\"logs\":{\"0\":120,\"1\":98}}");
	ckpt_meta_clear(&m);
	ckpt_meta_clear(&m); /* cleared twice is fine */

	ck_assert_msg(ckpt_verify(st, 7, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.ntasks, 3);
	ckpt_meta_clear(&m);

	/* The human readable time is there. */
	path = path_of("chk-7/_metadata");
	{
		size_t len;
		char *text = (char *)read_all(path, &len);
		text[len] = '\0';
		ck_assert_ptr_nonnull(strstr(text,
		                             "\"completed_at_utc\": "
		                             "\"1970-01-01T00:00:07.005Z\""));
		ck_assert_ptr_nonnull(strstr(text, "\"checksum\": \""));
		free(text);
	}
	free(path);
	ckpt_store_close(st);
}
END_TEST

START_TEST(meta_offsets_fallback)
{
	static const char *in[] = {NULL, "not json", "[1,2]", "{}"};
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_meta m = {0}, r;

	m.job = "j";
	m.fingerprint = "f";
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		m.id = i;
		m.offsets_json = (char *)in[i];
		ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), 0);
		ck_assert_msg(ckpt_verify(st, i, &r, err, sizeof(err)) == 0,
		              "%s", err);
		ck_assert_str_eq(r.offsets_json, "{}");
		ck_assert_uint_eq(r.ntasks, 0);
		ckpt_meta_clear(&r);
	}
	ckpt_store_close(st);
}
END_TEST

/* _metadata records the instance of several that took it, and only then;
 * an older one without it is the only instance's. */
START_TEST(meta_instance)
{
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_meta m = {0}, r;
	char *path, *text;
	size_t len;

	m.job = "j";
	m.fingerprint = "f";
	m.id = 1;
	m.instance_index = 2;
	m.instance_count = 3;
	ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), 0);
	ck_assert_msg(ckpt_read_meta(st, 1, &r, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_int_eq(r.instance_index, 2);
	ck_assert_int_eq(r.instance_count, 3);
	ckpt_meta_clear(&r);

	m.id = 2;
	m.instance_index = 0;
	m.instance_count = 1;
	ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), 0);
	path = path_of("chk-2/_metadata");
	text = (char *)read_all(path, &len);
	text[len] = '\0';
	ck_assert_ptr_null(strstr(text, "instance"));
	free(text);
	free(path);
	ck_assert_int_eq(ckpt_read_meta(st, 2, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.instance_index, 0);
	ck_assert_int_eq(r.instance_count, 1);
	ckpt_meta_clear(&r);
	ckpt_store_close(st);
}
END_TEST

/* Writes json as chk-5/_metadata (path); reading it must fail with a
 * message that names the file and holds msg (case i). */
static void expect_meta_refused(struct ckpt_store *st, const char *path,
                                const char *json, const char *msg, size_t i)
{
	struct ckpt_meta m;

	write_all(path, json, strlen(json));
	ck_assert_msg(ckpt_read_meta(st, 5, &m, err, sizeof(err)) == -1,
	              "case %zu (%s) accepted", i, msg);
	ck_assert_ptr_null(m.job);
	ck_assert_ptr_null(m.tasks);
	ck_assert_msg(strstr(err, "chk-5/_metadata: ") == err, "case %zu: %s",
	              i, err);
	ck_assert_msg(strstr(err, msg), "case %zu: wanted \"%s\", got: %s", i,
	              msg, err);
}

START_TEST(meta_bad_files)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
	    {"", "not valid JSON"},
	    {"{\"format\":1,", "not valid JSON"},
	    {"[]", "should hold a JSON object"},
	    {"{}", "format is missing"},
	    {"{\"format\":3}", "format 3 is not supported"},
	    {"{\"format\":0}", "format 0 is not supported"},
	    {"{\"format\":1}", "id is missing"},
	    {"{\"format\":1,\"id\":\"5\"}", "id should be an integer, found a "
	                                    "string"},
	    {"{\"format\":1,\"id\":9}", "id is 9 but the directory is chk-5"},
	    {"{\"format\":1,\"id\":5,\"id\":5}", "not valid JSON"},
	    {"{\"format\":1,\"id\":5,\"job\":1}", "job should be a string"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1.5}",
	     "triggered_at should be an integer"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":{}}",
	     "tasks should be an array"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[]}",
	     "offsets is missing"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[7],"
	     "\"offsets\":{}}",
	     "tasks[0] should be an object"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"../a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "tasks[0].file \"../a.state\" contains '/'"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"..a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "contains \"..\""},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"b.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "is not <task>.state"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a/"
	     "b\","
	     "\"file\":\"b.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "tasks[0].task \"a/b\" is not a valid task name"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":\"xyz\","
	     "\"state_version\":1}],\"offsets\":{}}",
	     "tasks[0].checksum \"xyz\" is not 16 hex digits"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":-1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "tasks[0].size is negative"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":4294967296}],"
	     "\"offsets\":{}}",
	     "tasks[0].state_version 4294967296 is out of range"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\"}],\"offsets\":{}}",
	     "tasks[0].state_version is missing"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1,\"parallelism\":0}],"
	     "\"offsets\":{}}",
	     "tasks[0].parallelism should be an integer from 1 to 65535"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1},{\"task\":\"a\","
	     "\"file\":\"a.state\",\"size\":1,\"checksum\":"
	     "\"0000000000000001\",\"state_version\":1}],\"offsets\":{}}",
	     "tasks[0] and tasks[1] are both task a"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[],"
	     "\"offsets\":{},\"instance\":{\"index\":3,\"count\":3}}",
	     "instance should be {\"index\": I, \"count\": N}"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[],"
	     "\"offsets\":{},\"instance\":{\"index\":0,\"count\":257}}",
	     "with 0 <= I < N <= 256: the file is damaged"},
	    {"{\"format\":1,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	     "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[],"
	     "\"offsets\":{},\"instance\":\"1/3\"}",
	     "instance should be"},
	};
	struct ckpt_store *st = open_store(NULL);
	char *dir = path_of("chk-5"), *path = path_of("chk-5/_metadata");
	struct ckpt_meta m;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(ckpt_read_meta(st, 5, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "chk-5/_metadata: cannot open"), "%s", err);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_meta_refused(st, path, cases[i].json, cases[i].msg, i);
	free(dir);
	free(path);
	ckpt_store_close(st);
}
END_TEST

/* A _metadata of checkpoint 5 with one keyed task whose "chain" is the
 * JSON text given. */
static char *meta_with_chain(const char *chain)
{
	return xasprintf(
	    "{\"format\":2,\"id\":5,\"job\":\"j\",\"fingerprint\":\"f\","
	    "\"triggered_at\":1,\"completed_at\":2,\"tasks\":[{\"task\":"
	    "\"op1-count-0\",\"file\":\"op1-count-0.state\",\"size\":1,"
	    "\"checksum\":\"0000000000000001\",\"state_version\":1,\"raw\":3,"
	    "\"chain\":%s}],\"offsets\":{}}",
	    chain);
}

/* One chain file entry of the JSON above, named file. */
#define LINK(file)                                                             \
	"{\"file\":\"" file "\",\"size\":10,\"checksum\":"                     \
	"\"00000000000000ff\",\"raw\":20}"

/* A chain in _metadata is believed only when it is an array of objects
 * naming this task's files, a base first and deltas after, each taken at
 * a checkpoint after the one before and not after this one, with size,
 * checksum and raw size. Each wrong chain is refused with the path of
 * what is wrong. */
START_TEST(meta_bad_chains)
{
	static const struct {
		const char *chain;
		const char *msg;
	} cases[] = {
	    {"{}", "tasks[0].chain should be an array, found an object"},
	    {"\"op1-count-0.b3\"", "tasks[0].chain should be an array, found "
	                           "a string"},
	    {"[]", "tasks[0].chain is empty"},
	    {"[1]", "tasks[0].chain[0] should be an object"},
	    {"[" LINK("op1-count-0.b3") ",null]",
	     "tasks[0].chain[1] should be an object"},
	    {"[" LINK("op1-count-0.d3") "]",
	     "tasks[0].chain[0].file \"op1-count-0.d3\" is not <task>.b<id>"},
	    {"[" LINK("op2-count-0.b3") "]", "is not <task>.b<id>"},
	    {"[" LINK("op1-count-00.b3") "]", "is not <task>.b<id>"},
	    {"[" LINK("../op1-count-0.b3") "]", "is not <task>.b<id>"},
	    {"[" LINK("op1-count-0.b3") "," LINK("op1-count-1.d4") "]",
	     "tasks[0].chain[1].file \"op1-count-1.d4\" is not <task>.d<id>"},
	    {"[" LINK("op1-count-0.b3") "," LINK("op1-count-0.b4") "]",
	     "chain[1].file \"op1-count-0.b4\" is not <task>.d<id>"},
	    {"[" LINK("op1-count-0.b3") "," LINK("op1-count-0.d4") "," LINK(
	         "op1-count-0.d4") "]",
	     "chain[2].file \"op1-count-0.d4\" is not newer than the file "
	     "before it"},
	    {"[" LINK("op1-count-0.b4") "," LINK("op1-count-0.d3") "]",
	     "chain[1].file \"op1-count-0.d3\" is not newer than the file "
	     "before it"},
	    {"[" LINK("op1-count-0.b3") "," LINK("op1-count-0.d6") "]",
	     "chain[1].file \"op1-count-0.d6\" is newer than the checkpoint"},
	    {"[" LINK("op1-count-0.b6") "]", "is newer than the checkpoint"},
	    {"[" LINK("op1-count-0.b0") "]", "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b03") "]",
	     "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b") "]", "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b3x") "]",
	     "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b3/../x") "]",
	     "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b-3") "]",
	     "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b12345678901234567") "]",
	     "does not end in a checkpoint id"},
	    {"[" LINK("op1-count-0.b9007199254740993") "]",
	     "ends in an id out of range"},
	    {"[{\"size\":10,\"checksum\":\"00000000000000ff\",\"raw\":20}]",
	     "tasks[0].chain[0].file is missing"},
	    {"[{\"file\":\"op1-count-0.b3\",\"checksum\":\"00000000000000ff\","
	     "\"raw\":20}]",
	     "tasks[0].chain[0].size is missing"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"raw\":20}]",
	     "tasks[0].chain[0].checksum is missing"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"00000000000000ff\"}]",
	     "tasks[0].chain[0].raw is missing"},
	    {"[{\"file\":3,\"size\":10,\"checksum\":\"00000000000000ff\","
	     "\"raw\":20}]",
	     "tasks[0].chain[0].file should be a string, found an integer"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":\"10\",\"checksum\":"
	     "\"00000000000000ff\",\"raw\":20}]",
	     "tasks[0].chain[0].size should be an integer, found a string"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":-1,\"checksum\":"
	     "\"00000000000000ff\",\"raw\":20}]",
	     "tasks[0].chain[0].size is negative"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"00000000000000ff\",\"raw\":-5}]",
	     "tasks[0].chain[0].raw should be an integer >= 0"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"00000000000000ff\",\"raw\":1.5}]",
	     "tasks[0].chain[0].raw should be an integer, found a number"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"xyz\",\"raw\":20}]",
	     "tasks[0].chain[0].checksum \"xyz\" is not 16 hex digits"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"000000000000000g\",\"raw\":20}]",
	     "checksum \"000000000000000g\" is not 16 hex digits"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"0000000000000000ff\",\"raw\":20}]",
	     "checksum \"0000000000000000ff\" is not 16 hex digits"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":"
	     "\"-00000000000000f\",\"raw\":20}]",
	     "is not 16 hex digits"},
	    {"[{\"file\":\"op1-count-0.b3\",\"size\":10,\"checksum\":255,"
	     "\"raw\":20}]",
	     "tasks[0].chain[0].checksum should be a string, found an "
	     "integer"},
	};
	struct ckpt_store *st = open_store(NULL);
	char *dir = path_of("chk-5"), *path = path_of("chk-5/_metadata");
	struct ckpt_meta m;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	/* The frame is right: a good chain reads. */
	{
		char *json = meta_with_chain(
		    "[" LINK("op1-count-0.b3") "," LINK("op1-count-0.d5") "]");

		write_all(path, json, strlen(json));
		free(json);
		ck_assert_msg(ckpt_read_meta(st, 5, &m, err, sizeof(err)) == 0,
		              "%s", err);
		ck_assert_uint_eq(m.tasks[0].chain.n, 2);
		ckpt_meta_clear(&m);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *json = meta_with_chain(cases[i].chain);

		expect_meta_refused(st, path, json, cases[i].msg, i);
		ck_assert_msg(strstr(err, "the file is damaged"),
		              "case %zu: %s", i, err);
		free(json);
	}
	free(dir);
	free(path);
	ckpt_store_close(st);
}
END_TEST

#undef LINK

/* A chain file entry for a test: name, and made-up size, checksum and
 * raw size derived from i. */
static struct ckpt_chain_file chain_file(const char *task, bool base,
                                         uint64_t id, uint64_t i)
{
	struct ckpt_chain_file f = {.id = id, .base = base};

	ckpt_chain_file_name(f.file.name, sizeof(f.file.name), task, base, id);
	f.file.size = 100 + i;
	f.file.checksum = 0xfedcba9876543210ull ^ i;
	f.file.raw = ((uint64_t)5 << 32) + i;
	return f;
}

/* Writes checkpoint id's _metadata: task tasks[t] with the chain of
 * ids[t] (base first; nids[t] of them, 0: no chain). */
static void write_chain_meta(struct ckpt_store *st, uint64_t id,
                             const char *const *tasks, const uint64_t *ids,
                             const size_t *nids, size_t ntasks)
{
	struct ckpt_task_entry *t = xcalloc(ntasks, sizeof(*t));
	struct ckpt_meta m = {.job = "job1",
	                      .fingerprint = "fp",
	                      .id = id,
	                      .tasks = t,
	                      .ntasks = ntasks};
	size_t at = 0;

	for (size_t i = 0; i < ntasks; i++) {
		t[i].task = (char *)tasks[i];
		snprintf(t[i].file.name, sizeof(t[i].file.name), "%s.state",
		         tasks[i]);
		t[i].file.raw = 7 + i;
		t[i].chain.n = nids[i];
		t[i].chain.f =
		    nids[i] ? xcalloc(nids[i], sizeof(*t[i].chain.f)) : NULL;
		for (size_t j = 0; j < nids[i]; j++, at++)
			t[i].chain.f[j] =
			    chain_file(tasks[i], j == 0, ids[at], at);
	}
	ck_assert_msg(ckpt_write_meta(st, &m, err, sizeof(err)) == 0, "%s",
	              err);
	for (size_t i = 0; i < ntasks; i++)
		ckpt_chain_clear(&t[i].chain);
	free(t);
}

/* Chains survive ckpt_write_meta and ckpt_read_meta whole: names, ids,
 * base flags, sizes, checksums (all 64 bits) and raw sizes, per task; a
 * task without one has none. */
START_TEST(meta_chain_roundtrip)
{
	static const char *const tasks[] = {"op1-count-0", "source-0",
	                                    "op1-count-1"};
	static const uint64_t ids[] = {3, 4, 5, 9, 2, 9};
	static const size_t nids[] = {4, 0, 2};
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_meta m;
	size_t at = 0;

	write_chain_meta(st, 9, tasks, ids, nids, 3);
	ck_assert_msg(ckpt_read_meta(st, 9, &m, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_uint_eq(m.ntasks, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct ckpt_task_entry *t = &m.tasks[i];

		ck_assert_str_eq(t->task, tasks[i]);
		ck_assert_uint_eq(t->file.raw, 7 + i);
		ck_assert_uint_eq(t->chain.n, nids[i]);
		for (size_t j = 0; j < nids[i]; j++, at++) {
			struct ckpt_chain_file want =
			    chain_file(tasks[i], j == 0, ids[at], at);
			const struct ckpt_chain_file *f = &t->chain.f[j];

			ck_assert_str_eq(f->file.name, want.file.name);
			ck_assert_uint_eq(f->id, want.id);
			ck_assert_int_eq(f->base, want.base);
			ck_assert_uint_eq(f->file.size, want.file.size);
			ck_assert_uint_eq(f->file.checksum, want.file.checksum);
			ck_assert_uint_eq(f->file.raw, want.file.raw);
			ck_assert_ptr_null(f->payload);
		}
	}
	ck_assert_str_eq(m.tasks[0].chain.f[3].file.name, "op1-count-0.d9");
	ck_assert_str_eq(m.tasks[2].chain.f[0].file.name, "op1-count-1.b2");
	ckpt_meta_clear(&m);
	ckpt_store_close(st);
}
END_TEST

START_TEST(verify_missing_task_file)
{
	struct ckpt_store *st = open_store(NULL);
	char *path = path_of("chk-3/t1.state");
	struct ckpt_meta m;

	make_ckpt(st, 3, 3, true);
	ck_assert_int_eq(ckpt_verify(st, 3, &m, err, sizeof(err)), 0);
	ckpt_meta_clear(&m);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(ckpt_verify(st, 3, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "chk-3/t1.state") &&
	                  strstr(err, "No such file"),
	              "%s", err);
	ck_assert_ptr_null(m.tasks);
	free(path);
	ckpt_store_close(st);
}
END_TEST

/* ---- find_latest, retain, remove ---------------------------------------- */

struct reports {
	int n;
	uint64_t ids[16];
	char why[16][1200];
};

static void collect(void *arg, uint64_t id, const char *why)
{
	struct reports *r = arg;

	ck_assert_int_lt(r->n, 16);
	r->ids[r->n] = id;
	snprintf(r->why[r->n], sizeof(r->why[0]), "%s", why);
	r->n++;
}

enum damage { TRUNCATE, FLIP, NO_META };

static void damage_ckpt(uint64_t id, enum damage how)
{
	char *state = path_of("chk-%" PRIu64 "/t1.state", id);
	char *meta = path_of("chk-%" PRIu64 "/_metadata", id);
	struct stat sb;

	switch (how) {
	case TRUNCATE:
		ck_assert_int_eq(stat(state, &sb), 0);
		ck_assert_int_eq(truncate(state, sb.st_size / 2), 0);
		break;
	case FLIP:
		flip_bit(state, HDR_LEN + 3, 5);
		break;
	case NO_META:
		ck_assert_int_eq(unlink(meta), 0);
		break;
	}
	free(state);
	free(meta);
}

START_TEST(find_latest_falls_back)
{
	static const struct {
		enum damage how;
		const char *why;
	} cases[] = {
	    {TRUNCATE, "damaged: chk-3/t1.state"},
	    {FLIP, "checksum mismatch"},
	    {NO_META, "incomplete: no _metadata"},
	};
	enum damage how = cases[_i].how;
	struct ckpt_store *st = open_store(NULL);
	struct reports rep = {0};
	struct ckpt_meta m;

	for (uint64_t id = 1; id <= 3; id++)
		make_ckpt(st, id, 2, true);
	damage_ckpt(3, how);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 2);
	ck_assert_uint_eq(m.ntasks, 2);
	ckpt_meta_clear(&m);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_uint_eq(rep.ids[0], 3);
	ck_assert_msg(strstr(rep.why[0], cases[_i].why), "%s", rep.why[0]);
	ckpt_store_close(st);
}
END_TEST

/* Restore's search keeps each decoded payload of the checkpoint it hands
 * back (and only of that one: what chk-3 decoded before its damaged file
 * is freed, which the sanitizer build checks). */
START_TEST(load_latest_keeps_payloads)
{
	struct ckpt_store *st = open_store(NULL);
	struct reports rep = {0};
	struct ckpt_meta m;
	char want[256];

	for (uint64_t id = 1; id <= 3; id++)
		make_ckpt(st, id, 3, true);
	damage_ckpt(3, FLIP);
	ck_assert_int_eq(ckpt_load_latest(st, &m, NULL, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 2);
	ck_assert_uint_eq(m.ntasks, 3);
	for (size_t i = 0; i < m.ntasks; i++) {
		char name[32];

		snprintf(name, sizeof(name), "t%zu", i);
		payload_for(2, (int)i, want, sizeof(want));
		ck_assert_str_eq(m.tasks[i].task, name);
		ck_assert_uint_eq(m.tasks[i].payload_len, strlen(want));
		ck_assert_int_eq(memcmp(m.tasks[i].payload, want, strlen(want)),
		                 0);
	}
	ckpt_meta_clear(&m);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_msg(strstr(rep.why[0], "chk-3/t1.state"), "%s", rep.why[0]);
	/* The plain search keeps nothing. */
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, NULL, NULL), 1);
	ck_assert_ptr_null(m.tasks[0].payload);
	ckpt_meta_clear(&m);
	ckpt_store_close(st);
}
END_TEST

START_TEST(find_latest_none)
{
	struct ckpt_store *st = open_store(NULL);
	struct reports rep = {0};
	struct ckpt_meta m;

	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), 0);
	ck_assert_int_eq(rep.n, 0);

	/* Only incomplete ones: nothing was ever committed. */
	make_ckpt(st, 1, 1, false);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), 0);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_uint_eq(rep.ids[0], 1);
	ck_assert_ptr_null(m.job);

	/* All damaged: -1, and every reason reported, newest first. */
	rep.n = 0;
	make_ckpt(st, 2, 2, true);
	make_ckpt(st, 3, 2, true);
	damage_ckpt(2, TRUNCATE);
	damage_ckpt(3, FLIP);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, NULL, NULL), -1);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), -1);
	ck_assert_ptr_null(m.job);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_uint_eq(rep.ids[0], 3);
	ck_assert_uint_eq(rep.ids[1], 2);
	ck_assert_uint_eq(rep.ids[2], 1);
	ck_assert_ptr_nonnull(strstr(rep.why[0], "damaged"));
	ck_assert_ptr_nonnull(strstr(rep.why[1], "damaged"));
	ck_assert_ptr_nonnull(strstr(rep.why[2], "incomplete"));
	ckpt_store_close(st);
}
END_TEST

START_TEST(list_and_retain)
{
	struct ckpt_store *st = open_store(NULL);
	uint64_t *ids, want[] = {5, 6, 7};
	char *junk[] = {path_of("chk-"), path_of("chk-01"), path_of("chk-x"),
	                path_of("other")};
	size_t n;

	/* 1..6 with 2 and 4 incomplete; 7 is being written. */
	for (uint64_t id = 1; id <= 7; id++)
		make_ckpt(st, id, 2, id != 2 && id != 4 && id != 7);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(mkdir(junk[i], 0755), 0);
		free(junk[i]);
	}
	junk[0] = path_of("chk-99");
	write_all(junk[0], "x", 1); /* a file, not a checkpoint */
	free(junk[0]);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 7);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], i + 1);
	free(ids);

	ck_assert_int_eq(ckpt_retain(st, 6, 2), 0);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], want[i]);
	free(ids);

	/* retain below 1 still keeps newest. */
	ck_assert_int_eq(ckpt_retain(st, 6, 0), 0);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ids[0], 6);
	ck_assert_uint_eq(ids[1], 7);
	free(ids);

	ck_assert_int_eq(ckpt_remove(st, 7), 0);
	ck_assert_int_eq(ckpt_remove(st, 7), 0); /* already gone */
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	free(ids);
	ckpt_store_close(st);
}
END_TEST

START_TEST(retain_incomplete_newest)
{
	struct ckpt_store *st = open_store(NULL);
	uint64_t *ids;
	size_t n;

	/* newest without _metadata must not cost the last complete one. */
	make_ckpt(st, 1, 1, true);
	make_ckpt(st, 2, 1, false);
	ck_assert_int_eq(ckpt_retain(st, 2, 1), 0);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(ids);
	ckpt_store_close(st);
}
END_TEST

/* ---- links and strays in DIR --------------------------------------------- */

/* A directory outside DIR holding files that look like a checkpoint's. */
static char *make_outside(const char *suffix)
{
	char *dir = xasprintf("%s-%s", tmpdir, suffix);
	char *f;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	f = xasprintf("%s/_metadata", dir);
	write_all(f, "{}", 2);
	free(f);
	f = xasprintf("%s/t0.state", dir);
	write_all(f, "precious", 8);
	free(f);
	return dir;
}

static void check_outside(const char *dir)
{
	char *meta = xasprintf("%s/_metadata", dir);
	char *state = xasprintf("%s/t0.state", dir);
	size_t len;
	unsigned char *b;

	ck_assert_msg(exists(meta), "%s was deleted through a link", meta);
	ck_assert_msg(exists(state), "%s was deleted through a link", state);
	b = read_all(state, &len);
	ck_assert_msg(len == 8 && !memcmp(b, "precious", 8),
	              "%s was changed through a link", state);
	free(b);
	free(meta);
	free(state);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct strays {
	int n;
	char text[8][512];
};

static void collect_stray(void *arg, const char *name, uint64_t id,
                          const char *why)
{
	struct strays *r = arg;

	ck_assert_int_lt(r->n, 8);
	snprintf(r->text[r->n++], sizeof(r->text[0]), "%s %" PRIu64 ": %s",
	         name, id, why);
}

/* Whether some report starts with `start` and holds `part`. */
static bool stray_has(const struct strays *r, const char *start,
                      const char *part)
{
	for (int i = 0; i < r->n; i++)
		if (!strncmp(r->text[i], start, strlen(start)) &&
		    strstr(r->text[i], part))
			return true;
	return false;
}

START_TEST(links_left_alone)
{
	struct ckpt_store *st = open_store(NULL);
	char *old = make_outside("old"), *young = make_outside("young");
	char *old_link = path_of("chk-1"), *young_link = path_of("chk-9");
	char *tmp = xasprintf("%s/t0.state.tmp", young);
	struct strays rep = {0};
	uint64_t *ids;
	size_t n;

	for (uint64_t id = 2; id <= 4; id++)
		make_ckpt(st, id, 1, true);
	ck_assert_int_eq(symlink(old, old_link), 0);
	ck_assert_int_eq(symlink(young, young_link), 0);

	/* Neither link is a checkpoint: restore, startup cleanup and
	 * retention never see them. */
	ck_assert_int_eq(ckpt_list_report(st, &ids, &n, collect_stray, &rep),
	                 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ids[0], 2);
	free(ids);
	ck_assert_int_eq(rep.n, 2);
	ck_assert(stray_has(&rep, "chk-1 1: ", "it is a symbolic link"));
	ck_assert(stray_has(&rep, "chk-9 9: ", "it is a symbolic link"));
	ck_assert_int_eq(ckpt_retain(st, 4, 1), 0);
	/* Removing or writing through one, named directly, is refused. */
	ckpt_remove(st, 9);
	ckpt_remove(st, 1);
	ck_assert_int_eq(
	    ckpt_write_state(st, 9, "t0", 1, "x", 1, NULL, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "chk-9") && strstr(err, "symbolic link"),
	              "%s", err);
	ck_assert_msg(!exists(tmp), "%s left behind", tmp);

	ck_assert_msg(exists(old_link) && exists(young_link), "links removed");
	check_outside(old);
	check_outside(young);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ids[0], 4);
	free(ids);
	free(old);
	free(young);
	free(old_link);
	free(young_link);
	free(tmp);
	ckpt_store_close(st);
}
END_TEST

START_TEST(ids_out_of_range)
{
	static const char *strays[] = {"chk-18446744073709551609",
	                               "chk-9223372036854775807",
	                               "chk-9007199254740993"};
	struct ckpt_store *st = open_store(NULL);
	struct strays rep = {0};
	uint64_t *ids;
	size_t n;

	make_ckpt(st, 1, 1, true);
	make_ckpt(st, (uint64_t)1 << 53, 1, false);
	for (size_t i = 0; i < 3; i++) {
		char *p = path_of("%s", strays[i]);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		free(p);
	}
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ids[0], 1);
	ck_assert_uint_eq(ids[1], (uint64_t)1 << 53);
	free(ids);
	ck_assert_int_eq(ckpt_list_report(st, &ids, &n, collect_stray, &rep),
	                 0);
	ck_assert_uint_eq(n, 2);
	free(ids);
	ck_assert_int_eq(rep.n, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(stray_has(&rep, strays[i],
		                        " 0: its id is out of "
		                        "range"),
		              "%s not reported", strays[i]);
	ckpt_store_close(st);
}
END_TEST

/* ---- lock ---------------------------------------------------------------- */

START_TEST(lock_same_process)
{
	struct ckpt_store *a = open_store(NULL), *b = open_store(NULL);
	char pid[32], *lock = path_of(".lock");
	size_t len;
	char *text;

	ck_assert_msg(ckpt_store_lock(a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ckpt_store_lock(a, err, sizeof(err)), 0); /* again */
	text = (char *)read_all(lock, &len);
	text[len] = '\0';
	ck_assert_int_eq(atol(text), getpid());
	free(text);
	ck_assert_int_eq(ckpt_store_lock(b, err, sizeof(err)), -1);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	ck_assert_msg(strstr(err, pid) && strstr(err, tmpdir) &&
	                  strstr(err, "in use by another weir process"),
	              "%s", err);
	ckpt_store_close(a);
	ck_assert_msg(ckpt_store_lock(b, err, sizeof(err)) == 0, "%s", err);
	ckpt_store_close(b);
	free(lock);
}
END_TEST

START_TEST(lock_other_process_killed)
{
	struct ckpt_store *st;
	int pipefd[2], status, rc;
	char c, pid[32];
	pid_t child;

	ck_assert_int_eq(pipe(pipefd), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct ckpt_store *cs =
		    ckpt_store_open(tmpdir, NULL, err, sizeof(err));
		c = cs && ckpt_store_lock(cs, err, sizeof(err)) == 0 ? 'y'
		                                                     : 'n';
		if (write(pipefd[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	st = open_store(NULL);
	rc = ckpt_store_lock(st, err, sizeof(err));
	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(c, 'y');
	ck_assert_int_eq(rc, -1);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)child);
	ck_assert_msg(strstr(err, pid), "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "use another checkpoint.dir"));
	/* The kernel dropped the dead child's lock. */
	ck_assert_msg(ckpt_store_lock(st, err, sizeof(err)) == 0, "%s", err);
	ckpt_store_close(st);
}
END_TEST

START_TEST(lock_symlink_refused)
{
	struct ckpt_store *st = open_store(NULL);
	char *victim = xasprintf("%s-victim", tmpdir), *lock = path_of(".lock");
	unsigned char *b;
	size_t len;

	write_all(victim, "precious\n", 9);
	ck_assert_int_eq(symlink(victim, lock), 0);
	ck_assert_int_eq(ckpt_store_lock(st, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, lock) && strstr(err, "symbolic link") &&
	                  strstr(err, "remove it"),
	              "%s", err);
	b = read_all(victim, &len);
	ck_assert_msg(len == 9 && !memcmp(b, "precious\n", 9),
	              "the link's target was written to");
	free(b);
	unlink(victim);
	free(victim);
	free(lock);
	ckpt_store_close(st);
}
END_TEST

/* ---- instance directories ------------------------------------------------ */

static void mkdir_in(const char *rel)
{
	char *p = path_of("%s", rel);

	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
}

/* ckpt_instance_check on tmpdir as instance index of count: 0, or -1 with
 * a message holding want. */
static void expect_instance(int index, int count, const char *want)
{
	struct job_instance in = {index, count};
	int rc = ckpt_instance_check(tmpdir, &in, NULL, err, sizeof(err));

	if (!want) {
		ck_assert_msg(rc == 0, "%d/%d refused: %s", index, count, err);
		return;
	}
	ck_assert_msg(rc == -1, "%d/%d accepted, wanted \"%s\"", index, count,
	              want);
	ck_assert_msg(strstr(err, want), "wanted \"%s\", got: %s", want, err);
}

START_TEST(instance_dirs)
{
	struct job_instance in = {1, 3};
	char *d = ckpt_instance_dir(tmpdir, &in), *want;
	char *missing = path_of("nothing-here");

	want = path_of("instance-1-of-3");
	ck_assert_str_eq(d, want);
	free(d);
	free(want);
	d = ckpt_instance_dir(tmpdir, NULL);
	ck_assert_str_eq(d, tmpdir);
	free(d);
	ck_assert_int_eq(
	    ckpt_instance_check(missing, &in, NULL, err, sizeof(err)), 0);
	free(missing);

	/* Empty, and instance directories without checkpoints. */
	expect_instance(0, 1, NULL);
	mkdir_in("instance-0-of-2");
	mkdir_in("instance-7-of-4"); /* not an instance's name */
	mkdir_in("instance-0-of-3x");
	expect_instance(0, 1, NULL);
	expect_instance(2, 3, NULL);

	/* Checkpoints of 3 instances: 3 is fine, anything else refused. */
	mkdir_in("instance-1-of-3");
	mkdir_in("instance-1-of-3/chk-4");
	expect_instance(0, 3, NULL);
	expect_instance(2, 4,
	                "run as 3 instance(s) (instance-1-of-3), and "
	                "this run is instance 2 of 4");
	expect_instance(0, 1, "run as 3 instance(s)");
	expect_instance(0, 1, "move ");

	/* Checkpoints of one process in checkpoint.dir itself. */
	mkdir_in("chk-9");
	expect_instance(0, 3, "run as 1 instance(s) (chk-9)");
	expect_instance(0, 3, "without --instance");
}
END_TEST

/* ---- fault injection ----------------------------------------------------- */

enum op {
	OP_OPEN,
	OP_WRITE,
	OP_FSYNC,
	OP_CLOSE,
	OP_MKDIR,
	OP_PREAD,
	OP_FSTAT,
	OP_FSTATAT,
	OP_OPENAT,
	OP_UNLINKAT,
	OP_RENAMEAT,
	OP_FDOPENDIR,
	OP_READDIR,
	NOPS
};

static struct {
	enum op op;
	int nth; /* fail the nth call of op (1-based); 0: never */
	int err;
	int calls[NOPS];
	bool dribble; /* short writes and EINTR */
	/* With path, only calls on a name holding it, or on the descriptor
	 * opened last under such a name, are counted (and fail). */
	const char *path;
	int fd;
	/* Before the first openat: chk-2 is moved to chk-2.moved and a
	 * symbolic link to swap_to put in its place. */
	const char *swap_to;
} fault;

static bool hit(enum op op)
{
	return ++fault.calls[op] == fault.nth && fault.op == op;
}

static bool hit_name(enum op op, const char *name)
{
	return (!fault.path || strstr(name, fault.path)) && hit(op);
}

static bool hit_fd(enum op op, int fd)
{
	return (!fault.path || fd == fault.fd) && hit(op);
}

static int f_open(const char *p, int flags, mode_t mode)
{
	int fd;

	if (hit_name(OP_OPEN, p)) {
		errno = fault.err;
		return -1;
	}
	fd = open(p, flags, mode);
	if (fault.path && strstr(p, fault.path))
		fault.fd = fd;
	return fd;
}

static ssize_t f_write(int fd, const void *buf, size_t len)
{
	if (hit(OP_WRITE)) {
		errno = fault.err;
		return -1;
	}
	if (fault.dribble) {
		if (fault.calls[OP_WRITE] % 2) {
			errno = EINTR;
			return -1;
		}
		len = len < 3 ? len : 3;
	}
	return write(fd, buf, len);
}

static int f_fsync(int fd)
{
	if (hit(OP_FSYNC)) {
		errno = fault.err;
		return -1;
	}
	return fsync(fd);
}

static int f_renameat(int fa, const char *a, int fb, const char *b)
{
	if (hit(OP_RENAMEAT)) {
		errno = fault.err;
		return -1;
	}
	return renameat(fa, a, fb, b);
}

static int f_close(int fd)
{
	if (hit(OP_CLOSE)) {
		close(fd); /* like Linux: the descriptor is gone anyway */
		errno = fault.err;
		return -1;
	}
	return close(fd);
}

static int f_mkdir(const char *p, mode_t mode)
{
	if (hit(OP_MKDIR)) {
		errno = fault.err;
		return -1;
	}
	return mkdir(p, mode);
}

static ssize_t f_pread(int fd, void *buf, size_t len, off_t off)
{
	if (hit_fd(OP_PREAD, fd)) {
		errno = fault.err;
		return -1;
	}
	return pread(fd, buf, len, off);
}

static int f_fstat(int fd, struct stat *sb)
{
	if (hit_fd(OP_FSTAT, fd)) {
		errno = fault.err;
		return -1;
	}
	return fstat(fd, sb);
}

static int f_fstatat(int dfd, const char *name, struct stat *sb, int flags)
{
	if (hit_name(OP_FSTATAT, name)) {
		errno = fault.err;
		return -1;
	}
	return fstatat(dfd, name, sb, flags);
}

static int f_openat(int dfd, const char *name, int flags, mode_t mode)
{
	if (fault.swap_to) {
		char *chk = path_of("chk-2"), *moved = path_of("chk-2.moved");

		ck_assert_int_eq(rename(chk, moved), 0);
		ck_assert_int_eq(symlink(fault.swap_to, chk), 0);
		fault.swap_to = NULL;
		free(chk);
		free(moved);
	}
	if (hit(OP_OPENAT)) {
		errno = fault.err;
		return -1;
	}
	return openat(dfd, name, flags, mode);
}

static int f_unlinkat(int dfd, const char *name, int flags)
{
	if (hit(OP_UNLINKAT)) {
		errno = fault.err;
		return -1;
	}
	return unlinkat(dfd, name, flags);
}

static DIR *f_fdopendir(int fd)
{
	if (hit(OP_FDOPENDIR)) {
		errno = fault.err;
		return NULL;
	}
	return fdopendir(fd);
}

static struct dirent *f_readdir(DIR *d)
{
	if (hit(OP_READDIR)) {
		errno = fault.err;
		return NULL;
	}
	return readdir(d);
}

/* Calls left out (rename, flock, ...) are the POSIX ones. */
static const struct ckpt_io faulty_io = {
    .open = f_open,
    .write = f_write,
    .fsync = f_fsync,
    .close = f_close,
    .mkdir = f_mkdir,
    .pread = f_pread,
    .fstat = f_fstat,
    .fstatat = f_fstatat,
    .openat = f_openat,
    .unlinkat = f_unlinkat,
    .renameat = f_renameat,
    .fdopendir = f_fdopendir,
    .readdir = f_readdir,
};

static void arm(enum op op, int nth, int e)
{
	memset(&fault, 0, sizeof(fault));
	fault.fd = -1;
	fault.op = op;
	fault.nth = nth;
	fault.err = e;
}

struct fault_case {
	enum op op;
	int nth;
	int err;
	const char *step;
};

/* Checkpoint 1 is complete and must stay so; chk-2/ exists. */
static void check_untouched(struct ckpt_store *st, const char *name)
{
	char *final = path_of("chk-2/%s", name);
	char *tmp = path_of("chk-2/%s.tmp", name);
	struct ckpt_meta m;

	ck_assert_msg(!exists(tmp), "%s left behind", tmp);
	ck_assert_msg(!exists(final), "%s left behind", final);
	ck_assert_msg(ckpt_verify(st, 1, &m, err, sizeof(err)) == 0, "%s", err);
	ckpt_meta_clear(&m);
	free(final);
	free(tmp);
}

START_TEST(fault_write_state)
{
	/* chk-2/ exists, so: open chk-2/, then within it create tmp, write,
	 * fsync, close, rename; no directory fsync (_metadata's write does
	 * that). */
	static const struct fault_case cases[] = {
	    {OP_OPENAT, 1, EACCES,
	     "creating chk-2/t5.state.tmp: Permission "
	     "denied"},
	    {OP_WRITE, 1, ENOSPC,
	     "writing chk-2/t5.state.tmp: No space left "
	     "on device"},
	    {OP_FSYNC, 1, EIO,
	     "syncing chk-2/t5.state.tmp: Input/output "
	     "error"},
	    {OP_CLOSE, 1, EIO,
	     "closing chk-2/t5.state.tmp: Input/output "
	     "error"},
	    {OP_RENAMEAT, 1, EXDEV,
	     "renaming chk-2/t5.state.tmp to t5.state: "
	     "Invalid cross-device link"},
	    {OP_RENAMEAT, 1, EIO,
	     "renaming chk-2/t5.state.tmp to t5.state: "
	     "Input/output error"},
	};
	const struct fault_case *fc = &cases[_i];
	struct ckpt_store *good = open_store(NULL);
	struct ckpt_store *st = open_store(&faulty_io);
	struct ckpt_file_info info;

	make_ckpt(good, 1, 2, true);
	make_ckpt(good, 2, 1, false);
	arm(fc->op, fc->nth, fc->err);
	ck_assert_int_eq(ckpt_write_state(st, 2, "t5", 1, "payload", 7, &info,
	                                  err, sizeof(err)),
	                 -1);
	ck_assert_msg(strstr(err, fc->step), "wanted \"%s\", got: %s", fc->step,
	              err);
	check_untouched(good, "t5.state");
	ckpt_store_close(st);
	ckpt_store_close(good);
}
END_TEST

START_TEST(fault_write_meta)
{
	/* mkdir chk-2 (exists), open chk-2/, open/fsync/close of DIR, fsync
	 * of chk-2/ (the task files' renames), then the write as above
	 * within chk-2/ and its fsync again. */
	static const struct fault_case cases[] = {
	    {OP_MKDIR, 1, EROFS,
	     "creating directory chk-2: Read-only file "
	     "system"},
	    {OP_OPEN, 1, EMFILE,
	     "opening directory chk-2: Too many open "
	     "files"},
	    {OP_OPEN, 2, EMFILE, "to sync it: Too many open files"}, /* DIR */
	    {OP_FSYNC, 1, EIO, "Input/output error"}, /* syncing DIR */
	    {OP_FSYNC, 2, EIO, "syncing directory chk-2: Input/output error"},
	    {OP_UNLINKAT, 1, EACCES,
	     "removing the leftover "
	     "chk-2/_metadata.tmp: Permission denied"},
	    {OP_OPENAT, 1, ENOSPC, "creating chk-2/_metadata.tmp: No space"},
	    {OP_WRITE, 1, ENOSPC,
	     "writing chk-2/_metadata.tmp: No space left "
	     "on device"},
	    {OP_FSYNC, 3, EIO,
	     "syncing chk-2/_metadata.tmp: Input/output "
	     "error"},
	    {OP_CLOSE, 2, EIO, "closing chk-2/_metadata.tmp"},
	    {OP_RENAMEAT, 1, EXDEV,
	     "renaming chk-2/_metadata.tmp to "
	     "_metadata: Invalid cross-device link"},
	    {OP_RENAMEAT, 1, EIO,
	     "renaming chk-2/_metadata.tmp to _metadata: "
	     "Input/output error"},
	    {OP_FSYNC, 4, EIO, "syncing directory chk-2: Input/output error"},
	};
	const struct fault_case *fc = &cases[_i];
	struct ckpt_store *good = open_store(NULL);
	struct ckpt_store *st = open_store(&faulty_io);
	struct ckpt_meta m = {0};
	struct reports rep = {0};

	make_ckpt(good, 1, 2, true);
	make_ckpt(good, 2, 1, false);
	m.job = "j";
	m.fingerprint = "f";
	m.id = 2;
	arm(fc->op, fc->nth, fc->err);
	ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, fc->step), "wanted \"%s\", got: %s", fc->step,
	              err);
	check_untouched(good, "_metadata");
	/* A restart now takes checkpoint 1. */
	ck_assert_int_eq(ckpt_find_latest(good, &m, NULL, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 1);
	ckpt_meta_clear(&m);
	ckpt_store_close(st);
	ckpt_store_close(good);
}
END_TEST

START_TEST(fault_new_dir_sync)
{
	struct ckpt_store *st = open_store(&faulty_io);
	struct ckpt_meta m = {.job = "j", .fingerprint = "f", .id = 4};

	/* A task file fsyncs itself only, even when it creates chk-4/. */
	arm(OP_OPEN, 0, 0);
	ck_assert_int_eq(
	    ckpt_write_state(st, 4, "t", 1, "x", 1, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(fault.calls[OP_MKDIR], 1);
	ck_assert_int_eq(fault.calls[OP_FSYNC], 1);
	/* _metadata syncs DIR first (chk-4/ itself), then chk-4/. */
	arm(OP_FSYNC, 1, EIO);
	ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "syncing directory") &&
	                  !strstr(err, "chk-4") &&
	                  strstr(err, "Input/output error"),
	              "%s", err);
	arm(OP_OPEN, 0, 0);
	ck_assert_msg(ckpt_write_meta(st, &m, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_int_eq(fault.calls[OP_FSYNC], 4);
	arm(OP_MKDIR, 1, ENOSPC);
	ck_assert_int_eq(
	    ckpt_write_state(st, 5, "t", 1, "x", 1, NULL, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "creating directory chk-5: No space"), "%s",
	              err);
	ckpt_store_close(st);
}
END_TEST

START_TEST(short_writes_and_eintr)
{
	struct ckpt_store *st = open_store(&faulty_io);
	unsigned char *data = random_bytes(20000, 3);
	struct ckpt_file_info info;
	void *p;
	size_t len;

	arm(OP_OPEN, 0, 0);
	fault.dribble = true;
	ck_assert_msg(ckpt_write_state(st, 1, "t", 1, data, 20000, &info, err,
	                               sizeof(err)) == 0,
	              "%s", err);
	ck_assert_int_gt(fault.calls[OP_WRITE], 10000);
	ck_assert_int_eq(ckpt_read_state(st, 1, "t", &info, &p, &len, NULL, err,
	                                 sizeof(err)),
	                 0);
	ck_assert_uint_eq(len, 20000);
	ck_assert_int_eq(memcmp(p, data, len), 0);
	free(p);
	free(data);
	ckpt_store_close(st);
}
END_TEST

/* chk-2 swapped for a link to another directory after it was checked:
 * the write still lands in the directory that was checked, never through
 * the link. */
START_TEST(write_after_chk_dir_swapped)
{
	struct ckpt_store *st = open_store(&faulty_io);
	char *outside = path_of("outside"), *there, *moved;

	ck_assert_int_eq(mkdir(outside, 0755), 0);
	arm(OP_OPEN, 0, 0);
	fault.swap_to = outside;
	ck_assert_msg(ckpt_write_state(st, 2, "t5", 1, "payload", 7, NULL, err,
	                               sizeof(err)) == 0,
	              "%s", err);
	there = path_of("outside/t5.state");
	moved = path_of("chk-2.moved/t5.state");
	ck_assert_msg(!exists(there), "written through the link: %s", there);
	ck_assert_msg(exists(moved), "%s missing", moved);
	free(there);
	free(moved);
	free(outside);
	ckpt_store_close(st);
}
END_TEST

/* Read faults: the checkpoint they hit is reported unusable with what
 * failed on which file, and restore falls back to the older one; a
 * directory that cannot be listed fails the search, never a crash. */
struct read_fault {
	enum op op;
	int nth;
	int err;
	const char *path; /* see fault.path; NULL: every call counts */
	int found;        /* what ckpt_find_latest returns */
	const char *why;  /* the report on chk-2, or with found -1 the errno
	                   * text of the report on DIR */
};

static const struct read_fault read_faults[] = {
    {OP_PREAD, 1, EIO, "chk-2/_metadata", 1,
     "damaged: chk-2/_metadata: cannot read: Input/output error"},
    {OP_FSTAT, 1, EIO, "chk-2/_metadata", 1,
     "damaged: chk-2/_metadata: cannot stat: Input/output error"},
    {OP_OPEN, 1, EACCES, "chk-2/_metadata", 1,
     "damaged: chk-2/_metadata: cannot open: Permission denied"},
    {OP_PREAD, 1, EIO, "chk-2/t1.state", 1,
     "damaged: chk-2/t1.state: cannot read: Input/output error"},
    {OP_PREAD, 3, EIO, "chk-2/t1.state", 1,
     "damaged: chk-2/t1.state: cannot read: Input/output error"},
    {OP_FSTAT, 1, EIO, "chk-2/t0.state", 1,
     "damaged: chk-2/t0.state: cannot stat: Input/output error"},
    {OP_OPEN, 1, EACCES, "chk-2/t0.state", 1,
     "damaged: chk-2/t0.state: cannot open: Permission denied"},
    {OP_OPEN, 1, EMFILE, NULL, -1, "Too many open files"},
    {OP_FDOPENDIR, 1, ENOMEM, NULL, -1, "Cannot allocate memory"},
    {OP_READDIR, 1, EIO, NULL, -1, "Input/output error"},
    {OP_FSTATAT, 1, EIO, NULL, -1, "Input/output error"},
};

START_TEST(fault_read_find_latest)
{
	const struct read_fault *fc = &read_faults[_i];
	struct ckpt_store *good = open_store(NULL);
	struct ckpt_store *st = open_store(&faulty_io);
	struct reports rep = {0};
	struct ckpt_meta m;
	char *want;

	make_ckpt(good, 1, 2, true);
	make_ckpt(good, 2, 2, true);
	arm(fc->op, fc->nth, fc->err);
	fault.path = fc->path;
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep),
	                 fc->found);
	ck_assert_int_eq(fault.calls[fc->op] >= fc->nth, 1);
	ck_assert_int_eq(rep.n, 1);
	if (fc->found == 1) {
		ck_assert_uint_eq(m.id, 1);
		ck_assert_uint_eq(rep.ids[0], 2);
		want = xstrdup(fc->why);
	} else {
		ck_assert_uint_eq(rep.ids[0], 0);
		want = xasprintf("cannot list checkpoint directory %s: %s",
		                 tmpdir, fc->why);
	}
	ck_assert_str_eq(rep.why[0], want);
	free(want);
	ckpt_meta_clear(&m);
	ckpt_store_close(st);
	ckpt_store_close(good);
}
END_TEST

START_TEST(fault_read_verify)
{
	struct ckpt_store *good = open_store(NULL);
	struct ckpt_store *st = open_store(&faulty_io);
	struct ckpt_meta m;

	make_ckpt(good, 1, 2, true);
	arm(OP_PREAD, 2, EIO);
	fault.path = "chk-1/t1.state";
	ck_assert_int_eq(ckpt_verify(st, 1, &m, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "chk-1/t1.state: cannot read: Input/output "
	                      "error");
	ck_assert_ptr_null(m.tasks);
	arm(OP_FSTAT, 1, EIO);
	ck_assert_int_eq(ckpt_read_meta(st, 1, &m, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "chk-1/_metadata: cannot stat: Input/output "
	                      "error");
	ckpt_store_close(st);
	ckpt_store_close(good);
}
END_TEST

static char *listing_io(const char *dir, const struct ckpt_io *io, int *rc);

/* The line of `weir checkpoints` output that starts with id. */
static char *listing_row(const char *out, const char *id)
{
	size_t n = strlen(id);

	for (const char *l = out; l && *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, id, n) && l[n] == ' ')
			return xstrndup(l, strcspn(l, "\n"));
		if (!strchr(l, '\n'))
			break;
	}
	return NULL;
}

START_TEST(fault_read_listing)
{
	struct ckpt_store *good = open_store(NULL);
	char *out, *row, *want;
	int rc;

	make_ckpt(good, 1, 2, true);
	make_ckpt(good, 2, 2, true);
	/* DIR cannot be listed: said so, nothing printed. */
	arm(OP_READDIR, 1, EIO);
	out = listing_io(tmpdir, &faulty_io, &rc);
	ck_assert_int_eq(rc, -1);
	want = xasprintf("cannot list checkpoint directory %s: Input/output "
	                 "error",
	                 tmpdir);
	ck_assert_str_eq(err, want);
	free(want);
	free(out);
	/* A state file that cannot be read: that checkpoint is damaged. */
	arm(OP_PREAD, 1, EIO);
	fault.path = "chk-2/t0.state";
	out = listing_io(tmpdir, &faulty_io, &rc);
	ck_assert_int_eq(rc, 0);
	row = listing_row(out, "2");
	ck_assert_msg(row && strstr(row, "damaged: chk-2/t0.state: cannot "
	                                 "read: Input/output error"),
	              "%s", out);
	free(row);
	row = listing_row(out, "1");
	ck_assert_msg(row && strstr(row, " complete "), "%s", out);
	free(row);
	free(out);
	/* chk-2/ cannot be listed to sum its files: size "?". */
	arm(OP_OPEN, 1, EACCES);
	fault.path = "chk-2";
	out = listing_io(tmpdir, &faulty_io, &rc);
	ck_assert_int_eq(rc, 0);
	row = listing_row(out, "2");
	ck_assert_msg(row && strstr(row, " ? ") && strstr(row, " complete "),
	              "%s", out);
	free(row);
	free(out);
	ckpt_store_close(good);
}
END_TEST

START_TEST(instance_check_read_faults)
{
	struct job_instance in = {0, 2};

	mkdir_in("instance-0-of-3");
	mkdir_in("instance-0-of-3/chk-1");
	arm(OP_READDIR, 1, EIO);
	ck_assert_int_eq(
	    ckpt_instance_check(tmpdir, &in, &faulty_io, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot list") &&
	                  strstr(err, "Input/output error"),
	              "%s", err);
	/* An instance directory that cannot be read counts as holding
	 * checkpoints. */
	arm(OP_READDIR, 2, EIO);
	ck_assert_int_eq(
	    ckpt_instance_check(tmpdir, &in, &faulty_io, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "run as 3 instance(s)"), "%s", err);
	arm(OP_OPEN, 1, EACCES);
	ck_assert_int_eq(
	    ckpt_instance_check(tmpdir, &in, &faulty_io, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot open"), "%s", err);
}
END_TEST

START_TEST(store_open_creates_parents)
{
	char *dir = path_of("a/b/c/");
	struct ckpt_store *st = ckpt_store_open(dir, NULL, err, sizeof(err));
	char *file = path_of("a/file");

	ck_assert_msg(st != NULL, "%s", err);
	free(dir);
	dir = path_of("a/b/c");
	ck_assert_str_eq(ckpt_store_dir(st), dir); /* trailing '/' dropped */
	ckpt_store_close(st);
	ck_assert(exists(dir));
	write_all(file, "x", 1);
	ck_assert_ptr_null(ckpt_store_open(file, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a directory"), "%s", err);
	free(dir);
	dir = xasprintf("%s/sub", file);
	ck_assert_ptr_null(ckpt_store_open(dir, NULL, err, sizeof(err)));
	ckpt_store_close(NULL);
	free(dir);
	free(file);
}
END_TEST

/* ---- listing ------------------------------------------------------------- */

static char *listing_io(const char *dir, const struct ckpt_io *io, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	*rc = io ? ckpt_print_listing_io(dir, io, f, err, sizeof(err))
	         : ckpt_print_listing(dir, f, err, sizeof(err));
	fclose(f);
	return buf;
}

static char *listing(const char *dir, int *rc)
{
	return listing_io(dir, NULL, rc);
}

START_TEST(listing_output)
{
	struct ckpt_store *st = open_store(NULL);
	char *out, *missing = path_of("nope"), *lines[8];
	int rc, nlines = 0;

	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "no checkpoints in") && strstr(out, tmpdir),
	              "%s", out);
	free(out);

	make_ckpt(st, 1, 2, true);
	make_ckpt(st, 2, 2, true);
	make_ckpt(st, 3, 1, false);
	make_ckpt(st, 10, 2, true);
	damage_ckpt(2, FLIP);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	for (char *s = strtok(out, "\n"); s && nlines < 8;
	     s = strtok(NULL, "\n"))
		lines[nlines++] = s;
	ck_assert_int_eq(nlines, 5);
	ck_assert_msg(
	    strncmp(lines[0], "ID", 2) == 0 && strstr(lines[0], "COMPLETED") &&
	        strstr(lines[0], " OWN ") && strstr(lines[0], " FULL ") &&
	        strstr(lines[0], "STATUS") && strstr(lines[0], "OFFSETS"),
	    "%s", lines[0]);
	ck_assert_msg(strncmp(lines[1], "10 ", 3) == 0 &&
	                  strstr(lines[1], " complete ") &&
	                  strstr(lines[1], "1970-01-01T00:00:10.005Z") &&
	                  strstr(lines[1], " B ") &&
	                  strstr(lines[1], "logs[0]=120 logs[1]=98"),
	              "%s", lines[1]);
	/* No _metadata: no chain is known, FULL is "-". */
	ck_assert_msg(strncmp(lines[2], "3 ", 2) == 0 &&
	                  lines[2][strstr(lines[0], " FULL ") - lines[0] + 4] ==
	                      '-' &&
	                  strstr(lines[2], "incomplete (no _metadata)"),
	              "%s", lines[2]);
	ck_assert_msg(strncmp(lines[3], "2 ", 2) == 0 &&
	                  strstr(lines[3], "damaged: chk-2/t1.state: "
	                                   "checksum mismatch") &&
	                  strstr(lines[3], "logs[0]=120"),
	              "%s", lines[3]);
	ck_assert_msg(strncmp(lines[4], "1 ", 2) == 0 &&
	                  strstr(lines[4], " complete "),
	              "%s", lines[4]);
	/* Columns line up: COMPLETED and OFFSETS start where their titles
	 * do (line 2 is the incomplete one, without a time). */
	for (int i = 1; i < nlines; i++) {
		if (i != 2)
			ck_assert_int_eq(strstr(lines[i], "1970") - lines[i],
			                 strstr(lines[0], "COMPLETED") -
			                     lines[0]);
		size_t col = (size_t)(strstr(lines[0], "OFFSETS") - lines[0]);
		const char *want = i == 2 ? "-" : "logs[0]=120";
		ck_assert_uint_gt(strlen(lines[i]), col);
		ck_assert_msg(strncmp(lines[i] + col, want, strlen(want)) == 0,
		              "%s", lines[i]);
	}
	free(out);
	ck_assert_int_eq(ckpt_remove(st, 3), 0);

	out = listing(missing, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, "no such checkpoint directory") &&
	                  strstr(err, missing),
	              "%s", err);
	ck_assert(!exists(missing));
	free(out);
	free(missing);
	ckpt_store_close(st);
}
END_TEST

/* ---- hostile files: FIFOs, symbolic links, sizes, bombs ------------------ */

/* A FIFO, a socket or a symbolic link where a state file or
 * _metadata should be is refused at once: never followed, never waited
 * on. SIGALRM fails the test if anything blocks. */
START_TEST(not_regular_files)
{
	struct ckpt_store *st = open_store(NULL);
	char *state = path_of("chk-2/t1.state");
	char *meta = path_of("chk-2/_metadata");
	char *outside = path_of("elsewhere.state"), *out;
	struct reports rep = {0};
	struct ckpt_meta m;
	size_t len;
	unsigned char *b;
	int rc;

	alarm(20);
	make_ckpt(st, 1, 2, true);
	make_ckpt(st, 2, 2, true);

	/* A FIFO named like a state file. */
	b = read_all(state, &len);
	ck_assert_int_eq(unlink(state), 0);
	ck_assert_int_eq(mkfifo(state, 0644), 0);
	expect_read_fails(st, 2, "t1", NULL, "not a regular file (a FIFO)");
	ck_assert_int_eq(ckpt_verify(st, 2, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "chk-2/t1.state: not a regular file"), "%s",
	              err);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 1);
	ckpt_meta_clear(&m);
	ck_assert_msg(strstr(rep.why[0], "damaged: chk-2/t1.state: not a "
	                                 "regular file (a FIFO)"),
	              "%s", rep.why[0]);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "damaged: chk-2/t1.state: not a regular "
	                          "file"),
	              "%s", out);
	free(out);

	/* A socket: open() fails (ENXIO), still reported by its type. */
	ck_assert_int_eq(unlink(state), 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_uint_lt(strlen(state), sizeof(sa.sun_path));
		strcpy(sa.sun_path, state);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
		                 0);
		close(fd);
	}
	expect_read_fails(st, 2, "t1", NULL, "not a regular file (a socket)");

	/* A symbolic link to a valid copy of the file: not followed. */
	ck_assert_int_eq(unlink(state), 0);
	write_all(outside, b, len);
	ck_assert_int_eq(symlink(outside, state), 0);
	expect_read_fails(st, 2, "t1", NULL,
	                  "not a regular file (a symbolic link)");
	ck_assert_int_eq(unlink(state), 0);
	write_all(state, b, len);
	ck_assert_int_eq(ckpt_verify(st, 2, &m, err, sizeof(err)), 0);
	ckpt_meta_clear(&m);

	/* A FIFO as _metadata. */
	ck_assert_int_eq(unlink(meta), 0);
	ck_assert_int_eq(mkfifo(meta, 0644), 0);
	ck_assert_int_eq(ckpt_read_meta(st, 2, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "chk-2/_metadata: not a regular file (a "
	                          "FIFO)"),
	              "%s", err);
	rep.n = 0;
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 1);
	ckpt_meta_clear(&m);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "damaged: chk-2/_metadata: not a regular "
	                          "file (a FIFO)"),
	              "%s", out);
	free(out);
	alarm(0);
	free(b);
	free(state);
	free(meta);
	free(outside);
	ckpt_store_close(st);
}
END_TEST

/* Peak RSS in KiB of a child that runs fn(st, id); its exit status says
 * whether fn returned 0 (1 otherwise), its message goes to errbuf. */
struct child_run {
	long maxrss_kib;
	int status;
	char msg[1024];
};

static void in_child(struct ckpt_store *st, uint64_t id, bool listing_too,
                     struct child_run *cr)
{
	struct rusage ru;
	int fds[2], status;
	ssize_t got;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct ckpt_meta m;
		char e[1024] = "";
		int rc = ckpt_verify(st, id, &m, e, sizeof(e));

		if (rc == 0)
			ckpt_meta_clear(&m);
		if (listing_too) {
			FILE *devnull = fopen("/dev/null", "w");
			ckpt_print_listing(tmpdir, devnull, e + strlen(e),
			                   sizeof(e) - strlen(e));
			fclose(devnull);
		}
		if (write(fds[1], e, strlen(e)) < 0)
			_exit(2);
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	got = read(fds[0], cr->msg, sizeof(cr->msg) - 1);
	cr->msg[got > 0 ? got : 0] = '\0';
	close(fds[0]);
	ck_assert_int_eq(wait4(pid, &status, 0, &ru), pid);
	ck_assert(WIFEXITED(status));
	cr->status = WEXITSTATUS(status);
	cr->maxrss_kib = ru.ru_maxrss;
}

/* A state file whose size differs from _metadata's is refused before a
 * byte of it is read: a 3 GiB sparse file costs no memory. */
START_TEST(state_size_checked_first)
{
	struct ckpt_store *st = open_store(NULL);
	char *state = path_of("chk-1/t1.state");
	struct child_run cr;

	make_ckpt(st, 1, 2, true);
	ck_assert_int_eq(truncate(state, (off_t)3 << 30), 0);
	in_child(st, 1, true, &cr);
	ck_assert_int_eq(cr.status, 1);
	ck_assert_msg(strstr(cr.msg, "chk-1/t1.state: 3221225472 bytes but "
	                             "_metadata says ") &&
	                  strstr(cr.msg, "the file is truncated or was "
	                                 "replaced"),
	              "%s", cr.msg);
	ck_assert_msg(cr.maxrss_kib < 100 * 1024, "verifying used %ld KiB",
	              cr.maxrss_kib);
	free(state);
	ckpt_store_close(st);
}
END_TEST

/* Writes chk-<id>/<task>.state holding one lz4 frame of `zeros` zero
 * bytes after `head`, compressed block by block (little memory), sealed
 * like weir seals it; fills *info. */
static void write_bomb(uint64_t id, const char *task, const char *head,
                       uint64_t zeros, struct ckpt_file_info *info)
{
	static unsigned char zero[65536];
	LZ4F_preferences_t prefs;
	LZ4F_cctx *cctx;
	size_t bound, n, hl = strlen(head);
	unsigned char *dst, hdr[HDR_LEN], tr[TRAILER_LEN];
	char *path = path_of("chk-%" PRIu64 "/%s.state", id, task);
	XXH64_state_t *xs = XXH64_createState();
	uint64_t total = hl + zeros, sum, size = 0;
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = total;
	ck_assert(
	    !LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)));
	bound = LZ4F_compressBound(sizeof(zero), &prefs) + 64;
	dst = xmalloc(bound);
	memcpy(hdr, "WEIRSTAT", 8);
	put_le(hdr + 8, 2, 4);
	put_le(hdr + 12, 3, 4);
	put_le(hdr + 16, total, 8);
	put_le(hdr + 24, 0, 8); /* a task's state; reserved */
	XXH64_reset(xs, 0);
#define EMIT(p, len)                                                           \
	do {                                                                   \
		ck_assert_uint_eq(fwrite(p, 1, len, f), len);                  \
		XXH64_update(xs, p, len);                                      \
		size += len;                                                   \
	} while (0)
	EMIT(hdr, HDR_LEN);
	n = LZ4F_compressBegin(cctx, dst, bound, &prefs);
	ck_assert(!LZ4F_isError(n));
	EMIT(dst, n);
	n = LZ4F_compressUpdate(cctx, dst, bound, head, hl, NULL);
	ck_assert(!LZ4F_isError(n));
	EMIT(dst, n);
	for (uint64_t left = zeros; left > 0;) {
		size_t k = left < sizeof(zero) ? (size_t)left : sizeof(zero);
		n = LZ4F_compressUpdate(cctx, dst, bound, zero, k, NULL);
		ck_assert(!LZ4F_isError(n));
		EMIT(dst, n);
		left -= k;
	}
	n = LZ4F_compressEnd(cctx, dst, bound, NULL);
	ck_assert(!LZ4F_isError(n));
	EMIT(dst, n);
#undef EMIT
	sum = XXH64_digest(xs);
	memcpy(tr, "WEIREND1", 8);
	put_le(tr + 8, sum, 8);
	ck_assert_uint_eq(fwrite(tr, 1, TRAILER_LEN, f), TRAILER_LEN);
	ck_assert_int_eq(fclose(f), 0);
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s.state", task);
	info->size = size + TRAILER_LEN;
	info->checksum = sum;
	info->state_version = 3;
	LZ4F_freeCompressionContext(cctx);
	XXH64_freeState(xs);
	free(dst);
	free(path);
}

/* A few MB of lz4 that decode to 1 GiB, with every checksum and size in
 * order: verifying it (as `weir checkpoints` and restore do) streams the
 * frame and never holds the payload. */
START_TEST(state_lz4_bomb)
{
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_task_entry t = {.task = "t0"};
	struct ckpt_meta m = {.job = "job1",
	                      .fingerprint = "fp",
	                      .id = 1,
	                      .tasks = &t,
	                      .ntasks = 1,
	                      .offsets_json = "{}"};
	struct child_run cr;

	char *dir = path_of("chk-1");

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	free(dir);
	write_bomb(1, "t0", "state", (uint64_t)1 << 30, &t.file);
	ck_assert_uint_lt(t.file.size, 8u << 20);
	ck_assert_msg(ckpt_write_meta(st, &m, err, sizeof(err)) == 0, "%s",
	              err);
	in_child(st, 1, true, &cr);
	ck_assert_msg(cr.status == 0, "verify: %s", cr.msg);
	ck_assert_msg(cr.maxrss_kib < 100 * 1024,
	              "verifying a %" PRIu64 "-byte bomb used %ld KiB",
	              t.file.size, cr.maxrss_kib);
	ckpt_store_close(st);
}
END_TEST

/* A chk-<n> that is a symbolic link (here to a valid checkpoint outside
 * DIR) is no checkpoint: not listed, not restored, never followed. */
START_TEST(chk_dir_link_not_followed)
{
	struct ckpt_store *st = open_store(NULL);
	char *real = path_of("chk-2"), *moved = path_of("elsewhere");
	char *link = path_of("chk-9"), *out;
	struct ckpt_meta m;
	uint64_t *ids;
	size_t n;
	int rc;

	make_ckpt(st, 1, 2, true);
	make_ckpt(st, 2, 2, true);
	ck_assert_int_eq(rename(real, moved), 0);
	ck_assert_int_eq(symlink(moved, real), 0);
	ck_assert_int_eq(symlink(moved, link), 0);
	ck_assert_int_eq(ckpt_list(st, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ids[0], 1);
	free(ids);
	ck_assert_int_eq(ckpt_find_latest(st, &m, NULL, NULL, NULL), 1);
	ck_assert_uint_eq(m.id, 1);
	ckpt_meta_clear(&m);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(!strstr(out, "\n2 ") && !strstr(out, "\n9 "), "%s", out);
	free(out);
	free(real);
	free(moved);
	free(link);
	ckpt_store_close(st);
}
END_TEST

/* ---- _metadata: size, many tasks, coverage ------------------------------ */

/* _metadata is bounded before it is read or parsed: a large sparse one
 * costs nothing. */
START_TEST(meta_too_large)
{
	struct ckpt_store *st = open_store(NULL);
	char *meta = path_of("chk-1/_metadata");
	struct ckpt_meta m;

	make_ckpt(st, 1, 1, true);
	ck_assert_int_eq(truncate(meta, (off_t)17 << 20), 0);
	ck_assert_int_eq(ckpt_read_meta(st, 1, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "chk-1/_metadata: 17825792 bytes, larger "
	                          "than any file weir writes there"),
	              "%s", err);
	free(meta);
	ckpt_store_close(st);
}
END_TEST

/* 100,000 task entries: read in well under a second (the duplicate check
 * once compared every pair: 35 s), and a duplicate among them is still
 * named. A complexity test with generous slack, not a benchmark. */
START_TEST(meta_many_tasks)
{
	enum { N = 100000 };
	struct ckpt_store *st = open_store(NULL);
	char *meta = path_of("chk-1/_metadata"), *dir = path_of("chk-1");
	struct ckpt_meta m;
	FILE *f;
	int64_t t0;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (int dup = 0; dup < 2; dup++) {
		f = fopen(meta, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "{\"format\":1,\"id\":1,\"job\":\"j\","
		           "\"fingerprint\":\"f\",\"triggered_at\":1,"
		           "\"completed_at\":2,\"offsets\":{},\"tasks\":[");
		for (int i = 0; i < N; i++) {
			int k = dup && i == N - 1 ? 5 : N - i;
			fprintf(f,
			        "%s{\"task\":\"t%d\",\"file\":\"t%d.state\","
			        "\"size\":40,\"checksum\":\"0000000000000001\","
			        "\"state_version\":1}",
			        i ? "," : "", k, k);
		}
		fprintf(f, "]}\n");
		ck_assert_int_eq(fclose(f), 0);
		t0 = now_mono_us();
		if (!dup) {
			ck_assert_msg(
			    ckpt_read_meta(st, 1, &m, err, sizeof(err)) == 0,
			    "%s", err);
			ck_assert_uint_eq(m.ntasks, N);
			ck_assert_str_eq(m.tasks[0].task, "t100000");
			ckpt_meta_clear(&m);
		} else {
			ck_assert_int_eq(
			    ckpt_read_meta(st, 1, &m, err, sizeof(err)), -1);
			ck_assert_msg(strstr(err, "chk-1/_metadata: "
			                          "tasks[99995] and "
			                          "tasks[99999] are both "
			                          "task t5"),
			              "%s", err);
		}
		ck_assert_msg(now_mono_us() - t0 < 5000000,
		              "reading %d task entries took %lld ms", N,
		              (long long)(now_mono_us() - t0) / 1000);
	}
	free(meta);
	free(dir);
	ckpt_store_close(st);
}
END_TEST

/* The caller's judgement of a checkpoint (the job knows its graph, the
 * store does not): one it refuses is reported with the caller's reason
 * and the next older one is used; its state files are not even read. */
static int refuse_3(void *arg, const struct ckpt_meta *meta, char *why,
                    size_t len)
{
	(void)arg;
	if (meta->id != 3)
		return 0;
	snprintf(why, len, "_metadata lists no state for source-1");
	return -1;
}

START_TEST(find_latest_check)
{
	struct ckpt_store *st = open_store(NULL);
	char *state = path_of("chk-3/t0.state");
	struct reports rep = {0};
	struct ckpt_meta m;

	alarm(20);
	for (uint64_t id = 1; id <= 3; id++)
		make_ckpt(st, id, 2, true);
	ck_assert_int_eq(unlink(state), 0);
	ck_assert_int_eq(mkfifo(state, 0644), 0);
	ck_assert_int_eq(ckpt_find_latest(st, &m, refuse_3, collect, &rep), 1);
	ck_assert_uint_eq(m.id, 2);
	ckpt_meta_clear(&m);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_uint_eq(rep.ids[0], 3);
	ck_assert_str_eq(rep.why[0], "_metadata lists no state for source-1");
	alarm(0);
	free(state);
	ckpt_store_close(st);
}
END_TEST

/* `weir checkpoints` knows no graph, but a complete checkpoint always
 * holds its sources' positions: "tasks": [] cannot be restored. */
/* Bytes of the file at path (freed); 0 when it is missing. */
static uint64_t bytes_of(char *path)
{
	struct stat sb;
	uint64_t n = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;

	free(path);
	return n;
}

/* What `weir checkpoints` prints for a size. */
static void size_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes < 1024)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
}

/* Checkpoint id with one task, t0, whose keyed state is the chain of
 * files ids[0] (a base), ids[1..n-1] (deltas), written unless they
 * exist. */
static void make_chain_ckpt(struct ckpt_store *st, uint64_t id,
                            const uint64_t *ids, size_t n)
{
	struct ckpt_task_entry t = {.task = "t0", .parallelism = 1};
	struct ckpt_meta m = {.job = "job1",
	                      .fingerprint = "fp",
	                      .id = id,
	                      .completed_ms = 1000 * (int64_t)id,
	                      .tasks = &t,
	                      .ntasks = 1,
	                      .offsets_json = "{\"logs\":{\"0\":7}}"};
	char payload[256];

	t.chain.n = n;
	t.chain.f = xcalloc(n, sizeof(*t.chain.f));
	for (size_t i = 0; i < n; i++) {
		/* The same bytes every time, so a rewrite changes nothing. */
		memset(payload, 'a' + (int)(ids[i] % 26), sizeof(payload));
		ck_assert_msg(ckpt_write_chain_file(
		                  st, "t0", i == 0, ids[i], payload,
		                  (size_t)(60 * ids[i]) % sizeof(payload),
		                  &t.chain.f[i], err, sizeof(err)) == 0,
		              "%s", err);
	}
	payload_for(id, 0, payload, sizeof(payload));
	ck_assert_msg(ckpt_write_state(st, id, "t0", 1, payload,
	                               strlen(payload), &t.file, err,
	                               sizeof(err)) == 0,
	              "%s", err);
	ck_assert_msg(ckpt_write_meta(st, &m, err, sizeof(err)) == 0, "%s",
	              err);
	free(t.chain.f);
}

/* The row of checkpoint id has OWN own and FULL full (bytes), each
 * right-aligned to the end of its title. */
static void expect_sizes(const char *out, uint64_t id, uint64_t own,
                         uint64_t full)
{
	const char *titles[] = {" OWN ", " FULL "};
	const uint64_t bytes[] = {own, full};
	char idtext[24], want[32], *row;

	snprintf(idtext, sizeof(idtext), "%" PRIu64, id);
	row = listing_row(out, idtext);
	ck_assert_msg(row, "no row %s in\n%s", idtext, out);
	for (int i = 0; i < 2; i++) {
		size_t end = (size_t)(strstr(out, titles[i]) - out) +
		             strlen(titles[i]) - 1;

		size_text(bytes[i], want, sizeof(want));
		ck_assert_msg(strncmp(row + end - strlen(want), want,
		                      strlen(want)) == 0 &&
		                  row[end] == ' ',
		              "checkpoint %s:%sshould be %s:\n%s", idtext,
		              titles[i], want, out);
	}
	free(row);
}

/* Checkpoints that share chain files: OWN counts the chk-<id>/ files and
 * the chain files the next older checkpoint does not list, FULL every
 * file a restore reads; a missing or damaged chain file names itself in
 * the status of each checkpoint that lists it, and the rows still line
 * up. */
START_TEST(listing_chains)
{
	static const uint64_t c1[] = {1}, c2[] = {1, 2}, c3[] = {1, 2, 3},
	                      c4[] = {4}, c5[] = {4, 5};
	static const char *const listing_ids[] = {"", "1", "2", "3", "4", "5"};
	struct ckpt_store *st = open_store(NULL);
	uint64_t chk[6], b1, d2, d3, b4, d5;
	char *out, *row;
	int rc;

	make_chain_ckpt(st, 1, c1, 1);
	make_chain_ckpt(st, 2, c2, 2);
	make_chain_ckpt(st, 3, c3, 3);
	make_chain_ckpt(st, 4, c4, 1); /* a new base */
	make_chain_ckpt(st, 5, c5, 2);
	for (uint64_t id = 1; id <= 5; id++)
		chk[id] = bytes_of(path_of("chk-%" PRIu64 "/t0.state", id)) +
		          bytes_of(path_of("chk-%" PRIu64 "/_metadata", id));
	b1 = bytes_of(path_of("shared/t0.b1"));
	d2 = bytes_of(path_of("shared/t0.d2"));
	d3 = bytes_of(path_of("shared/t0.d3"));
	b4 = bytes_of(path_of("shared/t0.b4"));
	d5 = bytes_of(path_of("shared/t0.d5"));
	ck_assert(b1 && d2 && d3 && b4 && d5);

	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strncmp(out, "ID", 2) == 0, "%s", out);
	expect_sizes(out, 1, chk[1] + b1, chk[1] + b1);
	expect_sizes(out, 2, chk[2] + d2, chk[2] + b1 + d2);
	expect_sizes(out, 3, chk[3] + d3, chk[3] + b1 + d2 + d3);
	expect_sizes(out, 4, chk[4] + b4, chk[4] + b4);
	expect_sizes(out, 5, chk[5] + d5, chk[5] + b4 + d5);
	for (int id = 1; id <= 5; id++) {
		row = listing_row(out, listing_ids[id]);
		ck_assert_msg(row && strstr(row, " complete "), "%s", out);
		free(row);
	}
	free(out);

	/* d2 gone: 2 and 3 list it; OWN of 3 is still what it added. */
	row = path_of("shared/t0.d2");
	ck_assert_int_eq(unlink(row), 0);
	free(row);
	/* d5 cut short. */
	row = path_of("shared/t0.d5");
	ck_assert_int_eq(truncate(row, (off_t)d5 - 1), 0);
	free(row);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	for (int id = 2; id <= 3; id++) {
		row = listing_row(out, listing_ids[id]);
		ck_assert_msg(row &&
		                  strstr(row, " damaged: shared/t0.d2: cannot "
		                              "open: No such file or "
		                              "directory "),
		              "%s", out);
		free(row);
	}
	expect_sizes(out, 2, chk[2], chk[2] + b1);
	expect_sizes(out, 3, chk[3] + d3, chk[3] + b1 + d3);
	row = listing_row(out, "5");
	ck_assert_msg(row && strstr(row, " damaged: shared/t0.d5: "), "%s",
	              out);
	ck_assert_msg(strstr(row, "truncated"), "%s", row);
	free(row);
	expect_sizes(out, 5, chk[5] + d5 - 1, chk[5] + b4 + d5 - 1);
	row = listing_row(out, "4");
	ck_assert_msg(row && strstr(row, " complete "), "%s", out);
	free(row);
	/* Every row's OFFSETS starts under its title. */
	for (int id = 1; id <= 5; id++) {
		size_t col = (size_t)(strstr(out, "OFFSETS") - out);

		row = listing_row(out, listing_ids[id]);
		ck_assert_msg(row && strlen(row) > col &&
		                  !strcmp(row + col, "logs[0]=7"),
		              "%s", out);
		free(row);
	}
	free(out);
	ckpt_store_close(st);
}
END_TEST

START_TEST(listing_no_tasks)
{
	struct ckpt_store *st = open_store(NULL);
	struct ckpt_meta m = {
	    .job = "j", .fingerprint = "f", .id = 4, .offsets_json = "{}"};
	char *out;
	int rc;

	ck_assert_int_eq(ckpt_write_meta(st, &m, err, sizeof(err)), 0);
	out = listing(tmpdir, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "damaged: chk-4/_metadata: lists no task "
	                          "state"),
	              "%s", out);
	free(out);
	ckpt_store_close(st);
}
END_TEST

/* ---- shared/: garbage collection ----------------------------------------
 */

static void touch_shared(const char *name)
{
	char *p = path_of("shared/%s", name);

	write_all(p, "x", 1);
	free(p);
}

static bool in_shared(const char *name)
{
	char *p = path_of("shared/%s", name);
	struct stat sb;
	bool there = lstat(p, &sb) == 0;

	free(p);
	return there;
}

/* Each name is in shared/ (there) or not. */
static void expect_shared(const char *const *names, size_t n, bool there)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(in_shared(names[i]) == there, "shared/%s %s",
		              names[i],
		              there ? "was removed" : "is still there");
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Files that a checkpoint with a readable _metadata lists, or that the
 * live chain holds, stay; other chain files go, among them those of a
 * checkpoint whose _metadata is damaged or missing. Temp files stay
 * unless nothing is being written (`all`). A name weir does not give a
 * chain file is never touched, nor is a directory; a symbolic link named
 * like a chain file is removed as a link, its target untouched. After
 * retention removes a checkpoint, what only it listed goes. */
START_TEST(collect_shared_files)
{
	static const char *const t0[] = {"t0"};
	static const uint64_t ids5[] = {3, 4, 5}, ids7[] = {6, 7};
	static const size_t n5[] = {3}, n7[] = {2};
	static const char *const listed5[] = {"t0.b3", "t0.d4", "t0.d5"};
	static const char *const listed7[] = {"t0.b6", "t0.d7"};
	static const char *const unlisted[] = {"t0.d2", "t0.b8", "t0.d9",
	                                       "t1.b1"};
	static const char *const not_chain[] = {
	    "notes.txt", "t0.b",           "t0.x5",      "t0.b5x", "t0.B5",
	    "README",    "t0.d12.tmp.tmp", ".t0.d3.swp", "t0.d",   "t0.d.tmp",
	    "b5",
	};
	char *const live[] = {"t0.d10"};
	struct ckpt_store *st = open_store(NULL);
	char *shared = path_of("shared"), *dir = path_of("shared/t0.d14");
	char *outside = make_outside("target"), *target, *link;

	ck_assert_int_eq(ckpt_collect_shared(st, NULL, 0, true), 0);
	ck_assert_int_eq(mkdir(shared, 0755), 0);
	make_ckpt(st, 5, 1, false);
	write_chain_meta(st, 5, t0, ids5, n5, 1);
	make_ckpt(st, 7, 1, false);
	write_chain_meta(st, 7, t0, ids7, n7, 1);
	/* chk-8's _metadata is damaged; chk-9 has none. */
	make_ckpt(st, 8, 1, false);
	{
		char *p = path_of("chk-8/_metadata");

		write_all(p, "{\"format\":2,", 12);
		free(p);
	}
	make_ckpt(st, 9, 1, false);
	for (size_t i = 0; i < N_OF(listed5); i++)
		touch_shared(listed5[i]);
	for (size_t i = 0; i < N_OF(listed7); i++)
		touch_shared(listed7[i]);
	for (size_t i = 0; i < N_OF(unlisted); i++)
		touch_shared(unlisted[i]);
	for (size_t i = 0; i < N_OF(not_chain); i++)
		touch_shared(not_chain[i]);
	touch_shared("t0.d10");
	touch_shared("t0.d11.tmp");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	target = xasprintf("%s/t0.state", outside);
	link = path_of("shared/t0.d13");
	ck_assert_int_eq(symlink(target, link), 0);

	ck_assert_int_eq(ckpt_collect_shared(st, live, 1, false),
	                 (int)N_OF(unlisted) + 1);
	expect_shared(listed5, N_OF(listed5), true);
	expect_shared(listed7, N_OF(listed7), true);
	expect_shared(unlisted, N_OF(unlisted), false);
	expect_shared(not_chain, N_OF(not_chain), true);
	ck_assert(in_shared("t0.d10") && in_shared("t0.d11.tmp"));
	ck_assert(!in_shared("t0.d13"));
	ck_assert(in_shared("t0.d14"));
	check_outside(outside);
	free(outside);

	/* Nothing being written: the live file and the temp file go. */
	ck_assert_int_eq(ckpt_collect_shared(st, NULL, 0, true), 2);
	ck_assert(!in_shared("t0.d10") && !in_shared("t0.d11.tmp"));
	expect_shared(listed5, N_OF(listed5), true);

	/* Retention took chk-5: its chain goes, chk-7's stays. */
	ck_assert_int_eq(ckpt_remove(st, 5), 0);
	ck_assert_int_eq(ckpt_collect_shared(st, NULL, 0, true),
	                 (int)N_OF(listed5));
	expect_shared(listed5, N_OF(listed5), false);
	expect_shared(listed7, N_OF(listed7), true);
	expect_shared(not_chain, N_OF(not_chain), true);
	ck_assert(in_shared("t0.d14"));
	ck_assert_int_eq(ckpt_collect_shared(st, NULL, 0, true), 0);
	free(target);
	free(link);
	free(dir);
	free(shared);
	ckpt_store_close(st);
}
END_TEST

/* shared/ a symbolic link to a directory elsewhere: nothing there is
 * removed through it, however unlisted its files look. */
START_TEST(collect_shared_dir_link_not_followed)
{
	struct ckpt_store *st = open_store(NULL);
	char *outside = make_outside("shared"), *shared = path_of("shared");
	char *bait = xasprintf("%s/t0.b1", outside);
	int rc;

	write_all(bait, "x", 1);
	ck_assert_int_eq(symlink(outside, shared), 0);
	make_ckpt(st, 2, 1, true);
	rc = ckpt_collect_shared(st, NULL, 0, true);
	ck_assert_int_le(rc, 0);
	ck_assert_msg(exists(bait), "%s was removed through a link", bait);
	unlink(bait);
	check_outside(outside);
	free(outside);
	free(bait);
	free(shared);
	ckpt_store_close(st);
}
END_TEST

/* A _metadata that cannot be read just now (too many open files, an I/O
 * error) is not a damaged one: its checkpoint may still be restored. So
 * collection removes nothing, rather than the files it lists (every file
 * of the state, at startup, where nothing is live). */
START_TEST(collect_shared_keeps_all_when_meta_unreadable)
{
	static const char *const t0[] = {"t0"};
	static const uint64_t ids5[] = {3, 4, 5};
	static const size_t n5[] = {3};
	static const char *const listed5[] = {"t0.b3", "t0.d4", "t0.d5"};
	static const struct {
		enum op op;
		int err;
	} faults[] = {
	    {OP_OPEN, EMFILE}, {OP_OPEN, EIO},  {OP_OPEN, EACCES},
	    {OP_PREAD, EIO},   {OP_FSTAT, EIO}, {OP_FSTATAT, EIO},
	};
	struct ckpt_store *st = open_store(&faulty_io);
	char *shared = path_of("shared");

	ck_assert_int_eq(mkdir(shared, 0755), 0);
	make_ckpt(st, 5, 1, false);
	write_chain_meta(st, 5, t0, ids5, n5, 1);
	for (size_t i = 0; i < N_OF(listed5); i++)
		touch_shared(listed5[i]);
	touch_shared("t0.d2");
	for (size_t i = 0; i < N_OF(faults); i++) {
		arm(faults[i].op, 1, faults[i].err);
		fault.path = "chk-5/_metadata";
		ck_assert_msg(ckpt_collect_shared(st, NULL, 0, true) == -1,
		              "fault %zu: collected", i);
		ck_assert_msg(fault.calls[faults[i].op] >= 1,
		              "fault %zu: never hit", i);
		expect_shared(listed5, N_OF(listed5), true);
		ck_assert(in_shared("t0.d2"));
	}
	arm(OP_OPEN, 0, 0);
	ck_assert_int_eq(ckpt_collect_shared(st, NULL, 0, true), 1);
	expect_shared(listed5, N_OF(listed5), true);
	ck_assert(!in_shared("t0.d2"));
	free(shared);
	ckpt_store_close(st);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

/* DIR/shared swapped for a symbolic link: its chain files are not read
 * through it, and every checkpoint that lists one is damaged. */
START_TEST(shared_link_not_read)
{
	static const uint64_t c2[] = {1, 2};
	struct ckpt_store *st = open_store(NULL);
	char *shared = path_of("shared"), *moved = path_of("elsewhere");
	struct ckpt_meta m;

	make_chain_ckpt(st, 1, c2, 1);
	make_chain_ckpt(st, 2, c2, 2);
	ck_assert_int_eq(ckpt_verify(st, 2, &m, err, sizeof(err)), 0);
	ckpt_meta_clear(&m);
	ck_assert_int_eq(rename(shared, moved), 0);
	ck_assert_int_eq(symlink(moved, shared), 0);
	ck_assert_int_eq(ckpt_verify(st, 2, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "shared/t0.b1: shared is a symbolic link"),
	              "%s", err);
	free(shared);
	free(moved);
	ckpt_store_close(st);
}
END_TEST

/* A savepoint: a complete checkpoint copied into a directory of its
 * own, read back by its path alone (and chk-<n> likewise); a copy into a
 * directory that is not empty is refused, a damaged copy names its file. */
START_TEST(savepoint_copy_and_open)
{
	struct ckpt_store *st = open_store(NULL), *to, *one;
	char *sp = path_of("out/sp"), *chk = path_of("chk-5");
	char *victim = path_of("out/sp/t1.state"), want[256];
	struct ckpt_meta m, got;
	uint64_t id = 0;

	make_ckpt(st, 5, 3, true);
	ck_assert_int_eq(ckpt_read_meta(st, 5, &m, err, sizeof(err)), 0);
	ck_assert(!m.savepoint);
	m.savepoint = true;
	to = ckpt_store_open_one(sp, true, NULL, &id, err, sizeof(err));
	ck_assert_msg(to != NULL, "%s", err);
	ck_assert_msg(ckpt_copy(st, &m, to, err, sizeof(err)) == 0, "%s", err);
	ckpt_store_close(to);
	ckpt_meta_clear(&m);

	one = ckpt_store_open_one(sp, false, NULL, &id, err, sizeof(err));
	ck_assert_msg(one != NULL, "%s", err);
	ck_assert_uint_eq(id, 5);
	ck_assert_msg(ckpt_load(one, id, &got, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert(got.savepoint);
	ck_assert_uint_eq(got.ntasks, 3);
	for (size_t i = 0; i < got.ntasks; i++) {
		payload_for(5, (int)i, want, sizeof(want));
		ck_assert_uint_eq(got.tasks[i].payload_len, strlen(want));
		ck_assert_int_eq(
		    memcmp(got.tasks[i].payload, want, strlen(want)), 0);
	}
	ckpt_meta_clear(&got);

	ck_assert_ptr_null(
	    ckpt_store_open_one(sp, true, NULL, &id, err, sizeof(err)));
	ck_assert_msg(strstr(err, "is not empty"), "%s", err);

	/* The checkpoint itself, by its path: not a savepoint. */
	to = ckpt_store_open_one(chk, false, NULL, &id, err, sizeof(err));
	ck_assert_msg(to != NULL, "%s", err);
	ck_assert_int_eq(ckpt_load(to, id, &got, err, sizeof(err)), 0);
	ck_assert(!got.savepoint);
	ckpt_meta_clear(&got);
	ckpt_store_close(to);

	ck_assert_int_eq(truncate(victim, 20), 0);
	ck_assert_int_eq(ckpt_load(one, 5, &got, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "sp/t1.state"), "%s", err);
	ckpt_store_close(one);
	ck_assert_ptr_null(
	    ckpt_store_open_one(tmpdir, false, NULL, &id, err, sizeof(err)));
	ck_assert_msg(strstr(err, "_metadata"), "%s", err);
	ckpt_store_close(st);
	free(sp);
	free(chk);
	free(victim);
}
END_TEST

/* A savepoint copy whose nth write fails (three task files, then
 * _metadata) fails naming the file, and leaves no _metadata: no
 * savepoint exists. */
START_TEST(fault_savepoint_copy)
{
	struct ckpt_store *st = open_store(NULL), *to;
	char *sp = path_of("sp"), *meta = path_of("sp/_metadata");
	struct ckpt_meta m;
	uint64_t id;

	make_ckpt(st, 3, 3, true);
	ck_assert_int_eq(ckpt_read_meta(st, 3, &m, err, sizeof(err)), 0);
	to = ckpt_store_open_one(sp, true, &faulty_io, &id, err, sizeof(err));
	ck_assert_msg(to != NULL, "%s", err);
	arm(OP_WRITE, _i + 1, ENOSPC);
	ck_assert_int_eq(ckpt_copy(st, &m, to, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "sp/") && strstr(err, "No space left"),
	              "write %d: %s", _i + 1, err);
	ck_assert(!exists(meta));
	ckpt_store_close(to);
	ckpt_meta_clear(&m);
	ckpt_store_close(st);
	free(sp);
	free(meta);
}
END_TEST

/* A state file larger than the copy's buffer is copied in chunks, and
 * a write that fails in the middle of it fails the copy. */
START_TEST(savepoint_copy_chunks)
{
	size_t n = (3 << 20) + 12345;
	unsigned char *payload = random_bytes(n, 7);
	struct ckpt_store *st = open_store(NULL), *to;
	char *sp = path_of("sp"), *sp2 = path_of("sp2");
	struct ckpt_meta m = {0}, got;
	struct ckpt_task_entry t = {.task = "big"};
	uint64_t id;

	ck_assert_int_eq(ckpt_write_state(st, 4, "big", 1, payload, n, &t.file,
	                                  err, sizeof(err)),
	                 0);
	ck_assert_uint_gt(t.file.size, 2 << 20);
	m.job = "j";
	m.fingerprint = "f";
	m.id = 4;
	m.tasks = &t;
	m.ntasks = 1;
	m.savepoint = true;
	to = ckpt_store_open_one(sp, true, NULL, &id, err, sizeof(err));
	ck_assert_msg(ckpt_copy(st, &m, to, err, sizeof(err)) == 0, "%s", err);
	ckpt_store_close(to);
	to = ckpt_store_open_one(sp, false, NULL, &id, err, sizeof(err));
	ck_assert_msg(to != NULL, "%s", err);
	ck_assert_msg(ckpt_load(to, id, &got, err, sizeof(err)) == 0, "%s",
	              err);
	ck_assert_uint_eq(got.tasks[0].payload_len, n);
	ck_assert_int_eq(memcmp(got.tasks[0].payload, payload, n), 0);
	ckpt_meta_clear(&got);
	ckpt_store_close(to);

	to = ckpt_store_open_one(sp2, true, &faulty_io, &id, err, sizeof(err));
	arm(OP_WRITE, 2, EIO);
	ck_assert_int_eq(ckpt_copy(st, &m, to, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "writing sp2/big.state.tmp: Input/output"),
	              "%s", err);
	ckpt_store_close(to);
	ckpt_store_close(st);
	free(payload);
	free(sp);
	free(sp2);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

#define ADD(name, fn)                                                          \
	tc = tcase_create(name);                                               \
	tcase_add_checked_fixture(tc, setup, teardown);                        \
	tcase_add_test(tc, fn);                                                \
	suite_add_tcase(s, tc)
#define ADD_LOOP(name, fn, n)                                                  \
	tc = tcase_create(name);                                               \
	tcase_add_checked_fixture(tc, setup, teardown);                        \
	tcase_add_loop_test(tc, fn, 0, n);                                     \
	suite_add_tcase(s, tc)

	ADD("state", state_roundtrip);
	ADD("state", state_task_names);
	ADD("state", state_truncated);
	ADD("state", state_bit_flips);
	ADD("state", state_forged);
	ADD("state", state_expect_mismatch);
	ADD("state", state_format1_reads);
	ADD("meta", meta_roundtrip);
	ADD("meta", meta_offsets_fallback);
	ADD("meta", meta_instance);
	ADD("instances", instance_dirs);
	ADD("meta", meta_bad_files);
	ADD("meta", meta_bad_chains);
	ADD("meta", meta_chain_roundtrip);
	ADD("shared", collect_shared_files);
	ADD("shared", collect_shared_dir_link_not_followed);
	ADD("shared", collect_shared_keeps_all_when_meta_unreadable);
	ADD("verify", verify_missing_task_file);
	ADD_LOOP("find_latest", find_latest_falls_back, 3);
	ADD("find_latest", find_latest_none);
	ADD("find_latest", load_latest_keeps_payloads);
	ADD("savepoint", savepoint_copy_and_open);
	ADD_LOOP("savepoint", fault_savepoint_copy, 4);
	ADD("savepoint", savepoint_copy_chunks);
	ADD("retain", list_and_retain);
	ADD("retain", retain_incomplete_newest);
	ADD("links", links_left_alone);
	ADD("links", ids_out_of_range);
	ADD("lock", lock_same_process);
	ADD("lock", lock_other_process_killed);
	ADD("lock", lock_symlink_refused);
	ADD_LOOP("faults", fault_write_state, 6);
	ADD_LOOP("faults", fault_write_meta, 13);
	ADD("faults", fault_new_dir_sync);
	ADD("faults", short_writes_and_eintr);
	ADD_LOOP("faults", fault_read_find_latest,
	         (int)(sizeof(read_faults) / sizeof(read_faults[0])));
	ADD("faults", fault_read_verify);
	ADD("faults", write_after_chk_dir_swapped);
	ADD("faults", fault_read_listing);
	ADD("faults", instance_check_read_faults);
	ADD("open", store_open_creates_parents);
	ADD("listing", listing_output);
	ADD("hostile", not_regular_files);
	ADD("hostile", chk_dir_link_not_followed);
	ADD("hostile", state_size_checked_first);
	ADD("hostile", state_lz4_bomb);
	ADD("hostile", meta_too_large);
	ADD("hostile", meta_many_tasks);
	ADD("find_latest", find_latest_check);
	ADD("listing", listing_no_tasks);
	ADD("listing", listing_chains);
	ADD("links", shared_link_not_read);
#undef ADD
#undef ADD_LOOP
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
