// autotm-server: the placement service's composition root. Flags (and an
// optional config file) are parsed here and only here, copied into
// ServerOptions; the store, the loggers and the services are created here
// and handed to each other through constructors.
//
//   autotm-server --listen 127.0.0.1:50051 --db autotm.db
//   autotm-server --listen 0.0.0.0:50051 --db postgresql://autotm@db/autotm ...
//
// --db is a SQLite file (the embedded default; one server per file) or a
// PostgreSQL URI: then any number of servers may share the database as
// replicas (docs/DEPLOY.md), each claiming jobs under a lease of
// --lease-seconds, identified by --replica-id (default HOSTNAME:PID).
//
// Config file (--config FILE): one `key = value` per line, keys are the
// long flag names without dashes (listen, db, replica-id, lease-seconds,
// db-connections, plan-cache-bytes, workers, max-queued, max-time-limit,
// max-budgets-per-job, max-list-bytes, max-message-bytes, max-watch-seconds,
// retain-*, log-level, metrics-listen, ...); '#' or ';' starts a comment line;
// values may be quoted. Flags given on the command line override the file.
// Example:
//
//   # /etc/autotm/server.conf
//   listen = "0.0.0.0:50051"
//   db = "/var/lib/autotm/autotm.db"
//   workers = 2
//   log-level = "debug"
//
// Security (docs/SECURITY.md): --tls-cert/--tls-key serve TLS,
// --tls-client-ca additionally requires client certificates it signed
// (mutual TLS), --tokens FILE names the identities file (server/auth.h)
// that gives every call a principal and roles; SIGHUP re-reads it. Without
// --tokens every caller may do everything, so a --listen address that is
// not loopback refuses to start without TLS and --tokens unless --insecure
// is given (then every start-up logs a warning).
//
// Metrics (docs/OPERATIONS.md): --metrics-listen HOST:PORT serves GET
// /metrics in the Prometheus text format over plain HTTP, on its own port
// (off unless given); --metrics-tls serves the port over HTTPS with the
// server's --tls-cert/--tls-key. The same port serves the read-only web
// dashboard at /dashboard (server/dashboard.h), which asks for a token when
// --tokens is given, on a loopback address or, elsewhere, only with
// --metrics-tls and --tokens (tokens must not travel in clear text, and
// nobody may look without one). /metrics has no authentication, so an
// address other hosts can reach is refused unless --metrics-allow-remote
// is given. Start-up then prints
//   autotm-server metrics on HOST:PORT
// on stdout before the "listening on" line.
//
//   autotm-server hash-token PRINCIPAL ROLES [HOST_CLASSES] < token-file
//
// prints the identities-file line for the token read from stdin.
//
// Start-up prints exactly one line on stdout once the port is bound,
//   autotm-server listening on HOST:PORT
// with the port the kernel chose when --listen asked for port 0 (tests read
// it). Logs go to stderr through spdlog. SIGTERM or SIGINT shut the server
// down gracefully: new calls are refused, calls in flight get
// --shutdown-grace to finish, then the process exits 0.
//
// Storage failures (disk full, I/O errors): the failing call gets
// UNAVAILABLE with a message free of SQL; the log gets the backend's detail
// (SQLite's result code or PostgreSQL's SQLSTATE and message, with the
// query); gRPC health answers NOT_SERVING until a probe write succeeds (every
// --store-probe-seconds); a job whose final state cannot be written is
// served from memory and written once the store recovers. SIGXFSZ is
// ignored, so a file size limit (RLIMIT_FSIZE) fails the write (EFBIG)
// instead of killing the server.
//
// Retention (docs/OPERATIONS.md): every --prune-interval-minutes the server
// deletes finished jobs older than --retain-jobs-days or beyond the newest
// --retain-max-jobs, graphs and plans no stored job refers to older than
// --retain-unreferenced-days, and the oldest of those while the stored
// graphs, plans and jobs exceed --retain-max-bytes; `autotm admin prune`
// runs it on demand (ServerService.PruneStore, operator).
//
// Exit codes: 0 after a graceful shutdown (or --help); 1 bad flags or
// config file, database that cannot be opened, address that cannot be
// bound, unreadable TLS or identities file, an unsafe listen address.
//
// CLI11 reports parse errors by throwing; they are caught at the parse call
// below and nowhere else.

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth.h"
#include "server/dashboard.h"
#include "server/http_endpoint.h"
#include "server/job_runner.h"
#include "server/metrics.h"
#include "server/placement_service.h"
#include "server/profile_service.h"
#include "server/request_limits.h"
#include "server/server_info_service.h"
#include "server/server_metrics.h"
#include "server/store/plan_cache.h"
#include "server/store/postgres_store.h"
#include "server/store/sqlite_store.h"
#include "server/store/store.h"
#include "server/store_monitor.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

