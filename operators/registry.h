/*
 * registry.h - from an operator's "type" in the job file to its table: the
 * built-ins, or a plugin loaded with dlopen whose API version is checked
 * before anything of it is called.
 */
#ifndef WEIR_REGISTRY_H
#define WEIR_REGISTRY_H

#include "op_cfg.h"
#include "util.h"
#include "weir/weir.h"

/* Returns the operator for cfg (loading a plugin if needed) or NULL with a
 * message prefixed with `path` in errs. Plugin handles stay loaded for the
 * life of the process. */
const weir_operator_t *registry_find(const struct job_op_cfg *cfg,
                                     const char *path, struct errlist *errs);

#endif
