#include "client/cli/cli_profiles.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/cli_remote.h"
#include "client/common/proto_json.h"
#include "client/common/units.h"
#include "client/costmodel/optane_import.h"
#include "client/lib/client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace autotm::client {
namespace {

// Prints rows as columns separated by two spaces; columns whose index is in
// `right` are right-aligned (numbers).
void PrintTable(const std::vector<std::vector<std::string>>& rows,
                const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      const bool last = c + 1 == row.size();
      const std::string pad(width[c] - row[c].size(), ' ');
      if (c < right.size() && right[c]) {
        line += pad + row[c];
      } else {
        line += row[c];
        if (!last) line += pad;
      }
    }
    std::printf("%s\n", line.c_str());
  }
}

std::string Shorten(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  return text.substr(0, max - 3) + "...";
}

// --- Commands.

int RunServerStatus(const RemoteFlags& flags) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<bool> serving = (*client)->Health();
  if (flags.json) {
    std::string extra =
        serving.ok()
            ? ""
            : absl::StrCat(",\n  \"error\": ",
                           JsonStringLiteral(serving.status().message()));
    if (serving.ok()) {
      if (absl::StatusOr<v1::ServerInfo> info = (*client)->GetServerInfo();
          info.ok()) {
        absl::StrAppend(
            &extra, ",\n  \"insecure\": ", info->insecure() ? "true" : "false",
            ",\n  \"tls\": ", info->tls() ? "true" : "false",
            ",\n  \"authentication\": ",
            info->authentication() ? "true" : "false",
            ",\n  \"principal\": ", JsonStringLiteral(info->principal()));
      }
    }
    std::printf("{\n  \"server\": %s,\n  \"status\": \"%s\"%s\n}\n",
                JsonStringLiteral(flags.server).c_str(),
                !serving.ok() ? "UNREACHABLE"
                : *serving    ? "SERVING"
                              : "NOT_SERVING",
                extra.c_str());
    return serving.ok() && *serving ? kExitOk
           : serving.ok()           ? kExitBadInput
                                    : Fail(serving.status());
  }
  if (!serving.ok()) return Fail(serving.status());
  std::printf("server %s: %s\n", flags.server.c_str(),
              *serving ? "SERVING" : "NOT_SERVING");
  // Security and identity (servers older than ServerService: UNIMPLEMENTED,
  // nothing more to print).
  absl::StatusOr<v1::ServerInfo> info = (*client)->GetServerInfo();
  if (info.ok()) {
    std::printf("version: %s\n", info->version().c_str());
    std::printf("security: %s, %s\n",
                !info->tls()         ? "plaintext"
                : info->mutual_tls() ? "mutual TLS"
                                     : "TLS",
                info->authentication()
                    ? "identities from a tokens file"
                    : "no authentication (every caller has every role)");
    std::printf("you are: %s (roles: %s%s%s)\n", info->principal().c_str(),
                absl::StrJoin(info->roles(), ",").c_str(),
                info->host_classes().empty() ? "" : "; host classes: ",
                absl::StrJoin(info->host_classes(), ",").c_str());
    if (info->insecure()) {
      std::printf(
          "WARNING: INSECURE: this server runs with --insecure on an address "
          "other hosts can reach, without %s; anyone who reaches the port "
          "may read and change everything\n",
          !info->tls() ? "TLS" : "authentication");
      PrintError("the server runs with --insecure (see above)");
    }
  } else if (!absl::IsUnimplemented(info.status())) {
    return Fail(info.status());
  }
  return *serving ? kExitOk : kExitBadInput;
}

int RunProfilesList(const RemoteFlags& flags) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::ListHostClassesResponse> list =
      (*client)->ListHostClasses();
  if (!list.ok()) return Fail(list.status());
  if (flags.json) return PrintJson(*list);
  if (list->host_classes().empty()) {
    std::printf("no host classes on %s\n", flags.server.c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"HOST CLASS", "VERSION", "SIGNATURES", "CONFIGS", "MEASUREMENTS",
       "FINGERPRINT"}};
  for (const v1::HostClassSummary& s : list->host_classes()) {
    rows.push_back({s.host_class().name(), absl::StrCat(s.profile_version()),
                    absl::StrCat(s.signatures()), absl::StrCat(s.configs()),
                    absl::StrCat(s.measurements()),
                    Shorten(s.host_class().fingerprint(), 48)});
  }
  PrintTable(rows, {false, true, true, true, true, false});
  return kExitOk;
}

