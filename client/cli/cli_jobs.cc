#include "client/cli/cli_jobs.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cli/cli_pictures.h"
#include "client/cli/cli_remote.h"
#include "client/cli/plan_report.h"
#include "client/common/progress_line.h"
#include "client/common/proto_json.h"
#include "client/common/units.h"
#include "client/lib/client.h"
#include "google/protobuf/util/json_util.h"
#include "solver/allocator.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"

namespace autotm::client {
namespace {

std::string StateName(v1::SolveJob::State state) {
  switch (state) {
    case v1::SolveJob::QUEUED:
      return "queued";
    case v1::SolveJob::RUNNING:
      return "running";
    case v1::SolveJob::SUCCEEDED:
      return "succeeded";
    case v1::SolveJob::FAILED:
      return "failed";
    case v1::SolveJob::CANCELLED:
      return "cancelled";
    default:
      return "?";
  }
}

std::string TimeOf(int64_t unix_us) {
  if (unix_us == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(unix_us),
                          absl::LocalTimeZone());
}

// "1.23%", or "unknown" when the solve has no bound valid for the budget.
std::string GapText(const v1::SolveJob& job) {
  if (!std::isfinite(job.relative_gap())) return "unknown";
  return absl::StrFormat("%.2f%%", 100 * job.relative_gap());
}

// "incumbent 1.234 ms  bound 1.100 ms  gap 10.8%  12 s".
std::string JobProgressText(const v1::SolveJob& job) {
  std::string line = absl::StrFormat("%s %s", job.id(), StateName(job.state()));
  if (job.state() == v1::SolveJob::RUNNING) {
    absl::StrAppendFormat(&line, "  budget %d/%d", job.budgets_done() + 1,
                          job.budgets_bytes_size());
    if (job.incumbent_us() > 0) {
      absl::StrAppendFormat(&line, "  incumbent %s",
                            FormatDuration(job.incumbent_us() / 1e6));
    }
    if (job.bound_us() > 0) {
      absl::StrAppendFormat(&line, "  bound %s",
                            FormatDuration(job.bound_us() / 1e6));
    }
    if (job.incumbent_us() > 0) {
      absl::StrAppend(&line, "  gap ", GapText(job));
    }
    absl::StrAppendFormat(&line, "  %.0f s", job.elapsed_seconds());
  }
  return line;
}

void PrintJob(const v1::SolveJob& job) {
  std::printf("job          %s\n", job.id().c_str());
  std::printf("state        %s\n", StateName(job.state()).c_str());
  if (job.termination() != v1::TERMINATION_UNSPECIFIED) {
    // The typed outcome (SolveJob.termination), e.g. INFEASIBLE.
    absl::string_view termination = v1::Termination_Name(job.termination());
    absl::ConsumePrefix(&termination, "TERMINATION_");
    std::printf("termination  %s\n", std::string(termination).c_str());
  }
  if (!job.error().empty())
    std::printf("reason       %s\n", job.error().c_str());
  std::printf("graph        %s\n", job.graph_digest().c_str());
  std::printf("host class   %s (profile version %llu)\n",
              job.host_class().c_str(),
              static_cast<unsigned long long>(job.profile_version()));
  std::string budgets;
  for (uint64_t b : job.budgets_bytes()) {
    absl::StrAppend(&budgets, budgets.empty() ? "" : ", ", FormatBytes(b));
  }
  std::printf("budgets      %s (%u done)\n", budgets.c_str(),
              job.budgets_done());
  std::printf("priority     %d\n", job.priority());
  if (!job.owner().empty())
    std::printf("owner        %s\n", job.owner().c_str());
  std::printf("time limit   %s, gap %g\n",
              FormatDuration(job.parameters().time_limit_seconds()).c_str(),
              job.parameters().relative_gap());
  if (job.parameters().recompute() == v1::RECOMPUTE_MODE_AUTO) {
    std::printf("recompute    auto\n");
  }
  if (job.parameters().repetition() == v1::REPETITION_MODE_AUTO) {
    std::printf("repetition   auto\n");
  }
  std::printf("created      %s\n", TimeOf(job.create_time_us()).c_str());
  std::printf("started      %s\n", TimeOf(job.start_time_us()).c_str());
  std::printf("ended        %s\n", TimeOf(job.end_time_us()).c_str());
  if (job.incumbent_us() > 0) {
    std::printf("incumbent    %s (bound %s, gap %s)\n",
                FormatDuration(job.incumbent_us() / 1e6).c_str(),
                job.bound_us() > 0
                    ? FormatDuration(job.bound_us() / 1e6).c_str()
                    : "none",
                GapText(job).c_str());
  }
  for (const std::string& key : job.plan_keys()) {
    std::printf("plan         %s\n", key.c_str());
  }
}

std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted.store(true); }

// --- autotm plan

struct PlanFlags {
  RemoteFlags remote;
  std::string graph_path;
  std::string host_class;
  std::string budget;
  std::string variant = "sync";
  std::string time_limit = absl::StrCat(solver::kDefaultTimeLimitSeconds, "s");
  double gap = solver::kDefaultRelativeGap;
  std::string recompute = "none";
  std::string repetition = "off";
  int priority = 0;
  std::string out_path;
  std::string svg_path;
};

// Polls `job` until it is final, with live progress on a terminal (one
// line rewritten in place on stderr). Ctrl-C cancels the job (the server
// keeps its best plan so far). Returns the final job, or the error of a
// failed poll.
absl::StatusOr<v1::SolveJob> WaitForJob(Client& client, v1::SolveJob job) {
  ::signal(SIGINT, OnInterrupt);
  ProgressLine progress(stderr, ProgressLine::IsTerminal(stderr));
  while (job.state() == v1::SolveJob::QUEUED ||
         job.state() == v1::SolveJob::RUNNING) {
    if (g_interrupted.exchange(false)) {
      progress.Finish();
      std::fprintf(stderr, "autotm: cancelling %s\n", job.id().c_str());
      client.CancelSolveJob(job.id()).IgnoreError();
    }
    absl::SleepFor(absl::Milliseconds(250));
    absl::StatusOr<v1::SolveJob> now = client.GetSolveJob(job.id());
    if (!now.ok()) {
      progress.Finish();
      return now.status();
    }
    job = *std::move(now);
    progress.Show(JobProgressText(job));
  }
  progress.Finish();
  return job;
}

int RunPlan(const PlanFlags& flags) {
  // Not CLI11-required: `plan show` parses `plan` too and needs none of them.
  for (const auto& [flag, value] :
       {std::pair<const char*, const std::string&>{"--graph", flags.graph_path},
        {"--host-class", flags.host_class},
        {"--budget", flags.budget}}) {
    if (value.empty()) {
      PrintError(absl::StrCat(flag,
                              " is required (see autotm plan --help; to look "
                              "at a plan file: autotm plan show)"));
      return kExitBadInput;
    }
  }
  if (!flags.svg_path.empty()) {
    if (absl::Status status = CheckOutputFile(flags.svg_path); !status.ok()) {
      PrintError(absl::StrCat("--svg: ", Message(status)));
      return kExitBadInput;
    }
  }
  v1::Graph graph;
  if (absl::Status status = ReadProtoJsonFile(flags.graph_path, &graph);
      !status.ok()) {
    return Fail(status);
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) {
    PrintError(absl::StrCat(flags.graph_path, ": ", Message(model.status())));
    return kExitBadInput;
  }
  absl::StatusOr<uint64_t> budget = ParseBudget(
      flags.budget,
      solver::AlignedPeakLiveBytes(*model, solver::kDefaultAlignmentBytes));
  if (!budget.ok()) {
    PrintError(absl::StrCat("--budget: ", Message(budget.status())));
    return kExitBadInput;
  }
  absl::StatusOr<double> time_limit = ParseDuration(flags.time_limit);
  if (!time_limit.ok() || *time_limit <= 0) {
    PrintError(absl::StrCat("--time-limit: \"", flags.time_limit,
                            "\" is not a positive duration"));
    return kExitBadInput;
  }
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags.remote);
  if (!client.ok()) return Fail(client.status());

