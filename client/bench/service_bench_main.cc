// autotm-service-bench: a benchmark client (not a test) of autotm-server on
// loopback. It measures what issues 4 and 19 report:
//
//   1. gRPC's floor on this machine: the health Check RPC on the same
//      channel(s), run just before each level, so that the ratio of the
//      two is meaningful on a loaded machine;
//   2. plan-cache-hit latency (p50/p99) and throughput with 1, 16, 64 and
//      256 concurrent callers: by default PlacementService.PlanGraph by
//      digest (the digest-first call of autotm::Client::GetPlan, the call a
//      framework makes at compile time, on inputs whose plan is already
//      cached); --call inline sends the whole graph (the call before issue
//      19), --call client-get-plan measures Client::GetPlan itself (digest
//      and plan verification on the client each call), --call get-plan
//      the GetPlan RPC (the pure lookup);
//   3. the profile ingest rate in entries/s: UploadMeasurements batches of
//      1,000 generated measurements into a new host class.
//
//   autotm-service-bench --spawn                   # starts its own server
//   autotm-service-bench --server 127.0.0.1:50051  # an already running one
//
// Flags are parsed here and only here. CLI11 reports parse errors by
// throwing; they are caught at the parse call and nowhere else.
//
// Exit codes: 0 done, every measured call succeeded; 1 bad flags or set-up
// failure (server unreachable, import or first plan failed); 2 a measured
// call failed or returned something unexpected (a different plan, a solve
// job created during the cache-hit runs, a wrong ingest count).

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/common/proto_json.h"
#include "client/common/units.h"
#include "client/lib/client.h"
#include "common/graph_digest.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/status_macros.h"
#include "solver/verifier.h"
#include "tests/e2e/server_process.h"

#ifndef AUTOTM_SOURCE_DIR
#define AUTOTM_SOURCE_DIR "."
#endif

namespace autotm::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitSetup = 1;
constexpr int kExitBadResult = 2;

struct BenchOptions {
  std::string server;  // empty with --spawn
  bool spawn = false;
  std::string server_binary;  // --spawn: empty = the build's autotm-server
  std::string graph_path =
      AUTOTM_SOURCE_DIR "/tests/testdata/example_cnn.graph.json";
  std::string profile_path =
      AUTOTM_SOURCE_DIR "/tests/testdata/example_cnn.profile.json";
  std::string budget = "50%";
  std::vector<int> concurrency = {1, 16, 64, 256};
  // digest: PlanGraph by digest (Client::PlanGraph, the RPC alone);
  // client-get-plan: Client::GetPlan (digest computed, plan verified, per
  // call); inline: PlanGraph with the whole graph (before issue 19);
  // get-plan: the GetPlan RPC by digest (the pure lookup).
  std::string call = "digest";
  // SolveParameters.method of the cached plan (empty: the server's
  // default, sync).
  std::string method;
  double time_limit_s = 0;  // 0: the server's default
  bool floor = true;        // the health-check floor beside each level
  size_t max_message_bytes = size_t{4} << 20;
  std::string channels = "shared";  // or "per-caller"
  // Where each hit's plan is parsed: fresh (a new v1::Plan per call, the
  // by-value Client methods), reused (one message per caller thread, the
  // *Into methods) or arena (a new google::protobuf::Arena per call).
  std::string plan_message = "fresh";
  double duration_s = 5;
  double warmup_s = 0.5;
  int64_t max_requests = 1000000;  // per level
  int64_t ingest_entries = 100000;
  // Generated measurements added to the planned host class before the
  // first plan (a larger profile behind the same cached plan).
  int64_t pad_profile = 0;
  int batch_entries = 1000;
  bool keep = false;
};

// The --method names (those of `autotm plan --variant`).
v1::Method MethodNamed(const std::string& name) {
  if (name == "static") return v1::METHOD_STATIC;
  if (name == "async") return v1::METHOD_ASYNCHRONOUS;
  if (name == "heuristic") return v1::METHOD_HEURISTIC;
  if (name == "all-slow") return v1::METHOD_ALL_SLOW;
  return v1::METHOD_SYNCHRONOUS;
}

// --- The machine.

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "model name")) {
      const size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) {
        return std::string(absl::StripAsciiWhitespace(rest.substr(colon + 1)));
      }
    }
  }
  return "unknown CPU";
}

std::string Machine() {
  utsname name{};
  const std::string kernel =
      ::uname(&name) == 0 ? absl::StrCat(name.sysname, " ", name.release) : "?";
  return absl::StrFormat("%d CPUs online (nproc), %s, %s",
                         static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)),
                         CpuModel(), kernel);
}

// --- Latency statistics.

struct LevelResult {
  int callers = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t mismatches = 0;  // a plan of another size than the reference
  double seconds = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  // CPU time (user + system, all threads) per measured request of this
  // client process and of the server (negative: not known, e.g. --server).
  double client_cpu_us = -1, server_cpu_us = -1;
  std::string first_error;
};

