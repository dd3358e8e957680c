/*
 * main.c - the weir command line: run, validate, checkpoints, savepoint,
 * stop, state, broker.
 *
 * Exit codes: 0 success, 1 the job or command failed, 2 bad command line
 * or bad job file.
 */
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors.h"
#include "control.h"
#include "http.h"
#include "instance_dir.h"
#include "job.h"
#include "jobfile.h"
#include "log.h"
#include "state_cmd.h"
#include "store.h"
#include "util.h"
#include "weir/weir.h"

#define WEIR_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: weir COMMAND ...\n"
	        "\n"
	        "  weir run JOB.json [--http HOST:PORT]\n"
	        "                             run a job; SIGINT/SIGTERM stops "
	        "it gracefully\n"
	        "                             (final checkpoint), a second "
	        "signal at once;\n"
	        "                             --http serves a status page (/), "
	        "/metrics, /health,\n"
	        "                             /ready, /checkpoints and /job "
	        "there (overrides the job\n"
	        "                             file's http.listen)\n"
	        "  weir run JOB.json --from PATH\n"
	        "                             start from a savepoint or a "
	        "checkpoint (chk-<n>)\n"
	        "  weir savepoint JOB.json DIR\n"
	        "                             take a savepoint of the running "
	        "job into DIR\n"
	        "  weir stop JOB.json [--savepoint DIR]\n"
	        "                             stop the running job "
	        "gracefully, after a savepoint\n"
	        "  weir validate JOB.json     check a job file and print every "
	        "problem\n"
	        "    run and validate take --instance I/N: this process is "
	        "instance I\n"
	        "    (0 <= I < N <= 256) of N, and reads the source "
	        "partitions p %% N == I;\n"
	        "    savepoint and stop take it to reach instance I\n"
	        "  weir checkpoints DIR       list the checkpoints in a "
	        "checkpoint directory\n"
	        "  weir state DIR|PATH [--operator NAME]\n"
	        "                             print the keyed state of a "
	        "checkpoint as JSON lines\n"
	        "  weir broker [--port N] [--topic NAME:PARTITIONS]...\n"
	        "                             run the embedded Kafka broker on "
	        "127.0.0.1\n"
	        "  weir version               print the version\n"
	        "\n"
	        "Logs go to stderr; WEIR_LOG=debug|info|warn|error sets the "
	        "level.\n");
}

/* Prints each problem once, prefixed with the job file unless the
 * message names it already. */
static void print_errors(const char *file, const struct errlist *errs)
{
	size_t flen = strlen(file);

	for (size_t i = 0; i < errs->n; i++) {
		const char *m = errs->msgs[i];
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(errs->msgs[j], m) == 0;
		if (dup)
			continue;
		if ((!strncmp(m, file, flen) && m[flen] == ':') ||
		    !strncmp(m, "cannot read job file", 20))
			fprintf(stderr, "%s\n", m);
		else
			fprintf(stderr, "%s: %s\n", file, m);
	}
}

static size_t count_unique(const struct errlist *errs)
{
	size_t n = 0;

	for (size_t i = 0; i < errs->n; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(errs->msgs[j], errs->msgs[i]) == 0;
		n += !dup;
	}
	return n;
}

/* Reads and checks a job file, operators included, reporting every
 * problem in one round. Returns the configuration, or NULL after printing
 * the problems. */
static struct job_cfg *load_checked(const char *path,
                                    const struct job_instance *in)
{
	struct errlist errs = {0};
	struct job_cfg *cfg = jobfile_load_partial(path, &errs);

	/* --instance wins over the job file's "instance". */
	if (cfg && in)
		cfg->instance = *in;
	if (cfg)
		job_validate(cfg, &errs);
	if (errs.n == 0)
		return cfg;
	print_errors(path, &errs);
	fprintf(stderr, "weir: %zu problem(s) in %s\n", count_unique(&errs),
	        path);
	errlist_clear(&errs);
	jobfile_free(cfg);
	return NULL;
}

static int cmd_validate(const char *path, const struct job_instance *in)
{
	struct job_cfg *cfg = load_checked(path, in);
	char *fp;

	if (!cfg)
		return 2;
	fp = job_fingerprint(cfg);
	printf("%s: ok: job \"%s\": %s", path, cfg->name, fp);
	if (cfg->instance.count > 1)
		printf("; instance %d of %d", cfg->instance.index,
		       cfg->instance.count);
	printf("\n");
	free(fp);
	fp = job_delivery_text(cfg);
	printf("%s\n", fp);
	free(fp);
	jobfile_free(cfg);
	return 0;
}