  v1::SolveParameters parameters;
  parameters.set_method(Variants().at(flags.variant));
  parameters.set_time_limit_seconds(*time_limit);
  parameters.set_relative_gap(flags.gap);
  parameters.set_recompute(flags.recompute == "auto" ? v1::RECOMPUTE_MODE_AUTO
                                                     : v1::RECOMPUTE_MODE_NONE);
  parameters.set_repetition(flags.repetition == "auto"
                                ? v1::REPETITION_MODE_AUTO
                                : v1::REPETITION_MODE_OFF);

  v1::GetPlanRequest lookup;
  *lookup.mutable_graph()->mutable_inline_graph() = graph;
  lookup.set_host_class(flags.host_class);
  lookup.set_budget_bytes(*budget);
  *lookup.mutable_parameters() = parameters;
  absl::StatusOr<v1::Plan> plan = (*client)->LookupPlan(lookup);
  bool cached = plan.ok();
  if (!plan.ok() && !absl::IsNotFound(plan.status()))
    return Fail(plan.status());
  if (!plan.ok() && absl::StrContains(plan.status().message(), "unknown")) {
    return Fail(plan.status());
  }
  if (!plan.ok()) {
    v1::CreateSolveJobRequest create;
    *create.mutable_graph()->mutable_inline_graph() = graph;
    create.set_host_class(flags.host_class);
    create.add_budgets_bytes(*budget);
    *create.mutable_parameters() = parameters;
    create.set_priority(flags.priority);
    absl::StatusOr<v1::SolveJob> job = (*client)->CreateSolveJob(create);
    if (!job.ok()) return Fail(job.status());
    std::fprintf(stderr, "autotm: queued %s\n", job->id().c_str());
    absl::StatusOr<v1::SolveJob> final_job = WaitForJob(**client, *job);
    if (!final_job.ok()) return Fail(final_job.status());
    const v1::SolveJob& last = *final_job;
    if (last.state() != v1::SolveJob::SUCCEEDED) {
      PrintError(absl::StrCat(last.id(), " ", StateName(last.state()), ": ",
                              last.error()));
      return kExitNoPlan;
    }
    plan = (*client)->LookupPlan(lookup);
    if (!plan.ok()) return Fail(plan.status());
  }
  if (!flags.out_path.empty()) {
    if (absl::Status status = WriteProtoJsonFile(flags.out_path, *plan);
        !status.ok()) {
      return Fail(status);
    }
  }
  if (!flags.svg_path.empty()) {
    // The server keeps the profile: no kernel-time split in this picture.
    if (absl::Status status =
            WritePlanSvg(flags.svg_path, *plan, *model, /*profile=*/nullptr);
        !status.ok()) {
      return Fail(status);
    }
    std::fprintf(stderr, "autotm: wrote %s\n", flags.svg_path.c_str());
  }
  if (flags.remote.json) return PrintJson(*plan);
  std::printf("%s", FormatPlanReport(*plan, &*model).c_str());
  std::printf("%s\n", cached ? "(served from the plan cache)"
                             : "(solved on the server and cached)");
  return kExitOk;
}