int RunProfilesShow(const RemoteFlags& flags, const std::string& name) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::HostClassSummary> s = (*client)->GetHostClass(name);
  if (!s.ok()) return Fail(s.status());
  if (flags.json) return PrintJson(*s);
  PrintTable({{"host class:", s->host_class().name()},
              {"fingerprint:", s->host_class().fingerprint()},
              {"fast tier:", s->host_class().fast_tier_name()},
              {"slow tier:", s->host_class().slow_tier_name()},
              {"profile version:", absl::StrCat(s->profile_version())},
              {"signatures:", absl::StrCat(s->signatures())},
              {"configurations:", absl::StrCat(s->configs())},
              {"measurements:", absl::StrCat(s->measurements())}},
             {});
  if (s->contributions_size() > 0) {
    // Provenance: who uploaded what (docs/SECURITY.md).
    std::printf("\n");
    std::vector<std::vector<std::string>> rows = {
        {"CONTRIBUTED BY", "MEASUREMENTS", "SIGNATURES"}};
    for (const v1::Contribution& c : s->contributions()) {
      rows.push_back({c.principal().empty() ? "(unrecorded)" : c.principal(),
                      absl::StrCat(c.measurements()),
                      absl::StrCat(c.signatures())});
    }
    PrintTable(rows, {false, true, true});
  }
  return kExitOk;
}

int RunProfilesDrop(const RemoteFlags& flags, const std::string& name,
                    const std::string& principal) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::DropMeasurementsResponse> dropped =
      (*client)->DropMeasurements(name, principal);
  if (!dropped.ok()) return Fail(dropped.status());
  if (flags.json) return PrintJson(*dropped);
  std::printf(
      "dropped %llu measurement(s) by %s from host class %s "
      "(profile version %llu)\n",
      static_cast<unsigned long long>(dropped->removed()), principal.c_str(),
      name.c_str(),
      static_cast<unsigned long long>(dropped->profile_version()));
  return kExitOk;
}

int RunProfilesImport(const RemoteFlags& flags, const std::string& path) {
  v1::Profile profile;
  if (absl::Status read = ReadProtoJsonFile(path, &profile); !read.ok()) {
    return Fail(read);
  }
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::UploadMeasurementsResponse> result =
      (*client)->UploadProfile(profile);
  if (!result.ok()) {
    return Fail(
        absl::Status(result.status().code(),
                     absl::StrCat(path, ": ", result.status().message())));
  }
  if (flags.json) return PrintJson(*result);
  std::printf(
      "imported %s into host class %s: %llu accepted, %llu duplicates, "
      "profile version %llu\n",
      path.c_str(), profile.host_class().name().c_str(),
      static_cast<unsigned long long>(result->accepted()),
      static_cast<unsigned long long>(result->duplicates()),
      static_cast<unsigned long long>(result->profile_version()));
  return kExitOk;
}

// --- profiles import --format optane-jsonl

inline constexpr char kFormatProfile[] = "profile-json";
inline constexpr char kFormatOptane[] = "optane-jsonl";

struct OptaneImportFlags {
  std::string format = kFormatProfile;
  std::string host_class = costmodel::kOptaneImportHostClass;
  std::string out;
  std::string coverage_graph;
  bool upload = false;
};

std::string Percent(int64_t part, int64_t whole) {
  return whole == 0 ? "-" : absl::StrFormat("%.1f%%", 100.0 * part / whole);
}

google::protobuf::Value Num(double v) {
  google::protobuf::Value value;
  value.set_number_value(v);
  return value;
}

google::protobuf::Value Str(absl::string_view s) {
  google::protobuf::Value value;
  value.set_string_value(std::string(s));
  return value;
}