#ifndef AUTOTM_VERSION
#define AUTOTM_VERSION "unknown"
#endif

namespace autotm::server {
namespace {

struct ServerOptions {
  // host:port to listen on; port 0 lets the kernel choose.
  std::string listen = "127.0.0.1:50051";
  // The SQLite database file (created if missing), or a PostgreSQL URI
  // (postgresql://...: replicas share it).
  std::string db = "autotm.db";
  // PostgreSQL only: this replica's id (empty: HOSTNAME:PID), the lease of
  // its running jobs, and its database connections.
  std::string replica_id;
  double lease_s = 10;
  int db_connections = 8;
  // Bytes of serialized plans kept in memory (0: none).
  size_t plan_cache_bytes = size_t{256} << 20;
  // Solve worker slots (the placement service's job runner).
  int workers = 1;
  // CreateSolveJob fails with RESOURCE_EXHAUSTED when this many jobs are
  // queued; 0 = unlimited.
  int max_queued = 1000;
  // Caps on requests (server/request_limits.h).
  RequestLimits limits;
  // trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
  // How long calls in flight may run after SIGTERM before they are
  // cancelled, in seconds.
  double shutdown_grace_s = 5;
  // Queued jobs per principal (0: no limit).
  int max_queued_per_principal = 100;
  // TLS (all empty: plaintext) and the identities file (empty: open mode).
  ServerTlsOptions tls;
  std::string tokens;
  // Allow open mode or plaintext on an address other hosts can reach.
  bool insecure = false;
  // HOST:PORT of the /metrics HTTP endpoint; empty: off.
  std::string metrics_listen;
  // Allow metrics_listen on an address other hosts can reach.
  bool metrics_allow_remote = false;
  // Serve the metrics_listen port over HTTPS with the tls cert and key.
  bool metrics_tls = false;
  // While the store cannot write, probe it this often (seconds).
  double store_probe_seconds = 1;
  // Retention (0 turns a limit off).
  double retain_jobs_days = 30;
  int64_t retain_max_jobs = 10000;
  double retain_unreferenced_days = 30;
  uint64_t retain_max_bytes = uint64_t{4} << 30;
  double prune_interval_minutes = 60;
};

RetentionLimits RetentionOf(const ServerOptions& options) {
  RetentionLimits limits;
  limits.job_age = absl::Seconds(options.retain_jobs_days * 86400);
  limits.max_jobs = options.retain_max_jobs;
  limits.unreferenced_age =
      absl::Seconds(options.retain_unreferenced_days * 86400);
  limits.max_bytes = options.retain_max_bytes;
  return limits;
}

// Whether the dashboard is served on the --metrics-listen port: on
// loopback, or over HTTPS with --tokens (a token never travels in clear
// text, and other hosts see nothing without one).
bool DashboardServed(const ServerOptions& options) {
  return IsLoopbackAddress(options.metrics_listen) ||
         (options.metrics_tls && !options.tokens.empty());
}

// Refuses configurations that let anyone on the network do anything, and
// describes the security mode for the log.
absl::StatusOr<std::string> CheckSecurity(const ServerOptions& options) {
  const bool loopback = IsLoopbackAddress(options.listen);
  const bool tls = options.tls.enabled();
  const bool tokens = !options.tokens.empty();
  if (tokens && !tls) {
    return absl::InvalidArgumentError(
        "--tokens needs TLS (--tls-cert and --tls-key): bearer tokens must "
        "not travel in clear text");
  }
  if (!loopback && !(tls && tokens) && !options.insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.listen, " is reachable from other hosts, but ",
        !tls ? "TLS is off (--tls-cert, --tls-key)"
             : "there is no identities file (--tokens)",
        ": anyone who reaches the port could do anything. Give TLS and "
        "--tokens (docs/SECURITY.md), or --insecure to accept that"));
  }
  if (options.metrics_tls && (options.metrics_listen.empty() || !tls)) {
    return absl::InvalidArgumentError(
        "--metrics-tls needs --metrics-listen and the server's certificate "
        "(--tls-cert and --tls-key)");
  }
  // The metrics endpoint has no authentication (and is plain HTTP
  // without --metrics-tls): what it
  // tells (host class names, load, traffic by method) stays on this host
  // unless the operator says otherwise.
  if (!options.metrics_listen.empty() &&
      !IsLoopbackAddress(options.metrics_listen) &&
      !options.metrics_allow_remote) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-listen ", options.metrics_listen,
        " is reachable from other hosts, and the metrics endpoint has ",
        options.metrics_tls ? "no authentication" : "no TLS or authentication",
        ". Listen on loopback (and scrape through a proxy "
        "or an SSH tunnel), or give --metrics-allow-remote to accept that"));
  }
  std::string mode = absl::StrCat(
      tls ? (options.tls.client_ca_file.empty() ? "TLS" : "mutual TLS")
          : "plaintext",
      ", ",
      tokens ? absl::StrCat("identities from ", options.tokens)
             : "no authentication (every caller has every role)");
  return mode;
}

