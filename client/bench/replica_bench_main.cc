// autotm-replica-bench: solve throughput of 1, 2, 3, ... autotm-server
// replicas on one PostgreSQL (a benchmark, not a test; issue 19).
//
// For each replica count R it creates a fresh database, starts R replicas
// (--workers each), uploads the bundled example's profile, queues --jobs
// solve jobs of the example CNN at distinct budgets (so each is a real
// solve, none a cache hit) through the replicas in turn, and reports the
// wall time until all are SUCCEEDED and the jobs per minute.
//
//   autotm-replica-bench                          # its own PostgreSQL
//   autotm-replica-bench --replicas 1,2,3 --jobs 30
//
// The PostgreSQL server is a throwaway cluster (server/store/testing:
// initdb + pg_ctl in a temporary directory; PostgreSQL 15 from Debian).
//
// Exit codes: 0 done; 1 bad flags or set-up failure; 2 a job did not
// succeed.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "server/store/testing/test_postgres.h"
#include "solver/graph_model.h"
#include "tests/e2e/server_process.h"

#ifndef AUTOTM_SOURCE_DIR
#define AUTOTM_SOURCE_DIR "."
#endif

namespace autotm::bench {
namespace {

struct Options {
  std::vector<int> replicas = {1, 2, 3};
  int jobs = 30;
  int workers = 1;
  double time_limit_s = 60;
};

struct Result {
  int replicas = 0;
  absl::Duration wall;
  int succeeded = 0;
};

absl::StatusOr<Result> RunOnce(server::testing::TestPostgres& pg,
                               const Options& options, int replicas,
                               const v1::Graph& graph,
                               const v1::Profile& profile) {
  absl::StatusOr<std::string> uri = pg.NewDatabase();
  if (!uri.ok()) return uri.status();
  std::vector<std::unique_ptr<testing::ServerProcess>> servers;
  std::vector<std::unique_ptr<Client>> clients;
  for (int r = 0; r < replicas; ++r) {
    testing::ServerProcessOptions server_options;
    server_options.db = *uri;
    server_options.log_path =
        absl::StrCat(pg.dir(), "/bench-", replicas, "-", r, ".log");
    server_options.extra_args = {"--workers",
                                 absl::StrCat(options.workers),
                                 "--replica-id",
                                 absl::StrCat("bench-", r),
                                 "--max-queued-per-principal",
                                 "0"};
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
        testing::ServerProcess::Start(server_options);
    if (!server.ok()) return server.status();
    ClientOptions client_options;
    client_options.address = (*server)->address();
    client_options.deadline = absl::Seconds(60);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    if (!client.ok()) return client.status();
    servers.push_back(*std::move(server));
    clients.push_back(*std::move(client));
  }
  if (absl::StatusOr<v1::UploadMeasurementsResponse> uploaded =
          clients[0]->UploadProfile(profile);
      !uploaded.ok()) {
    return uploaded.status();
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) return model.status();
  const uint64_t peak = model->PeakLiveBytes();
  const absl::Time start = absl::Now();
  std::vector<std::string> ids;
  for (int i = 0; i < options.jobs; ++i) {
    v1::CreateSolveJobRequest request;
    *request.mutable_graph()->mutable_inline_graph() = graph;
    request.set_host_class(profile.host_class().name());
    // Distinct budgets from 20% to 90% of the peak: no cache hits.
    request.add_budgets_bytes(peak * (200 + 700 * i / options.jobs) / 1000);
    request.mutable_parameters()->set_time_limit_seconds(options.time_limit_s);
    absl::StatusOr<v1::SolveJob> job =
        clients[i % replicas]->CreateSolveJob(request);
    if (!job.ok()) return job.status();
    ids.push_back(job->id());
  }
  Result result;
  result.replicas = replicas;
  for (const std::string& id : ids) {
    while (true) {
      absl::StatusOr<v1::SolveJob> job = clients[0]->GetSolveJob(id);
      if (!job.ok()) return job.status();
      if (job->state() >= v1::SolveJob::SUCCEEDED) {
        result.succeeded += job->state() == v1::SolveJob::SUCCEEDED;
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  result.wall = absl::Now() - start;
  for (auto& server : servers) (void)server->Terminate();
  return result;
}

int Main(int argc, char** argv) {
  Options options;
  CLI::App app{"Solve throughput of autotm-server replicas on PostgreSQL"};
  app.add_option("--replicas", options.replicas,
                 "Replica counts to measure, e.g. 1,2,3")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--jobs", options.jobs, "Solve jobs per measurement")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--workers", options.workers, "Worker slots per replica")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--time-limit", options.time_limit_s,
                 "Time limit per solve, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  v1::Graph graph;
  v1::Profile profile;
  if (absl::Status s = client::ReadProtoJsonFile(
          AUTOTM_SOURCE_DIR "/tests/testdata/example_cnn.graph.json", &graph);
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = client::ReadProtoJsonFile(
          AUTOTM_SOURCE_DIR "/tests/testdata/example_cnn.profile.json",
          &profile);
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<server::testing::TestPostgres>> pg =
      server::testing::TestPostgres::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "cannot start PostgreSQL: %s\n",
                 pg.status().ToString().c_str());
    return 1;
  }
  std::printf("| replicas | workers each | jobs | wall (s) | jobs/min |\n");
  std::printf("|---|---|---|---|---|\n");
  int exit_code = 0;
  for (int replicas : options.replicas) {
    absl::StatusOr<Result> result =
        RunOnce(**pg, options, replicas, graph, profile);
    if (!result.ok()) {
      std::fprintf(stderr, "%d replica(s): %s\n", replicas,
                   result.status().ToString().c_str());
      return 1;
    }
    const double seconds = absl::ToDoubleSeconds(result->wall);
    std::printf("| %d | %d | %d | %.1f | %.1f |\n", replicas, options.workers,
                options.jobs, seconds, result->succeeded * 60.0 / seconds);
    std::fflush(stdout);
    if (result->succeeded != options.jobs) exit_code = 2;
  }
  return exit_code;
}

}  // namespace
}  // namespace autotm::bench

int main(int argc, char** argv) { return autotm::bench::Main(argc, argv); }
