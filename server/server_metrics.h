// autotm-server's metric families and the three places they are fed from
// (docs/OPERATIONS.md lists every family):
//   - RpcMetricsInterceptorFactory: every RPC that reaches a service, by
//     method and status code, with its latency (one gRPC interceptor);
//   - RecordCacheLookup, the on_cache_lookup hooks of PlacementServiceImpl
//     (GetPlan, PlanGraph) and of the job runner (its per-budget check):
//     plan-cache lookups by who looked and hit/miss;
//   - RecordSolve, JobRunnerOptions::on_solve: solve durations and
//     terminations by variant;
// and, at every scrape, a collector reading queue depth by priority, jobs by
// state, store size and profile versions from the Store (AddStoreCollector).
// The composition root owns the registry and the ServerMetrics and wires
// the hooks.
#ifndef AUTOTM_SERVER_SERVER_METRICS_H_
#define AUTOTM_SERVER_SERVER_METRICS_H_

#include <memory>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "autotm/v1/job.pb.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/metrics.h"
#include "server/store/store.h"

namespace autotm::server {

struct ServerMetrics {
  // Registers every family in `registry`, which must outlive this.
  explicit ServerMetrics(MetricsRegistry& registry);

  CounterFamily& rpcs;             // autotm_rpc_requests_total{method,code}
  HistogramFamily& rpc_seconds;    // autotm_rpc_duration_seconds{method,code}
  GaugeFamily& queued_jobs;        // autotm_jobs_queued{priority}
  GaugeFamily& jobs;               // autotm_jobs{state}
  GaugeFamily& running_jobs;       // autotm_jobs_running
  CounterFamily& solves;           // autotm_solves_total{variant,termination}
  HistogramFamily& solve_seconds;  // autotm_solve_duration_seconds{variant}
  CounterFamily& plan_cache;  // autotm_plan_cache_lookups_total{lookup,result}
  GaugeFamily& store_bytes;   // autotm_store_size_bytes
  GaugeFamily& store_graphs;  // autotm_store_graphs
  GaugeFamily& store_plans;   // autotm_store_plans
  GaugeFamily& profile_version;   // autotm_profile_version{host_class}
  CounterFamily& collect_errors;  // autotm_metrics_collect_errors_total{source}
};

// "synchronous" for METHOD_SYNCHRONOUS: the variant label.
std::string VariantLabel(v1::Method method);

// For JobRunnerOptions::on_solve.
void RecordSolve(ServerMetrics& metrics, const v1::SolveParameters& parameters,
                 v1::Termination termination, absl::Duration wall);

// Refreshes the queue, job, store and profile gauges from `store` at every
// scrape; a store error counts in collect_errors and leaves the gauges as
// they were. `store` and `metrics` must outlive `registry`'s last Render().
void AddStoreCollector(MetricsRegistry& registry, ServerMetrics& metrics,
                       Store& store);

// For PlacementServiceImpl's and JobRunnerOptions' on_cache_lookup:
// `lookup` is "rpc" or "job".
void RecordCacheLookup(ServerMetrics& metrics, const std::string& lookup,
                       bool hit);

// Counts every RPC a service answers, by method and final status code, and
// observes its latency (first interceptor call to the status being sent).
// A call whose status is never sent (the client went away first) counts
// as CANCELLED. Calls refused before any service sees them (TLS handshake,
// the identities check of server/auth.h) are not counted. Methods outside
// `known_methods` ("/package.Service/Method") are labelled "other", so that
// clients cannot create series at will.
class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsInterceptorFactory(ServerMetrics& metrics,
                               std::set<std::string> known_methods);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics& metrics_;
  const std::set<std::string> known_methods_;
};

// "/package.Service/Method" of every method of the services named (looked up
// in the generated descriptor pool; unknown names add nothing), plus the
// standard health service's Check and Watch.
std::set<std::string> KnownMethods(const std::set<std::string>& services);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_SERVER_METRICS_H_
