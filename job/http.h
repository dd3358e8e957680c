/*
 * http.h - the job's HTTP endpoint: libmicrohttpd on a thread of its own,
 * serving GET /health, /ready, /metrics (metrics.h), /checkpoints
 * (ckpt_stats.h) and /job (jobinfo.h). It is off unless the job file's
 * "http": {"listen": "HOST:PORT"} or `weir run --http HOST:PORT` asks.
 *
 * The server starts before the job restores, so /health answers and
 * /ready says 503 while a long restore runs. Handlers read what tasks
 * publish in atomics and what the checkpoint statistics copy under their
 * own lock; they never block a task thread.
 */
#ifndef WEIR_HTTP_H
#define WEIR_HTTP_H

#include <stddef.h>

struct job;
struct http;

/* Checks "HOST:PORT" (HOST an IPv4 address, a name, or an IPv6 address
 * in brackets; PORT 0 to 65535, 0 picks a free one) and copies HOST (no
 * brackets) into host and PORT into *port when they are not NULL.
 * Returns 0, or -1 with what is wrong and the expected form in err. */
int http_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                      char *err, size_t errlen);

/* Serves job (borrowed: stop the server before job_free) on listen,
 * which http_parse_listen accepted; what `from` names where it came from
 * ("http.listen", "--http"). Binds before returning and logs "http:
 * listening on http://HOST:PORT" with the port bound. Returns NULL with
 * a message in err when the address cannot be bound (in use, not
 * local). version is weir's, for weir_build_info. Main thread. */
struct http *http_start(struct job *job, const char *listen, const char *from,
                        const char *version, char *err, size_t errlen);
/* Stops serving and frees h; waits for a request being served. NULL is
 * fine. */
void http_stop(struct http *h);

#endif