// CPU seconds (user + system, all threads) this process has used so far.
double OwnCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds (utime + stime of all its threads, /proc/PID/stat) process
// `pid` has used so far; negative when pid <= 0 or it cannot be read.
double ProcessCpuSeconds(pid_t pid) {
  if (pid <= 0) return -1;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return -1;
  // Fields after the command name (which may hold spaces, so from its
  // closing parenthesis): state is field 3, utime 14, stime 15.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / ::sysconf(_SC_CLK_TCK);
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(
      sorted.size() - 1, static_cast<size_t>(q * (sorted.size() - 1) + 0.5));
  return sorted[index];
}

// One cache-hit request, the way the chosen call makes it.
class CacheHitCall {
 public:
  CacheHitCall(const BenchOptions& options, const v1::Graph& graph,
               const std::string& host_class, uint64_t budget_bytes,
               const v1::SolveParameters& parameters)
      : call_(options.call),
        graph_(graph),
        host_class_(host_class),
        budget_bytes_(budget_bytes) {
    if (call_ == "inline") {
      *plan_graph_.mutable_graph()->mutable_inline_graph() = graph;
    } else {
      plan_graph_.mutable_graph()->set_digest(CanonicalGraphDigest(graph));
    }
    plan_graph_.set_host_class(host_class);
    plan_graph_.set_budget_bytes(budget_bytes);
    *plan_graph_.mutable_parameters() = parameters;
    *lookup_.mutable_graph() = plan_graph_.graph();
    lookup_.set_host_class(host_class);
    lookup_.set_budget_bytes(budget_bytes);
    *lookup_.mutable_parameters() = parameters;
    plan_options_.parameters = parameters;
  }

  // The same call parsing into `*plan`.
  absl::Status Into(Client& client, v1::Plan* plan) const {
    if (call_ == "get-plan") return client.LookupPlanInto(lookup_, plan);
    if (call_ == "client-get-plan") {
      return client.GetPlanInto(graph_, host_class_, budget_bytes_,
                                plan_options_, plan);
    }
    return client.PlanGraphInto(plan_graph_, absl::Seconds(30), plan);
  }

  absl::StatusOr<v1::Plan> operator()(Client& client) const {
    if (call_ == "get-plan") return client.LookupPlan(lookup_);
    if (call_ == "client-get-plan") {
      return client.GetPlan(graph_, host_class_, budget_bytes_, plan_options_);
    }
    return client.PlanGraph(plan_graph_, absl::Seconds(30));
  }

  size_t request_bytes() const {
    return call_ == "get-plan" ? lookup_.ByteSizeLong()
                               : plan_graph_.ByteSizeLong();
  }

  std::string description() const {
    if (call_ == "get-plan") return "PlacementService.GetPlan by digest";
    if (call_ == "client-get-plan") {
      return "Client::GetPlan (digest computed, plan verified, each call)";
    }
    if (call_ == "inline") return "PlacementService.PlanGraph, inline graph";
    return "PlacementService.PlanGraph by digest";
  }

 private:
  const std::string call_;
  const v1::Graph& graph_;
  const std::string host_class_;
  const uint64_t budget_bytes_;
  v1::PlanGraphRequest plan_graph_;
  v1::GetPlanRequest lookup_;
  Client::PlanOptions plan_options_;
};

// Runs `callers` threads that issue cache-hit calls for the warm-up, then
// measure until the duration or the request cap is reached.
// `call` returns what it received's size in bytes, compared with
// `reference_bytes`.
using MeasuredCall = std::function<absl::StatusOr<size_t>(Client&)>;

