/*
 * control.h - the control socket of a running job (CONTROL_SOCK in its
 * checkpoint.dir) and the commands that talk to it: `weir savepoint`
 * and `weir stop`. The protocol is described in control.c.
 */
#ifndef WEIR_CONTROL_H
#define WEIR_CONTROL_H

#include <stddef.h>

struct job;
struct control;

#define CONTROL_SOCK "weir.sock"

/* Listens on checkpoint.dir/CONTROL_SOCK for job (started: its directory
 * is locked, its coordinator runs), replacing a socket a killed job left. Returns NULL with a
 * message (the path is too long for a socket, something else is there);
 * the job can run without. Main thread. */
struct control *control_start(struct job *job, char *err, size_t errlen);
/* Ends the control thread, closes the connections waiting for the end of
 * the job and removes the socket. After job_wait, before job_free. NULL
 * is fine. */
void control_stop(struct control *ctl);

/* `weir savepoint` (cmd "savepoint", target) and `weir stop` (cmd
 * "stop", target NULL or the savepoint to take first) against the job
 * running on checkpoint.dir dir. Prints the outcome; returns the exit
 * code: 0 done, 1 failed, 2 refused or no job running. */
int control_cli(const char *cmd, const char *dir, const char *target);

#endif