// The host part of "HOST:PORT" / "[v6]:PORT" for the start-up line.
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// autotm-solve-worker next to this binary (the build and install layout).
std::string WorkerPath() {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = ".";
  if (n > 0) {
    std::string path(self, static_cast<size_t>(n));
    dir = path.substr(0, path.rfind('/'));
  }
  return dir + "/autotm-solve-worker";
}

std::shared_ptr<spdlog::logger> MakeLogger(const ServerOptions& options) {
  auto logger = spdlog::stderr_color_mt("autotm-server");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(options.log_level));
  logger->flush_on(spdlog::level::info);
  // Libraries without a logger of their own (the PostgreSQL store's
  // database errors) log through the default one: this one, on stderr,
  // never on stdout (which carries the "listening on" line).
  spdlog::set_default_logger(logger);
  return logger;
}

// CheckSecurity, then logs the security mode. Returns whether the server
// is reachable from other hosts without TLS or authentication (which
// CheckSecurity lets through only with --insecure, and which is logged as a
// warning).
absl::StatusOr<bool> CheckAndLogSecurity(const ServerOptions& options,
                                         spdlog::logger& logger) {
  absl::StatusOr<std::string> mode = CheckSecurity(options);
  if (!mode.ok()) return mode.status();
  const bool insecure = !IsLoopbackAddress(options.listen) &&
                        !(options.tls.enabled() && !options.tokens.empty());
  if (insecure) {
    logger.warn(
        "INSECURE (--insecure): {} on {}, reachable from other hosts; anyone "
        "who reaches the port may be able to read and change everything",
        *mode, options.listen);
  } else {
    logger.info("security: {}", *mode);
  }
  return insecure;
}

// The store the services use: `store` behind an in-memory plan cache
// (owned by *cached) when --plan-cache-bytes > 0, else `store` itself.
// Plans never change once stored, so the cache is coherent across replicas.
Store* ServedStore(const ServerOptions& options, Store& store,
                   std::unique_ptr<Store>* cached) {
  if (options.plan_cache_bytes == 0) return &store;
  *cached = WithPlanCache(store, options.plan_cache_bytes);
  return cached->get();
}

// The identities of --tokens (an open authorizer without it), installed as
// the credentials' metadata processor. Errors name the file and the line.
absl::StatusOr<std::unique_ptr<Authorizer>> LoadAuthorizer(
    const ServerOptions& options, grpc::ServerCredentials& credentials,
    spdlog::logger& logger) {
  if (options.tokens.empty()) return std::make_unique<Authorizer>();
  absl::StatusOr<std::unique_ptr<Authorizer>> authorizer =
      Authorizer::FromFile(options.tokens);
  if (!authorizer.ok()) return authorizer.status();
  logger.info("identities: {} from {} (SIGHUP re-reads it)",
              (*authorizer)->identities(), options.tokens);
  credentials.SetAuthMetadataProcessor(
      std::make_shared<AuthProcessor>(**authorizer));
  return authorizer;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const ServerOptions& options) {
  if (IsPostgresUri(options.db)) {
    PostgresStoreOptions store_options;
    store_options.max_connections = options.db_connections;
    return OpenPostgresStore(options.db, store_options);
  }
  return OpenSqliteStore(options.db);
}

