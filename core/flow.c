/*
 * flow.c - the running dataflow (see flow.h): adding tasks, joining
 * stages with channels, failing and finishing.
 */
#include "flow.h"

#include <stdlib.h>

#include "chan.h"
#include "log.h"
#include "task.h"
#include "util.h"

/* Batches a channel holds: backpressure sets in when it is full. */
#define CHAN_CAPACITY 8

void flow_init(struct flow *f)
{
	*f = (struct flow){0};
	pthread_mutex_init(&f->mu, NULL);
	cond_init_mono(&f->done_cv);
	atomic_init(&f->hard_stop, 0);
	atomic_init(&f->finished, 0);
	atomic_init(&f->sources_ended, 0);
	atomic_init(&f->savepoint_id, 0);
}

bool flow_is_savepoint(struct flow *f, uint64_t id)
{
	return id && atomic_load(&f->savepoint_id) == id;
}

void flow_destroy(struct flow *f)
{
	for (int i = 0; i < f->nchans; i++)
		chan_free(f->chans[i]);
	free(f->chans);
	for (int i = 0; i < f->ntasks; i++)
		task_free(f->tasks[i]);
	free(f->tasks);
	free(f->fail_msg);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->done_cv);
}

struct task *flow_add_task(struct flow *f, int stage, int sub, int par,
                           const char *name, const char *who)
{
	struct task *t = task_new(f, f->ntasks, stage, sub, par, name, who);

	f->tasks =
	    xrealloc(f->tasks, (size_t)(f->ntasks + 1) * sizeof(*f->tasks));
	f->tasks[f->ntasks++] = t;
	return t;
}

static void add_chan(struct flow *f, struct chan *c)
{
	f->chans =
	    xrealloc(f->chans, (size_t)(f->nchans + 1) * sizeof(*f->chans));
	f->chans[f->nchans++] = c;
}

void flow_connect(struct flow *f, int first_a, int par_a, int first_b,
                  int par_b, bool keyed)
{
	bool forward = par_a == par_b && !keyed;

	for (int i = 0; i < par_a; i++) {
		struct task *up = f->tasks[first_a + i];

		up->nout = forward ? 1 : par_b;
		up->out = xcalloc((size_t)up->nout, sizeof(*up->out));
		if (up->nout == 1)
			up->route = ROUTE_FORWARD;
		else
			up->route = keyed ? ROUTE_KEY : ROUTE_PARTITION;
	}
	for (int j = 0; j < par_b; j++) {
		struct task *down = f->tasks[first_b + j];

		down->nin = forward ? 1 : par_a;
		down->in = xcalloc((size_t)down->nin, sizeof(*down->in));
		down->in_blocked = xcalloc((size_t)down->nin, sizeof(bool));
		down->in_eos = xcalloc((size_t)down->nin, sizeof(bool));
		down->in_wm = xcalloc((size_t)down->nin, sizeof(int64_t));
		down->in_idle = xcalloc((size_t)down->nin, sizeof(bool));
		for (int i = 0; i < down->nin; i++)
			down->in_wm[i] = WM_MIN;
	}
	for (int i = 0; i < par_a; i++) {
		struct task *up = f->tasks[first_a + i];

		for (int j = 0; j < par_b; j++) {
			struct task *down = f->tasks[first_b + j];
			struct chan *c;

			if (forward && i != j)
				continue;
			c = chan_new(CHAN_CAPACITY, &up->wake, &down->wake);
			add_chan(f, c);
			up->out[forward ? 0 : j] = c;
			down->in[forward ? 0 : i] = c;
		}
	}
}

void flow_fail(struct flow *f, const char *msg)
{
	pthread_mutex_lock(&f->mu);
	if (!f->fail_msg) {
		f->fail_msg = xstrdup(msg);
		log_error("job", "%s", msg);
	}
	pthread_mutex_unlock(&f->mu);
	atomic_store(&f->hard_stop, 1);
	for (int i = 0; i < f->ntasks; i++)
		wake_signal(&f->tasks[i]->wake);
	if (f->hooks.failed)
		f->hooks.failed(f->hooks.arg);
}

bool flow_stopping(const struct flow *f)
{
	return atomic_load(&f->hard_stop) != 0;
}

void flow_finish(struct flow *f)
{
	atomic_store(&f->finished, 1);
	for (int i = 0; i < f->ntasks; i++)
		wake_signal(&f->tasks[i]->wake);
}

void flow_source_ended(struct flow *f)
{
	if (atomic_fetch_add(&f->sources_ended, 1) + 1 == f->nsources) {
		log_info("job", "the bounded input is consumed; taking the "
		                "final checkpoint");
		if (f->hooks.sources_ended)
			f->hooks.sources_ended(f->hooks.arg);
	}
}

void flow_task_exited(struct flow *f)
{
	pthread_mutex_lock(&f->mu);
	f->running--;
	pthread_cond_broadcast(&f->done_cv);
	pthread_mutex_unlock(&f->mu);
}
