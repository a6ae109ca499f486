/* err.c - error code names and the errstr formatter. */
#include "wiredup/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *wd_err_str(wd_err_t err) {
  switch (err) {
  case WD_OK: return "success";
  case WD_ERR_CONFIG: return "configuration error";
  case WD_ERR_USAGE: return "usage error";
  case WD_ERR_INPUT: return "invalid input";
  case WD_ERR_IO: return "I/O error";
  case WD_ERR_KAFKA: return "Kafka error";
  case WD_ERR_NOMEM: return "out of memory";
  case WD_ERR_STATE: return "state error";
  case WD_ERR_INTERNAL: return "internal error";
  }
  return "unknown error";
}

void wd_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...) {
  va_list ap;
  if (!errstr || errstr_size == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(errstr, errstr_size, fmt, ap);
  va_end(ap);
}