// Serves /metrics (and the dashboard where DashboardServed) on
// --metrics-listen; nothing without it. The errors' messages say which part
// failed (they are logged as they are).
absl::Status ServeMetrics(const ServerOptions& options,
                          MetricsRegistry& registry, Dashboard& dashboard,
                          HttpEndpoint& http, spdlog::logger& logger) {
  if (options.metrics_listen.empty()) return absl::OkStatus();
  if (options.metrics_tls) {
    if (absl::Status status =
            http.EnableTls(options.tls.cert_file, options.tls.key_file);
        !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("--metrics-tls: ", status.message()));
    }
  }
  if (absl::Status status = http.HandleGet(
          "/metrics",
          [&registry](const HttpRequest&) {
            return HttpResponse{.status = 200,
                                .content_type = kPrometheusContentType,
                                .body = registry.Render(),
                                .headers = {}};
          });
      !status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("metrics: ", status.ToString()));
  }
  // The dashboard shares the port. A bearer token must not cross the
  // network in clear text, and in open mode the dashboard would show
  // every job to anyone: off the loopback interface it is served only
  // over HTTPS with --tokens (else reach it through an SSH tunnel).
  if (DashboardServed(options)) {
    if (absl::Status status = dashboard.Register(http); !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("dashboard: ", status.ToString()));
    }
  } else {
    logger.warn(
        "dashboard off: --metrics-listen {} is not loopback, and the "
        "dashboard is served there only with --metrics-tls (HTTPS) and "
        "--tokens; only /metrics is served",
        options.metrics_listen);
  }
  if (absl::Status status = http.Start(options.metrics_listen); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("cannot serve metrics: ",
                                                    status.message()));
  }
  std::printf("autotm-server metrics on %s\n", http.address().c_str());
  std::fflush(stdout);
  const char* scheme = http.tls() ? "https" : "http";
  logger.info("metrics on {}://{}/metrics", scheme, http.address());
  if (DashboardServed(options)) {
    logger.info("dashboard on {}://{}/dashboard", scheme, http.address());
  }
  return absl::OkStatus();
}

JobRunnerOptions MakeRunnerOptions(const ServerOptions& options,
                                   ServerMetrics& metrics) {
  JobRunnerOptions runner_options;
  runner_options.worker_path = WorkerPath();
  runner_options.slots = options.workers;
  runner_options.max_queued = options.max_queued;
  runner_options.max_queued_per_owner = options.max_queued_per_principal;
  runner_options.on_solve = [&metrics](const v1::SolveParameters& parameters,
                                       v1::Termination termination,
                                       absl::Duration wall) {
    RecordSolve(metrics, parameters, termination, wall);
  };
  runner_options.on_cache_lookup = [&metrics](bool hit) {
    RecordCacheLookup(metrics, "job", hit);
  };
  if (IsPostgresUri(options.db)) {
    runner_options.replica_id = options.replica_id;
    if (runner_options.replica_id.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof(host) - 1);
      runner_options.replica_id = absl::StrCat(host, ":", ::getpid());
    }
    runner_options.lease = absl::Seconds(options.lease_s);
  }
  return runner_options;
}

v1::ServerInfo MakeServerInfo(const ServerOptions& options,
                              const Authorizer& authorizer, bool insecure) {
  v1::ServerInfo info;
  info.set_version(AUTOTM_VERSION);
  info.set_tls(options.tls.enabled());
  info.set_mutual_tls(!options.tls.client_ca_file.empty());
  info.set_authentication(!authorizer.open());
  info.set_insecure(insecure);
  info.set_max_queued(options.max_queued);
  info.set_max_queued_per_principal(options.max_queued_per_principal);
  info.set_max_budgets_per_job(options.limits.max_budgets_per_job);
  info.set_max_message_bytes(options.limits.max_message_bytes);
  return info;
}

// Builds and starts the gRPC server with the three services, health,
// reflection and the RPC metrics; *port is the port bound (0 on failure,
// with nullptr returned).
std::unique_ptr<grpc::Server> StartGrpcServer(
    const ServerOptions& options,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    std::initializer_list<grpc::Service*> services, ServerMetrics& metrics,
    int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(
      static_cast<int>(options.limits.max_message_bytes));
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<RpcMetricsInterceptorFactory>(
      metrics, KnownMethods({v1::ProfileService::service_full_name(),
                             v1::PlacementService::service_full_name(),
                             v1::ServerService::service_full_name(),
                             "grpc.reflection.v1alpha.ServerReflection"})));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) return nullptr;
  return server;
}

