/*
 * registry.c - operator lookup and plugin loading (see registry.h).
 */
#include "registry.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "builtin.h"

/* An operator's name is part of its tasks' names, which name their state
 * files ("op<k>-<name>-<i>", at most 63 bytes): 40 characters leave room
 * for any operator index and task index, and file-safe characters keep
 * every task's file its own. */
#define MAX_OP_NAME 40

static bool op_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MAX_OP_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Where version 2 begins: a version-1 table ends with close. */
#define V1_SIZE offsetof(weir_operator_t, struct_size)
#define V2_MIN_SIZE (V1_SIZE + sizeof(uint32_t))
/* No table of callbacks is this large: a struct_size beyond it is a
 * plugin that does not set it (garbage) rather than a future weir's. */
#define MAX_TABLE_SIZE 4096

int registry_adopt(const weir_operator_t *op, const char *lib, const char *path,
                   struct errlist *errs, weir_operator_t *out)
{
	uint32_t size;

	memset(out, 0, sizeof(*out));
	if (op->api_version == 0 || op->api_version > WEIR_API_VERSION) {
		errlist_add(errs,
		            "%s.library: \"%s\" was built for weir operator "
		            "API version %u, this weir has version %u (it "
		            "loads versions 1 to %u); run it with a weir of "
		            "that version, or rebuild the plugin against this "
		            "weir's weir.h",
		            path, lib, op->api_version, WEIR_API_VERSION,
		            WEIR_API_VERSION);
		return -1;
	}
	if (op->api_version == 1) {
		/* Version 1 has no struct_size: exactly its prefix is there. */
		memcpy(out, op, V1_SIZE);
		out->struct_size = WEIR_OPERATOR_SIZE;
		return 0;
	}
	size = op->struct_size;
	if (size < V2_MIN_SIZE || size > MAX_TABLE_SIZE) {
		errlist_add(errs,
		            "%s.library: \"%s\" has struct_size %u in its "
		            "weir_operator_t (API version %u), expected %zu to "
		            "%d; set .struct_size = WEIR_OPERATOR_SIZE in the "
		            "plugin's table",
		            path, lib, size, op->api_version, V2_MIN_SIZE,
		            MAX_TABLE_SIZE);
		return -1;
	}
	memcpy(out, op, size < sizeof(*out) ? size : sizeof(*out));
	/* A member cut by struct_size is missing, not half there. */
#define CUT(m)                                                                 \
	if (offsetof(weir_operator_t, m) + sizeof(out->m) > size)              \
		out->m = NULL;
	CUT(on_timer)
	CUT(end_input)
	CUT(checkpoint_aborted)
#undef CUT
	out->struct_size = WEIR_OPERATOR_SIZE;
	return 0;
}

static int load_plugin(const char *lib, const char *path, struct errlist *errs,
                       weir_operator_t *out)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	weir_plugin_entry_fn entry;
	const weir_operator_t *op;

	if (!h) {
		errlist_add(errs, "%s.library: cannot load \"%s\": %s", path,
		            lib, dlerror());
		return -1;
	}
	entry = (weir_plugin_entry_fn)(uintptr_t)dlsym(h, WEIR_PLUGIN_ENTRY);
	if (!entry) {
		errlist_add(errs,
		            "%s.library: \"%s\" is not a weir plugin: it does "
		            "not export %s()",
		            path, lib, WEIR_PLUGIN_ENTRY);
		return -1;
	}
	op = entry();
	if (!op) {
		errlist_add(errs, "%s.library: %s() in \"%s\" returned NULL",
		            path, WEIR_PLUGIN_ENTRY, lib);
		return -1;
	}
	if (registry_adopt(op, lib, path, errs, out) < 0)
		return -1;
	op = out;
	if (!op->process || !op->name) {
		errlist_add(errs, "%s.library: \"%s\" has no %s", path, lib,
		            !op->name ? "name" : "process callback");
		return -1;
	}
	if (!op_name_ok(op->name)) {
		errlist_add(
		    errs,
		    "%s.library: \"%s\" names its operator \"%.60s%s\"; "
		    "an operator name is 1 to %d characters from A-Z a-z "
		    "0-9 . _ - (its state files are named after it); "
		    "rename it in the plugin's weir_operator_t",
		    path, lib, op->name, strlen(op->name) > 60 ? "..." : "",
		    MAX_OP_NAME);
		return -1;
	}
	return 0;
}

int registry_find(const struct job_op_cfg *cfg, const char *path,
                  struct errlist *errs, weir_operator_t *out)
{
	const weir_operator_t *op;

	if (!strcmp(cfg->type, "plugin"))
		return load_plugin(cfg->library, path, errs, out);
	if (!strcmp(cfg->type, "filter"))
		op = weir_builtin_filter();
	else if (!strcmp(cfg->type, "count"))
		op = weir_builtin_count();
	else if (!strcmp(cfg->type, "map"))
		op = weir_builtin_map();
	else if (!strcmp(cfg->type, "dedup"))
		op = weir_builtin_dedup();
	else if (!strcmp(cfg->type, "window"))
		op = weir_builtin_window();
	else {
		errlist_add(errs,
		            "%s.type: unknown operator type \"%s\"; expected "
		            "one of filter, count, map, dedup, window, plugin",
		            path, cfg->type);
		return -1;
	}
	return registry_adopt(op, cfg->type, path, errs, out);
}
