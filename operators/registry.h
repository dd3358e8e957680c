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

/* Fills *out with the operator for cfg (loading a plugin if needed) and
 * returns 0, or -1 with a message prefixed with `path` in errs. *out is
 * the runtime's own full table (registry_adopt). Plugin handles stay
 * loaded for the life of the process. */
int registry_find(const struct job_op_cfg *cfg, const char *path,
                  struct errlist *errs, weir_operator_t *out);

/* Copies the table op, of any API version this weir loads, into *out as a
 * table of this version: members the plugin's version does not have are
 * NULL. A version-1 table is read up to close, a later one up to its
 * struct_size. An api_version of 0 or newer than WEIR_API_VERSION, or a
 * struct_size too small for version 2 or absurd, is refused: -1 with a
 * message naming path and lib in errs. */
int registry_adopt(const weir_operator_t *op, const char *lib, const char *path,
                   struct errlist *errs, weir_operator_t *out);

#endif