// Sets the overall and per-service gRPC health to `serving`.
void SetHealth(grpc::HealthCheckServiceInterface& health, bool serving) {
  for (const char* service : {"", v1::ProfileService::service_full_name(),
                              v1::PlacementService::service_full_name(),
                              v1::ServerService::service_full_name()}) {
    health.SetServingStatus(service, serving);
  }
}

// The start-up line on stdout that scripts and tests wait for
// ("autotm-server listening on HOST:PORT"), and the log's.
void AnnounceListening(const ServerOptions& options, int port,
                       spdlog::logger& logger) {
  const std::string address = absl::StrCat(HostOf(options.listen), ":", port);
  std::printf("autotm-server listening on %s\n", address.c_str());
  std::fflush(stdout);
  logger.info("listening on {}", address);
}

// Stops taking calls and waits for the running ones, cancelling those
// still running after `grace_s` seconds.
void DrainGrpc(grpc::Server& server, double grace_s) {
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000));
  server.Shutdown(deadline);
  server.Wait();
}

// Background retention: Prune() every `interval` on a thread of its own
// until Stop().
class BackgroundPruner {
 public:
  BackgroundPruner(Store& store, RetentionLimits retention,
                   spdlog::logger& logger)
      : store_(store), retention_(retention), logger_(logger) {}
  BackgroundPruner(const BackgroundPruner&) = delete;
  BackgroundPruner& operator=(const BackgroundPruner&) = delete;
  ~BackgroundPruner() { Stop(); }

  // Starts the thread, pruning every `interval_minutes`; nothing when it is
  // not positive. Once only.
  void Start(double interval_minutes) {
    if (!(interval_minutes > 0)) return;
    const absl::Duration interval =
        absl::Milliseconds(static_cast<int64_t>(interval_minutes * 60000));
    thread_ = std::thread([this, interval] { Loop(interval); });
  }
  // Wakes and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop(absl::Duration interval) ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval)) return;
      }
      PruneOnce();
    }
  }

  // One pass. Both stores prune (PostgreSQL since issue 19); a failed pass
  // is logged and the next one tries again.
  void PruneOnce() {
    absl::StatusOr<PruneResult> result = store_.Prune(retention_);
    if (!result.ok()) {
      logger_.warn("retention: {}", result.status().ToString());
    } else if (result->jobs_deleted + result->graphs_deleted +
                   result->plans_deleted >
               0) {
      logger_.info(
          "retention: deleted {} job(s), {} graph(s), {} plan(s); stored "
          "{} -> {} bytes",
          result->jobs_deleted, result->graphs_deleted, result->plans_deleted,
          result->content_bytes_before, result->content_bytes_after);
    }
  }

  Store& store_;
  const RetentionLimits retention_;
  spdlog::logger& logger_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Waits for SIGTERM or SIGINT (returned); every SIGHUP meanwhile re-reads
// the identities file (a bad file keeps the old one). Every thread (gRPC's
// included) inherited the blocked mask from main, so the signals are
// delivered only here.
int WaitForStopSignal(const sigset_t& stop_signals, Authorizer& authorizer,
                      spdlog::logger& logger) {
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) == 0 &&
         signal_number == SIGHUP) {
    if (authorizer.open()) {
      logger.info("SIGHUP: no identities file to re-read");
    } else if (absl::Status status = authorizer.Reload(); !status.ok()) {
      logger.error("SIGHUP: keeping the old identities: {}",
                   std::string(status.message()));
    } else {
      logger.info("SIGHUP: identities: {} from {}", authorizer.identities(),
                  authorizer.tokens_path());
    }
  }
  return signal_number;
}