LevelResult RunLevel(const BenchOptions& options, int callers,
                     const std::vector<Client*>& clients,
                     const MeasuredCall& call, size_t reference_bytes,
                     pid_t server_pid) {
  using Clock = std::chrono::steady_clock;
  LevelResult result;
  result.callers = callers;
  std::vector<std::vector<double>> latencies(callers);
  std::vector<int64_t> errors(callers, 0), mismatches(callers, 0);
  std::vector<std::string> first_errors(callers);
  std::atomic<int64_t> issued{0};
  std::latch start(callers + 1);
  Clock::time_point measure_from, measure_until;

  std::vector<std::thread> threads;
  threads.reserve(callers);
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      Client& client = *clients[clients.size() == 1 ? 0 : t];
      start.arrive_and_wait();
      std::vector<double>& mine = latencies[t];
      mine.reserve(1 << 16);
      while (true) {
        const Clock::time_point begin = Clock::now();
        if (begin >= measure_until) break;
        const bool measured = begin >= measure_from;
        if (measured && issued.fetch_add(1, std::memory_order_relaxed) >=
                            options.max_requests) {
          break;
        }
        absl::StatusOr<size_t> received = call(client);
        const Clock::time_point end = Clock::now();
        if (!measured) continue;
        mine.push_back(
            std::chrono::duration<double, std::micro>(end - begin).count());
        if (!received.ok()) {
          if (errors[t]++ == 0) first_errors[t] = received.status().ToString();
        } else if (*received != reference_bytes) {
          ++mismatches[t];
        }
      }
    });
  }
  const Clock::time_point now = Clock::now();
  measure_from = now + std::chrono::microseconds(
                           static_cast<int64_t>(options.warmup_s * 1e6));
  measure_until =
      measure_from +
      std::chrono::microseconds(static_cast<int64_t>(options.duration_s * 1e6));
  start.arrive_and_wait();  // publishes measure_from/until to the threads
  // CPU is counted over the same span as the time.
  std::this_thread::sleep_until(measure_from);
  const double client_cpu_from = OwnCpuSeconds();
  const double server_cpu_from = ProcessCpuSeconds(server_pid);
  for (std::thread& thread : threads) thread.join();
  // Measured time: from the end of the warm-up until the last caller is
  // done (calls begun before the end of the duration are counted whole).
  result.seconds =
      std::chrono::duration<double>(Clock::now() - measure_from).count();
  const double client_cpu = OwnCpuSeconds() - client_cpu_from;
  const double server_cpu_until = ProcessCpuSeconds(server_pid);

  std::vector<double> all;
  for (int t = 0; t < callers; ++t) {
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
    result.errors += errors[t];
    result.mismatches += mismatches[t];
    if (result.first_error.empty()) result.first_error = first_errors[t];
  }
  std::sort(all.begin(), all.end());
  result.requests = static_cast<int64_t>(all.size());
  result.p50_us = Percentile(all, 0.50);
  result.p99_us = Percentile(all, 0.99);
  result.max_us = all.empty() ? 0 : all.back();
  if (result.requests > 0) {
    result.client_cpu_us = client_cpu * 1e6 / result.requests;
    if (server_cpu_from >= 0 && server_cpu_until >= 0) {
      result.server_cpu_us =
          (server_cpu_until - server_cpu_from) * 1e6 / result.requests;
    }
  }
  return result;
}

// --- Profile ingest.

struct IngestResult {
  std::string host_class;
  int64_t entries = 0;
  int64_t batches = 0;
  int64_t accepted = 0;
  int64_t stored = 0;  // measurements the server reports afterwards
  double seconds = 0;
  double batch_p50_ms = 0, batch_p99_ms = 0;
  // entries/s over the first and the last tenth of the batches: the rate
  // as the host class fills up.
  double first_tenth_rate = 0, last_tenth_rate = 0;
};

// Generated measurements `first_entry` .. + `entries` for `host_class`
// (with bandwidths when it is new): signatures "bench_matmul" with distinct
// shapes, all 8 configurations of 2 inputs and 1 output, two repetitions
// each (16 entries per signature), ids "<id_prefix>/<n>".
v1::UploadMeasurementsRequest IngestBatch(const v1::HostClass& host_class,
                                          bool new_host_class,
                                          const std::string& id_prefix,
                                          int64_t first_entry, int entries) {
  v1::UploadMeasurementsRequest request;
  *request.mutable_host_class() = host_class;
  if (new_host_class) {
    v1::CopyBandwidths* bandwidths = request.mutable_bandwidths();
    bandwidths->set_slow_to_fast_sync_gb_per_s(29);
    bandwidths->set_fast_to_slow_sync_gb_per_s(12);
    bandwidths->set_slow_to_fast_async_gb_per_s(2);
    bandwidths->set_fast_to_slow_async_gb_per_s(2.5);
  }
  static constexpr const char* kConfigs[] = {"FF|F", "SF|F", "FS|F", "SS|F",
                                             "FF|S", "SF|S", "FS|S", "SS|S"};
  for (int i = 0; i < entries; ++i) {
    const int64_t n = first_entry + i;
    const int64_t signature = n / 16;
    const int config = static_cast<int>(n % 8);
    const int repetition = static_cast<int>((n / 8) % 2);
    v1::MeasurementEntry* entry = request.add_entries();
    v1::KernelSignature* sig = entry->mutable_signature();
    sig->set_op("bench_matmul");
    const int64_t rows = 1 + signature;
    for (const auto& dims :
         {std::vector<int64_t>{rows, 64}, std::vector<int64_t>{64, 64}}) {
      v1::OperandSpec* input = sig->add_inputs();
      for (int64_t d : dims) input->add_dims(d);
      input->set_dtype(v1::DATA_TYPE_F32);
    }
    v1::OperandSpec* output = sig->add_outputs();
    output->add_dims(rows);
    output->add_dims(64);
    output->set_dtype(v1::DATA_TYPE_F32);
    entry->set_config(kConfigs[config]);
    entry->set_time_us(10.0 + 0.01 * static_cast<double>(rows) +
                       2.0 * __builtin_popcount(config) + 0.1 * repetition);
    entry->set_measurement_id(absl::StrCat(id_prefix, "/", n));
  }
  return request;
}