struct sigctx {
	pthread_mutex_t mu;
	struct job *job; /* NULL while the job file is read, under mu */
	sigset_t set;
};

/* Waits for SIGINT/SIGTERM from the start of `run`: the first stops what
 * is starting at once, or asks a running job for a graceful stop
 * (job_signal_stop); the second exits at once (the last completed
 * checkpoint stays valid). */
static void *signal_thread(void *arg)
{
	struct sigctx *sc = arg;
	int sig, n = 0;

	for (;;) {
		struct job *job;

		if (sigwait(&sc->set, &sig) != 0)
			continue;
		if (sig == SIGUSR1)
			return NULL; /* the job ended */
		pthread_mutex_lock(&sc->mu);
		job = sc->job;
		pthread_mutex_unlock(&sc->mu);
		if (!job) {
			log_info("job",
			         "%s while reading the job file: "
			         "stopped before the job ran",
			         strsignal(sig));
			_exit(0);
		}
		if (n++ == 0) {
			job_signal_stop(job, strsignal(sig));
		} else {
			log_warn("job",
			         "%s again: exiting now, without a final "
			         "checkpoint",
			         strsignal(sig));
			_exit(1);
		}
	}
}

static void end_signal_thread(struct sigctx *sc, pthread_t thr)
{
	pthread_kill(thr, SIGUSR1);
	pthread_join(thr, NULL);
	pthread_mutex_destroy(&sc->mu);
}

/* What `weir run` takes besides the job file. */
struct run_opts {
	const char *http;       /* --http HOST:PORT, or NULL */
	const char *from;       /* --from PATH, or NULL */
	struct job_instance in; /* --instance I/N, when have_in */
	bool have_in;
};

/* Starts the HTTP endpoint when --http or the job file asks; *h stays
 * NULL when neither does. Returns 0 or -1 after printing why. */
static int start_http(struct job *job, const struct run_opts *o,
                      struct http **h)
{
	const char *listen = o->http ? o->http : job->cfg->http_listen;
	char err[512];

	*h = NULL;
	if (!listen)
		return 0;
	*h = http_start(job, listen, o->http ? "--http" : "http.listen",
	                WEIR_VERSION, err, sizeof(err));
	if (!*h) {
		fprintf(stderr, "weir: %s\n", err);
		return -1;
	}
	return 0;
}

static int cmd_run(const char *path, const struct run_opts *opts)
{
	struct sigctx sc;
	struct job_cfg *cfg;
	struct errlist errs = {0};
	pthread_t sigthr;
	struct http *http;
	struct control *ctl = NULL;
	struct job *job;
	char err[1024];
	int rc;

	/* Every thread created from here on (tasks, librdkafka's) inherits
	 * the mask, so the signal thread alone takes these signals; it runs
	 * from the start, so that a signal stops a slow start too. */
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGINT);
	sigaddset(&sc.set, SIGTERM);
	sigaddset(&sc.set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
	pthread_mutex_init(&sc.mu, NULL);
	sc.job = NULL;
	if (pthread_create(&sigthr, NULL, signal_thread, &sc) != 0) {
		fprintf(stderr, "weir: cannot start the signal thread\n");
		return 1;
	}

	cfg = load_checked(path, opts->have_in ? &opts->in : NULL);
	if (!cfg) {
		end_signal_thread(&sc, sigthr);
		return 2;
	}
	if (cfg->instance.count > 1) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "instance %d/%d",
		         cfg->instance.index, cfg->instance.count);
		log_set_prefix(prefix);
	}
	job = job_alloc(cfg);
	job->from = opts->from ? xstrdup(opts->from) : NULL;
	/* Before the build: /health answers and /ready says 503 while the
	 * job restores. */
	if (start_http(job, opts, &http) < 0) {
		end_signal_thread(&sc, sigthr);
		job_free(job);
		return 1;
	}
	pthread_mutex_lock(&sc.mu);
	sc.job = job;
	pthread_mutex_unlock(&sc.mu);
	if (job_build(job, &errs) < 0) {
		end_signal_thread(&sc, sigthr);
		http_stop(http);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "weir: %s\n", errs.msgs[i]);
		errlist_clear(&errs);
		job_free(job);
		return 1;
	}
	/* The directory is locked: the socket in it is this job's. It comes
	 * once the coordinator runs, which answers what it is asked. Without
	 * it the job runs all the same, only `weir savepoint` and `weir
	 * stop` cannot reach it. */
	if (job_start(job) < 0)
		log_error("job", "could not start");
	else if (!(ctl = control_start(job, err, sizeof(err))))
		log_warn("job",
		         "no savepoint or stop from the command line: %s", err);
	rc = job_wait(job);
	control_stop(ctl);
	end_signal_thread(&sc, sigthr);
	http_stop(http);
	if (rc == 0)
		log_info("job", "%s finished", job->cfg->name);
	else
		fprintf(stderr, "weir: job %s failed: %s\n", job->cfg->name,
		        job_error(job)
		            ? job_error(job)
		            : "the final checkpoint did not complete");
	job_free(job);
	return rc;
}

