/* mock_broker_main.c - wiredup-mock-broker: librdkafka's mock cluster on
 * loopback for tests and experiments (contract "Test broker").
 *
 * The first stdout line is "bootstrap.servers=..." (flushed at once) so a
 * script can start it in the background and read where to connect. Lines on
 * stdin are fault-injection commands (see wd_mockbroker_command); each gets
 * one "ok CMD" or "error CMD: why" line on stdout, so a test can wait for
 * the fault to be in place. It runs until SIGINT/SIGTERM (stdin closing does
 * not stop it: started with </dev/null it simply takes no commands). */
#include "wiredup/log.h"
#include "wiredup/mockbroker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TOPICS 64

static volatile sig_atomic_t run = 1;

static void on_signal(int sig) {
  (void)sig;
  run = 0;
}

static const char usage[] =
    "Usage: wiredup-mock-broker [--brokers N] [--topic NAME:PARTITIONS]...\n"
    "\n"
    "Start librdkafka's mock Kafka cluster on 127.0.0.1, create the topics, "
    "print\n"
    "\"bootstrap.servers=HOST:PORT[,...]\" as the first line and run until "
    "SIGINT or\n"
    "SIGTERM. Other topics are created on first use with 4 partitions.\n"
    "\n"
    "  --brokers N              brokers in the cluster (1..64, default 3)\n"
    "  --topic NAME:PARTITIONS  create a topic (repeatable)\n"
    "  -h, --help               this text\n"
    "\n"
    "Fault injection, one command per stdin line, each answered with one "
    "line\n"
    "on stdout: \"ok COMMAND\" once it is in place, or \"error COMMAND: "
    "WHY\".\n"
    "BROKER is a broker id 1..N; -1 means all brokers where it is allowed.\n"
    "  down BROKER | up BROKER          close and refuse its connections "
    "(-1: all);\n"
    "                                   its partitions keep their leader\n"
    "  rtt BROKER MS                    delay every response by MS (-1: all; "
    "0: off)\n"
    "  errors API CNT ERR...            fail the next CNT API requests, "
    "cluster-wide,\n"
    "                                   with the ERRs in turn (one ERR "
    "repeats), e.g.\n"
    "                                   errors Produce 5 "
    "NOT_LEADER_FOR_PARTITION\n"
    "  broker-errors BROKER API ERR[@MS]...\n"
    "                                   fail the next API requests on BROKER, "
    "one per\n"
    "                                   ERR, each answered after MS; "
    "NO_ERROR@MS only\n"
    "                                   stalls one; e.g. broker-errors 1 "
    "Fetch\n"
    "                                   NOT_LEADER_FOR_PARTITION@100 "
    "NO_ERROR@2000\n"
    "  clear API                        drop pending cluster-wide errors of "
    "API\n"
    "  leader TOPIC PARTITION BROKER    move a partition leader (-1: none)\n"
    "  coordinator group|transaction KEY BROKER\n"
    "                                   move a group's (or transactional "
    "id's)\n"
    "                                   coordinator\n"
    "  topic NAME PARTITIONS            create a topic\n"
    "API is a request name (Produce, Fetch, ListOffsets, Metadata, "
    "OffsetCommit,\n"
    "OffsetFetch, FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, "
    "SyncGroup,\n"
    "ApiVersion, InitProducerId, ...) or its number; ERR a librdkafka error "
    "name\n"
    "without RD_KAFKA_RESP_ERR_ (NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...) "
    "or a\n"
    "number. stdin closing does not stop the broker.\n";

static int usage_error(const char *msg) {
  fprintf(stderr, "wiredup-mock-broker: %s\n", msg);
  fputs(usage, stderr);
  return 2;
}

/* Run every complete line in buf[0..*len); keep the partial tail. */
static void run_commands(wd_mockbroker_t *mb, char *buf, size_t *len) {
  char errstr[512];
  char *start = buf, *nl;
  while ((nl = memchr(start, '\n', *len - (size_t)(start - buf)))) {
    *nl = '\0';
    if (nl > start && nl[-1] == '\r')
      nl[-1] = '\0';
    if (*start) {
      if (wd_mockbroker_command(mb, start, errstr, sizeof(errstr)) == WD_OK)
        printf("ok %s\n", start);
      else
        printf("error %s: %s\n", start, errstr);
      fflush(stdout);
    }
    start = nl + 1;
  }
  *len -= (size_t)(start - buf);
  memmove(buf, start, *len);
}

int main(int argc, char **argv) {
  char errstr[512];
  char names[MAX_TOPICS][256];
  int parts[MAX_TOPICS];
  int topic_cnt = 0;
  long brokers = 3;
  struct sigaction sa;
  wd_mockbroker_t *mb;
  char line[4096];
  size_t line_len = 0;
  int stdin_open = 1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--brokers")) {
      char *end;
      if (i + 1 >= argc)
        return usage_error("--brokers needs a value");
      errno = 0;
      brokers = strtol(argv[++i], &end, 10);
      if (errno || *end || brokers < 1 || brokers > 64)
        return usage_error("--brokers must be 1..64");
    } else if (!strcmp(a, "--topic")) {
      if (i + 1 >= argc)
        return usage_error("--topic needs NAME:PARTITIONS");
      if (topic_cnt == MAX_TOPICS)
        return usage_error("too many --topic options");
      if (wd_mockbroker_parse_topic(argv[++i], names[topic_cnt],
                                    sizeof(names[0]), &parts[topic_cnt], errstr,
                                    sizeof(errstr)) != WD_OK)
        return usage_error(errstr);
      topic_cnt++;
    } else {
      snprintf(errstr, sizeof(errstr), "unknown option '%s'", a);
      return usage_error(errstr);
    }
  }

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* A test that stops reading our stdout must not kill us mid-command. */
  signal(SIGPIPE, SIG_IGN);

  if (!(mb = wd_mockbroker_new((int)brokers, errstr, sizeof(errstr)))) {
    WD_LOG(WD_LOG_ERROR, errstr, "%s", "");
    return 1;
  }
  for (int i = 0; i < topic_cnt; i++) {
    if (wd_mockbroker_topic_create(mb, names[i], parts[i], errstr,
                                   sizeof(errstr)) != WD_OK) {
      WD_LOG(WD_LOG_ERROR, errstr, "%s", "");
      wd_mockbroker_destroy(mb);
      return 1;
    }
  }
  printf("bootstrap.servers=%s\n", wd_mockbroker_bootstraps(mb));
  fflush(stdout);

  while (run) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    /* poll, not sleep: a signal or a command wakes us at once */
    int n = poll(&pfd, stdin_open ? 1 : 0, 200);
    if (n <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    ssize_t r =
        read(STDIN_FILENO, line + line_len, sizeof(line) - 1 - line_len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      stdin_open = 0; /* EOF: keep serving, stop reading */
      if (line_len) {
        line[line_len++] = '\n';
        run_commands(mb, line, &line_len);
      }
      continue;
    }
    line_len += (size_t)r;
    run_commands(mb, line, &line_len);
    if (line_len == sizeof(line) - 1) {
      printf("error: command line longer than %zu bytes dropped\n",
             sizeof(line) - 2);
      fflush(stdout);
      line_len = 0;
    }
  }
  wd_mockbroker_destroy(mb);
  return 0;
}
