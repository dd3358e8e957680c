/*
 * broker.c - weir-broker, which `weir broker` runs: librdkafka's mock
 * cluster, a real Kafka-protocol broker in this process on 127.0.0.1, with
 * topics created up front. It prints its bootstrap address as the first
 * line on stdout and serves until SIGINT or SIGTERM.
 *
 * The mock cluster of librdkafka 2.0 always listens on a port the kernel
 * picks. For --port, this file defines bind(): the executable's definition
 * takes precedence over libc's for librdkafka, and while `wanted_port` is
 * set it turns the mock's one bind to 127.0.0.1:0 into 127.0.0.1:PORT. It
 * is process-global state, set once before any other thread binds a
 * socket; it is why the broker is a program of its own and the weir
 * executable, which runs jobs, carries no bind() of its own.
 *
 * Failure tests can also inject protocol errors: each line on stdin of the
 * form "fail API ERROR [COUNT]" makes the next COUNT (default 1) requests
 * of that Kafka API fail with that error code, e.g. "fail EndTxn
 * PRODUCER_FENCED". A line "delay API MS [NTH]" holds the response to the
 * NTH next request (default 1) of that API for MS milliseconds, e.g. to
 * kill a process while its commit is in flight (the mock of librdkafka
 * 2.0.2 honours it for the APIs whose handlers take injected errors, e.g.
 * Produce and EndTxn, not Metadata). The broker confirms each command in
 * its log.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

static atomic_int wanted_port;

/* Declared exactly as glibc declares it (a transparent union under
 * _GNU_SOURCE). */
int bind(int fd, __CONST_SOCKADDR_ARG arg, socklen_t len)
{
	typedef int (*bind_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);
	bind_fn real = (bind_fn)(uintptr_t)dlsym(RTLD_NEXT, "bind");
	const struct sockaddr *addr = arg.__sockaddr__;
	const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
	int port;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (addr && addr->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(*in) && in->sin_port == 0 &&
	    (port = atomic_exchange(&wanted_port, 0)) > 0) {
		struct sockaddr_in fixed = *in;
		__CONST_SOCKADDR_ARG farg;
		int one = 1;

		fixed.sin_port = htons((uint16_t)port);
		farg.__sockaddr__ = (const struct sockaddr *)&fixed;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		return real(fd, farg, sizeof(fixed));
	}
	return real(fd, arg, len);
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: weir broker [--port N] [--topic NAME:PARTITIONS]...\n"
	       "Runs an embedded Kafka broker (librdkafka's mock cluster) on "
	       "127.0.0.1\nand prints its bootstrap address first on stdout. "
	       "Stops on SIGINT/SIGTERM.\n"
	       "For failure tests: SIGUSR1 takes the broker down (connections "
	       "dropped,\nnew ones refused), SIGUSR2 brings it back; topics "
	       "and data are kept.\nEach stdin line \"fail API ERROR [COUNT]\" "
	       "makes the next COUNT requests of\nthat API fail with that "
	       "error, e.g. \"fail EndTxn PRODUCER_FENCED\".\nEach line "
	       "\"delay API MS [NTH]\" holds the response to the NTH next "
	       "request\nof that API (default 1) for MS milliseconds.\n");
}

struct topic_arg {
	char *name;
	int partitions;
};

static int parse_topic(const char *s, struct topic_arg *out)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long n;

	if (!colon || colon == s) {
		fprintf(stderr,
		        "weir broker: --topic %s: expected NAME:PARTITIONS, "
		        "e.g. --topic logs:4\n",
		        s);
		return -1;
	}
	n = strtol(colon + 1, &end, 10);
	if (*end || n < 1 || n > 10000) {
		fprintf(stderr,
		        "weir broker: --topic %s: the partition count must be "
		        "a whole number from 1 to 10000\n",
		        s);
		return -1;
	}
	out->name = xstrndup(s, (size_t)(colon - s));
	out->partitions = (int)n;
	return 0;
}

/* --- injected errors ---------------------------------------------------- */

