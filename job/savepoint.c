/*
 * savepoint.c - job_savepoint (job.h): where a savepoint may go, and
 * asking the coordinator for one. The control socket (control.c) and the
 * HTTP endpoint call it; the checkpoint layer writes and copies it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator.h"
#include "job.h"
#include "store.h"
#include "util.h"

/* Whether path, or the nearest of its parents that exists, is dir (a
 * real path) or inside it. */
static bool inside(const char *path, const char *dir)
{
	char *p = xstrdup(path), real[PATH_MAX];
	size_t n = strlen(dir);
	bool in = false;

	for (;;) {
		char *slash;

		if (realpath(p, real)) {
			in = !strncmp(real, dir, n) &&
			     (real[n] == '\0' || real[n] == '/' || n == 1);
			break;
		}
		slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	free(p);
	return in;
}

/* target made absolute (malloc()ed), or NULL with msg. */
static char *absolute(const char *target, char *msg, size_t msglen)
{
	char cwd[PATH_MAX];

	if (target[0] == '/')
		return xstrdup(target);
	if (!getcwd(cwd, sizeof(cwd))) {
		snprintf(msg, msglen,
		         "cannot resolve %s: the working directory is "
		         "unknown (%s); give an absolute path",
		         target, strerror(errno));
		return NULL;
	}
	return xasprintf("%s/%s", cwd, target);
}

int job_savepoint(struct job *job, const char *target, bool stop, char *msg,
                  size_t msglen)
{
	char dir[PATH_MAX], err[1024], *path;
	bool existed;
	struct ckpt_store *to;
	uint64_t id = 0, unused;
	char *top;
	int rc;

	if (!target || !*target) {
		snprintf(msg, msglen, "no savepoint directory given");
		return -2;
	}
	/* Not job->coord: it is made before the coordinator runs (and
	 * while another thread may read it); a savepoint asked for then
	 * would wait on a coordinator that may never start. */
	if (atomic_load_explicit(&job->phase, memory_order_acquire) !=
	    JOB_RUNNING) {
		snprintf(msg, msglen,
		         "the job is still starting; try again "
		         "once it runs (GET /ready says 200)");
		return -2;
	}
	if (!(path = absolute(target, msg, msglen)))
		return -2;
	/* An instance of several has its checkpoints in
	 * instance-<I>-of-<N>/ of the job file's checkpoint.dir, and every
	 * instance looks at what else that one holds (ckpt_instance_check):
	 * a savepoint there, as chk-<n>, would stop them all restarting. */
	top = xstrdup(job->cfg->checkpoint.dir);
	if (job_instance_count(&job->cfg->instance) > 1)
		*strrchr(top, '/') = '\0'; /* ckpt_instance_dir added it */
	if (realpath(top, dir) && inside(path, dir)) {
		snprintf(msg, msglen,
		         "%s is inside checkpoint.dir %s, where checkpoints "
		         "come and go: put savepoints somewhere else",
		         path, dir);
		free(top);
		free(path);
		return -2;
	}
	free(top);
	existed = access(path, F_OK) == 0;
	to =
	    ckpt_store_open_one(path, true, job->io, &unused, err, sizeof(err));
	if (!to) {
		snprintf(msg, msglen, "%s", err);
		free(path);
		return -2;
	}
	rc = coord_savepoint(job->coord, to, stop, &id, err, sizeof(err));
	ckpt_store_close(to);
	/* Refused before anything was written: leave no trace of the
	 * request, so the directory it named is as it was (rmdir removes it
	 * only while it is empty). */
	if (rc == -2 && !existed)
		rmdir(path);
	if (rc == -2)
		snprintf(msg, msglen, "%s", err);
	else if (rc < 0)
		snprintf(msg, msglen, "savepoint into %s failed: %s", path,
		         err);
	else
		snprintf(msg, msglen, "%llu %s", (unsigned long long)id, path);
	free(path);
	return rc;
}
