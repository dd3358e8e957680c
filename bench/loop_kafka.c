/*
 * loop_kafka.c - the reference for the kafka_cpu_vs_loop benchmark: one
 * thread reads a whole topic with a librdkafka consumer (from the
 * beginning to the end offsets seen at start, like weir's bounded source),
 * keeps the records whose JSON field "level" is "ERROR" (jsmn tokens, as
 * weir's filter; see loop_json.h), and writes them to another topic with a librdkafka producer. No
 * runtime, no checkpoints: what the same work costs without weir.
 *
 *   loop_kafka BROKERS IN_TOPIC OUT_TOPIC
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "loop_json.h"

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *brokers)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err,
	                      sizeof(err)) != RD_KAFKA_CONF_OK)
		goto fail;
	if (type == RD_KAFKA_CONSUMER) {
		if (rd_kafka_conf_set(conf, "group.id", "bench-loop-kafka", err,
		                      sizeof(err)) != RD_KAFKA_CONF_OK ||
		    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
		                      sizeof(err)) != RD_KAFKA_CONF_OK ||
		    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err,
		                      sizeof(err)) != RD_KAFKA_CONF_OK)
			goto fail;
	} else if (rd_kafka_conf_set(conf, "linger.ms", "5", err,
	                             sizeof(err)) != RD_KAFKA_CONF_OK) {
		goto fail;
	}
	rk = rd_kafka_new(type, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "loop_kafka: %s\n", err);
		exit(1);
	}
	return rk;
fail:
	fprintf(stderr, "loop_kafka: config: %s\n", err);
	exit(1);
}

int main(int argc, char **argv)
{
	rd_kafka_t *cons, *prod;
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_partition_list_t *assign;
	int64_t *end, remaining = 0, in = 0, out = 0;
	int nparts = 0;

	if (argc != 4) {
		fprintf(stderr,
		        "usage: loop_kafka BROKERS IN_TOPIC OUT_TOPIC\n");
		return 2;
	}
	cons = client_new(RD_KAFKA_CONSUMER, argv[1]);
	prod = client_new(RD_KAFKA_PRODUCER, argv[1]);
	{
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, argv[2], NULL);

		if (rd_kafka_metadata(cons, 0, rkt, &md, 10000) !=
		        RD_KAFKA_RESP_ERR_NO_ERROR ||
		    md->topic_cnt != 1 || md->topics[0].err) {
			fprintf(stderr, "loop_kafka: no metadata for %s\n",
			        argv[2]);
			return 1;
		}
		nparts = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
	}
	end = calloc((size_t)nparts, sizeof(*end));
	assign = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++) {
		int64_t lo, hi;

		if (rd_kafka_query_watermark_offsets(cons, argv[2], p, &lo, &hi,
		                                     10000)) {
			fprintf(stderr, "loop_kafka: no offsets for %s[%d]\n",
			        argv[2], p);
			return 1;
		}
		end[p] = hi;
		if (hi > lo) {
			remaining += hi - lo;
			rd_kafka_topic_partition_list_add(assign, argv[2], p)
			    ->offset = lo;
		}
	}
	rd_kafka_assign(cons, assign);
	rd_kafka_topic_partition_list_destroy(assign);
	while (remaining > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "loop_kafka: %s\n",
				        rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->offset < end[m->partition]) {
			remaining--;
			in++;
			if (is_error(m->payload, m->len)) {
				rd_kafka_resp_err_t err;

				while (
				    (err = rd_kafka_producev(
				         prod, RD_KAFKA_V_TOPIC(argv[3]),
				         RD_KAFKA_V_VALUE(m->payload, m->len),
				         RD_KAFKA_V_MSGFLAGS(
				             RD_KAFKA_MSG_F_COPY),
				         RD_KAFKA_V_END)) ==
				    RD_KAFKA_RESP_ERR__QUEUE_FULL)
					rd_kafka_poll(prod, 10);
				if (err) {
					fprintf(stderr,
					        "loop_kafka: produce: %s\n",
					        rd_kafka_err2str(err));
					return 1;
				}
				out++;
			}
			rd_kafka_poll(prod, 0);
		}
		rd_kafka_message_destroy(m);
	}
	if (rd_kafka_flush(prod, 60000)) {
		fprintf(stderr, "loop_kafka: flush timed out\n");
		return 1;
	}
	printf("in %" PRId64 " out %" PRId64 "\n", in, out);
	rd_kafka_consumer_close(cons);
	rd_kafka_destroy(cons);
	rd_kafka_destroy(prod);
	free(end);
	return 0;
}