static int cmd_checkpoints(const char *dir)
{
	char err[512];

	if (ckpt_print_listing(dir, stdout, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir: %s\n", err);
		return 1;
	}
	return 0;
}

/* `weir broker ARGS` runs weir-broker (tools/broker.c) with ARGS: it is
 * next to weir, installed and in the build tree. argv is {"broker",
 * ARGS..., NULL}. Returns only on failure. */
static int cmd_broker(char **argv)
{
	static const char *const where[] = {"weir-broker"};
	char dir[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

	if (n <= 0) {
		fprintf(stderr,
		        "weir broker: cannot find the weir executable "
		        "(/proc/self/exe): %s\n",
		        strerror(errno));
		return 1;
	}
	dir[n] = '\0';
	*strrchr(dir, '/') = '\0';
	for (size_t i = 0; i < NELEM(where); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, where[i]);
		if (access(path, F_OK) != 0)
			continue;
		argv[0] = path;
		execv(path, argv);
		fprintf(stderr, "weir broker: cannot run %s: %s\n", path,
		        strerror(errno));
		return 1;
	}
	fprintf(stderr,
	        "weir broker: %s/weir-broker is missing. The embedded broker "
	        "is a program of its own, installed next to weir (`meson "
	        "install` puts both in one directory): install it there, or "
	        "run weir-broker directly\n",
	        dir);
	return 1;
}

/* "I/N" of --instance: 0 <= I < N <= JOB_MAX_INSTANCES, decimal. */
static int parse_instance(const char *cmd, const char *arg,
                          struct job_instance *in)
{
	long i, n;
	char *end;

	errno = 0;
	i = strtol(arg, &end, 10);
	if (end != arg && arg[0] >= '0' && arg[0] <= '9' && *end == '/' &&
	    end[1] >= '0' && end[1] <= '9') {
		const char *ns = end + 1;

		n = strtol(ns, &end, 10);
		if (!errno && !*end && n >= 1 && n <= JOB_MAX_INSTANCES &&
		    i < n) {
			in->index = (int)i;
			in->count = (int)n;
			return 0;
		}
	}
	fprintf(stderr,
	        "weir %s: --instance \"%s\": expected I/N, this process's "
	        "number I and the number of instances N, with 0 <= I < N "
	        "<= %d (e.g. --instance 0/3 for the first of three)\n",
	        cmd, arg, JOB_MAX_INSTANCES);
	return -1;
}

/* `weir run` ARGS: JOB.json and options, in any order. */
static int run_args(int argc, char **argv)
{
	struct run_opts o = {0};
	const char *path = NULL;
	char err[512];

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--http")) {
			if (i + 1 == argc) {
				fprintf(stderr, "weir run: --http needs "
				                "HOST:PORT, e.g. "
				                "127.0.0.1:9249\n");
				return 2;
			}
			o.http = argv[++i];
			if (http_parse_listen(o.http, NULL, 0, NULL, err,
			                      sizeof(err)) < 0) {
				fprintf(stderr, "weir run: --http %s\n", err);
				return 2;
			}
		} else if (!strcmp(argv[i], "--instance") && i + 1 < argc) {
			if (parse_instance("run", argv[++i], &o.in) < 0)
				return 2;
			o.have_in = true;
		} else if (!strcmp(argv[i], "--from") && i + 1 < argc &&
		           !o.from) {
			o.from = argv[++i];
		} else if (argv[i][0] == '-' || path) {
			fprintf(stderr, "weir run: unexpected \"%s\"\n",
			        argv[i]);
			usage(stderr);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr, "weir run: expected exactly one JOB.json\n");
		usage(stderr);
		return 2;
	}
	return cmd_run(path, &o);
}

