// autotm::Client: the C++ client library of the autotm placement service
// (autotm-server). One Client holds one gRPC channel; every call is
// blocking, has its own deadline (ClientOptions::deadline), and is retried
// with exponential backoff when, and only when, it fails with UNAVAILABLE
// (server not reachable yet, restarting, connection reset). Every other
// error comes back at once with the server's code and message, e.g.
// INVALID_ARGUMENT naming the bad entry, NOT_FOUND for an unknown host
// class, FAILED_PRECONDITION for a fingerprint conflict (see
// proto/autotm/v1/profile_service.proto for each RPC's codes).
//
// Thread safety: a Client may be used from many threads at once (gRPC
// channels and stubs are thread-safe; the Client holds no other mutable
// state).
//
// Layout: the ProfileService methods and Health() live in client.cc; the
// PlacementService methods live in client_placement.cc. Both reach the
// channel, the stubs and the retry loop through client_internal.h.
#ifndef AUTOTM_CLIENT_LIB_CLIENT_H_
#define AUTOTM_CLIENT_LIB_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "autotm/v1/server_service.pb.h"

namespace autotm {

struct ClientOptions {
  // The server, "HOST:PORT" (any gRPC target string works, e.g.
  // "dns:///autotm.internal:50051"). Required.
  std::string address = "127.0.0.1:50051";
  // Deadline of each attempt of each call. Default 30 s.
  absl::Duration deadline = absl::Seconds(30);
  // Attempts per call when the server answers UNAVAILABLE (1 = no retry).
  // Default 4.
  int max_attempts = 4;
  // Backoff before the second attempt; doubled after each failed attempt
  // up to max_backoff. Defaults 100 ms and 2 s.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);

  // TLS (docs/SECURITY.md). On when `tls` is set or any file is given.
  // tls_ca_file: PEM roots that must have signed the server's certificate
  // (empty: the system's roots). tls_cert_file + tls_key_file: a client
  // certificate for mutual TLS.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer token sent with every call ("authorization: Bearer TOKEN").
  // Needs TLS: Connect refuses to send it in clear text.
  std::string token;
  // The largest gRPC message this client sends or receives: keep it equal
  // to the server's --max-message-bytes (ServerInfo.max_message_bytes).
  // Requests whose inline graph is larger go by UploadGraph instead, and
  // plans larger than the server's limit come back by StreamPlan; both
  // switches happen inside the placement calls. Default 4 MiB (gRPC's).
  size_t max_message_bytes = size_t{4} << 20;

  bool tls_enabled() const {
    return tls || !tls_ca_file.empty() || !tls_cert_file.empty() ||
           !tls_key_file.empty();
  }
};

class Client {
 public:
  // Creates the channel; does not wait for the server (the first call
  // connects, retrying UNAVAILABLE as configured). InvalidArgument for an
  // empty address, a non-positive deadline, max_attempts < 1, a client
  // certificate without its key (or the reverse), or a token without TLS;
  // NotFound naming a TLS file that cannot be read. A server whose
  // certificate the CA did not sign fails the calls with UNAVAILABLE.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ClientOptions& options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const;

  // --- Server.

  // True when the server's health service answers SERVING for the whole
  // server, false for NOT_SERVING (e.g. shutting down). UNAVAILABLE when it
  // cannot be reached (after the retries).
  absl::StatusOr<bool> Health();
  // The server's version, security mode and quotas, and who the caller is
  // (ServerService.GetServerInfo). UNIMPLEMENTED from servers older than
  // it.
  absl::StatusOr<v1::ServerInfo> GetServerInfo();
  // Retention on demand (ServerService.PruneStore, operator role): deletes
  // stored jobs, graphs and plans as the request's limits (unset: the
  // server's) allow. Not retried (a VACUUM may take a while).
  absl::StatusOr<v1::PruneStoreResponse> PruneStore(
      const v1::PruneStoreRequest& request, absl::Duration deadline);