// --- autotm jobs

int RunJobsList(const RemoteFlags& flags, const std::string& state,
                int page_size) {
  v1::ListSolveJobsRequest request;
  if (!state.empty()) {
    v1::SolveJob::State parsed;
    std::string upper = state;
    for (char& c : upper) c = static_cast<char>(std::toupper(c));
    if (!v1::SolveJob::State_Parse(upper, &parsed)) {
      PrintError(absl::StrCat("--state: unknown state \"", state, "\""));
      return kExitBadInput;
    }
    request.set_state(parsed);
  }
  request.set_page_size(page_size);
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::ListSolveJobsResponse> response =
      (*client)->ListSolveJobs(request);
  if (!response.ok()) return Fail(response.status());
  if (flags.json) return PrintJson(*response);
  std::printf("%-12s %-10s %4s %-20s %8s %-19s %s\n", "JOB", "STATE", "PRIO",
              "HOST CLASS", "BUDGETS", "CREATED", "PROGRESS/REASON");
  for (const v1::SolveJob& job : response->jobs()) {
    std::string detail = job.error();
    if (job.state() == v1::SolveJob::RUNNING && job.incumbent_us() > 0) {
      detail = absl::StrFormat("gap %s, %.0f s", GapText(job),
                               job.elapsed_seconds());
    }
    std::printf("%-12s %-10s %4d %-20s %4u/%-3d %-19s %s\n", job.id().c_str(),
                StateName(job.state()).c_str(), job.priority(),
                job.host_class().c_str(), job.budgets_done(),
                job.budgets_bytes_size(), TimeOf(job.create_time_us()).c_str(),
                detail.c_str());
  }
  if (!response->next_page_token().empty()) {
    std::printf("(more: --page-token %s)\n",
                response->next_page_token().c_str());
  }
  return kExitOk;
}

