/* metrics_http.c - GET /metrics and GET /healthz with libmicrohttpd.
 *
 * libmicrohttpd runs its own polling thread; a request renders the registry
 * into a fresh buffer handed to the response, so requests never block the
 * poll loop beyond the snapshot mutex's copy. */
#include "wiredup/config.h"
#include "wiredup/log.h"
#include "wiredup/metrics.h"

#include <microhttpd.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HTTP_CONNECTION_LIMIT 16
#define HTTP_CONNECTION_TIMEOUT_S 10

struct wd_metrics_http_s {
  struct MHD_Daemon *daemon;
  wd_metrics_t *m;
  int64_t stale_ms;
  uint16_t port;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *ctype, char *body, size_t len,
                               void (*free_body)(void *)) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer_with_free_callback(len, body, free_body);
  if (!r) {
    if (free_body)
      free_body(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result respond_const(struct MHD_Connection *conn,
                                     unsigned status, const char *text) {
  return respond(conn, status, "text/plain; charset=utf-8", (char *)text,
                 strlen(text), NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
  wd_metrics_http_t *srv = cls;
  (void)version, (void)upload_data, (void)req_cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    if (*upload_data_size)
      return *upload_data_size = 0, MHD_YES; /* discard any body, then 405 */
    return respond_const(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                         "only GET and HEAD\n");
  }
  if (strcmp(url, "/metrics") == 0) {
    wd_buf_t b = WD_BUF_INIT;
    wd_metrics_render(srv->m, &b);
    /* The buffer is handed over: freed by libmicrohttpd after sending. */
    return respond(conn, MHD_HTTP_OK,
                   "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
                   wd_free);
  }
  if (strcmp(url, "/healthz") == 0) {
    double age = wd_metrics_heartbeat_age(srv->m);
    if (age * 1e3 > (double)srv->stale_ms)
      return respond_const(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "stale: the poll loop has stopped turning\n");
    return respond_const(conn, MHD_HTTP_OK, "ok\n");
  }
  if (strcmp(url, "/") == 0)
    return respond_const(conn, MHD_HTTP_OK,
                         "wiredup: /metrics (Prometheus), /healthz\n");
  return respond_const(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* libmicrohttpd's own messages, in our log format. At debug: they are about
 * single clients (a scraper hanging up), and a failure to start is reported
 * by wd_metrics_http_start's caller anyway. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512], q[600];
  (void)cls;
  if (WD_LOG_DEBUG < wd_log_threshold)
    return;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  WD_LOG(WD_LOG_DEBUG, "metrics endpoint", "component=http reason=%s",
         wd_log_quote(q, sizeof(q), msg));
}

wd_err_t wd_metrics_http_start(wd_metrics_t *m, const char *listen,
                               int64_t stale_ms, wd_metrics_http_t **srv_out,
                               char *errstr, size_t errstr_size) {
  char host[256], portstr[8];
  uint16_t port;
  const char *why;
  struct addrinfo hints, *ai = NULL;

  *srv_out = NULL;
  WD_RETURN_IF(
      wd_config_parse_listen(listen, host, sizeof(host), &port, &why) != 0,
      WD_ERR_CONFIG, errstr, errstr_size, "metrics.listen: \"%s\": %s", listen,
      why);
  memset(&hints, 0, sizeof(hints));
  /* ":port" means every IPv4 interface; "[::]:port" every IPv6 one. */
  hints.ai_family = *host ? AF_UNSPEC : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
  int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &ai);
  WD_RETURN_IF(rc != 0, WD_ERR_CONFIG, errstr, errstr_size,
               "metrics.listen: cannot resolve \"%s\": %s", host,
               gai_strerror(rc));

  wd_metrics_http_t *srv = wd_calloc(1, sizeof(*srv));
  srv->m = m;
  srv->stale_ms = stale_ms;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                   MHD_USE_ERROR_LOG |
                   (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  /* The logger goes first so that option errors are in our format too. */
  srv->daemon = MHD_start_daemon(
      flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
      MHD_OPTION_END);
  int bind_errno = errno;
  freeaddrinfo(ai);
  if (!srv->daemon) {
    wd_free(srv);
    wd_errstr_set(errstr, errstr_size,
                  "metrics.listen: cannot listen on %s: %s", listen,
                  bind_errno ? strerror(bind_errno) : "libmicrohttpd failed");
    return WD_ERR_IO;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv->port = info ? info->port : port;
  *srv_out = srv;
  return WD_OK;
}

uint16_t wd_metrics_http_port(const wd_metrics_http_t *srv) {
  return srv->port;
}

void wd_metrics_http_stop(wd_metrics_http_t *srv) {
  if (!srv)
    return;
  MHD_stop_daemon(srv->daemon);
  wd_free(srv);
}
