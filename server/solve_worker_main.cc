// autotm-solve-worker: runs one solve in its own process so that the server
// survives whatever CBC does (crash, runaway, non-reentrancy).
//
//   autotm-solve-worker [REQUEST_FILE|-]
//
// Reads a server.worker.SolveRequest (binary) from REQUEST_FILE, or from
// stdin when absent or "-", then writes length-delimited WorkerEvent
// messages to stdout: progress at most about once a second, then exactly one
// final plan, no_plan or error. SIGTERM asks the solver to stop; the best
// plan so far then comes back with termination CANCELLED.
//
// Exit status: 0 when a final event was written (whatever it says), 1 for an
// unreadable request or a failed write.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "autotm/v1/plan.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "server/plan_check.h"
#include "solver/cbc_solver.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "worker.pb.h"

namespace autotm::server {
namespace {

std::atomic<bool> g_cancel{false};

void OnTerm(int) { g_cancel.store(true); }

bool ReadAll(int fd, std::string* out) {
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out->append(buffer, static_cast<size_t>(n));
  }
}

// Serialises writers (the progress callback may run on a solver thread):
// it guards the worker's stdout, which no annotation can name, so WriteEvent
// is the only writer and takes it around the whole event.
ABSL_CONST_INIT absl::Mutex g_write_mutex(absl::kConstInit);

bool WriteEvent(const worker::WorkerEvent& event) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(event,
                                                                    &stream)) {
      return false;
    }
  }
  absl::MutexLock lock(&g_write_mutex);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

bool WriteError(absl::Status status) {
  worker::WorkerEvent event;
  event.mutable_error()->set_code(static_cast<int>(status.code()));
  event.mutable_error()->set_message(std::string(status.message()));
  return WriteEvent(event);
}

int Run(int argc, char** argv) {
  // The server reads our stdout through a pipe; if it goes away we just stop.
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction action = {};
  action.sa_handler = OnTerm;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);

  std::string input;
  const std::string path = argc > 1 ? argv[1] : "-";
  bool read_ok = false;
  if (path == "-") {
    read_ok = ReadAll(STDIN_FILENO, &input);
  } else {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      read_ok = ReadAll(fd, &input);
      ::close(fd);
    }
  }
  if (!read_ok) {
    std::fprintf(stderr, "autotm-solve-worker: cannot read request %s\n",
                 path.c_str());
    WriteError(absl::InvalidArgumentError("cannot read the solve request"));
    return 1;
  }
  worker::SolveRequest request;
  if (!request.ParseFromString(input)) {
    WriteError(absl::InvalidArgumentError("malformed solve request"));
    return 1;
  }

  absl::StatusOr<solver::GraphModel> graph =
      solver::GraphModel::Create(request.graph());
  if (!graph.ok()) return WriteError(graph.status()) ? 0 : 1;
  absl::StatusOr<solver::ProfileModel> profile =
      solver::ProfileModel::Create(request.profile());
  if (!profile.ok()) return WriteError(profile.status()) ? 0 : 1;

  const v1::SolveParameters& parameters = request.parameters();
  solver::PlanOptions options;
  options.method = parameters.method();
  options.budget_bytes = request.budget_bytes();
  options.time_limit_seconds = parameters.time_limit_seconds();
  options.relative_gap = parameters.relative_gap();
  options.alignment_bytes = parameters.alignment_bytes();
  options.async_window = static_cast<int>(parameters.async_window());
  options.recompute = parameters.recompute() == v1::RECOMPUTE_MODE_AUTO;
  options.exploit_repetition =
      parameters.repetition() == v1::REPETITION_MODE_AUTO;
  options.threads = 0;  // serial: the same inputs give the same plan
  options.cancel = &g_cancel;
  // A finished budget's plan from the same job: the planner verifies it under
  // this budget and never returns a slower plan than a valid one.
  if (request.has_warm_start()) options.warm_start = &request.warm_start();
  auto last_progress = std::chrono::steady_clock::time_point{};
  options.on_progress = [&](const solver::SolveProgress& progress) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress < std::chrono::milliseconds(900)) return;
    last_progress = now;
    worker::WorkerEvent event;
    worker::Progress* p = event.mutable_progress();
    p->set_elapsed_seconds(progress.elapsed_seconds);
    p->set_incumbent_us(progress.incumbent);
    p->set_bound_us(progress.bound);
    p->set_relative_gap(progress.relative_gap);
    WriteEvent(event);
  };

  std::unique_ptr<solver::Solver> cbc = solver::MakeCbcSolver();
  absl::StatusOr<solver::PlanOutcome> outcome =
      solver::PlanGraph(*graph, *profile, options, cbc.get());
  if (!outcome.ok()) return WriteError(outcome.status()) ? 0 : 1;

  worker::WorkerEvent event;
  if (outcome->plan.has_value()) {
    // Verified here, before anything downstream sees it: a plan the
    // verifier rejects fails the job with its reason (a bug report).
    if (absl::Status verified = CheckSolvedPlan(
            *graph, request.profile(), *outcome->plan, request.budget_bytes());
        !verified.ok()) {
      return WriteError(verified) ? 0 : 1;
    }
    *event.mutable_plan() = *std::move(outcome->plan);
  } else {
    *event.mutable_no_plan()->mutable_stats() = outcome->stats;
    event.mutable_no_plan()->set_diagnostic(outcome->diagnostic);
  }
  return WriteEvent(event) ? 0 : 1;
}

}  // namespace
}  // namespace autotm::server

int main(int argc, char** argv) { return autotm::server::Run(argc, argv); }