int RunJobsShow(const RemoteFlags& flags, const std::string& id) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::SolveJob> job = (*client)->GetSolveJob(id);
  if (!job.ok()) return Fail(job.status());
  if (flags.json) return PrintJson(*job);
  PrintJob(*job);
  return kExitOk;
}

int RunJobsWatch(const RemoteFlags& flags, const std::string& id) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  ProgressLine live(stdout, !flags.json && ProgressLine::IsTerminal(stdout));
  absl::StatusOr<v1::SolveJob> last =
      (*client)->WatchSolveJob(id, [&](const v1::SolveJob& job) {
        if (flags.json) {
          google::protobuf::util::JsonPrintOptions options;
          std::string json;
          if (google::protobuf::util::MessageToJsonString(job, &json, options)
                  .ok()) {
            std::printf("%s\n", json.c_str());  // one JSON object per line
          }
        } else if (live.live()) {
          live.Show(JobProgressText(job));
        } else {
          std::printf("%s\n", JobProgressText(job).c_str());
        }
        std::fflush(stdout);
      });
  live.Finish();
  if (!last.ok()) return Fail(last.status());
  if (!flags.json && !last->error().empty()) {
    std::printf("%s\n", last->error().c_str());
  }
  return last->state() == v1::SolveJob::SUCCEEDED ? kExitOk : kExitNoPlan;
}

int RunJobsCancel(const RemoteFlags& flags, const std::string& id) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::SolveJob> job = (*client)->CancelSolveJob(id);
  if (!job.ok()) return Fail(job.status());
  // A running job stops within about a second: wait for it briefly.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (job->state() == v1::SolveJob::RUNNING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    absl::StatusOr<v1::SolveJob> now = (*client)->GetSolveJob(id);
    if (!now.ok()) return Fail(now.status());
    job = *now;
  }
  if (flags.json) return PrintJson(*job);
  std::printf("%s %s%s%s\n", job->id().c_str(), StateName(job->state()).c_str(),
              job->error().empty() ? "" : ": ", job->error().c_str());
  return kExitOk;
}

}  // namespace