google::protobuf::Value ReasonsJson(
    const std::map<costmodel::UnmappedReason, int64_t>& reasons) {
  google::protobuf::Value value;
  auto* fields = value.mutable_struct_value()->mutable_fields();
  for (const auto& [reason, n] : reasons) {
    (*fields)[std::string(costmodel::UnmappedReasonName(reason))] = Num(n);
  }
  return value;
}

// The report as one JSON object: the text report's figures under the same
// names.
google::protobuf::Struct ImportReportJson(
    const std::string& path, const costmodel::OptaneImport& imported,
    const std::optional<costmodel::ProfileCoverage>& coverage,
    const std::string& graph_name, const OptaneImportFlags& flags,
    const v1::UploadMeasurementsResponse* uploaded, const std::string& server) {
  const costmodel::OptaneImportReport& r = imported.report;
  google::protobuf::Struct json;
  auto& f = *json.mutable_fields();
  f["file"] = Str(path);
  f["hostClass"] = Str(imported.profile.host_class().name());
  f["records"] = Num(r.records);
  f["kernels"] = Num(r.kernels);
  f["mappedKernels"] = Num(r.mapped_kernels);
  f["mappedRecords"] = Num(r.mapped_records);
  f["signatures"] = Num(r.signatures);
  f["configs"] = Num(r.configs);
  f["mergedConfigs"] = Num(r.merged_configs);
  f["unmappedKernels"] = ReasonsJson(r.unmapped_kernels);
  google::protobuf::Value ops;
  for (const auto& [op, s] : r.ops) {
    google::protobuf::Value row;
    auto& o = *row.mutable_struct_value()->mutable_fields();
    o["op"] = Str(op);
    google::protobuf::Value ours;
    for (const std::string& our : s.our_ops) {
      *ours.mutable_list_value()->add_values() = Str(our);
    }
    o["ourOps"] = std::move(ours);
    o["records"] = Num(s.records);
    o["kernels"] = Num(s.kernels);
    o["mappedKernels"] = Num(s.mapped_kernels);
    o["mappedRecords"] = Num(s.mapped_records);
    o["signatures"] = Num(s.signatures);
    o["configs"] = Num(s.configs);
    o["unmappedKernels"] = ReasonsJson(s.unmapped_kernels);
    if (!s.note.empty()) o["note"] = Str(s.note);
    *ops.mutable_list_value()->add_values() = std::move(row);
  }
  f["ops"] = std::move(ops);
  if (coverage) {
    google::protobuf::Value cov;
    auto& c = *cov.mutable_struct_value()->mutable_fields();
    c["graph"] = Str(graph_name);
    c["file"] = Str(flags.coverage_graph);
    c["signatures"] = Num(coverage->signatures);
    c["covered"] = Num(coverage->covered);
    c["kernels"] = Num(coverage->kernels);
    c["coveredKernels"] = Num(coverage->covered_kernels);
    c["complete"].set_bool_value(coverage->complete());
    google::protobuf::Value by_op;
    for (const auto& [op, oc] : coverage->ops) {
      google::protobuf::Value row;
      auto& o = *row.mutable_struct_value()->mutable_fields();
      o["signatures"] = Num(oc.signatures);
      o["covered"] = Num(oc.covered);
      (*by_op.mutable_struct_value()->mutable_fields())[op] = std::move(row);
    }
    c["ops"] = std::move(by_op);
    f["coverage"] = std::move(cov);
  }
  if (!flags.out.empty()) f["out"] = Str(flags.out);
  if (uploaded != nullptr) {
    google::protobuf::Value up;
    auto& u = *up.mutable_struct_value()->mutable_fields();
    u["server"] = Str(server);
    u["accepted"] = Num(static_cast<double>(uploaded->accepted()));
    u["duplicates"] = Num(static_cast<double>(uploaded->duplicates()));
    u["profileVersion"] = Num(static_cast<double>(uploaded->profile_version()));
    f["upload"] = std::move(up);
  }
  return json;
}

