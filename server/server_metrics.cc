#include "server/server_metrics.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "autotm/v1/plan.pb.h"
#include "google/protobuf/descriptor.h"

namespace autotm::server {
namespace {

// grpc::StatusCode as its canonical name ("OK", "NOT_FOUND", ...).
std::string CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  if (index >= 0 && index < static_cast<int>(std::size(kNames))) {
    return kNames[index];
  }
  return absl::StrCat("CODE_", index);
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(ServerMetrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}

  ~RpcMetricsInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const LabelValues labels = {method_, CodeName(code)};
    metrics_.rpcs.Increment(labels);
    metrics_.rpc_seconds.Observe(labels,
                                 absl::ToDoubleSeconds(absl::Now() - start_));
  }

  ServerMetrics& metrics_;
  const std::string method_;
  const absl::Time start_;
  bool recorded_ = false;
};

std::string StateLabel(v1::SolveJob::State state) {
  return absl::AsciiStrToLower(v1::SolveJob::State_Name(state));
}

}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry& registry)
    : rpcs(registry.AddCounter(
          "autotm_rpc_requests_total",
          "RPCs answered, by full method name and final status code",
          {"method", "code"})),
      rpc_seconds(registry.AddHistogram(
          "autotm_rpc_duration_seconds",
          "RPC latency from arrival to status, by method and code",
          {"method", "code"}, LatencyBoundsSeconds())),
      queued_jobs(registry.AddGauge("autotm_jobs_queued",
                                    "Solve jobs waiting to run, by priority",
                                    {"priority"})),
      jobs(registry.AddGauge("autotm_jobs", "Solve jobs in the store, by state",
                             {"state"})),
      running_jobs(
          registry.AddGauge("autotm_jobs_running", "Solve jobs running now")),
      solves(registry.AddCounter(
          "autotm_solves_total",
          "Budgets solved by a worker, by variant and termination",
          {"variant", "termination"})),
      solve_seconds(registry.AddHistogram(
          "autotm_solve_duration_seconds",
          "Wall time of one budget's solve (worker run), by variant",
          {"variant"}, LatencyBoundsSeconds())),
      plan_cache(registry.AddCounter(
          "autotm_plan_cache_lookups_total",
          "Plan-cache lookups: lookup=rpc (GetPlan, PlanGraph) or job (the "
          "runner, per budget); result=hit or miss",
          {"lookup", "result"})),
      store_bytes(registry.AddGauge("autotm_store_size_bytes",
                                    "Bytes of the store's database file")),
      store_graphs(
          registry.AddGauge("autotm_store_graphs", "Graphs in the store")),
      store_plans(registry.AddGauge("autotm_store_plans",
                                    "Plans in the store (cached and per job)")),
      profile_version(registry.AddGauge(
          "autotm_profile_version",
          "Version of each host class's profile (moves on every change)",
          {"host_class"})),
      collect_errors(registry.AddCounter(
          "autotm_metrics_collect_errors_total",
          "Scrapes whose gauges could not be refreshed, by source",
          {"source"})) {}

std::string VariantLabel(v1::Method method) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(v1::Method_Name(method), "METHOD_"));
}

void RecordSolve(ServerMetrics& metrics, const v1::SolveParameters& parameters,
                 v1::Termination termination, absl::Duration wall) {
  const std::string variant = VariantLabel(parameters.method());
  metrics.solves.Increment(
      {variant, std::string(absl::StripPrefix(v1::Termination_Name(termination),
                                              "TERMINATION_"))});
  metrics.solve_seconds.Observe({variant}, absl::ToDoubleSeconds(wall));
}

void AddStoreCollector(MetricsRegistry& registry, ServerMetrics& metrics,
                       Store& store) {
  registry.AddCollector([&metrics, &store] {
    absl::StatusOr<StoreStats> stats = store.Stats();
    if (!stats.ok()) {
      metrics.collect_errors.Increment({"store"});
    } else {
      // Every state and the priorities in use: a series that drops to 0
      // reads 0 instead of vanishing (states) or goes away (priorities).
      metrics.queued_jobs.Clear();
      for (v1::SolveJob::State state :
           {v1::SolveJob::QUEUED, v1::SolveJob::RUNNING,
            v1::SolveJob::SUCCEEDED, v1::SolveJob::FAILED,
            v1::SolveJob::CANCELLED}) {
        metrics.jobs.Set({StateLabel(state)}, 0);
      }
      uint64_t running = 0;
      for (const StoreStats::JobCount& count : stats->jobs) {
        metrics.jobs.Add({StateLabel(count.state)},
                         static_cast<double>(count.count));
        if (count.state == v1::SolveJob::QUEUED) {
          metrics.queued_jobs.Set({absl::StrCat(count.priority)},
                                  static_cast<double>(count.count));
        } else if (count.state == v1::SolveJob::RUNNING) {
          running += count.count;
        }
      }
      metrics.running_jobs.Set({}, static_cast<double>(running));
      metrics.store_bytes.Set({}, static_cast<double>(stats->size_bytes));
      metrics.store_graphs.Set({}, static_cast<double>(stats->graphs));
      metrics.store_plans.Set({}, static_cast<double>(stats->plans));
    }
    absl::StatusOr<std::vector<HostClassInfo>> hosts =
        store.profiles().ListHostClasses();
    if (!hosts.ok()) {
      metrics.collect_errors.Increment({"profiles"});
      return;
    }
    metrics.profile_version.Clear();
    for (const HostClassInfo& info : *hosts) {
      metrics.profile_version.Set({info.host_class.name()},
                                  static_cast<double>(info.version));
    }
  });
}

void RecordCacheLookup(ServerMetrics& metrics, const std::string& lookup,
                       bool hit) {
  metrics.plan_cache.Increment({lookup, hit ? "hit" : "miss"});
}

RpcMetricsInterceptorFactory::RpcMetricsInterceptorFactory(
    ServerMetrics& metrics, std::set<std::string> known_methods)
    : metrics_(metrics), known_methods_(std::move(known_methods)) {}

grpc::experimental::Interceptor*
RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const char* method = info->method();
  std::string label = method != nullptr && known_methods_.count(method) > 0
                          ? std::string(method)
                          : "other";
  return new RpcMetricsInterceptor(metrics_, std::move(label));
}

std::set<std::string> KnownMethods(const std::set<std::string>& services) {
  std::set<std::string> methods = {"/grpc.health.v1.Health/Check",
                                   "/grpc.health.v1.Health/Watch"};
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service =
        pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.insert(absl::StrCat("/", service->full_name(), "/",
                                  service->method(i)->name()));
    }
  }
  return methods;
}

}  // namespace autotm::server
