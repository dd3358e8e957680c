/*
 * control.c - the control socket of a running job, and the commands that
 * use it (`weir savepoint`, `weir stop`).
 *
 * A running job listens on the Unix-domain socket CONTROL_SOCK inside its
 * checkpoint.dir; the .lock there makes it the only one. Only the
 * processes that may write that directory reach it, so the socket has no
 * other access control. One request per connection, one line each way:
 *
 *   savepoint PATH       ok ID PATH | refused WHY | error WHY
 *   stop                 ok stopping
 *   stop-savepoint PATH  ok ID PATH | refused WHY | error WHY
 *
 * PATH is absolute (the command line resolves it in its own working
 * directory). After "ok" to a stop the connection stays open until the
 * job has ended, so the command returns when the job is gone. "refused":
 * nothing was done (bad target, job starting); "error": it was tried and
 * failed.
 *
 * Threads: one, the control thread, serves connections one at a time (a
 * savepoint takes as long as a checkpoint); control_stop wakes it through
 * a pipe, joins it, closes what is open and removes the socket.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "util.h"

#define LINE_MAX_BYTES 4096
#define READ_TIMEOUT_MS 5000

struct control {
	struct job *job;
	char *path;
	int lfd;
	int wake[2]; /* control_stop writes to wake[1] */
	pthread_t thread;
	int *waiters; /* connections that wait for the job's end */
	size_t nwaiters;
};

/* Fills sa with dir/CONTROL_SOCK; -1 with a message when too long. */
static int sock_addr(const char *dir, struct sockaddr_un *sa, char *err,
                     size_t errlen)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir,
	             CONTROL_SOCK);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		snprintf(err, errlen,
		         "the control socket %s/%s would be %d bytes long, "
		         "more than a Unix socket path may be (%zu): shorten "
		         "checkpoint.dir (or use a relative one)",
		         dir, CONTROL_SOCK, n, sizeof(sa->sun_path) - 1);
		return -1;
	}
	return 0;
}

/* Connects to sa: the descriptor, or -1 with errno. */
static int connect_to(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void send_line(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void send_line(int fd, const char *fmt, ...)
{
	char buf[LINE_MAX_BYTES];
	va_list ap;
	size_t n, off = 0;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	n = r < 0                         ? 0
	    : (size_t)r < sizeof(buf) - 1 ? (size_t)r
	                                  : sizeof(buf) - 2;
	/* One line: a message never carries a newline of its own. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	while (off < n) {
		ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* Reads one line (without its newline) within timeout_ms in all (-1:
 * no limit): a client that sends a byte now and then holds the control
 * thread no longer. Returns its length, -2 when it is longer than cap - 1
 * bytes, or -1 (closed, timed out). */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = now_mono_ms() + timeout_ms;
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_mono_ms();
		ssize_t r;
		int pr = poll(&p, 1,
		              timeout_ms < 0 ? -1
		              : left > 0     ? (int)left
		                             : 0);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		r = recv(fd, buf + len, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (int)len;
		}
		len++;
	}
	return -2;
}

/* Keeps fd open until the job ends. */
static void add_waiter(struct control *ctl, int fd)
{
	ctl->waiters =
	    xrealloc(ctl->waiters, (ctl->nwaiters + 1) * sizeof(int));
	ctl->waiters[ctl->nwaiters++] = fd;
}

/* Serves one connection; fd is closed or kept as a waiter. */
static void serve(struct control *ctl, int fd)
{
	char line[LINE_MAX_BYTES], msg[2048];
	const char *target = NULL;
	bool stop = false;
	int rc;

	rc = read_line(fd, line, sizeof(line), READ_TIMEOUT_MS);
	if (rc == -2)
		send_line(fd,
		          "refused the request line is too long: at most %d "
		          "bytes, newline included",
		          LINE_MAX_BYTES - 1);
	if (rc < 0) {
		close(fd);
		return;
	}
	if (!strcmp(line, "stop")) {
		log_info("control", "stop requested through %s", ctl->path);
		job_request_stop(ctl->job);
		send_line(fd, "ok stopping");
		add_waiter(ctl, fd);
		return;
	}
	if (!strncmp(line, "savepoint ", 10)) {
		target = line + 10;
	} else if (!strncmp(line, "stop-savepoint ", 15)) {
		target = line + 15;
		stop = true;
	} else {
		send_line(fd, "refused unknown request \"%.64s\"", line);
		close(fd);
		return;
	}
	log_info("control", "savepoint into %s requested%s", target,
	         stop ? ", then stop" : "");
	rc = job_savepoint(ctl->job, target, stop, msg, sizeof(msg));
	if (rc < 0)
		log_warn("control", "%s", msg);
	send_line(fd, "%s %s",
	          rc == 0    ? "ok"
	          : rc == -2 ? "refused"
	                     : "error",
	          msg);
	if (stop && rc == 0)
		add_waiter(ctl, fd);
	else
		close(fd);
}

static void *control_main(void *arg)
{
	struct control *ctl = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = ctl->lfd, .events = POLLIN},
		                      {.fd = ctl->wake[0], .events = POLLIN}};
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve(ctl, fd);
	}
	return NULL;
}

