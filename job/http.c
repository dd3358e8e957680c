/*
 * http.c - the HTTP endpoint (see http.h): address parsing, the listening
 * socket, and the router.
 *
 * The socket is bound here rather than by libmicrohttpd, so that a port
 * in use or an address that is not local gets a message that says so,
 * and so that port 0's pick is known for the log line. libmicrohttpd
 * polls it from one thread and serves each connection on a thread of its
 * own (a POST that waits for a savepoint holds up no other request), so
 * route() and the handlers run concurrently: they read the job only
 * through atomics and the locked checkpoint statistics, and savepoints
 * are one at a time by the coordinator's own rule.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "ckpt_stats.h"
#include "job.h"
#include "jobinfo.h"
#include "log.h"
#include "metrics.h"
#include "status_page.h"
#include "util.h"

struct http {
	struct MHD_Daemon *d;
	struct job *job;
	const char *version;
	int fd;
};

int http_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                      char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':'), *h = s, *hend;
	char *end;
	long p;

	if (!colon || colon == s) {
		snprintf(err, errlen,
		         "\"%s\" is not HOST:PORT; expected e.g. "
		         "\"127.0.0.1:9249\" (port 0 picks a free one)",
		         s);
		return -1;
	}
	hend = colon;
	if (*s == '[') {
		if (colon[-1] != ']' || colon - s < 3) {
			snprintf(err, errlen,
			         "\"%s\": an IPv6 address goes in brackets, "
			         "e.g. \"[::1]:9249\"",
			         s);
			return -1;
		}
		h = s + 1;
		hend = colon - 1;
	} else if (memchr(s, ':', (size_t)(colon - s))) {
		snprintf(err, errlen,
		         "\"%s\": an IPv6 address goes in brackets, e.g. "
		         "\"[::1]:9249\"",
		         s);
		return -1;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || errno || p < 0 || p > 65535 ||
	    colon[1] == '-' || colon[1] == '+') {
		snprintf(err, errlen,
		         "\"%s\": the port \"%s\" is not a number from 0 to "
		         "65535 (0 picks a free one)",
		         s, colon + 1);
		return -1;
	}
	if (host) {
		if ((size_t)(hend - h) >= hostlen) {
			snprintf(err, errlen, "\"%s\": the host is too long",
			         s);
			return -1;
		}
		memcpy(host, h, (size_t)(hend - h));
		host[hend - h] = '\0';
	}
	if (port)
		*port = (int)p;
	return 0;
}

/* --- the socket ------------------------------------------------------------ */

/* A listening socket on host:port, or -1 with a message. *bound gets
 * "HOST:PORT" with the port bound. */