void PrintImportReport(
    const std::string& path, const costmodel::OptaneImport& imported,
    const std::optional<costmodel::ProfileCoverage>& coverage,
    const std::string& graph_name, const OptaneImportFlags& flags) {
  const costmodel::OptaneImportReport& r = imported.report;
  std::printf("read %lld measurements of %lld kernels from %s\n",
              static_cast<long long>(r.records),
              static_cast<long long>(r.kernels), path.c_str());
  std::printf(
      "mapped %lld kernels (%s; %lld measurements) to %lld signatures of ours "
      "with %lld configurations (%lld merged by median)\n\n",
      static_cast<long long>(r.mapped_kernels),
      Percent(r.mapped_kernels, r.kernels).c_str(),
      static_cast<long long>(r.mapped_records),
      static_cast<long long>(r.signatures), static_cast<long long>(r.configs),
      static_cast<long long>(r.merged_configs));
  std::vector<std::vector<std::string>> rows = {
      {"NGRAPH OP", "OURS", "RECORDS", "KERNELS", "MAPPED", "SIGNATURES",
       "CONFIGS", "UNMAPPED (REASON)"}};
  std::vector<std::string> notes;
  for (const auto& [op, s] : r.ops) {
    std::string unmapped;
    for (const auto& [reason, n] : s.unmapped_kernels) {
      if (!unmapped.empty()) unmapped += ", ";
      absl::StrAppend(&unmapped, n, " ", costmodel::UnmappedReasonName(reason));
    }
    const std::string ours =
        s.our_ops.empty() ? "-" : absl::StrJoin(s.our_ops, ",");
    rows.push_back({op, ours, absl::StrCat(s.records), absl::StrCat(s.kernels),
                    absl::StrCat(s.mapped_kernels), absl::StrCat(s.signatures),
                    absl::StrCat(s.configs),
                    unmapped.empty() ? "-" : unmapped});
    if (!s.note.empty()) {
      notes.push_back(absl::StrCat(op, " -> ", ours, ": ", s.note));
    }
  }
  PrintTable(rows, {false, false, true, true, true, true, true, false});
  std::printf("\nunmapped kernels by reason:");
  if (r.unmapped_kernels.empty()) std::printf(" none");
  std::printf("\n");
  for (const auto& [reason, n] : r.unmapped_kernels) {
    std::printf("  %-18s %lld\n",
                std::string(costmodel::UnmappedReasonName(reason)).c_str(),
                static_cast<long long>(n));
  }
  if (!notes.empty()) {
    std::printf("projections (reported, not hidden):\n");
    for (const std::string& note : notes) std::printf("  %s\n", note.c_str());
  }
  if (coverage) {
    std::printf(
        "\ncoverage of %s (%s): %lld of %lld signatures (%s), %lld of %lld "
        "kernels; %s\n",
        graph_name.c_str(), flags.coverage_graph.c_str(),
        static_cast<long long>(coverage->covered),
        static_cast<long long>(coverage->signatures),
        Percent(coverage->covered, coverage->signatures).c_str(),
        static_cast<long long>(coverage->covered_kernels),
        static_cast<long long>(coverage->kernels),
        coverage->complete()
            ? "complete: a plan is possible with this profile alone"
            : "incomplete: a plan needs every signature (see `autotm "
              "profile synth` for the rest)");
    std::vector<std::vector<std::string>> cov = {
        {"  OUR OP", "SIGNATURES", "COVERED"}};
    for (const auto& [op, oc] : coverage->ops) {
      cov.push_back(
          {"  " + op, absl::StrCat(oc.signatures), absl::StrCat(oc.covered)});
    }
    PrintTable(cov, {false, true, true});
  }
}