/* Makes room for the socket at sa: a socket nothing listens on (left by
 * a job that was killed) is removed; anything else is refused. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

	if (lstat(sa->sun_path, &sb) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen,
		         "%s exists and is not a socket: move it away, weir "
		         "listens there for `weir savepoint` and `weir stop`",
		         sa->sun_path);
		return -1;
	}
	fd = connect_to(sa);
	if (fd >= 0) {
		close(fd);
		snprintf(err, errlen,
		         "another process listens on %s: is a job running on "
		         "this checkpoint.dir under another name?",
		         sa->sun_path);
		return -1;
	}
	log_info("control",
	         "removing %s, left by a job that ended without "
	         "removing it",
	         sa->sun_path);
	unlink(sa->sun_path);
	return 0;
}

struct control *control_start(struct job *job, char *err, size_t errlen)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));
	struct sockaddr_un sa;

	ctl->job = job;
	ctl->lfd = ctl->wake[0] = ctl->wake[1] = -1;
	if (sock_addr(job->cfg->checkpoint.dir, &sa, err, errlen) < 0 ||
	    clear_stale(&sa, err, errlen) < 0)
		goto fail;
	ctl->path = xstrdup(sa.sun_path);
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0 ||
	    bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ctl->lfd, 8) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", sa.sun_path,
		         strerror(errno));
		goto fail;
	}
	if (pipe2(ctl->wake, O_CLOEXEC) < 0 ||
	    pthread_create(&ctl->thread, NULL, control_main, ctl) != 0) {
		snprintf(err, errlen, "cannot start the control thread");
		unlink(ctl->path);
		goto fail;
	}
	log_debug("control", "listening on %s", ctl->path);
	return ctl;
fail:
	if (ctl->lfd >= 0)
		close(ctl->lfd);
	for (int i = 0; i < 2; i++)
		if (ctl->wake[i] >= 0)
			close(ctl->wake[i]);
	free(ctl->path);
	free(ctl);
	return NULL;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	(void)!write(ctl->wake[1], "x", 1);
	pthread_join(ctl->thread, NULL);
	unlink(ctl->path);
	close(ctl->lfd);
	close(ctl->wake[0]);
	close(ctl->wake[1]);
	for (size_t i = 0; i < ctl->nwaiters; i++)
		close(ctl->waiters[i]);
	free(ctl->waiters);
	free(ctl->path);
	free(ctl);
}

int control_cli(const char *cmd, const char *dir, const char *target)
{
	char err[512], line[LINE_MAX_BYTES], cwd[PATH_MAX], *req;
	const char *verb = strcmp(cmd, "stop") ? "savepoint" : "stop-savepoint";
	struct sockaddr_un sa;
	int fd;

	if (sock_addr(dir, &sa, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir %s: %s\n", cmd, err);
		return 2;
	}
	fd = connect_to(&sa);
	if (fd < 0) {
		fprintf(stderr,
		        "weir %s: no job is running on checkpoint.dir %s "
		        "(nothing listens on %s: %s). One of several instances "
		        "is reached with --instance I/N\n",
		        cmd, dir, sa.sun_path, strerror(errno));
		return 2;
	}
	if (!target) {
		req = xstrdup("stop");
	} else if (target[0] == '/') {
		req = xasprintf("%s %s", verb, target);
	} else if (getcwd(cwd, sizeof(cwd))) {
		req = xasprintf("%s %s/%s", verb, cwd, target);
	} else {
		fprintf(stderr,
		        "weir %s: cannot resolve %s (%s): give an absolute "
		        "path\n",
		        cmd, target, strerror(errno));
		close(fd);
		return 2;
	}
	/* send_line would cut it short: a savepoint written elsewhere. */
	if (strlen(req) >= LINE_MAX_BYTES - 1) {
		fprintf(stderr,
		        "weir %s: the savepoint path is %zu bytes long, too "
		        "long for the control socket (at most %zu): use a "
		        "shorter one\n",
		        cmd, strlen(req) - strlen(verb) - 1,
		        (size_t)LINE_MAX_BYTES - 3 - strlen(verb));
		free(req);
		close(fd);
		return 2;
	}
	send_line(fd, "%s", req);
	free(req);
	if (read_line(fd, line, sizeof(line), -1) < 0) {
		fprintf(stderr,
		        "weir %s: the job closed %s without an answer (it "
		        "ended meanwhile?)\n",
		        cmd, sa.sun_path);
		close(fd);
		return 1;
	}
	if (strncmp(line, "ok ", 3) != 0) {
		bool refused = !strncmp(line, "refused ", 8);

		fprintf(stderr, "weir %s: %s\n", cmd,
		        strchr(line, ' ') ? strchr(line, ' ') + 1 : line);
		close(fd);
		return refused ? 2 : 1;
	}
	if (target) {
		char *path = NULL;
		unsigned long long id = strtoull(line + 3, &path, 10);

		printf("savepoint %llu written to %s\n", id,
		       path && *path == ' ' ? path + 1 : "?");
		fflush(stdout);
	}
	if (!strcmp(cmd, "stop")) {
		/* The job closes the connection when it has ended. */
		while (read_line(fd, line, sizeof(line), -1) >= 0)
			;
		printf("job stopped\n");
	}
	close(fd);
	return 0;
}
