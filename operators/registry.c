/*
 * registry.c - operator lookup and plugin loading (see registry.h).
 */
#include "registry.h"

#include <dlfcn.h>
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

static const weir_operator_t *load_plugin(const char *lib, const char *path,
                                          struct errlist *errs)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	weir_plugin_entry_fn entry;
	const weir_operator_t *op;

	if (!h) {
		errlist_add(errs, "%s.library: cannot load \"%s\": %s", path,
		            lib, dlerror());
		return NULL;
	}
	entry = (weir_plugin_entry_fn)(uintptr_t)dlsym(h, WEIR_PLUGIN_ENTRY);
	if (!entry) {
		errlist_add(errs,
		            "%s.library: \"%s\" is not a weir plugin: it does "
		            "not export %s()",
		            path, lib, WEIR_PLUGIN_ENTRY);
		return NULL;
	}
	op = entry();
	if (!op) {
		errlist_add(errs, "%s.library: %s() in \"%s\" returned NULL",
		            path, WEIR_PLUGIN_ENTRY, lib);
		return NULL;
	}
	if (op->api_version != WEIR_API_VERSION) {
		errlist_add(
		    errs,
		    "%s.library: \"%s\" was built for weir operator API "
		    "version %u, this weir has version %u; rebuild the "
		    "plugin against this weir's headers",
		    path, lib, op->api_version, WEIR_API_VERSION);
		return NULL;
	}
	if (!op->process || !op->name) {
		errlist_add(errs, "%s.library: \"%s\" has no %s", path, lib,
		            !op->name ? "name" : "process callback");
		return NULL;
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
		return NULL;
	}
	return op;
}

const weir_operator_t *registry_find(const struct job_op_cfg *cfg,
                                     const char *path, struct errlist *errs)
{
	if (!strcmp(cfg->type, "filter"))
		return weir_builtin_filter();
	if (!strcmp(cfg->type, "count"))
		return weir_builtin_count();
	if (!strcmp(cfg->type, "map"))
		return weir_builtin_map();
	if (!strcmp(cfg->type, "dedup"))
		return weir_builtin_dedup();
	if (!strcmp(cfg->type, "window"))
		return weir_builtin_window();
	if (!strcmp(cfg->type, "plugin"))
		return load_plugin(cfg->library, path, errs);
	errlist_add(errs,
	            "%s.type: unknown operator type \"%s\"; expected one of "
	            "filter, count, map, dedup, window, plugin",
	            path, cfg->type);
	return NULL;
}
