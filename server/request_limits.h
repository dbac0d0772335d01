// Caps checked at the RPC boundary, before anything is queued or stored
// (issue 18 finding 6): each RPC handler validates its request against these
// and answers INVALID_ARGUMENT (a value no server would accept) or
// RESOURCE_EXHAUSTED (a value over this server's configured limit), naming
// the field and the limit and never echoing unbounded input.
#ifndef AUTOTM_SERVER_REQUEST_LIMITS_H_
#define AUTOTM_SERVER_REQUEST_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/server_service.pb.h"
#include "server/store/store.h"

namespace autotm::server {

// Server-configured limits (autotm-server flags of the same names).
struct RequestLimits {
  // --max-time-limit: the largest SolveParameters.time_limit_seconds a
  // request may ask for. A solve holds a worker slot for its time limit
  // (plus the watchdog's grace), so an unbounded one (1e18 s) could hold
  // the only slot for ever.
  double max_time_limit_seconds = 3600;
  // --max-budgets-per-job: the most budgets in one CreateSolveJob. Each
  // budget is a solve and a stored plan key; 100,000 of them made the job
  // rows so large that ListSolveJobs responses exceeded the 4 MB message
  // limit.
  int max_budgets_per_job = 256;
  // --max-list-bytes: ListSolveJobs pages are cut to this many bytes of
  // jobs (at least one job), well under gRPC's 4 MiB default message limit.
  size_t max_list_response_bytes = size_t{1} << 20;
  // --max-watch-seconds: a WatchSolveJob stream ends (OK, after the job's
  // latest state) this long after it began, so that no stream is held for
  // ever whatever happens to its job; clients watch again while the job is
  // not final. A PlanGraph call without a deadline waits at most 24 h.
  double max_watch_seconds = 3600;
  // --max-message-bytes: the largest gRPC message the server receives or
  // sends (gRPC's own default, 4 MiB). Graphs over it arrive by
  // UploadGraph and plans over it leave by StreamPlan, in pieces under it;
  // a unary answer over it is refused with RESOURCE_EXHAUSTED naming
  // StreamPlan instead of failing inside gRPC.
  size_t max_message_bytes = size_t{4} << 20;
};

// The largest graph UploadGraph accepts (its canonical encoding): the
// server holds an upload in memory while it checks it.
inline constexpr uint64_t kMaxGraphUploadBytes = uint64_t{1} << 30;
// The largest --max-message-bytes: gRPC's limits are ints.
inline constexpr size_t kMaxMessageBytesLimit = size_t{1} << 30;
// The smallest: the RPCs' metadata and small requests must fit.
inline constexpr size_t kMinMessageBytesLimit = size_t{64} << 10;

// Host class names: at most this many bytes, no control characters (they
// are used in log lines, file names and error messages).
inline constexpr size_t kMaxHostClassNameBytes = 256;
// Job ids are server-assigned ("job-000042"); anything longer is not one.
inline constexpr size_t kMaxJobIdBytes = 64;

// InvalidArgument naming `field` when `name` is empty, longer than
// kMaxHostClassNameBytes or has a control character; the name itself is
// echoed only as an Excerpt.
absl::Status CheckHostClassName(absl::string_view name,
                                absl::string_view field);

// InvalidArgument naming `field` for an empty or over-long job id.
absl::Status CheckJobId(absl::string_view id, absl::string_view field);

// The checks of a solve request against `limits`: the number of budgets
// (RESOURCE_EXHAUSTED over max_budgets_per_job) and the normalized
// parameters' time limit (RESOURCE_EXHAUSTED over max_time_limit_seconds).
absl::Status CheckSolveLimits(int num_budgets,
                              const v1::SolveParameters& normalized,
                              const RequestLimits& limits);

// At most `max_bytes` of `text` for an error message, with "..." and the
// full length when cut: error messages travel in gRPC trailers, which have
// a size limit, and must not carry unbounded client input.
std::string Excerpt(absl::string_view text, size_t max_bytes = 64);

// `limits` with the fields a PruneStore `request` sets replaced (each age in
// 0..1e6 days, the grace in 0..1e6 days' worth of seconds, max_jobs >= 0);
// InvalidArgument naming a negative, too large or non-finite field.
absl::StatusOr<RetentionLimits> RetentionOf(
    const v1::PruneStoreRequest& request, RetentionLimits limits);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_REQUEST_LIMITS_H_
