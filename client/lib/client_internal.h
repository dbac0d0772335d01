// Internal to the autotm client library (client.cc, client_placement.cc):
// the channel, the stubs and the retry loop behind autotm::Client. Not part
// of the public API; include only from the library's own .cc files.
//
// Adding a PlacementService method (in client_placement.cc):
//
//   absl::StatusOr<v1::Plan> Client::GetPlan(const v1::GetPlanRequest& r) {
//     v1::Plan plan;
//     AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* c) {
//       return internal_->placement->GetPlan(c, r, &plan);
//     }));
//     return plan;
//   }
//
// Call() gives each attempt a fresh ClientContext with the per-call
// deadline and retries UNAVAILABLE only. For a call with its own deadline
// (e.g. PlanGraph waiting for a solve) use CallWithDeadline(); streaming
// calls (WatchSolveJob) can set up their own grpc::ClientContext via
// NewContext() and use `placement` directly.
#ifndef AUTOTM_CLIENT_LIB_CLIENT_INTERNAL_H_
#define AUTOTM_CLIENT_LIB_CLIENT_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/placement_service.grpc.pb.h"
#include "autotm/v1/profile_service.grpc.pb.h"
#include "autotm/v1/server_service.grpc.pb.h"
#include "client/lib/client.h"
#include "common/status_convert.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace autotm {

struct Client::Internal {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ProfileService::Stub> profiles;
  std::unique_ptr<v1::PlacementService::Stub> placement;
  std::unique_ptr<v1::ServerService::Stub> server;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;

  // A context whose deadline is `deadline` from now, carrying the bearer
  // token when there is one.
  std::unique_ptr<grpc::ClientContext> NewContext(
      absl::Duration deadline) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    if (!options.token.empty()) {
      context->AddMetadata("authorization",
                           absl::StrCat("Bearer ", options.token));
    }
    return context;
  }

  // Runs `rpc(grpc::ClientContext*) -> grpc::Status` up to
  // options.max_attempts times while it returns UNAVAILABLE, sleeping
  // with jittered exponential backoff in between; each attempt gets its
  // own context with `deadline`. Returns the last status as absl::Status;
  // UNAVAILABLE and DEADLINE_EXCEEDED messages name the server address.
  template <typename Rpc>
  absl::Status CallWithDeadline(absl::Duration deadline, Rpc&& rpc) const {
    absl::Duration backoff = options.initial_backoff;
    // Seeded only when a retry needs it: most calls succeed at once, and
    // seeding costs more than a cache hit's lookup.
    std::optional<absl::BitGen> gen;
    for (int attempt = 1;; ++attempt) {
      std::unique_ptr<grpc::ClientContext> context = NewContext(deadline);
      const grpc::Status status = rpc(context.get());
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
          attempt >= options.max_attempts) {
        absl::Status result = FromGrpcStatus(status);
        if (absl::IsUnavailable(result) || absl::IsDeadlineExceeded(result)) {
          result = absl::Status(
              result.code(),
              absl::StrCat("server ", options.address, ": ", result.message(),
                           " (", attempt,
                           attempt == 1 ? " attempt)" : " attempts)"));
        }
        return result;
      }
      if (!gen.has_value()) gen.emplace();
      absl::SleepFor(backoff * absl::Uniform(*gen, 0.8, 1.2));
      backoff = std::min(backoff * 2, options.max_backoff);
    }
  }

  template <typename Rpc>
  absl::Status Call(Rpc&& rpc) const {
    return CallWithDeadline(options.deadline, std::forward<Rpc>(rpc));
  }
};

}  // namespace autotm

#endif  // AUTOTM_CLIENT_LIB_CLIENT_INTERNAL_H_