int RunOptaneImport(const RemoteFlags& remote, const OptaneImportFlags& flags,
                    const std::string& path) {
  costmodel::OptaneImportOptions options;
  options.host_class = flags.host_class;
  absl::StatusOr<costmodel::OptaneImport> imported =
      costmodel::ImportOptaneFile(path, options);
  if (!imported.ok()) return Fail(imported.status());

  std::optional<costmodel::ProfileCoverage> coverage;
  std::string graph_name;
  if (!flags.coverage_graph.empty()) {
    v1::Graph graph;
    if (absl::Status read = ReadProtoJsonFile(flags.coverage_graph, &graph);
        !read.ok()) {
      return Fail(read);
    }
    graph_name = graph.name().empty() ? "the graph" : graph.name();
    coverage = costmodel::ComputeCoverage(graph, imported->profile);
  }
  if (!flags.out.empty()) {
    if (absl::Status written = WriteProtoJsonFile(flags.out, imported->profile);
        !written.ok()) {
      return Fail(written);
    }
  }
  // Without --out the profile goes to the server; with it, only on --upload.
  std::optional<v1::UploadMeasurementsResponse> uploaded;
  if (flags.out.empty() || flags.upload) {
    absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(remote);
    if (!client.ok()) return Fail(client.status());
    absl::StatusOr<v1::UploadMeasurementsResponse> result =
        (*client)->UploadProfile(imported->profile);
    if (!result.ok()) {
      return Fail(
          absl::Status(result.status().code(),
                       absl::StrCat(path, ": ", result.status().message())));
    }
    uploaded = *std::move(result);
  }
  if (remote.json) {
    return PrintJson(ImportReportJson(path, *imported, coverage, graph_name,
                                      flags, uploaded ? &*uploaded : nullptr,
                                      remote.server));
  }
  PrintImportReport(path, *imported, coverage, graph_name, flags);
  if (!flags.out.empty()) {
    std::printf("\nwrote host class %s (%d kernels) to %s\n",
                imported->profile.host_class().name().c_str(),
                imported->profile.kernels_size(), flags.out.c_str());
  }
  if (uploaded) {
    std::printf(
        "%simported into host class %s on %s: %llu accepted, %llu "
        "duplicates, profile version %llu\n",
        flags.out.empty() ? "\n" : "",
        imported->profile.host_class().name().c_str(), remote.server.c_str(),
        static_cast<unsigned long long>(uploaded->accepted()),
        static_cast<unsigned long long>(uploaded->duplicates()),
        static_cast<unsigned long long>(uploaded->profile_version()));
  }
  return kExitOk;
}

int RunProfilesExport(const RemoteFlags& flags, const std::string& name,
                      const std::string& out) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::Profile> profile = (*client)->ExportProfile(name);
  if (!profile.ok()) return Fail(profile.status());
  if (out.empty() || out == "-") {
    // The file format itself (what `profiles import` and `solve` read).
    absl::StatusOr<std::string> json = ProtoToJson(*profile);
    if (!json.ok()) return Fail(json.status());
    std::fputs(json->c_str(), stdout);
    return kExitOk;
  }
  if (absl::Status written = WriteProtoJsonFile(out, *profile); !written.ok()) {
    return Fail(written);
  }
  if (flags.json) {
    std::printf(
        "{\n  \"hostClass\": %s,\n  \"kernels\": %d,\n"
        "  \"file\": %s\n}\n",
        JsonStringLiteral(name).c_str(), (*profile).kernels_size(),
        JsonStringLiteral(out).c_str());
  } else {
    std::printf("exported host class %s (%d kernels) to %s\n", name.c_str(),
                profile->kernels_size(), out.c_str());
  }
  return kExitOk;
}

int RunProfilesDelete(const RemoteFlags& flags, const std::string& name) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  if (absl::Status deleted = (*client)->DeleteHostClass(name); !deleted.ok()) {
    return Fail(deleted);
  }
  if (flags.json) {
    std::printf("{\n  \"deleted\": %s\n}\n", JsonStringLiteral(name).c_str());
  } else {
    std::printf("deleted host class %s\n", name.c_str());
  }
  return kExitOk;
}

struct PruneFlags {
  double jobs_days = -1;
  int64_t max_jobs = -1;
  double unreferenced_days = -1;
  std::string max_bytes;
  double grace_seconds = -1;
  bool vacuum = false;
};