std::vector<CliCommand> AddJobCommands(CLI::App& app) {
  std::vector<CliCommand> commands;

  auto* plan_flags = new PlanFlags();  // lives as long as the process
  CLI::App* plan = app.add_subcommand(
      "plan",
      "Plan a graph through an autotm-server\n"
      "\n"
      "Asks the server for the plan of a graph on a host class under a\n"
      "budget: the cached plan at once, or a solve queued on the server,\n"
      "with a live progress line (incumbent, bound, gap) while it runs.\n"
      "Ctrl-C cancels the solve. Prints the plan summary (or the plan JSON\n"
      "with --json), writes it to --out and draws it to --svg.\n"
      "`autotm plan show PLAN --graph G` looks at a saved plan file\n"
      "without a server.\n");
  AddRemoteFlags(plan, &plan_flags->remote);
  plan->add_option("--graph", plan_flags->graph_path,
                   "Training graph (autotm.v1.Graph JSON); required")
      ->type_name("FILE");
  plan->add_option("--host-class", plan_flags->host_class,
                   "Host class whose uploaded profile to plan with; required")
      ->type_name("NAME");
  plan->add_option("--budget", plan_flags->budget,
                   "Fast memory at every kernel: 24GiB, 512MB, 20%; required")
      ->type_name("SIZE|P%");
  plan->add_option("--variant", plan_flags->variant,
                   "sync, async, static, heuristic, all-fast, all-slow, "
                   "first-touch, 2lm (a simulation of Optane's Memory Mode "
                   "with 64-byte lines)")
      ->check(CLI::IsMember(VariantNames()))
      ->capture_default_str()
      ->type_name("NAME");
  plan->add_option("--time-limit", plan_flags->time_limit,
                   "Wall-clock limit of the solve")
      ->capture_default_str()
      ->type_name("DURATION");
  plan->add_option("--gap", plan_flags->gap,
                   "Stop within this relative gap of optimal")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str()
      ->type_name("FRACTION");
  plan->add_option("--recompute", plan_flags->recompute,
                   "none or auto: as `autotm solve --recompute` (the ILP may "
                   "re-run producers instead of keeping or moving; sync "
                   "only); part of the plan-cache key")
      ->check(CLI::IsMember({"none", "auto"}))
      ->capture_default_str()
      ->type_name("MODE");
  plan->add_option("--repetition", plan_flags->repetition,
                   "off or auto: as `autotm solve --repetition` (try the "
                   "model with identical layers tied first); part of the "
                   "plan-cache key")
      ->check(CLI::IsMember({"off", "auto"}))
      ->capture_default_str()
      ->type_name("MODE");
  plan->add_option("--priority", plan_flags->priority,
                   "Queue priority (higher runs first)")
      ->capture_default_str();
  plan->add_option("--out", plan_flags->out_path,
                   "Write the plan here (autotm.v1.Plan JSON)")
      ->type_name("FILE");
  plan->add_option("--svg", plan_flags->svg_path, kPlanSvgHelp)
      ->type_name("FILE");
  plan->footer(
      "Example:\n"
      "  autotm plan --server 127.0.0.1:50051 \\\n"
      "      --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --host-class example-optane-like --budget 50% --svg plan.svg\n"
      "  autotm plan show plan.json --graph G.json --svg plan.svg\n\n"
      "Subcommand: show PLAN --graph G  summarize a plan file and draw it\n"
      "(autotm plan show --help).\n\n"
      "Exit codes: 0 plan printed; 1 bad input or refused by the server;\n"
      "2 no plan (infeasible, failed or cancelled); 5 server unreachable.");
  // `plan show` first: parsing it marks `plan` parsed as well.
  commands.push_back(AddPlanShowCommand(plan));
  commands.push_back({plan, [plan_flags] { return RunPlan(*plan_flags); }});

  CLI::App* jobs = app.add_subcommand(
      "jobs", "List, inspect, watch and cancel solve jobs on a server");
  jobs->require_subcommand(1);

  auto* list_flags = new RemoteFlags();
  auto* list_state = new std::string();
  auto* list_size = new int(50);
  CLI::App* list = jobs->add_subcommand("list", "Solve jobs, newest first");
  AddRemoteFlags(list, list_flags);
  list->add_option("--state", *list_state,
                   "Only jobs in this state (queued, running, ...)");
  list->add_option("--page-size", *list_size, "At most this many")
      ->capture_default_str();
  commands.push_back(
      {list,
       [=] { return RunJobsList(*list_flags, *list_state, *list_size); }});

  struct IdCommand {
    const char* name;
    const char* help;
    int (*run)(const RemoteFlags&, const std::string&);
  };
  for (const IdCommand& c :
       {IdCommand{"show", "One job: state, progress, plans", RunJobsShow},
        IdCommand{"watch", "Stream a job's progress until it is final",
                  RunJobsWatch},
        IdCommand{"cancel", "Cancel a queued or running job", RunJobsCancel}}) {
    auto* flags = new RemoteFlags();
    auto* id = new std::string();
    CLI::App* sub = jobs->add_subcommand(c.name, c.help);
    AddRemoteFlags(sub, flags);
    sub->add_option("id", *id, "Job id, e.g. job-000042")->required();
    auto run = c.run;
    commands.push_back({sub, [=] { return run(*flags, *id); }});
  }
  return commands;
}

}  // namespace autotm::client
