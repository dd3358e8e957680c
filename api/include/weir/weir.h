/*
 * weir.h - the operator API of weir, the whole contract for operator authors.
 *
 * An operator is a table of callbacks (weir_operator_t) that the runtime
 * calls for each instance (task) that runs it. Built-in operators use this
 * header too; filter, count and dedup also read values through the
 * runtime's shared JSON view of the current record, which plugins cannot
 * reach yet.
 *
 * Ownership, one rule for the whole API: whatever the runtime hands to a
 * callback (records, config text, readers, writers) is borrowed and valid
 * only until that callback returns; whatever the operator hands to the
 * runtime (emitted keys and values, written state) is copied before the call
 * returns.
 *
 * Threads: the callbacks of one operator instance never run at the same
 * time. open and restore run on the thread that builds the job, before the
 * instance's task thread starts; process, snapshot, checkpoint_complete,
 * on_timer, end_input and checkpoint_aborted run on the task thread; close runs on the thread that ends the job,
 * after the task thread has ended. Instances of one operator (parallelism
 * N) run on N threads at once, so keep everything in the state open
 * returns, never in globals. The functions below may only be called from
 * inside a callback, with the ctx the callback received.
 *
 * Validation: `weir validate`, and `weir run` before it builds the job,
 * call open (then close) once per operator only to check its
 * configuration; weir_validating() tells that call apart from a running
 * instance's, so open can skip what only a running instance needs
 * (connections, files, threads).
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of weir_operator_t and of the functions below. Version 2
 * added time: timers, the watermark, end of input, aborted checkpoints,
 * state expiry, and struct_size. A plugin built for version 1 or 2 loads
 * and runs unchanged; one built for a newer weir than this is refused
 * with an error at load. */
#define WEIR_API_VERSION 2

/* Return codes. Every function returns 0 on success or a negative code. */
#define WEIR_OK 0
#define WEIR_ERR (-1)     /* failed; weir_error() said why */
#define WEIR_ENOTSUP (-2) /* optional feature not provided */
#define WEIR_EEOF (-3)    /* reader: not enough bytes left */

#if defined(__GNUC__) || defined(__clang__)
#define WEIR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WEIR_PRINTF(f, a)
#endif

typedef struct weir_ctx weir_ctx_t;       /* one per operator instance */
typedef struct weir_record weir_record_t; /* one input record, borrowed */
typedef struct weir_writer weir_writer_t; /* sink for snapshot bytes */
typedef struct weir_reader weir_reader_t; /* source of restored bytes */

/* --- Records (borrowed during process) --------------------------------- */

/* Key and value bytes; *len receives the length. A missing key, and a null
 * value (a Kafka tombstone), is NULL with *len 0; an empty one is not NULL.
 * The bytes are not NUL-terminated. weir_emit with a NULL value emits a
 * null value. */
const void *weir_record_key(const weir_record_t *rec, size_t *len);
const void *weir_record_value(const weir_record_t *rec, size_t *len);

/* The record's event time in milliseconds since the epoch: the Kafka
 * record timestamp, or the field the job file's source names
 * ("timestamp"); -1 when unknown. A record emitted from on_timer has the
 * timer's time (event time) or the watermark (processing time). */
int64_t weir_record_timestamp(const weir_record_t *rec);

/* Headers in their original order. Returns WEIR_OK and fills the out
 * parameters for 0 <= idx < weir_record_header_count(), else WEIR_EEOF.
 * Names are NUL-terminated; values are not. */
size_t weir_record_header_count(const weir_record_t *rec);
int weir_record_header_at(const weir_record_t *rec, size_t idx,
                          const char **name, const void **value, size_t *len);

/* Where the record came from: source topic (NUL-terminated), partition,
 * offset, and its sequence number among the outputs the stage before this
 * one made of one input record (0 for the first). The sink numbers output
 * records afresh (see the README's weir.lineage header). */