  // --- ProfileService (client.cc).

  // Uploads a whole profile (ImportProfile): each configuration time
  // becomes one measurement, so uploading the same profile twice changes
  // nothing (accepted 0, version unchanged).
  absl::StatusOr<v1::UploadMeasurementsResponse> UploadProfile(
      const v1::Profile& profile);
  // Uploads individual measurements (UploadMeasurements); the measurement
  // ids make re-sending idempotent.
  absl::StatusOr<v1::UploadMeasurementsResponse> UploadMeasurements(
      const v1::UploadMeasurementsRequest& request);
  // Uploads batches over one client stream (StreamMeasurements), for large
  // uploads; the counts are summed over the batches. The server applies
  // each batch as it arrives and stops at the first bad one (its error
  // comes back; earlier batches stay stored). Retried as a whole on
  // UNAVAILABLE, which is safe because uploads are idempotent.
  absl::StatusOr<v1::UploadMeasurementsResponse> StreamMeasurements(
      const std::vector<v1::UploadMeasurementsRequest>& batches);
  // Every host class with its coverage, sorted by name.
  absl::StatusOr<v1::ListHostClassesResponse> ListHostClasses();
  absl::StatusOr<v1::HostClassSummary> GetHostClass(const std::string& name);
  // The profile as served for planning (per configuration the median of
  // its measurements).
  absl::StatusOr<v1::Profile> ExportProfile(const std::string& name);
  absl::Status DeleteHostClass(const std::string& name);
  // Deletes every measurement `principal` uploaded to `host_class`
  // (operators; docs/SECURITY.md, provenance).
  absl::StatusOr<v1::DropMeasurementsResponse> DropMeasurements(
      const std::string& host_class, const std::string& principal);
  // A profiler agent's work list: the signatures that graphs submitted for
  // `request.host_class()` (or the graph in the request) still lack.
  absl::StatusOr<v1::WorkList> GetWorkList(
      const v1::GetWorkListRequest& request);

  // --- PlacementService (client_placement.cc).

  // The plan for `graph` on `host_class` under `budget_bytes`: the cached
  // plan at once, or (solve_if_missing) a solve on the server that returns
  // within `options.deadline` with the best plan found (its stats carry the
  // termination and gap). NOT_FOUND when not cached and !solve_if_missing;
  // DEADLINE_EXCEEDED when no plan was found in time; FAILED_PRECONDITION
  // when the profile lacks kernels of the graph or nothing fits the budget.
  // The served plan is verified against `graph` and `budget_bytes` before
  // it is returned (see LookupPlan); INTERNAL when it fails.
  struct PlanOptions {
    v1::SolveParameters parameters;  // zero fields: server defaults
    int priority = 0;
    absl::Duration deadline = absl::Minutes(2);
    bool solve_if_missing = true;
    // The profile the server plans with (e.g. ExportProfile's), to verify
    // the plan's times too; null: structure, budget and offsets only.
    const v1::Profile* profile = nullptr;
  };
  //
  // Digest first: the request names the graph by its canonical digest
  // (common/graph_digest.h), so a cache hit sends and hashes no graph on
  // the server; only when the server answers that it lacks the graph is
  // the graph sent (inline, or by UploadGraph when over the message
  // limit), and the call repeated.
  absl::StatusOr<v1::Plan> GetPlan(const v1::Graph& graph,
                                   const std::string& host_class,
                                   uint64_t budget_bytes,
                                   const PlanOptions& options);
  // GetPlan parsing the plan into `*plan` (see LookupPlanInto): for a caller
  // that asks again and again, e.g. one call per compilation.
  absl::Status GetPlanInto(const v1::Graph& graph,
                           const std::string& host_class, uint64_t budget_bytes,
                           const PlanOptions& options, v1::Plan* plan);