absl::StatusOr<IngestResult> RunIngest(const BenchOptions& options,
                                       Client& client) {
  using Clock = std::chrono::steady_clock;
  IngestResult result;
  result.host_class = absl::StrCat("service-bench-ingest-", ::getpid(), "-",
                                   absl::ToUnixMillis(absl::Now()));
  // Generated up front, so that only the service is timed.
  v1::HostClass host_class;
  host_class.set_name(result.host_class);
  host_class.set_fingerprint("autotm-service-bench generated measurements");
  std::vector<v1::UploadMeasurementsRequest> batches;
  for (int64_t first = 0; first < options.ingest_entries;
       first += options.batch_entries) {
    batches.push_back(IngestBatch(
        host_class, first == 0, "service-bench", first,
        static_cast<int>(std::min<int64_t>(options.batch_entries,
                                           options.ingest_entries - first))));
  }
  std::vector<double> batch_ms;
  const Clock::time_point begin = Clock::now();
  for (const v1::UploadMeasurementsRequest& batch : batches) {
    const Clock::time_point batch_begin = Clock::now();
    absl::StatusOr<v1::UploadMeasurementsResponse> response =
        client.UploadMeasurements(batch);
    if (!response.ok()) {
      return absl::Status(
          response.status().code(),
          absl::StrCat("UploadMeasurements batch ", result.batches, ": ",
                       response.status().message()));
    }
    batch_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - batch_begin)
            .count());
    result.accepted += static_cast<int64_t>(response->accepted());
    result.entries += batch.entries_size();
    ++result.batches;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const size_t tenth = std::max<size_t>(1, batch_ms.size() / 10);
  auto rate = [&](size_t from) {
    double ms = 0;
    int64_t entries = 0;
    for (size_t i = from; i < from + tenth && i < batch_ms.size(); ++i) {
      ms += batch_ms[i];
      entries += batches[i].entries_size();
    }
    return ms > 0 ? entries / (ms / 1000) : 0.0;
  };
  result.first_tenth_rate = rate(0);
  result.last_tenth_rate = rate(batch_ms.size() - tenth);
  std::sort(batch_ms.begin(), batch_ms.end());
  result.batch_p50_ms = Percentile(batch_ms, 0.50);
  result.batch_p99_ms = Percentile(batch_ms, 0.99);
  AUTOTM_ASSIGN_OR_RETURN(v1::HostClassSummary summary,
                          client.GetHostClass(result.host_class));
  result.stored = static_cast<int64_t>(summary.measurements());
  if (!options.keep) {
    AUTOTM_RETURN_IF_ERROR(client.DeleteHostClass(result.host_class));
  }
  return result;
}

// --- Set-up.

// The newest job's id ("" when there is none).
absl::StatusOr<std::string> NewestJob(Client& client) {
  v1::ListSolveJobsRequest request;
  request.set_page_size(1);
  AUTOTM_ASSIGN_OR_RETURN(v1::ListSolveJobsResponse response,
                          client.ListSolveJobs(request));
  return response.jobs().empty() ? std::string() : response.jobs(0).id();
}

int Fail(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "autotm-service-bench: %s: %s\n", what.c_str(),
               status.ToString().c_str());
  return kExitSetup;
}