static int listen_on(const char *listen_addr, const char *from, char *bound,
                     size_t boundlen, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], ip[INET6_ADDRSTRLEN];
	int p, fd = -1, rc, one = 1;

	if (http_parse_listen(listen_addr, host, sizeof(host), &p, err,
	                      errlen) < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", p);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen,
		         "%s %s: cannot resolve \"%s\": %s. Use an address of "
		         "this machine, e.g. 127.0.0.1 or 0.0.0.0",
		         from, listen_addr, host, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: cannot create a socket: %s", from,
		         listen_addr, strerror(errno));
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s %s: cannot listen: %s%s", from,
		         listen_addr, strerror(e),
		         e == EADDRINUSE
		             ? ". Another process holds the port: stop it, "
		               "pick another port, or 0 for a free one"
		         : e == EADDRNOTAVAIL
		             ? ". The address is not one of this machine's: "
		               "use e.g. 127.0.0.1 or 0.0.0.0"
		         : e == EACCES ? ". Ports below 1024 need privileges: "
		                         "pick a port from 1024 up"
		                       : "");
		goto fail;
	}
	if (listen(fd, 32) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "%s %s: cannot listen: %s", from,
		         listen_addr, strerror(errno));
		goto fail;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(bound, boundlen, "[%s]:%d", ip, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(bound, boundlen, "%s:%d", ip, ntohs(a->sin_port));
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* --- the router ------------------------------------------------------------ */

/* Queues body (malloc()ed, taken; NULL: out of memory) as the answer. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (!body) {
		static const char oom[] = "out of memory\n";

		r = MHD_create_response_from_buffer(
		    sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain; charset=utf-8";
	} else {
		r = MHD_create_response_from_buffer(len, body,
		                                    MHD_RESPMEM_MUST_FREE);
	}
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *text)
{
	char *body = xasprintf("%s\n", text);

	return reply(conn, status, "text/plain; charset=utf-8", body,
	             strlen(body));
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, char *json)
{
	return reply(conn, MHD_HTTP_OK, "application/json", json,
	             json ? strlen(json) : 0);
}

/* /ready: 200 once the job restored (or started fresh) and its tasks
 * run; 503 before, and again while it stops. The body says which. */
static enum MHD_Result ready(struct http *h, struct MHD_Connection *conn)
{
	const char *status = job_status(h->job);

	return reply_text(conn,
	                  strcmp(status, "running")
	                      ? MHD_HTTP_SERVICE_UNAVAILABLE
	                      : MHD_HTTP_OK,
	                  status);
}

/* GET /: the status page, static bytes compiled into the binary. */
static enum MHD_Result status_page(struct MHD_Connection *conn)
{
	struct MHD_Response *r;
	const char *page;
	size_t len;
	enum MHD_Result rc;

	http_status_page(&page, &len);
	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)page,
	                                    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/html; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* --- POST /savepoints and POST /stop ------------------------------------
 *
 * The same action as `weir savepoint` and `weir stop --savepoint`
 * (job_savepoint), for a supervisor that speaks HTTP. The body is a JSON
 * object, {"target": "/dir"} (for /stop optional: without it the job just
 * stops gracefully). The answer waits until the savepoint is written: each
 * connection has its own thread, so /metrics and /ready go on meanwhile.
 * Both change what the job does and write where they are told, so they
 * are served to this machine only (a loopback peer), whatever address the
 * endpoint listens on. */

#define POST_MAX 4096

struct post {
	size_t len;
	bool too_long;
	char body[POST_MAX + 1];
};

static bool from_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)
		                  ->sin_addr.s_addr) >>
		        24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static enum MHD_Result reply_error_json(struct MHD_Connection *conn,
                                        unsigned status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return reply(conn, status, "application/json", text,
	             text ? strlen(text) : 0);
}

static enum MHD_Result post_action(struct http *h, struct MHD_Connection *conn,
                                   bool stop, const struct post *p)
{
	json_error_t jerr;
	json_t *o = NULL, *target = NULL;
	char msg[2048], *text;
	unsigned long long id;
	int rc, at = 0;

	if (p->too_long)
		return reply_error_json(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		                        "the body is over 4096 bytes; send "
		                        "{\"target\": \"/dir\"}");
	if (p->len > 0) {
		o = json_loadb(p->body, p->len, 0, &jerr);
		if (!json_is_object(o)) {
			json_decref(o);
			return reply_error_json(
			    conn, MHD_HTTP_BAD_REQUEST,
			    "the body is not a JSON object; send "
			    "{\"target\": \"/dir\"}");
		}
		target = json_object_get(o, "target");
		if (target && !json_is_string(target)) {
			json_decref(o);
			return reply_error_json(conn, MHD_HTTP_BAD_REQUEST,
			                        "\"target\" must be a string, "
			                        "the savepoint's directory");
		}
	}
	if (!target && !stop) {
		json_decref(o);
		return reply_error_json(conn, MHD_HTTP_BAD_REQUEST,
		                        "no target: send {\"target\": "
		                        "\"/dir\"}, the savepoint's directory "
		                        "(absent or empty)");
	}
	if (!target) {
		json_decref(o);
		/* job_request_stop needs the coordinator, made and started
		 * on the way to running. */
		if (atomic_load_explicit(&h->job->phase,
		                         memory_order_acquire) != JOB_RUNNING)
			return reply_error_json(
			    conn, MHD_HTTP_CONFLICT,
			    "the job is still starting; try again once it "
			    "runs (GET /ready says 200), or send it SIGTERM");
		job_request_stop(h->job);
		return reply(conn, MHD_HTTP_OK, "application/json",
		             xstrdup("{\"stopping\":true}"),
		             strlen("{\"stopping\":true}"));
	}
	rc = job_savepoint(h->job, json_string_value(target), stop, msg,
	                   sizeof(msg));
	json_decref(o);
	if (rc == -2)
		return reply_error_json(conn, MHD_HTTP_CONFLICT, msg);
	if (rc < 0)
		return reply_error_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                        msg);
	/* msg is "<id> <path>". */
	if (sscanf(msg, "%llu %n", &id, &at) != 1)
		return reply_error_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		                        msg);
	o = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)id, "path", msg + at,
	              "stopping", stop);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return reply_json(conn, text);
}

