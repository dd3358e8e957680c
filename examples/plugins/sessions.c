/*
 * sessions.c - an example operator plugin with managed keyed state:
 * sessions per user. Input records are JSON objects such as
 *
 *   {"user": "alice", "ts": 1700000000000, "amount": 42}
 *
 * A user's session goes on while their records are at most gap_ms apart
 * (by the "ts" field, milliseconds); a longer gap starts their next
 * session. For every record it emits, with the user as the record key,
 *
 *   {"user": "alice", "session": 2, "events": 3, "sum": 120}
 *
 * the user's session number (from 1) and the events and the sum of
 * "amount" in that session so far.
 *
 * The state lives in weir's managed keyed state (weir_state_*): weir
 * checkpoints and restores it, and moves it with its keys when the job is
 * restored with another parallelism, so this file has no snapshot code.
 * The operator must be keyed, by the field that names the user:
 *
 *   {"type": "plugin", "library": "build/examples/plugins/libsessions.so",
 *    "key": "user", "gap_ms": 1800000, "time_field": "ts",
 *    "amount_field": "amount"}
 *
 * gap_ms (default 30 minutes), time_field ("ts") and amount_field
 * ("amount") are optional; a record without the amount field counts 0.
 *
 * Build out of tree, against an installed weir (meson install):
 *
 *   cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -o libsessions.so sessions.c $(pkg-config --cflags --libs weir jansson)
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weir/weir.h>

struct sessions {
	char *key_field; /* the output's name for the key */
	char *time_field;
	char *amount_field;
	int64_t gap_ms;
};

/* One value per key under this name: 4 little-endian 64-bit numbers. */
#define STATE_NAME "session"
#define STATE_LEN 32

struct session {
	uint64_t number, events;
	int64_t sum, last_ts;
};

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Fields of the operator object that weir itself reads. */
static const char *const common_fields[] = {
    "type",     "library",           "name", "parallelism", "key",
    "on_error", "dead_letter_topic",
};

static bool is_common(const char *name)
{
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(*common_fields);
	     i++)
		if (!strcmp(name, common_fields[i]))
			return true;
	return false;
}

static void sessions_free(struct sessions *s)
{
	if (!s)
		return;
	free(s->key_field);
	free(s->time_field);
	free(s->amount_field);
	free(s);
}

/* A copy of s (strdup is POSIX, not C11). */
static char *copy_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *c = malloc(n);

	return c ? memcpy(c, s, n) : NULL;
}

/* A string field of cfg, or def when absent; NULL after an error. */
static char *string_field(weir_ctx_t *ctx, json_t *cfg, const char *name,
                          const char *def)
{
	json_t *v = json_object_get(cfg, name);
	char *s;

	if (v && (!json_is_string(v) || json_string_length(v) == 0)) {
		weir_error(ctx, "%s: expected a field name, e.g. \"%s\"", name,
		           def ? def : "user");
		return NULL;
	}
	if (!v && !def) {
		weir_error(ctx,
		           "%s: required: sessions are kept per key, e.g. "
		           "\"%s\": \"user\"",
		           name, name);
		return NULL;
	}
	s = copy_string(v ? json_string_value(v) : def);
	if (!s)
		weir_error(ctx, "out of memory");
	return s;
}

static int sessions_open(weir_ctx_t *ctx, const char *config_json, void **state)
{
	struct sessions *s;
	json_error_t jerr;
	const char *name;
	json_t *cfg, *v;

	cfg = json_loads(config_json, 0, &jerr);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		return weir_error(ctx, "expected a JSON object: %s", jerr.text);
	}
	json_object_foreach(cfg, name, v) {
		if (!is_common(name) && strcmp(name, "gap_ms") &&
		    strcmp(name, "time_field") &&
		    strcmp(name, "amount_field")) {
			weir_error(ctx,
			           "%s: unknown field for sessions; expected "
			           "gap_ms, time_field or amount_field",
			           name);
			json_decref(cfg);
			return WEIR_ERR;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		json_decref(cfg);
		return weir_error(ctx, "out of memory");
	}
	s->gap_ms = 30 * 60 * 1000;
	v = json_object_get(cfg, "gap_ms");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		weir_error(ctx,
		           "gap_ms: expected milliseconds, an integer >= 0");
		goto err;
	}
	if (v)
		s->gap_ms = json_integer_value(v);
	if (!(s->key_field = string_field(ctx, cfg, "key", NULL)) ||
	    !(s->time_field = string_field(ctx, cfg, "time_field", "ts")) ||
	    !(s->amount_field =
	          string_field(ctx, cfg, "amount_field", "amount")))
		goto err;
	json_decref(cfg);
	*state = s;
	return WEIR_OK;
