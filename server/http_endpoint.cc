#include "server/http_endpoint.h"

#include <sys/socket.h>

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace autotm::server {
namespace {

// httplib matches routes as regular expressions; paths match literally.
std::string RegexEscape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

}  // namespace

absl::Status SplitHostPort(const std::string& address, std::string* host,
                           int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\" is not HOST:PORT"));
  }
  std::string h = address.substr(0, colon);
  if (h.find(':') != std::string::npos &&
      !(h.front() == '[' && h.back() == ']')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", address, "\": an IPv6 host needs brackets, [V6]:PORT"));
  }
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": the port must be 0..65535"));
  }
  *host = std::move(h);
  *port = p;
  return absl::OkStatus();
}

HttpEndpoint::HttpEndpoint() : server_(std::make_unique<httplib::Server>()) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::EnableTls(const std::string& cert_file,
                                     const std::string& key_file) {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_ || !handlers_.empty()) {
      return absl::FailedPreconditionError(
          "EnableTls must come before HandleGet() and Start()");
    }
  }
  auto server =
      std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serve HTTPS with certificate ", cert_file,
                     " and key ", key_file,
                     " (unreadable, not PEM, or the key is not the "
                     "certificate's)"));
  }
  server_ = std::move(server);
  absl::MutexLock lock(&mu_);
  tls_ = true;
  return absl::OkStatus();
}

bool HttpEndpoint::tls() const {
  absl::MutexLock lock(&mu_);
  return tls_;
}

absl::Status HttpEndpoint::HandleGet(const std::string& path,
                                     HttpGetHandler handler) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("path \"", path, "\" must start with '/'"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) {
      return absl::FailedPreconditionError(
          "HandleGet after Start(): register every path first");
    }
  }
  if (!handlers_.emplace(path, std::move(handler)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("a handler for \"", path, "\" is already registered"));
  }
  return absl::OkStatus();
}

absl::Status HttpEndpoint::Start(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status status = SplitHostPort(address, &host, &port);
      !status.ok()) {
    return status;
  }
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) {
      return absl::FailedPreconditionError(
          "the HTTP endpoint was already started");
    }
  }
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // process bind the same port without an error; only SO_REUSEADDR here
  // (a restart may rebind a port in TIME_WAIT).
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->new_task_queue = [] {
    return new httplib::ThreadPool(kWorkerThreads);
  };
  // A stalled client must not pin a worker for httplib's 5-minute default.
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);

  const std::string bind_host =
      host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  int bound = -1;
  if (port == 0) {
    bound = server_->bind_to_any_port(bind_host);
  } else if (server_->bind_to_port(bind_host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot bind ", address,
        " (port in use, not an address of this host, or not permitted)"));
  }
  // Routes once the port is ours (a failed Start() may be retried).
  for (const auto& [path, handler] : handlers_) {
    server_->Get(RegexEscape(path),
                 [handler = handler](const httplib::Request& request,
                                     httplib::Response& response) {
                   HttpRequest in;
                   in.path = request.path;
                   for (const auto& [key, value] : request.params) {
                     in.params.emplace(key, value);  // first value wins
                   }
                   for (const auto& [key, value] : request.headers) {
                     in.headers.emplace(absl::AsciiStrToLower(key), value);
                   }
                   HttpResponse out = handler(in);
                   response.status = out.status;
                   for (const auto& [key, value] : out.headers) {
                     response.set_header(key, value);
                   }
                   response.set_content(out.body, out.content_type.c_str());
                 });
  }

  httplib::Server* server = server_.get();
  thread_ = std::thread([server] { server->listen_after_bind(); });
  // httplib's stop() does nothing until the listening loop runs; waiting
  // here makes Stop() right after Start() safe.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server->is_running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  port_ = bound;
  host_ = host;
  if (!server->is_running()) {
    return absl::InternalError(
        absl::StrCat("the HTTP server on ", address, " did not start"));
  }
  return absl::OkStatus();
}

int HttpEndpoint::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

std::string HttpEndpoint::address() const {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(host_, ":", port_);
}

void HttpEndpoint::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  // Closes the listening socket; listen_after_bind() then shuts its
  // thread pool down (waiting for handlers in flight) and returns.
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace autotm::server