int Run(const ServerOptions& options, const sigset_t& stop_signals) {
  std::shared_ptr<spdlog::logger> logger = MakeLogger(options);
  const bool shared_db = IsPostgresUri(options.db);
  const std::string db_name =
      shared_db ? RedactUri(options.db) : options.db;  // no password in logs
  logger->info("autotm-server {} starting: db={} listen={} workers={}",
               AUTOTM_VERSION, db_name, options.listen, options.workers);

  absl::StatusOr<bool> insecure_or = CheckAndLogSecurity(options, *logger);
  if (!insecure_or.ok()) {
    logger->critical("refusing to start: {}",
                     std::string(insecure_or.status().message()));
    return 1;
  }
  const bool insecure = *insecure_or;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) {
    logger->critical("TLS: {}", std::string(credentials.status().message()));
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Authorizer>> authorizer_or =
      LoadAuthorizer(options, **credentials, *logger);
  if (!authorizer_or.ok()) {
    logger->critical("{}", std::string(authorizer_or.status().message()));
    return 1;
  }
  Authorizer& authorizer = **authorizer_or;

  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(options);
  if (!store.ok()) {
    logger->critical("cannot open database {}: {}", db_name,
                     store.status().ToString());
    return 1;
  }
  std::unique_ptr<Store> cached_store;
  Store* served_store = ServedStore(options, **store, &cached_store);

  StoreMonitor monitor(**store, logger,
                       absl::Seconds(options.store_probe_seconds));
  (*store)->SetObserver(&monitor);

  ProfileServiceImpl profile_service(
      served_store->profiles(), served_store->graphs(), authorizer, logger);

  // Metrics are always recorded (cheap); --metrics-listen only serves them.
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  AddStoreCollector(registry, metrics, **store);
  // Before `http`, which stops (waiting for handlers) when destroyed.
  Dashboard dashboard(**store, authorizer);
  HttpEndpoint http;
  if (absl::Status status =
          ServeMetrics(options, registry, dashboard, http, *logger);
      !status.ok()) {
    logger->critical("{}", std::string(status.message()));
    return 1;
  }

  // --- Services are constructed here, before the server is built. ---
  JobRunner runner(*served_store, MakeRunnerOptions(options, metrics), logger);
  if (absl::Status status = runner.Start(); !status.ok()) {
    logger->critical("cannot start the job runner: {}", status.ToString());
    return 1;
  }
  PlacementServiceImpl placement_service(
      *served_store, runner, authorizer, logger, options.limits,
      [&metrics](bool hit) { RecordCacheLookup(metrics, "rpc", hit); });
  const RetentionLimits retention = RetentionOf(options);
  ServerServiceImpl server_service(
      authorizer, MakeServerInfo(options, authorizer, insecure), **store,
      retention, logger, [&monitor] { return monitor.writable(); });

  int port = 0;
  std::unique_ptr<grpc::Server> server = StartGrpcServer(
      options, *credentials,
      {&profile_service, &placement_service, &server_service}, metrics, &port);
  if (server == nullptr) {
    logger->critical("cannot listen on {}", options.listen);
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  SetHealth(*health, true);
  // NOT_SERVING while the store cannot write (a load balancer or an
  // operator's probe sees it); the job states it could not store are
  // written as soon as it can.
  monitor.Start([&](bool writable) {
    SetHealth(*health, writable);
    if (writable) runner.FlushUnsaved();
  });

  BackgroundPruner pruner(**store, retention, *logger);
  pruner.Start(options.prune_interval_minutes);

  AnnounceListening(options, port, *logger);

  const int signal_number =
      WaitForStopSignal(stop_signals, authorizer, *logger);
  logger->info("received {}, shutting down (grace {} s)",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
               options.shutdown_grace_s);
  health->Shutdown();  // health checks answer NOT_SERVING from now on
  if (shared_db) {
    // Replicas hand their running jobs back at once, for the others to
    // claim now rather than after this server's calls drain. Calls waiting
    // here for such a job still see it finish (they read the database).
    runner.Stop();
  }
  DrainGrpc(*server, options.shutdown_grace_s);
  http.Stop();
  pruner.Stop();
  monitor.Stop();
  // Running jobs go back to QUEUED: for the next start, or at once for the
  // other replicas.
  runner.Stop();
  logger->info("stopped");
  logger->flush();
  return 0;
}

// The stop signals, blocked before any thread starts so that every thread
// inherits the mask and Run() can sigwait() for them; SIGPIPE and SIGXFSZ
// ignored. Returns the blocked set.
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // A file size limit fails the write with EFBIG (a storage failure the
  // server reports) instead of killing the process.
  signal(SIGXFSZ, SIG_IGN);
  return stop_signals;
}