  // The RPCs one to one (see proto/autotm/v1/placement_service.proto).
  absl::StatusOr<v1::SolveJob> CreateSolveJob(
      const v1::CreateSolveJobRequest& request);
  absl::StatusOr<v1::SolveJob> GetSolveJob(const std::string& id);
  absl::StatusOr<v1::SolveJob> CancelSolveJob(const std::string& id);
  absl::StatusOr<v1::ListSolveJobsResponse> ListSolveJobs(
      const v1::ListSolveJobsRequest& request);
  // LookupPlan and PlanGraph verify the served plan against the request's
  // inline graph and budget before returning it (issue 17): structure,
  // the budget at every kernel and the pool offsets always
  // (solver::VerifyPlanStructure), the times too when `profile` is given
  // (solver::VerifyPlan). INTERNAL, naming the broken invariant, when the
  // plan fails. A request that names its graph by digest sent no graph: its
  // plan is returned as served.
  absl::StatusOr<v1::Plan> LookupPlan(const v1::GetPlanRequest& request,
                                      const v1::Profile* profile = nullptr);
  // PlanGraph with its own deadline (not options().deadline); not retried
  // once the server has accepted it. A budget no plan fits is a result: OK
  // with plan.stats().termination() == TERMINATION_INFEASIBLE, no tensors,
  // and plan.no_plan_reason() (GetPlan returns it the same way).
  absl::StatusOr<v1::Plan> PlanGraph(const v1::PlanGraphRequest& request,
                                     absl::Duration deadline,
                                     const v1::Profile* profile = nullptr);
  // LookupPlan and PlanGraph parsing the plan into `*plan` instead, which
  // may live on a google::protobuf::Arena or be the same message call after
  // call: parsing into a used message reuses its sub-messages and strings,
  // so a caller that plans often (cache hits, one per compilation) spares
  // the allocator most of a plan's thousands of small objects. On OK
  // `*plan` holds exactly the served, verified plan; on an error its
  // contents are unspecified.
  absl::Status LookupPlanInto(const v1::GetPlanRequest& request, v1::Plan* plan,
                              const v1::Profile* profile = nullptr);
  absl::Status PlanGraphInto(const v1::PlanGraphRequest& request,
                             absl::Duration deadline, v1::Plan* plan,
                             const v1::Profile* profile = nullptr);
  // Switches, in CreateSolveJob, LookupPlan and PlanGraph: a request whose
  // inline graph would make it larger than options().max_message_bytes is
  // sent by digest after UploadGraph; a plan the server says is too large
  // for one message is fetched by StreamPlan.
  //
  // Uploads `graph` by UploadGraph in pieces under the message limit
  // (retried whole on UNAVAILABLE: uploads are idempotent) and returns its
  // canonical digest, under which the server now stores it.
  absl::StatusOr<std::string> UploadGraph(const v1::Graph& graph);
  // The cached plan for the request's inputs, streamed in pieces
  // (StreamPlan): for plans over the message limit. Not verified (the
  // request may name its graph by digest); LookupPlan verifies.
  absl::StatusOr<v1::Plan> StreamPlan(const v1::GetPlanRequest& request);
  // StreamPlan into `*plan` (see LookupPlanInto).
  absl::Status StreamPlanInto(const v1::GetPlanRequest& request,
                              v1::Plan* plan);
  // Streams the job's state to `on_update` until it is final (or
  // `deadline` passes: DEADLINE_EXCEEDED) and returns the final job.
  absl::StatusOr<v1::SolveJob> WatchSolveJob(
      const std::string& id,
      const std::function<void(const v1::SolveJob&)>& on_update,
      absl::Duration deadline = absl::Hours(24));

  // Internal state (channel, stubs, retry loop): client_internal.h.
  struct Internal;

 private:
  explicit Client(std::unique_ptr<Internal> internal);
  std::unique_ptr<Internal> internal_;
};

}  // namespace autotm

#endif  // AUTOTM_CLIENT_LIB_CLIENT_H_
