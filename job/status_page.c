/* The status page's bytes: job/status_page.html as a C array, generated at
 * build time by `xxd -i` (job/meson.build), so that the page in the binary
 * is always the file in the tree. */
#include "status_page.h"

static const unsigned char page[] = {
#include "status_page.inc"
};

int http_status_page(const char **body, size_t *len)
{
	*body = (const char *)page;
	*len = sizeof(page);
	return 0;
}