// --listen and the database: where the server serves and what it stores
// in (the replica flags are PostgreSQL's).
void AddServingAndStoreFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--listen", options.listen,
                 "Address to serve on, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--db", options.db,
                 "SQLite database file (created if missing), or a "
                 "PostgreSQL URI postgresql://... that several servers "
                 "(replicas) may share")
      ->capture_default_str();
  app.add_option("--replica-id", options.replica_id,
                 "PostgreSQL: this replica's id, unique among the replicas "
                 "(default HOSTNAME:PID)");
  app.add_option("--lease-seconds", options.lease_s,
                 "PostgreSQL: seconds a replica's running job stays leased "
                 "without renewal (renewed every quarter): how soon another "
                 "replica re-runs the jobs of one that died")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--plan-cache-bytes", options.plan_cache_bytes,
                 "Bytes of plans kept in memory in front of the database, "
                 "least recently used out first (0: none)")
      ->capture_default_str();
  app.add_option("--db-connections", options.db_connections,
                 "PostgreSQL: connections this server keeps at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
}

// Worker slots and the limits on what requests may ask for.
void AddQueueAndRequestLimitFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--workers", options.workers, "Solve worker slots")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-queued", options.max_queued,
                 "Most queued solve jobs before RESOURCE_EXHAUSTED (0: no "
                 "limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-time-limit", options.limits.max_time_limit_seconds,
                 "Largest time limit per budget a request may ask for, "
                 "seconds (more: RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-budgets-per-job", options.limits.max_budgets_per_job,
                 "Most budgets in one solve job (more: RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-list-bytes", options.limits.max_list_response_bytes,
                 "ListSolveJobs pages are cut to this many bytes of jobs")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{3} << 20));
  app.add_option("--max-message-bytes", options.limits.max_message_bytes,
                 "Largest gRPC message received or sent; larger graphs "
                 "arrive by UploadGraph, larger plans leave by StreamPlan")
      ->capture_default_str()
      ->check(CLI::Range(kMinMessageBytesLimit, kMaxMessageBytesLimit));
  app.add_option("--max-watch-seconds", options.limits.max_watch_seconds,
                 "A WatchSolveJob stream ends (OK) this long after it "
                 "began; clients watch again while the job runs")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 7 * 86400.0));
}

// Database upkeep: the write probe after a storage failure, and retention.
void AddStoreUpkeepFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--store-probe-seconds", options.store_probe_seconds,
                 "While the database cannot be written, try a write this "
                 "often (health is NOT_SERVING until one succeeds)")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  app.add_option("--retain-jobs-days", options.retain_jobs_days,
                 "Delete finished jobs last updated longer ago (0: keep)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--retain-max-jobs", options.retain_max_jobs,
                 "Keep at most this many finished jobs, the newest (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retain-unreferenced-days", options.retain_unreferenced_days,
                 "Delete graphs and plans no stored job refers to, stored "
                 "(graphs: last submitted) longer ago (0: keep)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--retain-max-bytes", options.retain_max_bytes,
                 "Over this many bytes of stored graphs, plans and jobs, "
                 "delete the oldest finished jobs and unreferenced graphs "
                 "and plans (0: no limit)")
      ->capture_default_str();
  app.add_option("--prune-interval-minutes", options.prune_interval_minutes,
                 "Apply the --retain-* limits this often (0: only on "
                 "`autotm admin prune`)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
}

// Logging and shutdown, then the per-principal queue limit (registered
// here to keep the --help order).
void AddProcessFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--log-level", options.log_level, "Log level")
      ->capture_default_str()
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--shutdown-grace", options.shutdown_grace_s,
                 "Seconds calls in flight may run after SIGTERM")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-queued-per-principal", options.max_queued_per_principal,
                 "Most queued solve jobs of one principal before "
                 "RESOURCE_EXHAUSTED (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// TLS, identities and the plaintext override (docs/SECURITY.md).
void AddSecurityFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--tls-cert", options.tls.cert_file,
                 "Serve TLS with this PEM certificate chain (with --tls-key)")
      ->type_name("FILE");
  app.add_option("--tls-key", options.tls.key_file,
                 "The PEM private key of --tls-cert")
      ->type_name("FILE");
  app.add_option("--tls-client-ca", options.tls.client_ca_file,
                 "Require client certificates signed by this PEM CA "
                 "(mutual TLS; the certificate's CN is the principal)")
      ->type_name("FILE");
  app.add_option("--tokens", options.tokens,
                 "Identities file: token hashes and certificate CNs with "
                 "their principal and roles (docs/SECURITY.md); needs TLS; "
                 "SIGHUP re-reads it")
      ->type_name("FILE");
  app.add_flag("--insecure", options.insecure,
               "Allow plaintext or no authentication on an address other "
               "hosts can reach (logged loudly)");
}

