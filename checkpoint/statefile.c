/*
 * statefile.c - the state-file codec (see statefile.h). It turns a task
 * snapshot into a file that proves itself intact, and reads one back in a
 * single streaming pass that names the first thing that is wrong.
 *
 * State file, format version 2 (integers little-endian, written byte by
 * byte so the format does not depend on the host):
 *
 *   offset  size  field
 *   0       8     magic "WEIRSTAT"
 *   8       4     format version (2)
 *   12      4     state version (the operator's own encoding version)
 *   16      8     payload length, uncompressed
 *   24      4     content: 0 a task's state, 1 a keyed-state base, 2 a
 *                 keyed-state delta (enum ckpt_content)
 *   28      4     reserved, 0
 *   32      n     one LZ4 frame (content size set, content checksum on)
 *   32+n    8     end marker "WEIREND1"
 *   40+n    8     XXH64, seed 0, of bytes [0, 32+n)
 *
 * Format version 1, which weir wrote before incremental checkpoints, is
 * read too: the same without the content and reserved fields (the frame
 * at offset 24), and always a task's state.
 *
 * The trailer's XXH64 is ckpt_file_info.checksum and is copied into
 * _metadata together with the file size, so a file swapped for another
 * valid one is caught too. The reader checks, in order: size against
 * _metadata (before a byte is read), minimum length, magic, format
 * version, end marker, XXH64, checksum and state version against
 * _metadata, payload length limit, then the frame (lz4 checks its content
 * checksum; it must end exactly where the trailer starts and decode to
 * exactly the header's length). It reads in chunks, hashing and decoding
 * as it goes: verifying holds no payload, whatever it decodes to, and a
 * kept payload grows with the decoded bytes, never sized from the header
 * alone.
 */
#include "statefile.h"

#include <inttypes.h>
#include <lz4frame.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util.h"

#define STATE_MAGIC "WEIRSTAT"
#define STATE_END "WEIREND1"
#define STATE_FORMAT 2u
#define HDR_LEN_V1 24
#define HDR_LEN 32
#define TRAILER_LEN 16
#define TASK_NAME_MAX 99
/* Largest payload written or accepted; a header above it is damage. */
#define MAX_PAYLOAD ((uint64_t)16 << 30)
/* Largest state file accepted: MAX_PAYLOAD plus lz4's worst expansion. */
#define MAX_STATE_FILE (MAX_PAYLOAD + MAX_PAYLOAD / 128 + 65536)

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

const char *ckpt_content_name(uint32_t content)
{
	switch (content) {
	case CKPT_TASK_STATE:
		return "a task's state";
	case CKPT_KEYED_BASE:
		return "a keyed-state base";
	case CKPT_KEYED_DELTA:
		return "a keyed-state delta";
	}
	return "unknown content";
}