err:
	json_decref(cfg);
	sessions_free(s);
	return WEIR_ERR;
}

/* Reads the current key's session; a new key gets zeros. */
static int load(weir_ctx_t *ctx, struct session *ses)
{
	const void *v;
	size_t len;
	int rc = weir_state_get(ctx, STATE_NAME, strlen(STATE_NAME), &v, &len);

	memset(ses, 0, sizeof(*ses));
	if (rc == WEIR_EEOF)
		return WEIR_OK;
	if (rc != WEIR_OK)
		return rc;
	if (len != STATE_LEN)
		return weir_error(ctx,
		                  "state of a key has %zu bytes, expected "
		                  "%d",
		                  len, STATE_LEN);
	ses->number = get64(v);
	ses->events = get64((const unsigned char *)v + 8);
	ses->sum = (int64_t)get64((const unsigned char *)v + 16);
	ses->last_ts = (int64_t)get64((const unsigned char *)v + 24);
	return WEIR_OK;
}

static int store(weir_ctx_t *ctx, const struct session *ses)
{
	unsigned char b[STATE_LEN];

	put64(b, ses->number);
	put64(b + 8, ses->events);
	put64(b + 16, (uint64_t)ses->sum);
	put64(b + 24, (uint64_t)ses->last_ts);
	return weir_state_put(ctx, STATE_NAME, strlen(STATE_NAME), b,
	                      sizeof(b));
}

static int emit(weir_ctx_t *ctx, const struct sessions *s,
                const struct session *ses)
{
	const void *key;
	size_t key_len;
	json_t *out;
	char *text;
	int rc;

	rc = weir_state_key(ctx, &key, &key_len);
	if (rc != WEIR_OK)
		return rc;
	out = json_pack("{s:s%,s:I,s:I,s:I}", s->key_field, (const char *)key,
	                key_len, "session", (json_int_t)ses->number, "events",
	                (json_int_t)ses->events, "sum", (json_int_t)ses->sum);
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (!text)
		return weir_error(ctx,
		                  "cannot write the output as JSON (is the "
		                  "key valid UTF-8?)");
	rc = weir_emit(ctx, key, key_len, text, strlen(text));
	free(text);
	return rc;
}

static int sessions_process(weir_ctx_t *ctx, void *state,
                            const weir_record_t *rec)
{
	const struct sessions *s = state;
	struct session ses;
	json_t *doc, *ts, *amount;
	const void *value;
	size_t len;
	int64_t add = 0;
	int rc;

	value = weir_record_value(rec, &len);
	doc = json_loadb(value, len, 0, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return weir_record_error(ctx, rec,
		                         "value is not a JSON object");
	}
	ts = json_object_get(doc, s->time_field);
	amount = json_object_get(doc, s->amount_field);
	if (!json_is_integer(ts) || (amount && !json_is_integer(amount))) {
		rc = weir_record_error(ctx, rec, "field \"%s\" is %s",
		                       json_is_integer(ts) ? s->amount_field
		                                           : s->time_field,
		                       "not an integer");
		json_decref(doc);
		return rc;
	}
	if (amount)
		add = json_integer_value(amount);
	rc = load(ctx, &ses);
	if (rc != WEIR_OK) {
		json_decref(doc);
		return rc == WEIR_ENOTSUP
		           ? weir_error(ctx, "sessions must be keyed: add "
		                             "\"key\" to its job file entry")
		           : rc;
	}
	if (ses.number == 0 ||
	    json_integer_value(ts) - ses.last_ts > s->gap_ms) {
		ses.number++;
		ses.events = 0;
		ses.sum = 0;
	}
	if (ses.events == 0 || json_integer_value(ts) > ses.last_ts)
		ses.last_ts = json_integer_value(ts);
	json_decref(doc);
	ses.events++;
	if (__builtin_add_overflow(ses.sum, add, &ses.sum))
		return weir_record_error(ctx, rec,
		                         "the session's sum of \"%s\" "
		                         "overflows 64 bits",
		                         s->amount_field);
	rc = store(ctx, &ses);
	return rc != WEIR_OK ? rc : emit(ctx, s, &ses);
}

static void sessions_close(weir_ctx_t *ctx, void *state)
{
	(void)ctx;
	sessions_free(state);
}

static const weir_operator_t sessions_op = {
    .api_version = WEIR_API_VERSION,
    .struct_size = WEIR_OPERATOR_SIZE,
    .name = "sessions",
    .state_version = 1,
    .open = sessions_open,
    .process = sessions_process,
    .close = sessions_close,
};

const weir_operator_t *weir_plugin_operator(void)
{
	return &sessions_op;
}