int RunAdminPrune(const RemoteFlags& flags, const PruneFlags& prune) {
  v1::PruneStoreRequest request;
  if (prune.jobs_days >= 0) request.set_job_age_days(prune.jobs_days);
  if (prune.max_jobs >= 0) request.set_max_jobs(prune.max_jobs);
  if (prune.unreferenced_days >= 0) {
    request.set_unreferenced_age_days(prune.unreferenced_days);
  }
  if (prune.grace_seconds >= 0) request.set_grace_seconds(prune.grace_seconds);
  if (!prune.max_bytes.empty()) {
    absl::StatusOr<uint64_t> bytes = ParseBytes(prune.max_bytes);
    if (!bytes.ok()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--max-bytes: ", bytes.status().message())));
    }
    request.set_max_bytes(*bytes);
  }
  request.set_vacuum(prune.vacuum);
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectTo(flags);
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<v1::PruneStoreResponse> result =
      (*client)->PruneStore(request, absl::Minutes(30));
  if (!result.ok()) return Fail(result.status());
  if (flags.json) {
    std::printf(
        "{\n  \"jobs_deleted\": %llu,\n  \"graphs_deleted\": %llu,\n  "
        "\"plans_deleted\": %llu,\n  \"content_bytes_before\": %llu,\n  "
        "\"content_bytes_after\": %llu,\n  \"file_bytes_before\": %llu,\n  "
        "\"file_bytes_after\": %llu,\n  \"free_bytes_after\": %llu\n}\n",
        static_cast<unsigned long long>(result->jobs_deleted()),
        static_cast<unsigned long long>(result->graphs_deleted()),
        static_cast<unsigned long long>(result->plans_deleted()),
        static_cast<unsigned long long>(result->content_bytes_before()),
        static_cast<unsigned long long>(result->content_bytes_after()),
        static_cast<unsigned long long>(result->file_bytes_before()),
        static_cast<unsigned long long>(result->file_bytes_after()),
        static_cast<unsigned long long>(result->free_bytes_after()));
    return kExitOk;
  }
  std::printf(
      "deleted %llu job(s), %llu graph(s), %llu plan(s)\n"
      "stored graphs, plans and jobs: %s -> %s\n"
      "database file: %s -> %s (%s free for reuse)\n",
      static_cast<unsigned long long>(result->jobs_deleted()),
      static_cast<unsigned long long>(result->graphs_deleted()),
      static_cast<unsigned long long>(result->plans_deleted()),
      FormatBytes(result->content_bytes_before()).c_str(),
      FormatBytes(result->content_bytes_after()).c_str(),
      FormatBytes(result->file_bytes_before()).c_str(),
      FormatBytes(result->file_bytes_after()).c_str(),
      FormatBytes(result->free_bytes_after()).c_str());
  return kExitOk;
}

// `autotm server status`.
void AddServerCommands(CLI::App& app, std::vector<CliCommand>* commands) {
  CLI::App* server = app.add_subcommand(
      "server",
      "Query an autotm-server\n"
      "\n"
      "Commands about the autotm-server itself (start one with\n"
      "`autotm-server --listen 127.0.0.1:50051 --db autotm.db`).\n");
  server->require_subcommand(1);
  {
    auto flags = std::make_shared<RemoteFlags>();
    CLI::App* status = server->add_subcommand(
        "status",
        "Check that the server is up and serving\n"
        "\n"
        "Asks the server's gRPC health service. Prints SERVING and exits 0,\n"
        "or reports NOT_SERVING / unreachable and exits 1.\n");
    AddRemoteFlags(status, flags.get());
    commands->push_back({status, [flags] { return RunServerStatus(*flags); }});
  }
}

