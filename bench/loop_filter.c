/*
 * loop_filter.c - the reference for the core_vs_loop benchmark: one thread
 * generates the same JSON log records as weir's generator source (same
 * format, same sequence) and filters them the way weir's filter operator
 * does (jsmn tokens, field "level" == "ERROR"; see loop_json.h), counting
 * matches. No runtime, no threads, no channels: the floor a dataflow
 * engine is judged against.
 *
 *   loop_filter COUNT_PER_PARTITION PARTITIONS
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop_json.h"

static const char *const levels[] = {"INFO",  "INFO", "WARN", "ERROR",
                                     "DEBUG", "INFO", "INFO", "ERROR"};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char val[160];
	int64_t count, matches = 0;
	int parts;
	double t0, dt;

	if (argc != 3) {
		fprintf(stderr,
		        "usage: loop_filter COUNT_PER_PARTITION PARTITIONS\n");
		return 2;
	}
	count = strtoll(argv[1], NULL, 10);
	parts = atoi(argv[2]);
	t0 = now_s();
	for (int32_t p = 0; p < parts; p++) {
		for (int64_t seq = 0; seq < count; seq++) {
			uint64_t h = (uint64_t)seq * 2654435761u + (uint64_t)p;
			int n =
			    snprintf(val, sizeof(val),
			             "{\"seq\":%" PRId64 ",\"level\":\"%s\","
			             "\"service\":\"svc-%d\",\"msg\":\"request "
			             "%" PRId64 " done\"}",
			             seq, levels[h % 8], (int)(h % 13), seq);

			matches += is_error(val, (size_t)n);
		}
	}
	dt = now_s() - t0;
	printf("records %" PRId64 " matches %" PRId64 " seconds %.3f\n",
	       count * parts, matches, dt);
	return 0;
}
