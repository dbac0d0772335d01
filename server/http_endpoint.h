// A small read-only HTTP server (cpp-httplib) for operators: /metrics today,
// a read-only dashboard later, on one --metrics-listen port beside the gRPC
// port. The composition root registers GET handlers by exact path, then
// starts it; the endpoint owns its listening thread and its worker pool.
//
//   HttpEndpoint http;
//   http.HandleGet("/metrics", [&](const HttpRequest&) {
//     return HttpResponse{200, kPrometheusContentType, registry.Render()};
//   }).IgnoreError();
//   if (absl::Status s = http.Start("127.0.0.1:9464"); !s.ok()) ...
//   ... http.port() ...
//   http.Stop();
//
// Contracts:
//   - Only GET is served; a path without a handler answers 404. Paths match
//     exactly (no prefixes, no patterns); the query string is parsed into
//     HttpRequest::params, the headers into HttpRequest::headers.
//   - Handlers run on the endpoint's worker threads (kWorkerThreads of
//     them), possibly concurrently: they must be thread-safe and must not
//     call Stop(). An exception escaping a handler answers 500.
//   - Start() binds synchronously, so a bad address or a port in use is
//     reported by Start() itself, never later in a log line. The port is
//     bound without SO_REUSEPORT: a second process cannot silently share
//     it.
//   - Stop() closes the port, waits for handlers in flight and joins the
//     thread; idempotent; the destructor calls it. No restart after Stop().
//
// Thread safety: EnableTls, HandleGet and Start must be called from one
// thread before serving begins; port(), address() and Stop() may be called from
// any thread after Start() returned.
#ifndef AUTOTM_SERVER_HTTP_ENDPOINT_H_
#define AUTOTM_SERVER_HTTP_ENDPOINT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace autotm::server {

// The Prometheus text exposition format, version 0.0.4.
inline constexpr char kPrometheusContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

struct HttpRequest {
  std::string path;
  // Query parameters; the first value of a repeated key.
  std::map<std::string, std::string> params;
  // Request headers by lower-case name; the first value of a repeated one.
  std::map<std::string, std::string> headers;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Further response headers (e.g. WWW-Authenticate, Location,
  // Cache-Control), sent as given.
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpGetHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpEndpoint {
 public:
  // Worker threads serving requests (scrapes and dashboards are rare).
  static constexpr int kWorkerThreads = 2;

  HttpEndpoint();
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Serves HTTPS instead of plain HTTP, with the PEM certificate chain and
  // private key in these files (OpenSSL, through cpp-httplib's
  // SSLServer). InvalidArgument naming the files when they
  // cannot be loaded (unreadable, not PEM, key not the certificate's);
  // FailedPrecondition after HandleGet() or Start().
  absl::Status EnableTls(const std::string& cert_file,
                         const std::string& key_file);
  bool tls() const;

  // Serves `handler` for GET `path`. InvalidArgument unless `path` starts
  // with '/'; AlreadyExists for a path registered before;
  // FailedPrecondition after Start().
  absl::Status HandleGet(const std::string& path, HttpGetHandler handler);

  // Binds `address` ("HOST:PORT", "[V6]:PORT"; port 0: the kernel picks)
  // and serves on a background thread. InvalidArgument for a malformed
  // address; Unavailable when the address cannot be bound (in use, not
  // local, permission); FailedPrecondition when already started or stopped.
  absl::Status Start(const std::string& address);

  // The bound port (0 before Start()).
  int port() const;
  // "HOST:PORT" with the bound port (HOST as given, brackets kept).
  std::string address() const;

  void Stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::map<std::string, HttpGetHandler> handlers_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool tls_ ABSL_GUARDED_BY(mu_) = false;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::string host_ ABSL_GUARDED_BY(mu_);
};

// Splits "HOST:PORT" / "[V6]:PORT" into the host (brackets kept) and the
// port (0..65535). InvalidArgument otherwise.
absl::Status SplitHostPort(const std::string& address, std::string* host,
                           int* port);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_HTTP_ENDPOINT_H_
