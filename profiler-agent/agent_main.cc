// autotm-agent: measures kernel timings and copy bandwidths on this host's
// two memory tiers with real oneDNN kernels and writes and/or uploads the
// profile autotm's planner needs. Flags are read here only and copied into
// agent::ProfilerOptions.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/common/progress_line.h"
#include "client/common/proto_json.h"
#include "client/common/security_flags.h"
#include "client/lib/client.h"
#include "profiler-agent/discovery.h"
#include "profiler-agent/kernels.h"
#include "profiler-agent/profiler.h"
#include "profiler-agent/tier.h"

namespace {

constexpr char kDescription[] =
    R"(autotm-agent: profiles a training graph's kernels on two memory tiers.

For every unique kernel signature of the graph it runs the real oneDNN CPU
kernel with each operand allocated on the tier an IO configuration names
(scratchpad and temporaries on the fast tier), for all 2^k configurations (or a separable
all-fast + one-slow-at-a-time model when 2^k > --max-configs), and times it
(warm-up, then repetitions until the spread of the median is small or a cap).
It also measures tier-to-tier copy bandwidths (synchronous: all threads;
asynchronous: one helper thread). Placement is verified (move_pages for NUMA
nodes, /proc/self/maps + mincore for files): a configuration whose buffers
are not where it says is never measured.

Tiers:  auto       what `autotm-agent tiers` suggests for this host (a
                   node with CPUs fast; a memory-only node, i.e. CXL or
                   PMM in KMEM mode, or else a DAX mount, slow)
        numa:N     DRAM / memory-only NUMA node N (mbind + move_pages check)
        file:DIR   a file in DIR mapped MAP_SHARED: PMM App Direct when DIR
                   is on a DAX mount; otherwise labelled "file-backed
                   emulated tier" in the fingerprint (it proves the
                   mechanics, not the speed of real slow memory).

Example (one-NUMA-node machine):
  mkdir -p /tmp/slowtier
  autotm-agent profile --graph g.graph.json --fast numa:0 \
      --slow file:/tmp/slowtier --out g.profile.json --cache g.cache.json

With a server, the agent measures only what the host class lacks and
uploads it (each kernel once for the whole cluster):
  autotm-agent profile --server localhost:50051 --host-class xeon-cxl \
      --graph resnet50.graph.json --slow numa:1 --cache resnet50.cache.json
  autotm-agent profile --server localhost:50051 --host-class xeon-cxl \
      --slow numa:1      # everything graphs submitted for xeon-cxl lack

Configurations that would split one tensor over both tiers (a kernel
reading the same tensor twice) can never be used and are not measured.

Exit status: 0 all signatures measured; 3 the profile was written/uploaded
but lacks the signatures listed at the end (ops the agent cannot run);
1 any other error.
)";

// "[####......] 12/40 configs  3s elapsed  ETA 9s  conv1.fwd ...".
std::string ProgressText(const autotm::agent::Progress& p) {
  const int width = 30;
  const double frac =
      p.total_configs > 0 ? double(p.done_configs) / p.total_configs : 1.0;
  const int filled = static_cast<int>(frac * width);
  std::string eta = "--";
  if (p.eta != absl::InfiniteDuration()) {
    eta = absl::StrFormat("%.0fs", absl::ToDoubleSeconds(p.eta));
  }
  std::string current = p.current;
  if (current.size() > 50) current = current.substr(0, 47) + "...";
  return absl::StrFormat("[%s%s] %d/%d configs  %.0fs elapsed  ETA %s  %s",
                         std::string(filled, '#'),
                         std::string(width - filled, '.'), p.done_configs,
                         p.total_configs, absl::ToDoubleSeconds(p.elapsed), eta,
                         current);
}

struct AgentFlags {
  std::string graph_path;
  std::string fast_spec = "numa:0";
  std::string slow_spec;
  std::string out_path;
  std::string server;
  std::string host_class = "local";
  std::string cache_path;
  autotm::agent::ProfilerOptions options;
  double max_time_ms = 2000;
  double copy_mib = 64;
  int upload_batch = 64;
  int upload_attempts = 4;
  bool quiet = false;
  autotm::client::SecurityFlags security;
};