int Run(const BenchOptions& options) {
  // The server: an address, or a child process on 127.0.0.1:0.
  std::unique_ptr<testing::ServerProcess> server;
  std::string temp_dir;
  std::string address = options.server;
  std::string server_note = "given by --server";
  if (options.spawn) {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "autotm_service_bench_XXXXXX")
            .string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
      return Fail("mkdtemp", absl::ErrnoToStatus(errno, dir_template));
    }
    temp_dir = dir_template;
    testing::ServerProcessOptions server_options;
    server_options.binary = options.server_binary;
    server_options.db = temp_dir + "/autotm.db";
    server_options.log_path = temp_dir + "/server.log";
    server_options.extra_args = {"--max-message-bytes",
                                 absl::StrCat(options.max_message_bytes)};
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> started =
        testing::ServerProcess::Start(server_options);
    if (!started.ok())
      return Fail("cannot start autotm-server", started.status());
    server = *std::move(started);
    address = server->address();
    server_note = absl::StrCat("spawned (pid ", server->pid(),
                               ", SQLite db and log in ", temp_dir, ")");
  }
  // Everything below may return early; the server and its files go too.
  struct Cleanup {
    std::unique_ptr<testing::ServerProcess>* server;
    std::string dir;
    ~Cleanup() {
      if (*server != nullptr && (*server)->running()) {
        (*server)->Terminate().IgnoreError();
      }
      if (!dir.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    }
  } cleanup{&server, temp_dir};

  v1::Graph graph;
  if (absl::Status s = client::ReadProtoJsonFile(options.graph_path, &graph);
      !s.ok()) {
    return Fail(options.graph_path, s);
  }
  v1::Profile profile;
  if (absl::Status s =
          client::ReadProtoJsonFile(options.profile_path, &profile);
      !s.ok()) {
    return Fail(options.profile_path, s);
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) return Fail(options.graph_path, model.status());
  absl::StatusOr<uint64_t> budget = client::ParseBudget(
      options.budget,
      solver::AlignedPeakLiveBytes(*model, solver::kDefaultAlignmentBytes));
  if (!budget.ok()) return Fail("--budget", budget.status());
  const std::string& host_class = profile.host_class().name();

  ClientOptions client_options;
  client_options.address = address;
  client_options.max_message_bytes = options.max_message_bytes;
  client_options.deadline = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Client>> setup_client =
      Client::Connect(client_options);
  if (!setup_client.ok()) return Fail("connect", setup_client.status());
  Client& client = **setup_client;
  absl::StatusOr<bool> serving = client.Health();
  if (!serving.ok())
    return Fail(absl::StrCat("health of ", address), serving.status());
  if (!*serving) {
    return Fail(address, absl::UnavailableError("server is NOT_SERVING"));
  }

  // Import the bundled profile (idempotent) and plan once: the cache entry.
  absl::StatusOr<v1::UploadMeasurementsResponse> imported =
      client.UploadProfile(profile);
  if (!imported.ok()) return Fail("import profile", imported.status());
  for (int64_t first = 0; first < options.pad_profile;
       first += options.batch_entries) {
    absl::StatusOr<v1::UploadMeasurementsResponse> padded =
        client.UploadMeasurements(IngestBatch(
            profile.host_class(), false, "service-bench-padding", first,
            static_cast<int>(std::min<int64_t>(options.batch_entries,
                                               options.pad_profile - first))));
    if (!padded.ok()) return Fail("--pad-profile", padded.status());
  }
  absl::StatusOr<v1::HostClassSummary> planned_class =
      client.GetHostClass(host_class);
  if (!planned_class.ok())
    return Fail("get host class", planned_class.status());
  absl::StatusOr<std::string> job_before_plan = NewestJob(client);
  if (!job_before_plan.ok()) return Fail("list jobs", job_before_plan.status());
  const absl::Time plan_begin = absl::Now();
  v1::SolveParameters parameters;
  if (!options.method.empty()) {
    parameters.set_method(MethodNamed(options.method));
  }
  parameters.set_time_limit_seconds(options.time_limit_s);
  Client::PlanOptions plan_options;
  plan_options.deadline = absl::Minutes(5);
  plan_options.parameters = parameters;
  absl::StatusOr<v1::Plan> reference =
      client.GetPlan(graph, host_class, *budget, plan_options);
  if (!reference.ok()) return Fail("first plan", reference.status());
  const absl::Duration first_plan = absl::Now() - plan_begin;
  // The served plan must be a valid plan of this graph on the served
  // profile.
  absl::StatusOr<v1::Profile> exported = client.ExportProfile(host_class);
  if (!exported.ok()) return Fail("export profile", exported.status());
  absl::StatusOr<solver::ProfileModel> profile_model =
      solver::ProfileModel::Create(*exported);
  if (!profile_model.ok())
    return Fail("exported profile", profile_model.status());
  absl::StatusOr<solver::VerifyReport> verified =
      solver::VerifyPlan(*model, *profile_model, *reference, *budget);
  if (!verified.ok()) {
    std::fprintf(stderr,
                 "autotm-service-bench: the served plan fails "
                 "verification: %s\n",
                 verified.status().ToString().c_str());
    return kExitBadResult;
  }
  const size_t reference_bytes = reference->ByteSizeLong();
  const CacheHitCall call(options, graph, host_class, *budget, parameters);
  absl::StatusOr<std::string> newest_before = NewestJob(client);
  if (!newest_before.ok()) return Fail("list jobs", newest_before.status());
  const std::string first_plan_source =
      *newest_before == *job_before_plan
          ? "already cached on the server"
          : absl::StrCat("solved on the server by ", *newest_before);

  std::printf("autotm-service-bench: autotm-server on loopback\n");
  std::printf("  machine      %s; client and server share it\n",
              Machine().c_str());
  std::printf("  server       %s %s\n", address.c_str(), server_note.c_str());
  std::printf(
      "  graph        %s (%d kernels, %d tensors), budget %s = %s\n"
      "  host class   %s: %llu signatures, %llu measurements\n",
      graph.name().c_str(), model->num_kernels(), model->num_tensors(),
      options.budget.c_str(), client::FormatBytes(*budget).c_str(),
      host_class.c_str(),
      static_cast<unsigned long long>(planned_class->signatures()),
      static_cast<unsigned long long>(planned_class->measurements()));
  std::printf("  first plan   %.0f ms (%s: %s, predicted %.3f ms, verified)\n",
              absl::ToDoubleMilliseconds(first_plan), first_plan_source.c_str(),
              v1::Termination_Name(reference->stats().termination()).c_str(),
              reference->predicted_time_us() / 1000);
  std::printf(
      "  call         %s on the cached key: %zu-byte request, %zu-byte plan "
      "back\n",
      call.description().c_str(), call.request_bytes(), reference_bytes);
  if (options.floor) {
    std::printf(
        "  floor        grpc.health.v1.Health/Check (Client::Health) on the "
        "same channel(s), run just before each level\n");
  }
  std::printf("  callers      threads; %s\n",
              options.channels == "shared"
                  ? "all share one autotm::Client (one gRPC channel)"
                  : "one autotm::Client (own gRPC channel) per thread");
  std::printf("  plan parsed  %s\n",
              options.plan_message == "fresh"
                  ? "into a new v1::Plan per call (returned by value)"
              : options.plan_message == "reused"
                  ? "into each caller thread's own v1::Plan, call after call"
                  : "into a new protobuf Arena per call");
  std::printf(
      "  per level    %.1f s measured after %.1f s warm-up (at most %lld "
      "requests)\n\n",
      options.duration_s, options.warmup_s,
      static_cast<long long>(options.max_requests));

  // Clients: one shared, or one per caller of the largest level.
  const int most =
      *std::max_element(options.concurrency.begin(), options.concurrency.end());
  std::vector<std::unique_ptr<Client>> owned;
  const int count = options.channels == "shared" ? 1 : most;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(client_options);
    if (!c.ok()) return Fail("connect", c.status());
    owned.push_back(*std::move(c));
  }

  const pid_t server_pid = server != nullptr ? server->pid() : 0;
  std::printf("  %-7s %7s  %9s  %6s  %10s  %10s  %10s  %12s  %-21s  %s\n",
              "call", "callers", "requests", "errors", "p50", "p99", "max",
              "throughput", "CPU/request cli+srv", "vs floor");
  const MeasuredCall health = [](Client& c) -> absl::StatusOr<size_t> {
    AUTOTM_ASSIGN_OR_RETURN(bool serving, c.Health());
    if (!serving) return absl::UnavailableError("NOT_SERVING");
    return size_t{0};
  };
  MeasuredCall hit = [&call](Client& c) -> absl::StatusOr<size_t> {
    AUTOTM_ASSIGN_OR_RETURN(v1::Plan plan, call(c));
    return plan.ByteSizeLong();
  };
  if (options.plan_message == "reused") {
    hit = [&call](Client& c) -> absl::StatusOr<size_t> {
      // Each caller thread's own message, parsed into call after call.
      thread_local v1::Plan plan;
      AUTOTM_RETURN_IF_ERROR(call.Into(c, &plan));
      return plan.ByteSizeLong();
    };
  } else if (options.plan_message == "arena") {
    hit = [&call](Client& c) -> absl::StatusOr<size_t> {
      google::protobuf::Arena arena;
      auto* plan = google::protobuf::Arena::CreateMessage<v1::Plan>(&arena);
      AUTOTM_RETURN_IF_ERROR(call.Into(c, plan));
      return plan->ByteSizeLong();
    };
  }
  int exit_code = kExitOk;
  for (int callers : options.concurrency) {
    std::vector<Client*> clients;
    for (int i = 0; i < std::min<int>(callers, count); ++i) {
      clients.push_back(owned[i].get());
    }
    auto rate = [](const LevelResult& r) {
      return r.seconds > 0 ? r.requests / r.seconds : 0.0;
    };
    auto row = [&](const char* what, const LevelResult& r,
                   const std::string& ratio) {
      const std::string cpu =
          r.client_cpu_us < 0 ? "-"
          : r.server_cpu_us < 0
              ? absl::StrFormat("%.0f us + ?", r.client_cpu_us)
              : absl::StrFormat("%.0f + %.0f = %.0f us", r.client_cpu_us,
                                r.server_cpu_us,
                                r.client_cpu_us + r.server_cpu_us);
      std::printf(
          "  %-7s %7d  %9lld  %6lld  %7.0f us  %7.0f us  %7.0f us  %8.0f "
          "req/s  %-21s  %s\n",
          what, r.callers, static_cast<long long>(r.requests),
          static_cast<long long>(r.errors + r.mismatches), r.p50_us, r.p99_us,
          r.max_us, rate(r), cpu.c_str(), ratio.c_str());
      std::fflush(stdout);
    };
    LevelResult floor;
    if (options.floor) {
      floor = RunLevel(options, callers, clients, health, 0, server_pid);
      row("floor", floor, "");
      if (floor.errors > 0) {
        std::fprintf(stderr, "autotm-service-bench: health checks failed: %s\n",
                     floor.first_error.c_str());
        exit_code = kExitBadResult;
      }
    }
    const LevelResult level =
        RunLevel(options, callers, clients, hit, reference_bytes, server_pid);
    row("hit", level,
        options.floor && rate(level) > 0
            ? absl::StrFormat(
                  "%.2fx floor's time/request, p99 %.2fx",
                  rate(floor) / rate(level),
                  floor.p99_us > 0 ? level.p99_us / floor.p99_us : 0.0)
            : "");
    if (level.errors > 0) {
      std::fprintf(stderr,
                   "autotm-service-bench: %lld of %lld calls at %d "
                   "callers failed, first: %s\n",
                   static_cast<long long>(level.errors),
                   static_cast<long long>(level.requests), callers,
                   level.first_error.c_str());
      exit_code = kExitBadResult;
    }
    if (level.mismatches > 0) {
      std::fprintf(stderr,
                   "autotm-service-bench: %lld plans at %d callers "
                   "differ in size from the first plan\n",
                   static_cast<long long>(level.mismatches), callers);
      exit_code = kExitBadResult;
    }
  }
  absl::StatusOr<std::string> newest_after = NewestJob(client);
  if (!newest_after.ok()) return Fail("list jobs", newest_after.status());
  if (*newest_after != *newest_before) {
    std::fprintf(stderr,
                 "autotm-service-bench: solve job %s was created "
                 "during the cache-hit runs: not all were hits\n",
                 newest_after->c_str());
    exit_code = kExitBadResult;
  } else {
    std::printf(
        "  (no solve job was created during these runs: every call "
        "was a cache hit)\n");
  }

  std::printf(
      "\nprofile ingest: UploadMeasurements, one caller, batches of %d "
      "generated measurements into a new host class\n",
      options.batch_entries);
  absl::StatusOr<IngestResult> ingest = RunIngest(options, client);
  if (!ingest.ok()) return Fail("ingest", ingest.status());
  std::printf("  %9s  %7s  %8s  %11s  %10s  %10s\n", "entries", "batches",
              "seconds", "entries/s", "batch p50", "batch p99");
  std::printf("  %9lld  %7lld  %8.2f  %11.0f  %7.1f ms  %7.1f ms\n",
              static_cast<long long>(ingest->entries),
              static_cast<long long>(ingest->batches), ingest->seconds,
              ingest->seconds > 0 ? ingest->entries / ingest->seconds : 0.0,
              ingest->batch_p50_ms, ingest->batch_p99_ms);
  std::printf(
      "  rate over the first tenth of the batches %.0f entries/s, over the "
      "last tenth %.0f entries/s\n",
      ingest->first_tenth_rate, ingest->last_tenth_rate);
  std::printf("  host class %s: %lld accepted, %lld stored%s\n",
              ingest->host_class.c_str(),
              static_cast<long long>(ingest->accepted),
              static_cast<long long>(ingest->stored),
              options.keep ? " (kept)" : " (deleted afterwards)");
  if (ingest->accepted != ingest->entries ||
      ingest->stored != ingest->entries) {
    std::fprintf(stderr,
                 "autotm-service-bench: sent %lld measurements, the "
                 "server accepted %lld and stores %lld\n",
                 static_cast<long long>(ingest->entries),
                 static_cast<long long>(ingest->accepted),
                 static_cast<long long>(ingest->stored));
    exit_code = kExitBadResult;
  }
  return exit_code;
}

