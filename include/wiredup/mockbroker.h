/* mockbroker.h - librdkafka's in-process mock cluster (rdkafka_mock.h) on
 * loopback, for `wiredup demo`, `wiredup-mock-broker` and the Kafka tests.
 *
 * The cluster runs on its own librdkafka threads; clients connect to it over
 * TCP like to any broker, so wiredup itself never knows it is a mock. Faults
 * (brokers down, request errors, latency) are injected with text commands so
 * that shell tests can drive them through the tool's stdin.
 *
 * @code
 *   wd_mockbroker_t *mb = wd_mockbroker_new(3, errstr, sizeof(errstr));
 *   wd_mockbroker_topic_create(mb, "articles", 4, errstr, sizeof(errstr));
 *   printf("bootstrap.servers=%s\n", wd_mockbroker_bootstraps(mb));
 *   wd_mockbroker_command(mb, "down 2", errstr, sizeof(errstr));
 *   wd_mockbroker_destroy(mb);
 * @endcode
 */
#ifndef WD_MOCKBROKER_H
#define WD_MOCKBROKER_H

#include <stddef.h>

#include "wiredup/err.h"

typedef struct wd_mockbroker_s wd_mockbroker_t;

/**
 * @brief Start a mock cluster of \p broker_cnt brokers (ids 1..broker_cnt),
 *        each listening on 127.0.0.1 on a free port.
 * @returns NULL with errstr set if librdkafka could not start it.
 * @remark Topics a client asks for are auto-created with 4 partitions; create
 *         them first with wd_mockbroker_topic_create to choose the count.
 */
wd_mockbroker_t *wd_mockbroker_new(int broker_cnt, char *errstr,
                                   size_t errstr_size);

/** @brief Stop the cluster (connected clients see the brokers vanish) and
 *  free \p mb. NULL is a no-op. */
void wd_mockbroker_destroy(wd_mockbroker_t *mb);

/** @brief "HOST:PORT[,HOST:PORT...]" for bootstrap.servers. Owned by \p mb,
 *  valid until wd_mockbroker_destroy. */
const char *wd_mockbroker_bootstraps(const wd_mockbroker_t *mb);

/** @brief Create \p topic with \p partition_cnt partitions (replication 1).
 *  @returns WD_ERR_KAFKA if it exists already or librdkafka refuses. */
wd_err_t wd_mockbroker_topic_create(wd_mockbroker_t *mb, const char *topic,
                                    int partition_cnt, char *errstr,
                                    size_t errstr_size);

/**
 * @brief Run one fault-injection command (a line of text; blank = no-op).
 *
 *   down BROKER            disconnect broker BROKER (-1 = all), refuse new
 *                          connections; partition leaders do not move
 *   up BROKER              accept connections again
 *   rtt BROKER MS          add MS of latency to every response
 *   errors API CNT ERR...  fail the next CNT requests of API (name such as
 *                          Produce, Fetch, OffsetCommit, or its number) with
 *                          the errors given in turn; one ERR repeats. ERR is
 *                          a librdkafka error name without the
 *                          RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION,
 *                          _TRANSPORT, ...) or a number
 *   broker-errors BROKER API ERR[@MS]...
 *                          fail the next requests of API that reach broker
 *                          BROKER, one per ERR in turn, each answered after
 *                          MS (default 0); ERR may be NO_ERROR to only delay
 *                          it. They come before the cluster-wide "errors"
 *   clear API              drop pending cluster-wide injected errors of API
 *   leader TOPIC PART BROKER   move a partition leader (-1 = none)
 *   coordinator group|transaction KEY BROKER
 *                          move the coordinator of group (or transactional
 *                          id) KEY to BROKER; its members must find it again
 *   topic NAME PARTITIONS  create a topic
 *
 * @returns WD_ERR_USAGE for an unknown command or bad argument (errstr says
 *          which), WD_ERR_KAFKA if the mock refused it.
 */
wd_err_t wd_mockbroker_command(wd_mockbroker_t *mb, const char *line,
                               char *errstr, size_t errstr_size);

/** @brief Parse "NAME:PARTITIONS" (PARTITIONS 1..10000; ":PARTITIONS" may be
 *  left out for 4) into \p name (\p name_cap bytes) and \p partitions.
 *  @returns WD_ERR_USAGE with errstr set when malformed. */
wd_err_t wd_mockbroker_parse_topic(const char *arg, char *name, size_t name_cap,
                                   int *partitions, char *errstr,
                                   size_t errstr_size);

#endif
