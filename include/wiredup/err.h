/* err.h - wiredup error codes and propagation helpers.
 *
 * Every function that can fail returns a wd_err_t; human-readable detail goes
 * into a caller-supplied (errstr, errstr_size) pair, as librdkafka does. */
#ifndef WD_ERR_H
#define WD_ERR_H

#include <stddef.h>

typedef enum wd_err_e {
  WD_OK = 0,
  WD_ERR_CONFIG,   /**< bad configuration key or value (exit 2) */
  WD_ERR_USAGE,    /**< bad command line (exit 2) */
  WD_ERR_INPUT,    /**< a malformed record: reported, skipped or dead-lettered */
  WD_ERR_IO,       /**< file or socket I/O failed */
  WD_ERR_KAFKA,    /**< librdkafka reported a failure */
  WD_ERR_NOMEM,    /**< allocation failed */
  WD_ERR_STATE,    /**< checkpoint missing, corrupt or incompatible */
  WD_ERR_INTERNAL  /**< a bug: an invariant did not hold */
} wd_err_t;

/** @brief Short constant name of \p err ("config error", ...). Never NULL. */
const char *wd_err_str(wd_err_t err);

/** @brief printf into (errstr, errstr_size) when errstr is not NULL. */
void wd_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Return \p err with a formatted message when \p cond holds. */
#define WD_RETURN_IF(cond, err, errstr, errstr_size, ...)                      \
  do {                                                                         \
    if (cond) {                                                                \
      wd_errstr_set((errstr), (errstr_size), __VA_ARGS__);                     \
      return (err);                                                            \
    }                                                                          \
  } while (0)

/** Evaluate \p expr once; return its error code if it is not WD_OK. */
#define WD_FORWARD_IF_ERR(expr)                                                \
  do {                                                                         \
    wd_err_t wd__e = (expr);                                                   \
    if (wd__e != WD_OK)                                                        \
      return wd__e;                                                            \
  } while (0)

#endif