// `autotm admin ...`.
void AddAdminCommands(CLI::App& app, std::vector<CliCommand>* commands) {
  CLI::App* admin = app.add_subcommand(
      "admin",
      "Operator commands (the operator role when the server has identities)");
  admin->require_subcommand(1);
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto prune = std::make_shared<PruneFlags>();
    CLI::App* cmd = admin->add_subcommand(
        "prune",
        "Delete old jobs, graphs and plans now (retention)\n"
        "\n"
        "Applies the server's --retain-* limits, or those given here:\n"
        "finished jobs older than --jobs-days or beyond the newest\n"
        "--max-jobs; graphs and plans no stored job refers to older than\n"
        "--unreferenced-days; then the oldest of those while the stored\n"
        "graphs, plans and jobs exceed --max-bytes. Queued and running\n"
        "jobs, and what stored jobs refer to, are never deleted. 0 turns a\n"
        "limit off. --vacuum then shrinks the database file.\n");
    AddRemoteFlags(cmd, flags.get());
    cmd->add_option("--jobs-days", prune->jobs_days,
                    "Finished jobs last updated longer ago than this (days)")
        ->check(CLI::Range(0.0, 1e6));
    cmd->add_option("--max-jobs", prune->max_jobs,
                    "Keep at most this many finished jobs, the newest")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--unreferenced-days", prune->unreferenced_days,
                    "Graphs and plans no stored job refers to, older than "
                    "this (days)")
        ->check(CLI::Range(0.0, 1e6));
    cmd->add_option("--max-bytes", prune->max_bytes,
                    "Bytes of stored graphs, plans and jobs to keep under "
                    "(e.g. 2GiB)");
    cmd->add_option("--grace", prune->grace_seconds,
                    "Keep graphs and plans younger than this many seconds "
                    "even when unreferenced (server default 600)")
        ->check(CLI::Range(0.0, 1e9));
    cmd->add_flag("--vacuum", prune->vacuum,
                  "Then rewrite the database file without its free pages");
    commands->push_back(
        {cmd, [flags, prune] { return RunAdminPrune(*flags, *prune); }});
  }
}

// `autotm profiles import`.
void AddProfilesImportCommand(CLI::App* profiles,
                              std::vector<CliCommand>* commands) {
  auto flags = std::make_shared<RemoteFlags>();
  auto optane = std::make_shared<OptaneImportFlags>();
  auto path = std::make_shared<std::string>();
  CLI::App* import = profiles->add_subcommand(
      "import",
      "Upload a profile file, or import AutoTM's Optane measurements\n"
      "\n"
      "--format profile-json (default): FILE is an autotm.v1.Profile\n"
      "JSON file; it is uploaded. Creates the host class on first use.\n"
      "Each configuration time becomes one measurement, so importing the\n"
      "same file twice changes nothing. Fails when the host class exists\n"
      "with another fingerprint.\n"
      "\n"
      "--format optane-jsonl: FILE is AutoTM's 2019 measurements\n"
      "(fuzz_kernel_profiles.jsonl.gz, gzip or plain JSON lines). Their\n"
      "nGraph kernels that are the same kernel as one of our signatures\n"
      "become a profile of host class --host-class (medians of repeated\n"
      "measurements); a report lists, per nGraph op, what mapped and why\n"
      "the rest did not (docs/COST_MODEL.md). With --out the profile is\n"
      "written there and uploaded only with --upload; without --out it\n"
      "is uploaded. --coverage-graph reports how many of a graph's\n"
      "signatures the profile covers (a plan needs all).\n"
      "\n"
      "Examples:\n"
      "  autotm profiles import p.json --server 127.0.0.1:50051\n"
      "  autotm profiles import --format optane-jsonl \\\n"
      "      fuzz_kernel_profiles.jsonl.gz --out optane.profile.json \\\n"
      "      --coverage-graph vgg19.graph.json\n");
  import->add_option("file", *path, "The file to import (see --format)")
      ->required()
      ->type_name("FILE");
  import
      ->add_option("--format", optane->format,
                   "profile-json (autotm.v1.Profile, default) or "
                   "optane-jsonl (AutoTM's 2019 measurements)")
      ->check(CLI::IsMember({kFormatProfile, kFormatOptane}))
      ->type_name("FORMAT");
  import
      ->add_option("--host-class", optane->host_class,
                   "optane-jsonl: host class of the profile (default "
                   "optane-2019-measured)")
      ->type_name("NAME");
  import
      ->add_option("-o,--out", optane->out,
                   "optane-jsonl: write the profile (autotm.v1.Profile "
                   "JSON) to FILE; no upload unless --upload")
      ->type_name("FILE");
  import->add_flag("--upload", optane->upload,
                   "optane-jsonl: upload even when --out is given");
  import
      ->add_option("--coverage-graph", optane->coverage_graph,
                   "optane-jsonl: report how many of this graph's "
                   "(autotm.v1.Graph JSON) signatures the profile covers")
      ->type_name("FILE");
  AddRemoteFlags(import, flags.get());
  commands->push_back(
      {import, [flags, optane, path, import] {
         if (optane->format == kFormatOptane) {
           return RunOptaneImport(*flags, *optane, *path);
         }
         for (const char* only :
              {"--host-class", "--out", "--upload", "--coverage-graph"}) {
           if (import->count(only) > 0) {
             PrintError(absl::StrCat(only, " needs --format optane-jsonl"));
             return static_cast<int>(kExitBadInput);
           }
         }
         return RunProfilesImport(*flags, *path);
       }});
}