// The flags given as text and parsed after CLI11 (their defaults shown in
// --help as written).
struct TextFlags {
  std::string concurrency = "1,16,64,256";
  std::string duration = "5s";
  std::string warmup = "0.5s";
};

// Which server: --server or --spawn (exactly one), and --server-binary.
void AddServerFlags(CLI::App& app, BenchOptions& options) {
  auto* target = app.add_option_group("server", "Which server");
  target
      ->add_option("--server", options.server,
                   "Benchmark the autotm-server at HOST:PORT")
      ->type_name("ADDR");
  target->add_flag("--spawn", options.spawn,
                   "Start autotm-server on 127.0.0.1:0 with a SQLite file "
                   "in a temporary directory, and stop it (SIGTERM) at the "
                   "end");
  target->require_option(1);
  app.add_option("--server-binary", options.server_binary,
                 "With --spawn: the autotm-server to start (default: "
                 "$AUTOTM_SERVER_BINARY, else this build's)")
      ->type_name("FILE");
}

// What is planned and how the cache-hit path is called.
void AddPlanFlags(CLI::App& app, BenchOptions& options, TextFlags& text) {
  app.add_option("--graph", options.graph_path, "Graph to plan")
      ->capture_default_str()
      ->type_name("FILE");
  app.add_option("--profile", options.profile_path,
                 "Profile to import; its host class is the one planned on")
      ->capture_default_str()
      ->type_name("FILE");
  app.add_option("--budget", options.budget,
                 "Fast-memory budget of the cached plan: 24GiB, 512MB, 50%")
      ->capture_default_str()
      ->type_name("SIZE|P%");
  app.add_option("--concurrency", text.concurrency,
                 "Concurrent callers per level, comma-separated")
      ->capture_default_str()
      ->type_name("N,N,...");
  app.add_option("--call", options.call,
                 "digest: PlanGraph RPC by digest (Client::PlanGraph); "
                 "client-get-plan: Client::GetPlan (digest and plan "
                 "verification each call); inline: PlanGraph with the whole "
                 "graph; get-plan: GetPlan RPC by digest")
      ->capture_default_str()
      ->check(
          CLI::IsMember({"digest", "client-get-plan", "inline", "get-plan"}));
  app.add_option("--method", options.method,
                 "Method of the cached plan (static, sync, ...; default: "
                 "the server's)")
      ->type_name("NAME")
      ->check(
          CLI::IsMember({"static", "sync", "async", "heuristic", "all-slow"}));
  app.add_option("--time-limit", options.time_limit_s,
                 "Time limit of the first solve in seconds (0: the "
                 "server's default)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// The load of each level: floor, message limit, channels, time, requests.
void AddLoadFlags(CLI::App& app, BenchOptions& options, TextFlags& text) {
  app.add_flag("--no-floor{false}", options.floor,
               "Skip the health-check floor");
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "The client's message limit; with --spawn also the "
                 "server's --max-message-bytes")
      ->capture_default_str();
  app.add_option("--channels", options.channels,
                 "shared: every caller uses one Client (one channel); "
                 "per-caller: one Client per thread (gRPC may still share "
                 "one TCP connection between channels with equal "
                 "arguments)")
      ->capture_default_str()
      ->check(CLI::IsMember({"shared", "per-caller"}));
  app.add_option("--plan-message", options.plan_message,
                 "Where each hit's plan is parsed: fresh: a new Plan per "
                 "call (Client::PlanGraph/LookupPlan, by value); reused: "
                 "one Plan per caller thread, parsed into call after call "
                 "(Client::PlanGraphInto/LookupPlanInto); arena: a new "
                 "protobuf Arena per call (the *Into methods)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fresh", "reused", "arena"}));
  app.add_option("--duration", text.duration, "Measured time per level")
      ->capture_default_str()
      ->type_name("DURATION");
  app.add_option("--warmup", text.warmup, "Unmeasured calls before each level")
      ->capture_default_str()
      ->type_name("DURATION");
  app.add_option("--max-requests", options.max_requests,
                 "Stop a level after this many measured requests")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

