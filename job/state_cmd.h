/*
 * state_cmd.h - `weir state`: the keyed state of a checkpoint as JSON
 * lines (see state_cmd.c).
 */
#ifndef WEIR_STATE_CMD_H
#define WEIR_STATE_CMD_H

#include <stdio.h>

/* Prints the managed keyed state of the checkpoint at path (a savepoint,
 * a chk-<n>, or the newest complete one of a checkpoint directory) to
 * out, one JSON object per line; want (NULL: every operator) picks one
 * operator by name, type or index. Problems go to stderr. Returns the
 * exit code: 0, 1 (unreadable or damaged), 2 (no such operator). */
int state_cmd(const char *path, const char *want, FILE *out);

#endif