/* The Kafka APIs a failure test may want to break, by protocol key. */
static const struct {
	const char *name;
	int16_t key;
} apis[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static int api_key(const char *name)
{
	for (size_t i = 0; i < NELEM(apis); i++)
		if (!strcmp(apis[i].name, name))
			return apis[i].key;
	return -1;
}

/* An error code by its name as rd_kafka_err2name() prints it. */
static int error_code(const char *name, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *d;
	size_t n;

	rd_kafka_get_err_descs(&d, &n);
	for (size_t i = 0; i < n; i++)
		if (d[i].name && !strcmp(d[i].name, name) && d[i].code > 0) {
			*out = d[i].code;
			return 0;
		}
	return -1;
}

/* The protocol key of API, or -1 after saying which names are known. */
static int known_api(const char *api)
{
	char known[512];
	size_t at = 0;
	int key = api_key(api);

	if (key >= 0)
		return key;
	for (size_t i = 0; i < NELEM(apis) && at < sizeof(known); i++)
		at += (size_t)snprintf(known + at, sizeof(known) - at, "%s%s",
		                       i ? ", " : "", apis[i].name);
	log_warn("broker", "stdin: unknown API \"%s\"; known: %s", api, known);
	return -1;
}

/* "fail API ERROR [COUNT]" */
static void control_fail(rd_kafka_mock_cluster_t *mc, const char *line)
{
	char api[64], err[64];
	long count = 1;
	int n = sscanf(line, "fail %63s %63s %ld", api, err, &count);
	rd_kafka_resp_err_t code;
	int key;

	if (n < 2 || count < 1 || count > 1000) {
		log_warn("broker",
		         "stdin: \"%s\" is not a command; expected "
		         "\"fail API ERROR [COUNT]\"",
		         line);
		return;
	}
	if ((key = known_api(api)) < 0)
		return;
	if (error_code(err, &code) < 0) {
		log_warn("broker",
		         "stdin: unknown error \"%s\"; use the "
		         "names rd_kafka_err2name prints, e.g. PRODUCER_FENCED",
		         err);
		return;
	}
	for (long i = 0; i < count; i++)
		rd_kafka_mock_push_request_errors(mc, (int16_t)key, 1, code);
	log_info("broker", "the next %ld %s request(s) fail with %s", count,
	         api, err);
}

/* "delay API MS [NTH]": the NTH next request is answered MS late, the
 * ones before it at once (the broker's queue of injected errors, with no
 * error and a round-trip time). */
static void control_delay(rd_kafka_mock_cluster_t *mc, const char *line)
{
	char api[64];
	long ms, nth = 1;
	int n = sscanf(line, "delay %63s %ld %ld", api, &ms, &nth);
	int key;

	if (n < 2 || ms < 1 || ms > 600000 || nth < 1 || nth > 1000) {
		log_warn("broker",
		         "stdin: \"%s\" is not a command; expected "
		         "\"delay API MS [NTH]\" (MS 1 to 600000, NTH 1 to "
		         "1000)",
		         line);
		return;
	}
	if ((key = known_api(api)) < 0)
		return;
	for (long i = 1; i <= nth; i++)
		rd_kafka_mock_broker_push_request_error_rtts(
		    mc, 1, (int16_t)key, 1, RD_KAFKA_RESP_ERR_NO_ERROR,
		    i == nth ? (int)ms : 0);
	log_info("broker",
	         "the response to %s request %ld from now is held "
	         "for %ld ms",
	         api, nth, ms);
}

static void control_line(rd_kafka_mock_cluster_t *mc, char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	if (!line[0])
		return;
	if (!strncmp(line, "delay ", 6))
		control_delay(mc, line);
	else
		control_fail(mc, line);
}

static void *control_main(void *arg)
{
	rd_kafka_mock_cluster_t *mc = arg;
	char line[256];

	while (fgets(line, sizeof(line), stdin))
		control_line(mc, line);
	return NULL;
}

int main(int argc, char **argv)
{
	struct topic_arg *topics = xcalloc((size_t)argc, sizeof(*topics));
	int ntopics = 0, port = 0, rc = 2, sig;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	rd_kafka_mock_cluster_t *mc = NULL;
	sigset_t set;
	pthread_t ctl;
	char e[256];

	log_init();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
			if (parse_topic(argv[++i], &topics[ntopics]) < 0)
				goto out;
			ntopics++;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			long p = strtol(argv[++i], &end, 10);

			if (*end || p < 1 || p > 65535) {
				fprintf(stderr,
				        "weir broker: --port %s: "
				        "expected a port from 1 to 65535\n",
				        argv[i]);
				goto out;
			}
			port = (int)p;
		} else if (!strcmp(argv[i], "-h") ||
		           !strcmp(argv[i], "--help")) {
			usage(stdout);
			rc = 0;
			goto out;
		} else {
			fprintf(stderr, "weir broker: unknown argument %s\n",
			        argv[i]);
			usage(stderr);
			goto out;
		}
	}

	/* Signals are taken with sigwait below, by this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	rc = 1;
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", e, sizeof(e));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
	if (!rk) {
		fprintf(stderr, "weir broker: %s\n", e);
		goto out;
	}
	atomic_store(&wanted_port, port);
	mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc || (port && atomic_load(&wanted_port) != 0)) {
		fprintf(stderr, "weir broker: cannot start the broker%s%s\n",
		        port ? ": is port in use? try another --port, or none"
		             : "",
		        "");
		goto out;
	}
	for (int i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
		    mc, topics[i].name, topics[i].partitions, 1);
		if (err) {
			fprintf(stderr,
			        "weir broker: cannot create topic %s: "
			        "%s\n",
			        topics[i].name, rd_kafka_err2str(err));
			goto out;
		}
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	/* Reads stdin until EOF (at once for </dev/null); detached, since
	 * it may block in fgets until the process exits. */
	if (pthread_create(&ctl, NULL, control_main, mc) == 0)
		pthread_detach(ctl);
	log_info("broker",
	         "serving on %s with %d topic(s); SIGINT or "
	         "SIGTERM stops it",
	         rd_kafka_mock_cluster_bootstraps(mc), ntopics);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			if (sig == SIGUSR1)
				rd_kafka_mock_broker_set_down(mc, 1);
			else
				rd_kafka_mock_broker_set_up(mc, 1);
			log_info("broker", "broker is %s",
			         sig == SIGUSR1
			             ? "down (SIGUSR2 brings it back)"
			             : "up again");
			continue;
		}
		break;
	}
	log_info("broker", "stopping on %s", strsignal(sig));
	rc = 0;
out:
	if (mc)
		rd_kafka_mock_cluster_destroy(mc);
	if (rk)
		rd_kafka_destroy(rk);
	for (int i = 0; i < ntopics; i++)
		free(topics[i].name);
	free(topics);
	return rc;
}
