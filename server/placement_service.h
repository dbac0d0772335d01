// autotm.v1.PlacementService over the stores and the JobRunner: solve jobs,
// the plan cache and the compile-time PlanGraph call. The RPC contracts and
// error codes are in proto/autotm/v1/placement_service.proto; this class
// validates before anything is queued:
//   - INVALID_ARGUMENT: no graph and no digest, a bad graph (naming the
//     kernel or tensor), an empty or over-long host class name, no budgets
//     or a zero budget, bad parameters (async window, alignment), a bad
//     page size or token, an empty or over-long job id;
//   - NOT_FOUND: unknown graph digest, host class or job id; GetPlan when no
//     plan is cached for exactly these inputs;
//   - FAILED_PRECONDITION: the host class's profile lacks kernels of the
//     graph (the message lists the missing signatures);
//   - RESOURCE_EXHAUSTED: a plan over the message limit (use StreamPlan),
//     an upload over kMaxGraphUploadBytes, the queue is full, the caller's
//     principal has its limit of queued jobs, or the request has more budgets,
//     or a longer time limit, than this server's RequestLimits allow (the
//     message names the limit);
//   - PERMISSION_DENIED: a job of another principal, for a caller that is
//     not an operator (server/auth.h: the roles of each RPC are enforced
//     before the handler; ownership here).
// Every job records its creator (SolveJob.owner); ListSolveJobs shows a
// caller with only the planner role its own jobs. Mutating calls
// (CreateSolveJob, CancelSolveJob, PlanGraph) write an audit line.
// PlanGraph additionally answers DEADLINE_EXCEEDED when no plan was found
// before the call's deadline (the job is cancelled shortly before it, so
// that its best plan so far can still be returned), FAILED_PRECONDITION
// when no plan fits the budget (infeasible) and INTERNAL when the solve
// worker failed.
//
// Thread safety: all methods may be called concurrently. Unary handlers run
// short store calls on gRPC's callback threads; PlanGraph calls that must
// wait for a solve are parked and finished by one waiter thread, so no
// gRPC thread blocks on a solve.
#ifndef AUTOTM_SERVER_PLACEMENT_SERVICE_H_
#define AUTOTM_SERVER_PLACEMENT_SERVICE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autotm/v1/placement_service.grpc.pb.h"
#include "autotm/v1/placement_service.pb.h"
#include "server/auth.h"
#include "server/job_runner.h"
#include "server/request_limits.h"
#include "server/store/store.h"
#include "spdlog/logger.h"

namespace autotm::server {

// Told whether a plan-cache lookup hit (true) or missed (false).
using CacheLookupHook = std::function<void(bool hit)>;
class WatchReactor;

// PlanGraph and GetPlan are raw methods (their messages as bytes): a
// plan-cache hit sends the cached plan's bytes as they are, without parsing
// and re-serializing them, and the request is parsed here.
using PlacementServiceBase =
    v1::PlacementService::WithRawCallbackMethod_PlanGraph<
        v1::PlacementService::WithRawCallbackMethod_GetPlan<
            v1::PlacementService::CallbackService>>;

class PlacementServiceImpl final : public PlacementServiceBase {
 public:
  // `store`, `runner` and `authorizer` must outlive the service; `logger`
  // is not null. `limits`: the server's caps on requests (RequestLimits).
  // `on_cache_lookup` (may be empty) is told every plan-cache lookup of
  // GetPlan and PlanGraph: true for a hit, false for a miss; lookups that
  // fail before the key is known (unknown graph or host class) are not
  // reported. Called on gRPC's threads; must be thread-safe.
  PlacementServiceImpl(Store& store, JobRunner& runner,
                       const Authorizer& authorizer,
                       std::shared_ptr<spdlog::logger> logger,
                       const RequestLimits& limits = {},
                       CacheLookupHook on_cache_lookup = nullptr);
  // Answers parked PlanGraph calls with UNAVAILABLE and joins the waiter.
  ~PlacementServiceImpl() override;