void weir_record_lineage(const weir_record_t *rec, const char **topic,
                         int32_t *partition, int64_t *offset, uint32_t *seq);

/* --- Emitting (copies) -------------------------------------------------- */

/* Emits a record downstream with the given key and value; headers and
 * lineage are those of the input record being processed (the sequence
 * number grows with each emit or forward from one input). key may be
 * NULL. From process, on_timer and end_input; elsewhere it fails with
 * WEIR_ERR. A record emitted from on_timer or end_input has no source
 * record: no headers, no source partition in its lineage, and the
 * timer's time as its timestamp. */
int weir_emit(weir_ctx_t *ctx, const void *key, size_t key_len,
              const void *value, size_t value_len);

/* Emits the input record unchanged (its sequence number is the next of
 * this input's outputs, as for weir_emit). Only from process. */
int weir_forward(weir_ctx_t *ctx, const weir_record_t *rec);

/* --- Errors and logging ------------------------------------------------- */

/* Records a message that says what went wrong and returns WEIR_ERR, so a
 * callback can `return weir_error(ctx, "...")`. From open it fails the job
 * (or validation); from process it fails the job, naming the operator. */
int weir_error(weir_ctx_t *ctx, const char *fmt, ...) WEIR_PRINTF(2, 3);

/* Reports that one input record cannot be processed (not JSON, a missing
 * field, ...). The runtime applies the operator's "on_error" policy: skip
 * (count, log at most once a second with a sample), fail (stop the job) or
 * dead-letter. Returns WEIR_OK when processing may go on, WEIR_ERR when
 * the job must stop; process should return what it returns. */
int weir_record_error(weir_ctx_t *ctx, const weir_record_t *rec,
                      const char *fmt, ...) WEIR_PRINTF(3, 4);

/* Logs a line prefixed with the operator's name and task index. */
void weir_log(weir_ctx_t *ctx, const char *fmt, ...) WEIR_PRINTF(2, 3);

/* 1 when open runs only to check the configuration (see Validation
 * above): no records will come and close follows at once; 0 for a running
 * instance. */
int weir_validating(const weir_ctx_t *ctx);

/* Which instance this is: 0 <= index < parallelism. While validating,
 * index 0 of the configured parallelism. */
int weir_task_index(const weir_ctx_t *ctx);
int weir_task_parallelism(const weir_ctx_t *ctx);

/* --- Raw state (snapshot and restore) ----------------------------------- */

int weir_write(weir_writer_t *w, const void *buf, size_t len);
int weir_write_u64(weir_writer_t *w, uint64_t v);
/* A length-prefixed byte string. */
int weir_write_bytes(weir_writer_t *w, const void *buf, size_t len);

/* Reads exactly len bytes or returns WEIR_EEOF. */
int weir_read(weir_reader_t *r, void *buf, size_t len);
int weir_read_u64(weir_reader_t *r, uint64_t *v);
/* Reads a length-prefixed byte string; *buf points into the reader's memory
 * and is valid until the restore callback returns. */
int weir_read_bytes(weir_reader_t *r, const void **buf, size_t *len);
size_t weir_read_remaining(const weir_reader_t *r);

/* --- Managed keyed state ------------------------------------------------ */

/*
 * An operator with a "key" field in its job file config is keyed: every
 * record with the same value of that field goes to the same instance, and
 * the instance has a map of (name -> value) byte strings per key, scoped
 * to the key of the record being processed. The runtime snapshots and
 * restores it, split into key groups, so that it follows its keys when the
 * job is restored with another parallelism. Most operators need no
 * snapshot code of their own.
 *
 * These functions may be called from process (they act on the current
 * record's key) and from on_timer (the timer's key); they return
 * WEIR_ENOTSUP for an operator that is not keyed. Pointers returned stay valid until the next call that changes
 * state or until process returns, whichever comes first.
 */

