/*
 * registry.c - operator lookup and plugin loading (see registry.h).
 */
#include "registry.h"

#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "builtin.h"

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
		errlist_add(errs,
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
	if (!strcmp(cfg->type, "plugin"))
		return load_plugin(cfg->library, path, errs);
	errlist_add(errs,
	            "%s.type: unknown operator type \"%s\"; expected one of "
	            "filter, count, map, dedup, plugin",
	            path, cfg->type);
	return NULL;
}