// `autotm profiles ...`.
void AddProfilesCommands(CLI::App& app, std::vector<CliCommand>* commands) {
  CLI::App* profiles = app.add_subcommand(
      "profiles",
      "Manage the kernel timing profiles stored on a server\n"
      "\n"
      "Profiles are stored per host class; several measurements of one\n"
      "(kernel signature, configuration) are kept and served as their\n"
      "median.\n");
  profiles->require_subcommand(1);
  {
    auto flags = std::make_shared<RemoteFlags>();
    CLI::App* list = profiles->add_subcommand(
        "list",
        "List host classes with their coverage\n"
        "\n"
        "One row per host class: profile version, distinct kernel\n"
        "signatures, (signature, configuration) pairs and stored\n"
        "measurements.\n");
    AddRemoteFlags(list, flags.get());
    commands->push_back({list, [flags] { return RunProfilesList(*flags); }});
  }
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto name = std::make_shared<std::string>();
    CLI::App* show = profiles->add_subcommand(
        "show", "Show one host class and its coverage\n");
    show->add_option("name", *name, "Host class name")
        ->required()
        ->type_name("NAME");
    AddRemoteFlags(show, flags.get());
    commands->push_back(
        {show, [flags, name] { return RunProfilesShow(*flags, *name); }});
  }
  AddProfilesImportCommand(profiles, commands);
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto name = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    CLI::App* export_cmd = profiles->add_subcommand(
        "export",
        "Download the profile served for planning (medians)\n"
        "\n"
        "Writes autotm.v1.Profile JSON, the format `profiles import` and\n"
        "`autotm solve --profile` read, to --out or stdout.\n");
    export_cmd->add_option("name", *name, "Host class name")
        ->required()
        ->type_name("NAME");
    export_cmd
        ->add_option("-o,--out", *out,
                     "Write the profile to FILE (atomically) instead of "
                     "stdout")
        ->type_name("FILE");
    AddRemoteFlags(export_cmd, flags.get());
    commands->push_back({export_cmd, [flags, name, out] {
                           return RunProfilesExport(*flags, *name, *out);
                         }});
  }
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto name = std::make_shared<std::string>();
    CLI::App* del = profiles->add_subcommand(
        "delete", "Delete a host class and all its measurements (admin)\n");
    del->add_option("name", *name, "Host class name")
        ->required()
        ->type_name("NAME");
    AddRemoteFlags(del, flags.get());
    commands->push_back(
        {del, [flags, name] { return RunProfilesDelete(*flags, *name); }});
  }
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto name = std::make_shared<std::string>();
    auto principal = std::make_shared<std::string>();
    CLI::App* drop = profiles->add_subcommand(
        "drop",
        "Delete every measurement one principal uploaded to a host class\n"
        "(operator; `profiles show` lists who contributed what)\n");
    drop->add_option("name", *name, "Host class name")
        ->required()
        ->type_name("NAME");
    drop->add_option("principal", *principal,
                     "Whose measurements (as `profiles show` names them)")
        ->required()
        ->type_name("PRINCIPAL");
    AddRemoteFlags(drop, flags.get());
    commands->push_back({drop, [flags, name, principal] {
                           return RunProfilesDrop(*flags, *name, *principal);
                         }});
  }
}

}  // namespace

std::vector<CliCommand> AddProfileCommands(CLI::App& app) {
  std::vector<CliCommand> commands;
  AddServerCommands(app, &commands);
  AddAdminCommands(app, &commands);
  AddProfilesCommands(app, &commands);
  return commands;
}

}  // namespace autotm::client