/* The current record's key: the text of its "key" field (a string's
 * characters, a number's digits; empty when the record lacks the field).
 * Unlike the other pointers here, it stays valid until process returns. */
int weir_state_key(weir_ctx_t *ctx, const void **key, size_t *len);

/* Looks up name under the current key: WEIR_OK with the value, or
 * WEIR_EEOF when there is none. */
int weir_state_get(weir_ctx_t *ctx, const void *name, size_t name_len,
                   const void **value, size_t *value_len);

/* Stores a copy of value under name for the current key. */
int weir_state_put(weir_ctx_t *ctx, const void *name, size_t name_len,
                   const void *value, size_t value_len);

/* Removes name under the current key (no error if it was not there). */
int weir_state_delete(weir_ctx_t *ctx, const void *name, size_t name_len);

/* Calls fn for each (name, value) of the current key, in no particular
 * order; fn must not change state. A non-zero return from fn stops the
 * iteration and is returned. */
typedef int (*weir_state_fn)(void *arg, const void *name, size_t name_len,
                             const void *value, size_t value_len);
int weir_state_iterate(weir_ctx_t *ctx, weir_state_fn fn, void *arg);

/* Names that begin with the byte 0 are the runtime's (timers and expiry
 * live there): weir_state_put/get/delete refuse them with WEIR_ERR, and
 * weir_state_iterate does not show them. */

/* --- Time (version 2) -----------------------------------------------------
 *
 * Event time is the records' time (weir_record_timestamp). The watermark
 * is the runtime's promise that no more records older than it are
 * expected: each source partition's highest timestamp minus the source's
 * max_out_of_orderness_ms minus 1 (so a record at the highest time seen
 * is not late), the minimum over partitions (a partition quiet for
 * idle_timeout_ms does not hold it back) and over every input of a task.
 * It only grows. A record at or below the watermark is late; the operator
 * decides what late means for it. When every partition is quiet the
 * watermark stays where it is until records come again.
 *
 * Processing time is the wall clock of the machine.
 *
 * Timers belong to the current key of a keyed operator: a timer is
 * (key, domain, time), setting one that exists does nothing, and an
 * event-time timer fires once the watermark reaches its time (watermark
 * >= time), a processing-time one once the clock does. Timers fire on
 * the task thread in time order, through on_timer, with that key as the
 * current key, so on_timer may use weir_state_* and weir_emit. They are
 * part of the keyed state: checkpointed, restored, and moved with their
 * key when the parallelism changes. A processing-time timer that came due
 * while the job was down fires right after the restore.
 */

#define WEIR_TIME_EVENT 0      /* domain: the watermark */
#define WEIR_TIME_PROCESSING 1 /* domain: the wall clock */

/* The watermark before any source said anything, and after the end of a
 * bounded input (every event-time timer fires, then end_input runs). */
#define WEIR_WATERMARK_MIN INT64_MIN
#define WEIR_WATERMARK_END INT64_MAX

/* The current watermark of this instance (WEIR_WATERMARK_MIN until the
 * first one arrives). Any callback. */
int64_t weir_current_watermark(const weir_ctx_t *ctx);

/* The wall clock, milliseconds since the epoch. */
int64_t weir_current_processing_time(const weir_ctx_t *ctx);

/* Sets or deletes a timer of the current key (from process or on_timer).
 * domain is WEIR_TIME_EVENT or WEIR_TIME_PROCESSING. WEIR_ENOTSUP for an
 * operator that is not keyed. Deleting a timer that does not exist is
 * not an error. */
int weir_timer_set(weir_ctx_t *ctx, int domain, int64_t time_ms);
int weir_timer_delete(weir_ctx_t *ctx, int domain, int64_t time_ms);