  // The RPC logic as plain functions.
  absl::StatusOr<v1::SolveJob> CreateJob(
      const v1::CreateSolveJobRequest& request, const Principal& principal);
  absl::StatusOr<v1::ListSolveJobsResponse> ListJobs(
      const v1::ListSolveJobsRequest& request, const Principal& principal);
  // The job, if `principal` may see it (PERMISSION_DENIED otherwise).
  absl::StatusOr<v1::SolveJob> GetJob(const std::string& id,
                                      const Principal& principal);
  absl::StatusOr<v1::Plan> LookupPlan(const v1::GetPlanRequest& request);
  // The cached plan's protobuf encoding (shared, not copied).
  absl::StatusOr<std::shared_ptr<const std::string>> LookupPlanBytes(
      const v1::GetPlanRequest& request);

  // autotm.v1.PlacementService.
  grpc::ServerUnaryReactor* CreateSolveJob(
      grpc::CallbackServerContext* context,
      const v1::CreateSolveJobRequest* request,
      v1::SolveJob* response) override;
  grpc::ServerUnaryReactor* GetSolveJob(grpc::CallbackServerContext* context,
                                        const v1::GetSolveJobRequest* request,
                                        v1::SolveJob* response) override;
  grpc::ServerWriteReactor<v1::SolveJob>* WatchSolveJob(
      grpc::CallbackServerContext* context,
      const v1::WatchSolveJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelSolveJob(
      grpc::CallbackServerContext* context,
      const v1::CancelSolveJobRequest* request,
      v1::SolveJob* response) override;
  grpc::ServerUnaryReactor* ListSolveJobs(
      grpc::CallbackServerContext* context,
      const v1::ListSolveJobsRequest* request,
      v1::ListSolveJobsResponse* response) override;
  // Raw: a GetPlanRequest in, a Plan out.
  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  // Raw: a PlanGraphRequest in, a Plan out.
  grpc::ServerUnaryReactor* PlanGraph(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerReadReactor<v1::UploadGraphRequest>* UploadGraph(
      grpc::CallbackServerContext* context,
      v1::UploadGraphResponse* response) override;
  grpc::ServerWriteReactor<v1::PlanChunk>* StreamPlan(
      grpc::CallbackServerContext* context,
      const v1::GetPlanRequest* request) override;

  // The checks of a finished upload (UploadGraph): `bytes` must parse as a
  // Graph whose canonical digest is `digest` and which is valid; then it
  // is stored. InvalidArgument naming what is wrong.
  absl::Status StoreUploadedGraph(const std::string& digest,
                                  const std::string& bytes);

 private:
  // A PlanGraph call waiting for its job.
  struct Parked {
    grpc::CallbackServerContext* context;
    grpc::ServerUnaryReactor* reactor;
    grpc::ByteBuffer* response;
    std::string job_id;
    absl::Time cancel_at;   // ask the job to stop (keeps its best plan)
    absl::Time give_up_at;  // answer DEADLINE_EXCEEDED
    bool cancel_sent = false;
  };

  void WaiterLoop();
  // Watches in progress (their reactors register and unregister
  // themselves), ended by the waiter when their max_watch_seconds pass.
  friend class WatchReactor;
  void AddWatch(WatchReactor* watch);
  void RemoveWatch(WatchReactor* watch);
  void ExpireWatches(absl::Time now);
  // `plan` as a message, or RESOURCE_EXHAUSTED when its encoding is over
  // the message limit (the caller must use StreamPlan).
  absl::StatusOr<grpc::ByteBuffer> FitsOneMessage(
      absl::StatusOr<std::shared_ptr<const std::string>> plan) const;
  // The answer for a job in a final state.
  absl::StatusOr<v1::Plan> PlanOfFinishedJob(const v1::SolveJob& job);

  Store& store_;
  JobRunner& runner_;
  const Authorizer& authorizer_;
  std::shared_ptr<spdlog::logger> logger_;
  const RequestLimits limits_;
  const CacheLookupHook on_cache_lookup_;

  std::mutex mutex_;
  bool stopping_ = false;
  std::list<Parked> parked_;
  std::mutex watch_mutex_;
  std::set<WatchReactor*> watches_;
  std::thread waiter_;
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_PLACEMENT_SERVICE_H_