// The profile ingest run.
void AddIngestFlags(CLI::App& app, BenchOptions& options) {
  app.add_option("--ingest-entries", options.ingest_entries,
                 "Generated measurements to upload in the ingest run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--pad-profile", options.pad_profile,
                 "Before the first plan, add this many generated "
                 "measurements (other kernels) to the planned host class: "
                 "the cache-hit cost with a larger stored profile. Changes "
                 "that host class; meant for --spawn")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", options.batch_entries,
                 "Measurements per UploadMeasurements call")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_flag("--keep", options.keep,
               "Keep the ingest host class on the server");
}

// Parses `text` into options->concurrency, duration_s and warmup_s; prints
// what is wrong and returns false for a bad value.
bool ApplyTextFlags(const TextFlags& text, BenchOptions* options) {
  options->concurrency.clear();
  for (absl::string_view part : absl::StrSplit(text.concurrency, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 4096) {
      std::fprintf(stderr,
                   "autotm-service-bench: --concurrency: \"%s\" is not a "
                   "list of numbers in [1, 4096]\n",
                   text.concurrency.c_str());
      return false;
    }
    options->concurrency.push_back(n);
  }
  absl::StatusOr<double> duration_s = client::ParseDuration(text.duration);
  absl::StatusOr<double> warmup_s = client::ParseDuration(text.warmup);
  if (!duration_s.ok() || *duration_s <= 0 || !warmup_s.ok()) {
    std::fprintf(stderr,
                 "autotm-service-bench: --duration must be a positive and "
                 "--warmup a non-negative duration\n");
    return false;
  }
  options->duration_s = *duration_s;
  options->warmup_s = *warmup_s;
  return true;
}

