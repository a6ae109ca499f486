/* test_progress.c - the progress line's text: rate, lag, ETA, share done. */
#include "wd_test.h"
#include "wiredup/log.h"
#include "wiredup/progress.h"

#include <string.h>

static int test_format(void) {
  wd_progress_t pg;
  char line[256];
  wd_progress_init(&pg, "replay", 0);
  double t0 = pg.start_ms;

  /* 1000 records in 10 s with 500 left: 100/s, 5 s to go */
  pg.done = 1000;
  pg.left = 500;
  wd_progress_format(&pg, t0 + 10000, line, sizeof(line));
  WD_T_ASSERT(!strcmp(line, "records=1000 rate=100/s lag=500 eta=5s"), "got '%s'", line);

  /* an hour and more to go */
  pg.left = 100 * 3725;
  wd_progress_format(&pg, t0 + 10000, line, sizeof(line));
  WD_T_ASSERT(strstr(line, " eta=1h02m"), "got '%s'", line);

  /* nothing left, or unknown: no ETA */
  pg.left = 0;
  wd_progress_format(&pg, t0 + 10000, line, sizeof(line));
  WD_T_ASSERT(!strstr(line, "eta="), "got '%s'", line);
  pg.left = -1;
  wd_progress_format(&pg, t0 + 10000, line, sizeof(line));
  WD_T_ASSERT(!strcmp(line, "records=1000 rate=100/s"), "got '%s'", line);

  /* file mode: a quarter of the bytes in 30 s leaves 90 s */
  pg.bytes_done = 250;
  pg.bytes_total = 1000;
  wd_progress_format(&pg, t0 + 30000, line, sizeof(line));
  WD_T_ASSERT(strstr(line, " done=25.0% eta=1m30s"), "got '%s'", line);

  /* a tiny buffer truncates, never overruns */
  char small[12];
  memset(small, 'x', sizeof(small));
  wd_progress_format(&pg, t0 + 30000, small, 8);
  WD_T_ASSERT(strlen(small) < 8 && small[8] == 'x', "wrote past the buffer");
  return 0;
}

/* Off when the log threshold is above info; an update then does nothing. */
static int test_quiet(void) {
  wd_progress_t pg;
  wd_log_set_level(WD_LOG_WARN);
  wd_progress_init(&pg, "file mode", 1);
  WD_T_ASSERT(!pg.enabled, "progress on at log.level warn");
  wd_log_set_level(WD_LOG_INFO);
  wd_progress_init(&pg, "file mode", 1);
  WD_T_ASSERT(pg.enabled, "progress off at log.level info");
  return 0;
}

int main(void) {
  WD_T_RUN(test_format);
  WD_T_RUN(test_quiet);
  return WD_T_DONE();
}