const char *ckpt_task_name_problem(const char *task)
{
	size_t n = strlen(task);

	if (n == 0)
		return "is empty";
	if (n > TASK_NAME_MAX)
		return "is longer than 99 characters";
	if (task[0] == '.')
		return "starts with '.'";
	if (strstr(task, ".."))
		return "contains \"..\"";
	for (size_t i = 0; i < n; i++) {
		char c = task[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return "contains a character other than A-Z a-z 0-9 . "
			       "_ -";
	}
	return NULL;
}

int ckpt_statefile_encode(const char *task, const char *rel,
                          uint32_t state_version, enum ckpt_content content,
                          const void *payload, size_t len, unsigned char **file,
                          size_t *size, uint64_t *checksum, char *errstr,
                          size_t errlen)
{
	LZ4F_preferences_t prefs;
	unsigned char *buf;
	size_t bound, flen, total;
	uint64_t sum;

	if ((uint64_t)len > MAX_PAYLOAD) {
		ckpt_seterr(
		    errstr, errlen,
		    "state of task %s is %zu bytes, more than the limit of "
		    "16 GiB",
		    task, len);
		return -1;
	}
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = len;
	bound = LZ4F_compressFrameBound(len, &prefs);
	buf = xmalloc(HDR_LEN + bound + TRAILER_LEN);
	memcpy(buf, STATE_MAGIC, 8);
	put_u32(buf + 8, STATE_FORMAT);
	put_u32(buf + 12, state_version);
	put_u64(buf + 16, len);
	put_u32(buf + 24, (uint32_t)content);
	put_u32(buf + 28, 0);
	flen = LZ4F_compressFrame(buf + HDR_LEN, bound, payload ? payload : "",
	                          len, &prefs);
	if (LZ4F_isError(flen)) {
		ckpt_seterr(errstr, errlen, "compressing %s: %s", rel,
		            LZ4F_getErrorName(flen));
		free(buf);
		return -1;
	}
	total = HDR_LEN + flen;
	sum = XXH64(buf, total, 0);
	memcpy(buf + total, STATE_END, 8);
	put_u64(buf + total + 8, sum);
	*file = buf;
	*size = total + TRAILER_LEN;
	*checksum = sum;
	return 0;
}

/* Bytes read from a state file at a time, and the buffer that decoded
 * bytes go to when only verifying (nothing is kept). */
#define READ_CHUNK ((size_t)256 << 10)
#define SCRATCH_LEN ((size_t)64 << 10)

/* lz4 decoding of one frame fed in pieces. With keep, the payload goes to
 * a buffer that grows with the decoded bytes (never sized from the header
 * alone); without, to a scratch buffer that is overwritten, so verifying
 * a file costs the same memory whatever its payload decodes to. */
struct frame_pass {
	const char *rel;
	LZ4F_dctx *dctx;
	bool keep;
	unsigned char *out;
	size_t alloc;      /* bytes at out */
	uint64_t want;     /* payload length the header announces */
	uint64_t got;      /* bytes decoded */
	uint64_t used;     /* frame bytes the decoder took */
	uint64_t trailing; /* bytes after the end of the frame */
	size_t hint;       /* lz4's; 0 once the frame has ended */
	char why[512];     /* first problem, "" none */
};

static void frame_feed(struct frame_pass *fp, const unsigned char *src,
                       size_t n)
{
	while (n > 0 && !fp->why[0]) {
		unsigned char *dst = fp->out;
		size_t dn = fp->alloc, sn = n;

		if (fp->hint == 0) {
			fp->trailing += n;
			return;
		}
		if (fp->keep) {
			/* got <= want here, so alloc < want + 1 can grow. */
			if (fp->got == fp->alloc) {
				uint64_t cap = fp->want + 1;
				fp->alloc = (uint64_t)fp->alloc * 2 < cap
				                ? fp->alloc * 2
				                : (size_t)cap;
				fp->out = xrealloc(fp->out, fp->alloc);
			}
			dst = fp->out + fp->got;
			dn = fp->alloc - (size_t)fp->got;
		}
		fp->hint = LZ4F_decompress(fp->dctx, dst, &dn, src, &sn, NULL);
		if (LZ4F_isError(fp->hint)) {
			snprintf(fp->why, sizeof(fp->why),
			         "%s: lz4 frame is corrupt (%s): the file is "
			         "damaged",
			         fp->rel, LZ4F_getErrorName(fp->hint));
			return;
		}
		if (dn == 0 && sn == 0 && fp->hint != 0) {
			snprintf(fp->why, sizeof(fp->why),
			         "%s: lz4 decoding stalled at byte %" PRIu64
			         " of the frame: the file is damaged",
			         fp->rel, fp->used);
			return;
		}
		fp->used += sn;
		fp->got += dn;
		src += sn;
		n -= sn;
		if (fp->got > fp->want)
			snprintf(
			    fp->why, sizeof(fp->why),
			    "%s: the lz4 frame holds more than the %" PRIu64
			    " bytes the header announces: the file is "
			    "damaged",
			    fp->rel, fp->want);
	}
}

/* After the whole frame was fed: 0, or -1 with what was wrong. */
static int frame_finish(struct frame_pass *fp, char *errstr, size_t errlen)
{
	if (fp->why[0])
		ckpt_seterr(errstr, errlen, "%s", fp->why);
	else if (fp->trailing)
		ckpt_seterr(errstr, errlen,
		            "%s: %" PRIu64
		            " bytes of trailing garbage after the "
		            "lz4 frame: the file is damaged",
		            fp->rel, fp->trailing);
	else if (fp->hint != 0)
		ckpt_seterr(errstr, errlen,
		            "%s: the lz4 frame ends early (%" PRIu64 " bytes "
		            "decoded, header says %" PRIu64
		            "): the file is damaged",
		            fp->rel, fp->got, fp->want);
	else if (fp->got != fp->want)
		ckpt_seterr(errstr, errlen,
		            "%s: decoded %" PRIu64 " bytes but the header says "
		            "%" PRIu64 ": the file is damaged",
		            fp->rel, fp->got, fp->want);
	else
		return 0;
	return -1;
}

/* Checks state file rel in one streaming pass (the checks and their order
 * are in the head comment): its size before anything is read, then the
 * header and trailer, then every chunk is hashed and decoded as it is
 * read. The payload is kept (malloc()ed, in *payload) only when payload is
 * not NULL; verifying alone holds a chunk and a scratch buffer. */
int ckpt_statefile_read(const struct ckpt_io *io, const char *path,
                        const char *rel, enum ckpt_content content,
                        const struct ckpt_file_info *expect,
                        unsigned char **payload, uint64_t *len, uint32_t *sv,
                        char *errstr, size_t errlen)
{
	unsigned char hdr[HDR_LEN], tr[TRAILER_LEN], *chunk = NULL;
	struct frame_pass fp = {.rel = rel, .hint = 1};
	XXH64_state_t *xs = NULL;
	uint64_t size, stored, computed, end;
	uint32_t fmt, kind;
	size_t hlen;
	int fd, rc = -1;

	fd = ckpt_io_open_regular(io, path, rel, MAX_STATE_FILE,
	                          expect ? &expect->size : NULL, &size, errstr,
	                          errlen);
	if (fd < 0)
		return -1;
	if (size < HDR_LEN_V1 + TRAILER_LEN) {
		ckpt_seterr(errstr, errlen,
		            "%s: too short (%" PRIu64
		            " bytes, a state file has at "
		            "least %d): the file is truncated",
		            rel, size, HDR_LEN_V1 + TRAILER_LEN);
		goto out;
	}
	end = size - TRAILER_LEN;
	if (ckpt_io_read_at(io, fd, rel, hdr, HDR_LEN_V1, 0, errstr, errlen) <
	        0 ||
	    ckpt_io_read_at(io, fd, rel, tr, TRAILER_LEN, end, errstr, errlen) <
	        0)
		goto out;
	if (memcmp(hdr, STATE_MAGIC, 8) != 0) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: not a weir state file (bad magic at the start)", rel);
		goto out;
	}
	fmt = get_u32(hdr + 8);
	if (fmt != 1 && fmt != STATE_FORMAT) {
		ckpt_seterr(errstr, errlen,
		            "%s: unknown state file format version %" PRIu32
		            " (this weir reads versions 1 and %u): written by "
		            "another weir version, or the file is damaged",
		            rel, fmt, STATE_FORMAT);
		goto out;
	}
	hlen = fmt == 1 ? HDR_LEN_V1 : HDR_LEN;
	if (end < hlen) {
		ckpt_seterr(errstr, errlen,
		            "%s: too short (%" PRIu64
		            " bytes) for its header: the file is truncated",
		            rel, size);
		goto out;
	}
	if (hlen > HDR_LEN_V1 &&
	    ckpt_io_read_at(io, fd, rel, hdr + HDR_LEN_V1, hlen - HDR_LEN_V1,
	                    HDR_LEN_V1, errstr, errlen) < 0)
		goto out;
	kind = fmt == 1 ? CKPT_TASK_STATE : get_u32(hdr + 24);
	if (kind != (uint32_t)content) {
		ckpt_seterr(errstr, errlen,
		            "%s: holds %s, not %s: the file was replaced or is "
		            "damaged",
		            rel, ckpt_content_name(kind),
		            ckpt_content_name(content));
		goto out;
	}
	if (memcmp(tr, STATE_END, 8) != 0) {
		ckpt_seterr(errstr, errlen,
		            "%s: end marker missing: the file is truncated or "
		            "damaged",
		            rel);
		goto out;
	}
	fp.want = get_u64(hdr + 16);
	if (expect && expect->raw && fp.want != expect->raw) {
		ckpt_seterr(errstr, errlen,
		            "%s: header says the payload is %" PRIu64
		            " bytes, _metadata says %" PRIu64
		            ": the file was replaced or is damaged",
		            rel, fp.want, expect->raw);
		goto out;
	}
	if (fp.want <= MAX_PAYLOAD) {
		uint64_t first = (end - hlen) * 4;

		if (LZ4F_isError(LZ4F_createDecompressionContext(
		        &fp.dctx, LZ4F_VERSION))) {
			ckpt_seterr(errstr, errlen,
			            "%s: cannot set up lz4 decoding", rel);
			goto out;
		}
		fp.keep = payload != NULL;
		/* One byte of slack so a frame longer than the header says
		 * shows. */
		if (first < 65536)
			first = 65536;
		fp.alloc = !fp.keep              ? SCRATCH_LEN
		           : first < fp.want + 1 ? (size_t)first
		                                 : (size_t)fp.want + 1;
		fp.out = xmalloc(fp.alloc);
	}
	xs = XXH64_createState();
	if (!xs || XXH64_reset(xs, 0) != XXH_OK) {
		ckpt_seterr(errstr, errlen, "%s: cannot set up XXH64", rel);
		goto out;
	}
	chunk = xmalloc(READ_CHUNK);
	XXH64_update(xs, hdr, hlen);
	for (uint64_t off = hlen; off < end;) {
		size_t n =
		    end - off < READ_CHUNK ? (size_t)(end - off) : READ_CHUNK;
		if (ckpt_io_read_at(io, fd, rel, chunk, n, off, errstr,
		                    errlen) < 0)
			goto out;
		XXH64_update(xs, chunk, n);
		if (fp.dctx)
			frame_feed(&fp, chunk, n);
		off += n;
	}
	stored = get_u64(tr + 8);
	computed = XXH64_digest(xs);
	if (stored != computed) {
		ckpt_seterr(errstr, errlen,
		            "%s: checksum mismatch (file says 0x%016" PRIx64
		            ", computed 0x%016" PRIx64 "): the file is damaged",
		            rel, stored, computed);
		goto out;
	}
	if (expect && expect->checksum != stored) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: checksum 0x%016" PRIx64 " differs from 0x%016" PRIx64
		    " in _metadata: the file was replaced or _metadata is "
		    "damaged",
		    rel, stored, expect->checksum);
		goto out;
	}
	*sv = get_u32(hdr + 12);
	if (expect && expect->state_version != *sv) {
		ckpt_seterr(errstr, errlen,
		            "%s: state version %" PRIu32
		            " but _metadata says %" PRIu32
		            ": the file was replaced or _metadata is damaged",
		            rel, *sv, expect->state_version);
		goto out;
	}
	if (!fp.dctx) {
		ckpt_seterr(
		    errstr, errlen,
		    "%s: header says the payload is %" PRIu64
		    " bytes, more than the limit of 16 GiB: the file is "
		    "damaged",
		    rel, fp.want);
		goto out;
	}
	if (frame_finish(&fp, errstr, errlen) < 0)
		goto out;
	*len = fp.want;
	if (payload) {
		*payload = fp.out;
		fp.out = NULL;
	}
	rc = 0;
out:
	if (fp.dctx)
		LZ4F_freeDecompressionContext(fp.dctx);
	XXH64_freeState(xs);
	free(fp.out);
	free(chunk);
	io->close(fd);
	return rc;
}
