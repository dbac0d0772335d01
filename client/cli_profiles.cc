#include "client/cli_profiles.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli_remote.h"
#include "client/client.h"
#include "client/proto_json.h"
#include "google/protobuf/util/json_util.h"

namespace autotm::client {
namespace {

// `text` as a JSON string literal (quotes included).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

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
    const std::string error =
        serving.ok() ? ""
                     : absl::StrCat(",\n  \"error\": ",
                                    JsonString(serving.status().message()));
    std::printf("{\n  \"server\": %s,\n  \"status\": \"%s\"%s\n}\n",
                JsonString(flags.server).c_str(),
                !serving.ok() ? "UNREACHABLE"
                : *serving    ? "SERVING"
                              : "NOT_SERVING",
                error.c_str());
    return serving.ok() && *serving ? kExitOk
           : serving.ok()           ? kExitBadInput
                                    : Fail(serving.status());
  }
  if (!serving.ok()) return Fail(serving.status());
  std::printf("server %s: %s\n", flags.server.c_str(),
              *serving ? "SERVING" : "NOT_SERVING");
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
        JsonString(name).c_str(), (*profile).kernels_size(),
        JsonString(out).c_str());
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
    std::printf("{\n  \"deleted\": %s\n}\n", JsonString(name).c_str());
  } else {
    std::printf("deleted host class %s\n", name.c_str());
  }
  return kExitOk;
}

}  // namespace

std::vector<CliCommand> AddProfileCommands(CLI::App& app) {
  std::vector<CliCommand> commands;
  // --- server
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
    commands.push_back({status, [flags] { return RunServerStatus(*flags); }});
  }

  // --- profiles
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
    commands.push_back({list, [flags] { return RunProfilesList(*flags); }});
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
    commands.push_back(
        {show, [flags, name] { return RunProfilesShow(*flags, *name); }});
  }
  {
    auto flags = std::make_shared<RemoteFlags>();
    auto path = std::make_shared<std::string>();
    CLI::App* import = profiles->add_subcommand(
        "import",
        "Upload a profile file (autotm.v1.Profile JSON)\n"
        "\n"
        "Creates the host class on first use. Each configuration time\n"
        "becomes one measurement, so importing the same file twice changes\n"
        "nothing. Fails when the host class exists with another\n"
        "fingerprint.\n");
    import->add_option("file", *path, "Profile (autotm.v1.Profile JSON)")
        ->required()
        ->type_name("FILE");
    AddRemoteFlags(import, flags.get());
    commands.push_back(
        {import, [flags, path] { return RunProfilesImport(*flags, *path); }});
  }
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
    commands.push_back({export_cmd, [flags, name, out] {
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
    commands.push_back(
        {del, [flags, name] { return RunProfilesDelete(*flags, *name); }});
  }
  return commands;
}

}  // namespace autotm::client