// `autotm-agent profile`: its flags land in `flags`.
CLI::App* AddProfileCommand(CLI::App& app, AgentFlags& flags) {
  CLI::App* profile_cmd = app.add_subcommand(
      "profile", "Measure a graph's kernels and write/upload the profile");
  profile_cmd->footer(kDescription);
  profile_cmd->add_option(
      "--graph", flags.graph_path,
      "Graph file (v1.Graph JSON) to profile. With --server, only the "
      "kernels the host class still lacks are measured. Without --graph, "
      "--server gives the work list: every kernel that graphs submitted "
      "for "
      "--host-class still lack");
  profile_cmd
      ->add_option("--fast", flags.fast_spec,
                   "Fast tier: numa:N, file:DIR or auto")
      ->capture_default_str();
  profile_cmd
      ->add_option("--slow", flags.slow_spec,
                   "Slow tier: numa:N, file:DIR or auto")
      ->required();
  profile_cmd->add_option("--out", flags.out_path,
                          "Write the profile here (v1.Profile JSON)");
  profile_cmd->add_option("--server", flags.server,
                          "Upload to this autotm-server (HOST:PORT)");
  autotm::client::AddSecurityFlags(profile_cmd, &flags.security);
  profile_cmd
      ->add_option("--host-class", flags.host_class,
                   "Host class name the profile is stored under")
      ->capture_default_str();
  profile_cmd
      ->add_option("--cache", flags.cache_path,
                   "Resume file: measured kernels are kept here and not "
                   "measured again after an interruption")
      ->capture_default_str();
  profile_cmd
      ->add_option("--max-configs", flags.options.max_configs,
                   "Full 2^k table when 2^k <= this, else separable (k+1 runs)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  profile_cmd
      ->add_option("--warmup", flags.options.measure.warmup, "Untimed runs")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  profile_cmd
      ->add_option("--min-reps", flags.options.measure.min_repetitions,
                   "Minimum timed runs per configuration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  profile_cmd
      ->add_option("--max-reps", flags.options.measure.max_repetitions,
                   "Maximum timed runs per configuration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  profile_cmd
      ->add_option("--max-spread", flags.options.measure.max_spread,
                   "Stop once (q75-q25)/median <= this")
      ->capture_default_str();
  profile_cmd
      ->add_option("--max-time-ms", flags.max_time_ms,
                   "Stop timing a configuration after this much work")
      ->capture_default_str();
  profile_cmd
      ->add_option("--copy-mib", flags.copy_mib,
                   "Copy-bandwidth probe size, MiB")
      ->capture_default_str();
  profile_cmd
      ->add_option("--copy-threads", flags.options.copy_threads,
                   "Threads of the synchronous copy probe (0 = all)")
      ->capture_default_str();
  profile_cmd
      ->add_option("--upload-batch", flags.upload_batch,
                   "Kernels per upload batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  profile_cmd
      ->add_option("--upload-attempts", flags.upload_attempts,
                   "Attempts per batch while the server is UNAVAILABLE")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  profile_cmd->add_flag("--quiet", flags.quiet, "No progress line");
  return profile_cmd;
}

// `autotm-agent tiers`.
CLI::App* AddTiersCommand(CLI::App& app) {
  CLI::App* tiers_cmd = app.add_subcommand(
      "tiers",
      "Show this host's memory tiers (NUMA nodes, HMAT, DAX mounts) and the "
      "--fast/--slow the agent would use for 'auto'");
  tiers_cmd->footer(
      "Reads /sys/devices/system/node (CPUs, MemTotal, SLIT distances, ACPI\n"
      "HMAT bandwidth/latency under access0/initiators) and /proc/mounts\n"
      "(filesystems mounted with dax). Allocates and measures nothing.\n\n"
      "Example: autotm-agent tiers");
  return tiers_cmd;
}

int RunTiers() {
  absl::StatusOr<autotm::agent::HostTiers> tiers =
      autotm::agent::DiscoverTiers();
  if (!tiers.ok()) {
    std::cerr << "autotm-agent: " << tiers.status() << "\n";
    return 1;
  }
  std::cout << autotm::agent::FormatHostTiers(*tiers);
  return 0;
}

// Replaces --fast/--slow "auto" by the discovered tiers. False (said on
// stderr) when discovery fails or finds no pair.
bool ResolveAutoTiers(AgentFlags& flags) {
  if (flags.fast_spec == "auto" || flags.slow_spec == "auto") {
    absl::StatusOr<autotm::agent::HostTiers> tiers =
        autotm::agent::DiscoverTiers();
    if (!tiers.ok()) {
      std::cerr << "autotm-agent: --fast/--slow auto: " << tiers.status()
                << "\n";
      return false;
    }
    if (flags.fast_spec == "auto") flags.fast_spec = tiers->fast;
    if (flags.slow_spec == "auto") flags.slow_spec = tiers->slow;
    if (flags.fast_spec.empty() || flags.slow_spec.empty()) {
      std::cerr << "autotm-agent: --fast/--slow auto: " << tiers->reasoning
                << "\n";
      return false;
    }
    std::cerr << "tiers (auto): --fast " << flags.fast_spec << " --slow "
              << flags.slow_spec << ": " << tiers->reasoning << "\n";
  }
  return true;
}

// A client of --server (nullptr without it), with the security flags.
absl::StatusOr<std::unique_ptr<autotm::Client>> ConnectIfAsked(
    const AgentFlags& flags) {
  if (flags.server.empty()) return nullptr;
  autotm::ClientOptions client_options;
  client_options.address = flags.server;
  client_options.max_attempts = flags.upload_attempts;
  if (absl::Status status =
          autotm::client::ApplySecurityFlags(flags.security, &client_options);
      !status.ok()) {
    return status;
  }
  return autotm::Client::Connect(client_options);
}

// The work list into *work: the graph's kernels, less what the server
// already has for this host class; or the server's list for the host class.
// Returns an exit code when the agent is done (an error, said on stderr, or
// nothing to profile), nullopt to go on measuring.
std::optional<int> BuildWorkList(const AgentFlags& flags,
                                 autotm::Client* client,
                                 const std::string& fingerprint,
                                 std::vector<autotm::v1::WorkItem>* work_out) {
  const std::string& graph_path = flags.graph_path;
  const std::string& server = flags.server;
  const std::string& host_class = flags.host_class;
  std::vector<autotm::v1::WorkItem>& work = *work_out;
  autotm::v1::Graph graph;
  if (!graph_path.empty()) {
    if (absl::Status s = autotm::client::ReadProtoJsonFile(graph_path, &graph);
        !s.ok()) {
      std::cerr << "autotm-agent: " << s << "\n";
      return 1;
    }
    auto local = autotm::agent::WorkListOf(graph);
    if (!local.ok()) {
      std::cerr << "autotm-agent: " << graph_path << ": " << local.status()
                << "\n";
      return 1;
    }
    work = *std::move(local);
  }
  if (client != nullptr) {
    autotm::v1::GetWorkListRequest request;
    request.set_host_class(host_class);
    if (!graph_path.empty()) *request.mutable_graph() = graph;
    auto list = client->GetWorkList(request);
    if (!list.ok()) {
      std::cerr << "autotm-agent: work list from " << server << ": "
                << list.status() << "\n";
      return 1;
    }
    const std::string& stored = list->host_class().fingerprint();
    if (!stored.empty() && stored != fingerprint) {
      std::cerr << "autotm-agent: host class \"" << host_class
                << "\" on the server was measured on \"" << stored
                << "\"; this host is \"" << fingerprint
                << "\". Profiles from different fingerprints never mix: use "
                   "another --host-class.\n";
      return 1;
    }
    const size_t local_count = work.size();
    work.assign(list->items().begin(), list->items().end());
    if (graph_path.empty()) {
      std::cerr << "work list from " << server << ": " << work.size()
                << " signatures missing, from " << list->graphs()
                << " submitted graph(s)\n";
    } else {
      std::cerr << work.size() << " of the graph's " << local_count
                << " unique signatures are missing on " << server << "\n";
    }
    if (list->truncated()) {
      std::cerr << "the work list was cut to its first " << work.size()
                << " signatures (response size limit); run the agent again "
                   "after this upload for the rest\n";
    }
    if (work.empty()) {
      std::cerr << "nothing to profile: host class \"" << host_class
                << "\" has every kernel\n";
      return 0;
    }
  }
  return std::nullopt;
}

// Uploads the profile in batches of --upload-batch kernels, then says how
// many measurements the server accepted.
absl::Status UploadProfile(const AgentFlags& flags, autotm::Client& client,
                           const autotm::v1::Profile& profile) {
  const int upload_batch = flags.upload_batch;
  const auto& kernels = profile.kernels();
  int accepted = 0;
  for (int begin = 0; begin < std::max(1, kernels.size());
       begin += upload_batch) {
    autotm::v1::Profile batch;
    *batch.mutable_host_class() = profile.host_class();
    *batch.mutable_bandwidths() = profile.bandwidths();
    for (int i = begin; i < std::min(kernels.size(), begin + upload_batch);
         ++i) {
      *batch.add_kernels() = kernels[i];
    }
    auto response = client.UploadProfile(batch);
    if (!response.ok()) {
      return absl::Status(
          response.status().code(),
          absl::StrCat("upload of kernels [", begin, ", ",
                       begin + batch.kernels_size(),
                       ") failed (earlier batches are stored; re-running "
                       "with --cache re-sends them harmlessly): ",
                       response.status().ToString()));
    }
    accepted += static_cast<int>(response->accepted());
  }
  std::cerr << "uploaded to " << flags.server << " as " << flags.host_class
            << " (" << accepted << " measurements accepted)\n";
  return absl::OkStatus();
}

// The signatures the agent could not measure, on stderr; exit status 3
// when there are any, else 0.
int ReportUnsupported(const std::vector<std::string>& unsupported) {
  if (!unsupported.empty()) {
    std::cerr << "NOT MEASURED (the profile lacks these signatures; plans "
                 "for this graph will fail coverage until they are "
                 "provided):\n";
    for (const std::string& u : unsupported) {
      std::cerr << "  " << u << "\n";
    }
    std::cerr << "ops autotm-agent can run: "
              << absl::StrJoin(autotm::agent::SupportedOps(), ", ") << "\n";
    return 3;
  }
  return 0;
}

// The bandwidths and kernel counts of a finished profile, on stderr.
void PrintProfileSummary(const autotm::agent::ProfileResult& result) {
  const autotm::v1::CopyBandwidths& bw = result.profile.bandwidths();
  std::cerr << absl::StrFormat(
      "copy GB/s: slow->fast sync %.2f async %.2f; fast->slow sync %.2f "
      "async %.2f\n",
      bw.slow_to_fast_sync_gb_per_s(), bw.slow_to_fast_async_gb_per_s(),
      bw.fast_to_slow_sync_gb_per_s(), bw.fast_to_slow_async_gb_per_s());
  std::cerr << "kernels: " << result.measured_kernels << " measured, "
            << result.cached_kernels << " from cache, "
            << result.unsupported.size() << " not measurable\n";
}

int RunProfile(AgentFlags& flags) {
  if (!ResolveAutoTiers(flags)) return 1;
  if (flags.out_path.empty() && flags.server.empty()) {
    std::cerr << "autotm-agent: give --out FILE and/or --server HOST:PORT\n";
    return 1;
  }
  if (flags.graph_path.empty() && flags.server.empty()) {
    std::cerr << "autotm-agent: give --graph FILE, or --server HOST:PORT to "
                 "profile the server's work list for --host-class\n";
    return 1;
  }
  autotm::agent::ProfilerOptions options = flags.options;
  options.host_class_name = flags.host_class;
  options.cache_path = flags.cache_path;
  options.measure.max_time = absl::Milliseconds(flags.max_time_ms);
  options.copy_bytes = static_cast<size_t>(flags.copy_mib * (1 << 20));
  // Drawn also when stderr is not a terminal, as before (--quiet: none).
  autotm::ProgressLine progress_line(stderr, !flags.quiet);
  options.on_progress = [&progress_line](const autotm::agent::Progress& p) {
    progress_line.Show(ProgressText(p));
  };

  auto fast = autotm::agent::MakeTier(flags.fast_spec);
  auto slow =
      fast.ok() ? autotm::agent::MakeTier(flags.slow_spec) : fast.status();
  if (!fast.ok() || !slow.ok()) {
    std::cerr << "autotm-agent: " << (fast.ok() ? slow.status() : fast.status())
              << "\n";
    return 1;
  }
  const std::string fingerprint =
      autotm::agent::HostFingerprint(**fast, **slow);
  std::cerr << "host class " << flags.host_class
            << "\nfingerprint: " << fingerprint << "\n";

  absl::StatusOr<std::unique_ptr<autotm::Client>> client =
      ConnectIfAsked(flags);
  if (!client.ok()) {
    std::cerr << "autotm-agent: " << client.status() << "\n";
    return 1;
  }
  std::vector<autotm::v1::WorkItem> work;
  if (std::optional<int> done =
          BuildWorkList(flags, client->get(), fingerprint, &work);
      done.has_value()) {
    return *done;
  }

  auto result = autotm::agent::ProfileWorkList(work, **fast, **slow, options);
  progress_line.Finish();
  if (!result.ok()) {
    std::cerr << "autotm-agent: " << result.status() << "\n";
    return 1;
  }
  PrintProfileSummary(*result);
  if (!flags.out_path.empty()) {
    if (absl::Status s =
            autotm::client::WriteProtoJsonFile(flags.out_path, result->profile);
        !s.ok()) {
      std::cerr << "autotm-agent: " << s << "\n";
      return 1;
    }
    std::cerr << "wrote " << flags.out_path << "\n";
  }
  if (*client != nullptr) {
    if (absl::Status s = UploadProfile(flags, **client, result->profile);
        !s.ok()) {
      std::cerr << "autotm-agent: " << s.message() << "\n";
      return 1;
    }
  }
  return ReportUnsupported(result->unsupported);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "autotm-agent");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(AUTOTM_VERSION));
  AgentFlags flags;
  CLI::App* profile_cmd = AddProfileCommand(app, flags);
  CLI::App* tiers_cmd = AddTiersCommand(app);
  CLI11_PARSE(app, argc, argv);
  if (tiers_cmd->parsed()) return RunTiers();
  if (profile_cmd->parsed()) return RunProfile(flags);
  return 1;  // unreachable: a subcommand is required
}