// The /metrics and dashboard endpoint.
void AddMetricsFlags(CLI::App& app, ServerOptions& options) {
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Serve GET /metrics (Prometheus text format, plain HTTP) on "
                 "HOST:PORT (port 0: any free port), and the read-only web "
                 "dashboard at /dashboard when the address is loopback or "
                 "--metrics-tls and --tokens are given (same roles as the "
                 "API; --tokens: sign in with a token); off unless given")
      ->type_name("HOST:PORT");
  app.add_flag("--metrics-allow-remote", options.metrics_allow_remote,
               "Allow --metrics-listen on an address other hosts can reach "
               "(/metrics has no authentication)");
  app.add_flag("--metrics-tls", options.metrics_tls,
               "Serve the --metrics-listen port over HTTPS with --tls-cert "
               "and --tls-key; with --tokens the dashboard is then served "
               "on a non-loopback address too");
}

// `autotm-server hash-token PRINCIPAL ROLES [HOST_CLASSES]`.
struct HashTokenArgs {
  std::string principal;
  std::string roles;
  std::string host_classes;
};

// Registers the hash-token subcommand, filling `args` when parsed.
CLI::App* AddHashTokenCommand(CLI::App& app, HashTokenArgs& args) {
  CLI::App* hash = app.add_subcommand(
      "hash-token",
      "Read a token from stdin and print its identities-file line");
  hash->add_option("principal", args.principal, "Principal name")->required();
  hash->add_option("roles", args.roles,
                   "Comma-separated roles: reader, planner, agent, operator")
      ->required();
  hash->add_option("host_classes", args.host_classes,
                   "For the agent role: comma-separated host classes, or *");
  return hash;
}

// Reads a token from stdin and prints its identities-file line, checked
// to parse as the server parses it. Returns the exit code.
int RunHashToken(const HashTokenArgs& args) {
  std::string token;
  std::getline(std::cin, token);
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    std::fprintf(stderr, "autotm-server hash-token: no token on stdin\n");
    return 1;
  }
  const std::string line =
      absl::StrCat(HashToken(token), " ", args.principal, " ", args.roles,
                   args.host_classes.empty() ? "" : " ", args.host_classes);
  // The line must parse as the server will parse it.
  if (absl::StatusOr<IdentityTable> check =
          IdentityTable::Parse(line, "hash-token");
      !check.ok()) {
    std::fprintf(stderr, "autotm-server hash-token: %s\n",
                 std::string(check.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  const sigset_t stop_signals = BlockStopSignals();

  ServerOptions options;
  CLI::App app(
      "autotm-server: the autotm placement service (profiles, plans, "
      "solve jobs) over gRPC",
      "autotm-server");
  app.set_version_flag("--version",
                       absl::StrCat("autotm-server ", AUTOTM_VERSION));
  // A misspelled key in the config file is an error, not silently ignored.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_config("--config", "",
                 "Read flags from FILE: `key = value` lines with the long "
                 "flag names as keys; flags given here override the file")
      ->type_name("FILE");
  AddServingAndStoreFlags(app, options);
  AddQueueAndRequestLimitFlags(app, options);
  AddStoreUpkeepFlags(app, options);
  AddProcessFlags(app, options);
  AddSecurityFlags(app, options);
  AddMetricsFlags(app, options);
  HashTokenArgs hash_args;
  CLI::App* hash = AddHashTokenCommand(app, hash_args);
  app.footer(
      "Prints 'autotm-server listening on HOST:PORT' on stdout once ready; "
      "logs go to stderr. SIGTERM/SIGINT: graceful shutdown, exit 0. "
      "SIGHUP: re-read --tokens.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (hash->parsed()) return RunHashToken(hash_args);
  // A daemon reads nothing from stdin; do not hold the caller's terminal or
  // pipe open.
  if (std::freopen("/dev/null", "r", stdin) == nullptr) {
    std::perror("autotm-server: cannot reopen stdin on /dev/null");
  }
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles (a
  // global graph update per Lock): a third of a plan-cache hit's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return Run(options, stop_signals);
}

}  // namespace autotm::server

int main(int argc, char** argv) { return autotm::server::Main(argc, argv); }
