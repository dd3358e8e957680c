/* The status page a person opens in a browser: GET / of the job's HTTP
 * endpoint. One self-contained HTML file (job/status_page.html: inline CSS,
 * JS and SVG, no external assets) compiled into the weir binary, so a job
 * needs no file beside it to serve it. The page itself polls /job and
 * /checkpoints every 2 s. */
#ifndef WEIR_STATUS_PAGE_H
#define WEIR_STATUS_PAGE_H

#include <stddef.h>

/* Sets *body and *len to the page, to be served as
 * "text/html; charset=utf-8". The bytes are static, read-only and live as
 * long as the process: the caller borrows them and frees nothing. Any
 * thread. Returns 0. */
int http_status_page(const char **body, size_t *len);

#endif