/* Expiry of the current key's whole state (from process or on_timer):
 * once the watermark passes time_ms, the runtime deletes every name and
 * timer of the key and returns its memory, without calling the operator.
 * A record whose own time is past time_ms already finds the key empty,
 * so a replay decides the same way. Setting it again moves it;
 * WEIR_WATERMARK_MIN cancels it. A keyed operator with "ttl_ms" in its
 * job-file config gets this for free: each record that changes a key's
 * state moves its expiry to that record's time plus ttl_ms (unless
 * process called weir_state_expire_at for it, which then wins). */
int weir_state_expire_at(weir_ctx_t *ctx, int64_t time_ms);

/* --- The operator table ------------------------------------------------- */

/*
 * Every callback but process is optional (NULL means "not needed").
 * If open returned WEIR_OK, close is called exactly once.
 *
 * Growing the table: members are only ever added at the end, and a
 * plugin says how much of the table it has in struct_size (set it to
 * WEIR_OPERATOR_SIZE, or sizeof(weir_operator_t)). The runtime reads no
 * member past struct_size and treats the missing ones as NULL, so a
 * plugin built against this header keeps working with later versions.
 * Version 1 tables end at close and have no struct_size.
 */
typedef struct weir_operator {
	uint32_t api_version;   /* WEIR_API_VERSION: always first */
	const char *name;       /* e.g. "filter" */
	uint32_t state_version; /* written with snapshots, handed to restore */

	/* config_json: the operator's object from the job file, as JSON text.
	 * Errors name the field relative to that object ("where.op: ..."). */
	int (*open)(weir_ctx_t *ctx, const char *config_json, void **state);

	/* One input record. */
	int (*process)(weir_ctx_t *ctx, void *state, const weir_record_t *rec);

	/* The aligned barrier of checkpoint id reached this instance: write the
	 * state. Runs on the task thread; the runtime compresses and writes the
	 * bytes to disk on another thread while processing goes on. */
	int (*snapshot)(weir_ctx_t *ctx, void *state, weir_writer_t *w);

	/* Called after open, before any record, when the job restores a
	 * checkpoint; state_version is the version that wrote the bytes. */
	int (*restore)(weir_ctx_t *ctx, void *state, weir_reader_t *r,
	               uint32_t state_version);

	/* Checkpoint id is complete on every task. */
	int (*checkpoint_complete)(weir_ctx_t *ctx, void *state,
	                           uint64_t checkpoint_id);

	void (*close)(weir_ctx_t *ctx, void *state);

	/* --- version 2 --- */

	/* sizeof(weir_operator_t) as the plugin was built. */
	uint32_t struct_size;

	/* A timer of the current key came due (see Time above); domain and
	 * time_ms are those it was set with. May emit and change state. */
	int (*on_timer)(weir_ctx_t *ctx, void *state, int domain,
	                int64_t time_ms);

	/* The bounded input has ended: every source reached its end and
	 * every event-time timer has fired. Emit what is still held (no
	 * current key; weir_emit works). Not called when the job is merely
	 * stopped (SIGTERM): a restart goes on from the checkpoint. */
	int (*end_input)(weir_ctx_t *ctx, void *state);

	/* Checkpoint id was given up (timed out, a task failed to write
	 * it): it will never complete, and no checkpoint_complete comes
	 * for it. Task thread. */
	int (*checkpoint_aborted)(weir_ctx_t *ctx, void *state,
	                          uint64_t checkpoint_id);
} weir_operator_t;

#define WEIR_OPERATOR_SIZE ((uint32_t)sizeof(weir_operator_t))

/* A plugin exports this one function; it returns its table. It is
 * declared here so that the compiler checks a plugin's definition against
 * it (and -Wmissing-prototypes has its prototype); the runtime finds it by
 * name with dlsym. */
const weir_operator_t *weir_plugin_operator(void);
typedef const weir_operator_t *(*weir_plugin_entry_fn)(void);
#define WEIR_PLUGIN_ENTRY "weir_plugin_operator"

#ifdef __cplusplus
}
#endif
#endif /* WEIR_WEIR_H */