/* The body of a POST comes in pieces: gather it in *state. */
static enum MHD_Result post(struct http *h, struct MHD_Connection *conn,
                            bool stop, const char *upload, size_t *upload_len,
                            void **state)
{
	struct post *p = *state;
	enum MHD_Result rc;

	if (!p) {
		*state = xcalloc(1, sizeof(struct post));
		return MHD_YES;
	}
	if (*upload_len > 0) {
		if (p->len + *upload_len > POST_MAX)
			p->too_long = true;
		else
			memcpy(p->body + p->len, upload, *upload_len);
		if (!p->too_long)
			p->len += *upload_len;
		*upload_len = 0;
		return MHD_YES;
	}
	if (!from_loopback(conn))
		rc = reply_error_json(
		    conn, MHD_HTTP_FORBIDDEN,
		    "savepoints and stops are served to this machine only; "
		    "run `weir savepoint` or `weir stop` on it");
	else
		rc = post_action(h, conn, stop, p);
	return rc;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	free(*state);
	*state = NULL;
}

static enum MHD_Result route(void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_len, void **state)
{
	struct http *h = cls;
	size_t len = 0;
	char *text;

	(void)version;
	if (!strcmp(method, MHD_HTTP_METHOD_POST) &&
	    (!strcmp(url, "/savepoints") || !strcmp(url, "/stop")))
		return post(h, conn, !strcmp(url, "/stop"), upload, upload_len,
		            state);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                  "only GET is served here, and POST on "
		                  "/savepoints and /stop");
	if (!strcmp(url, "/health"))
		return reply_text(conn, MHD_HTTP_OK, "ok");
	if (!strcmp(url, "/ready"))
		return ready(h, conn);
	if (!strcmp(url, "/metrics")) {
		text = metrics_format(h->job, h->version, &len);
		return reply(conn, MHD_HTTP_OK,
		             "text/plain; version=0.0.4; charset=utf-8", text,
		             len);
	}
	if (!strcmp(url, "/checkpoints"))
		return reply_json(conn, ckpt_stats_json(h->job->stats));
	if (!strcmp(url, "/job"))
		return reply_json(conn, jobinfo_json(h->job));
	if (!strcmp(url, "/"))
		return status_page(conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND,
	                  "not found; this endpoint serves / (the status "
	                  "page), /health, /ready, /metrics, /checkpoints "
	                  "and /job");
}

/* --- public ---------------------------------------------------------------- */

struct http *http_start(struct job *job, const char *listen_addr,
                        const char *from, const char *version, char *err,
                        size_t errlen)
{
	struct http *h;
	char bound[300];
	int fd =
	    listen_on(listen_addr, from, bound, sizeof(bound), err, errlen);

	if (fd < 0)
		return NULL;
	h = xcalloc(1, sizeof(*h));
	h->job = job;
	h->version = version;
	h->fd = fd;
	/* A thread per connection: a POST that waits for a savepoint holds
	 * only its own. At most 16 at once. */
	h->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	        MHD_USE_POLL,
	    0, NULL, NULL, route, h, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen,
		         "%s %s: cannot start the HTTP server "
		         "(libmicrohttpd)",
		         from, listen_addr);
		close(fd);
		free(h);
		return NULL;
	}
	log_info("http", "listening on http://%s", bound);
	return h;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	/* MHD_stop_daemon closes the listening socket it was given. */
	MHD_stop_daemon(h->d);
	free(h);
}