/* `weir savepoint JOB.json DIR` and `weir stop JOB.json [--savepoint
 * DIR]`, each with [--instance I/N]: the job file names the
 * checkpoint.dir (of that instance) where the job listens. */
static int control_args(const char *cmd, int argc, char **argv)
{
	bool stop = !strcmp(cmd, "stop");
	const char *path = NULL, *target = NULL;
	struct job_instance in;
	bool have_in = false;
	struct job_cfg *cfg;
	char *dir;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--instance") && i + 1 < argc) {
			if (parse_instance(cmd, argv[++i], &in) < 0)
				return 2;
			have_in = true;
		} else if (stop && !strcmp(argv[i], "--savepoint") &&
		           i + 1 < argc && !target) {
			target = argv[++i];
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else if (argv[i][0] != '-' && !stop && !target) {
			target = argv[i];
		} else {
			path = NULL;
			break;
		}
	}
	if (!path || (!stop && !target)) {
		fprintf(stderr, "weir %s: expected %s [--instance I/N]\n", cmd,
		        stop ? "JOB.json [--savepoint DIR]"
		             : "JOB.json DIR (the savepoint directory)");
		usage(stderr);
		return 2;
	}
	if (!(cfg = load_checked(path, have_in ? &in : NULL)))
		return 2;
	dir = ckpt_instance_dir(cfg->checkpoint.dir, &cfg->instance);
	rc = control_cli(cmd, dir, target);
	free(dir);
	jobfile_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	log_init();
#ifdef __GLIBC__
	/* glibc raises its mmap threshold to the size of the largest mmapped
	 * block freed so far (up to 32 MiB). Once a checkpoint has freed its
	 * state buffer of a few MiB, the next ones come from the arenas and
	 * keep them larger for good: dedup with ttl_ms over 5M distinct ids
	 * grew from 93 to 112 MiB between 1M and 5M ids with flat state, and
	 * from 87 to 94 MiB with the threshold fixed. Setting it fixes it. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	if (!cmd || !strcmp(cmd, "help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "--help")) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("weir %s (operator API %d)\n", WEIR_VERSION,
		       WEIR_API_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "broker"))
		return cmd_broker(argv + 1);
	if (!strcmp(cmd, "run"))
		return run_args(argc - 2, argv + 2);
	if (!strcmp(cmd, "savepoint") || !strcmp(cmd, "stop"))
		return control_args(cmd, argc - 2, argv + 2);
	if (!strcmp(cmd, "state")) {
		if (argc == 3 || (argc == 5 && !strcmp(argv[3], "--operator")))
			return state_cmd(argv[2], argc == 5 ? argv[4] : NULL,
			                 stdout);
		fprintf(stderr,
		        "weir state: expected DIR|PATH [--operator NAME]\n");
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "validate")) {
		struct job_instance in;
		const char *job = NULL;
		bool have_in = false;

		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--instance") && i + 1 < argc) {
				if (parse_instance(cmd, argv[++i], &in) < 0)
					return 2;
				have_in = true;
			} else if (argv[i][0] != '-' && !job) {
				job = argv[i];
			} else {
				fprintf(stderr,
				        "weir %s: unexpected argument \"%s\"; "
				        "expected JOB.json [--instance I/N]\n",
				        cmd, argv[i]);
				usage(stderr);
				return 2;
			}
		}
		if (!job) {
			fprintf(stderr, "weir %s: expected a JOB.json\n", cmd);
			usage(stderr);
			return 2;
		}
		return cmd_validate(job, have_in ? &in : NULL);
	}
	if (!strcmp(cmd, "checkpoints")) {
		if (argc != 3) {
			fprintf(stderr, "weir %s: expected exactly one DIR\n",
			        cmd);
			usage(stderr);
			return 2;
		}
		return cmd_checkpoints(argv[2]);
	}
	fprintf(stderr, "weir: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