int Main(int argc, char** argv) {
  BenchOptions options;
  TextFlags text;
  CLI::App app(
      "autotm-service-bench: plan-cache-hit latency and throughput, and the "
      "profile ingest rate, of an autotm-server on loopback\n"
      "\n"
      "A benchmark client, not a test. It imports the bundled profile\n"
      "(idempotent), plans the bundled graph once at --budget through the\n"
      "server (a solve, then cached), verifies that plan, then for each\n"
      "level of --concurrency runs that many threads that call the cache-hit\n"
      "path back to back for --duration after --warmup, and prints p50, p99\n"
      "and max latency and the throughput (requests/s), each level after\n"
      "the same for gRPC's health Check (the floor; --no-floor skips it).\n"
      "The cache-hit path is PlanGraph by digest (what Client::GetPlan sends\n"
      "first); --call inline sends the whole graph, --call client-get-plan\n"
      "times Client::GetPlan with its client-side digest and verification,\n"
      "--call get-plan measures the GetPlan\n"
      "RPC (the pure lookup) instead. It then times the profile ingest:\n"
      "--ingest-entries generated measurements uploaded by one caller in\n"
      "UploadMeasurements batches of --batch into a new host class (deleted\n"
      "afterwards unless --keep), in entries/s.\n",
      "autotm-service-bench");
  AddServerFlags(app, options);
  AddPlanFlags(app, options, text);
  AddLoadFlags(app, options, text);
  AddIngestFlags(app, options);
  app.footer(
      "Examples:\n"
      "  autotm-service-bench --spawn\n"
      "  autotm-service-bench --server 127.0.0.1:50051 --duration 10s\n"
      "  autotm-service-bench --spawn --call inline --concurrency 1,16\n"
      "\n"
      "Loopback only: run it on the server's machine, which it then\n"
      "shares. Exit codes: 0 done; 1 bad flags or set-up failure; 2 a\n"
      "measured call failed or returned an unexpected result.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitSetup;
  }

  if (!ApplyTextFlags(text, &options)) return kExitSetup;
  // As autotm-server does: Debian's Abseil checks every Mutex acquisition
  // (gRPC's included) for lock-order cycles, a global graph update per
  // Lock, which a client process serving many calls need not pay.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return Run(options);
}

}  // namespace
}  // namespace autotm::bench

int main(int argc, char** argv) { return autotm::bench::Main(argc, argv); }
