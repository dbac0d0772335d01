#include "server/auth.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/store/digest.h"
#include "solver/status_macros.h"

namespace autotm::server {
namespace {

constexpr char kHashPrefix[] = "sha256:";
constexpr char kCnPrefix[] = "cn:";
constexpr char kHealthPrefix[] = "/grpc.health.v1.Health/";

constexpr struct {
  Role role;
  const char* name;
} kRoleNames[] = {{kRoleReader, "reader"},
                  {kRolePlanner, "planner"},
                  {kRoleAgent, "agent"},
                  {kRoleOperator, "operator"}};

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

std::string ToString(grpc::string_ref ref) {
  return std::string(ref.data(), ref.size());
}

}  // namespace

std::string RoleNames(uint32_t roles) {
  std::vector<std::string> names;
  for (const auto& [role, name] : kRoleNames) {
    if (roles & role) names.push_back(name);
  }
  return absl::StrJoin(names, ",");
}

absl::StatusOr<uint32_t> ParseRoles(absl::string_view text) {
  uint32_t roles = 0;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    bool known = false;
    for (const auto& [role, name] : kRoleNames) {
      if (part == name) {
        roles |= role;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown role \"", part,
                       "\" (roles: reader, planner, agent, operator)"));
    }
  }
  return roles;
}

bool Principal::MayProfile(const std::string& host_class) const {
  if (IsOperator()) return true;
  if (!Has(kRoleAgent)) return false;
  if (all_host_classes) return true;
  for (const std::string& granted : host_classes) {
    if (granted == host_class) return true;
  }
  return false;
}

Principal LocalPrincipal() {
  Principal local;
  local.name = "local";
  local.roles = kAllRoles;
  local.all_host_classes = true;
  return local;
}

std::string HashToken(absl::string_view token) {
  return absl::StrCat(kHashPrefix, Sha256Hex(token));
}

absl::StatusOr<IdentityTable> IdentityTable::Parse(absl::string_view text,
                                                   absl::string_view source) {
  IdentityTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": ", what));
    };
    if (const size_t hash = line.find('#'); hash != line.npos) {
      line = line.substr(0, hash);
    }
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() < 3 || fields.size() > 4) {
      return fail(absl::StrCat(
          "expected `CREDENTIAL PRINCIPAL ROLES [HOST_CLASSES]`, got ",
          fields.size(), " field(s)"));
    }
    Principal principal;
    principal.name = std::string(fields[1]);
    absl::StatusOr<uint32_t> roles = ParseRoles(fields[2]);
    if (!roles.ok()) return fail(roles.status().message());
    principal.roles = *roles;
    if (fields.size() == 4) {
      if (fields[3] == "*") {
        principal.all_host_classes = true;
      } else {
        for (absl::string_view name :
             absl::StrSplit(fields[3], ',', absl::SkipEmpty())) {
          principal.host_classes.emplace_back(name);
        }
      }
    }
    if (principal.Has(kRoleAgent) && !principal.all_host_classes &&
        principal.host_classes.empty()) {
      return fail(
          absl::StrCat("principal ", principal.name,
                       " has the agent role but no host classes (4th field: a "
                       "comma-separated list, or * for all)"));
    }
    const absl::string_view credential = fields[0];
    if (absl::StartsWith(credential, kHashPrefix)) {
      const absl::string_view hex = credential.substr(strlen(kHashPrefix));
      if (hex.size() != 64 || !IsLowerHex(hex)) {
        return fail(absl::StrCat(
            "credential \"", credential,
            "\" is not sha256:<64 lower-case hex digits> (the SHA-256 of a "
            "token; `autotm-server hash-token` prints it)"));
      }
      if (!table.by_hash_.emplace(credential, std::move(principal)).second) {
        return fail("this token hash is listed twice");
      }
    } else if (absl::StartsWith(credential, kCnPrefix)) {
      const absl::string_view cn = credential.substr(strlen(kCnPrefix));
      if (cn.empty()) return fail("empty certificate common name after cn:");
      if (!table.by_cn_.emplace(cn, std::move(principal)).second) {
        return fail(absl::StrCat("certificate cn:", cn, " is listed twice"));
      }
    } else {
      return fail(absl::StrCat("credential \"", credential,
                               "\" must start with sha256: (a token hash) "
                               "or cn: (a client certificate)"));
    }
  }
  return table;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, ": cannot open: ", strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InternalError(absl::StrCat(what, " ", path, ": read error"));
  }
  return text.str();
}

absl::StatusOr<IdentityTable> IdentityTable::Load(const std::string& path) {
  AUTOTM_ASSIGN_OR_RETURN(std::string text,
                          ReadTextFile(path, "identities file"));
  return Parse(text, path);
}

const Principal* IdentityTable::ByToken(absl::string_view token) const {
  auto it = by_hash_.find(HashToken(token));
  return it == by_hash_.end() ? nullptr : &it->second;
}

const Principal* IdentityTable::ByCertificate(
    absl::string_view common_name) const {
  auto it = by_cn_.find(common_name);
  return it == by_cn_.end() ? nullptr : &it->second;
}

const std::vector<MethodRule>& MethodRoles() {
  // Keep in step with the "Roles:" lines of proto/autotm/v1/*_service.proto
  // and the table in docs/SECURITY.md.
  static const auto* const kTable = new std::vector<MethodRule>{
      // ProfileService.
      {"/autotm.v1.ProfileService/UploadMeasurements",
       kRoleAgent | kRoleOperator},
      {"/autotm.v1.ProfileService/StreamMeasurements",
       kRoleAgent | kRoleOperator},
      {"/autotm.v1.ProfileService/GetHostClass", kAllRoles},
      {"/autotm.v1.ProfileService/ListHostClasses", kAllRoles},
      {"/autotm.v1.ProfileService/ExportProfile", kRoleOperator},
      // Agents too: autotm-agent uploads through ImportProfile (its host
      // class grant is checked by the service, as for uploads).
      {"/autotm.v1.ProfileService/ImportProfile", kRoleAgent | kRoleOperator},
      {"/autotm.v1.ProfileService/GetWorkList", kRoleAgent | kRoleOperator},
      {"/autotm.v1.ProfileService/DropMeasurements", kRoleOperator},
      {"/autotm.v1.ProfileService/DeleteHostClass", kRoleOperator},
      // PlacementService.
      {"/autotm.v1.PlacementService/CreateSolveJob",
       kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/GetSolveJob", kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/WatchSolveJob",
       kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/CancelSolveJob",
       kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/ListSolveJobs",
       kRoleReader | kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/GetPlan", kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/PlanGraph", kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/UploadGraph", kRolePlanner | kRoleOperator},
      {"/autotm.v1.PlacementService/StreamPlan", kRolePlanner | kRoleOperator},
      // ServerService.
      {"/autotm.v1.ServerService/GetServerInfo", kAllRoles},
      {"/autotm.v1.ServerService/PruneStore", kRoleOperator},
      // Server reflection: the schema, for any authenticated caller.
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
       kAllRoles},
  };
  return *kTable;
}

std::optional<uint32_t> RequiredRoles(absl::string_view method) {
  if (absl::StartsWith(method, kHealthPrefix)) return kOpen;
  for (const MethodRule& rule : MethodRoles()) {
    if (method == rule.method) return rule.roles;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::FromFile(
    std::string tokens_path) {
  if (tokens_path.empty()) {
    return absl::InvalidArgumentError("identities file: empty path");
  }
  std::unique_ptr<Authorizer> authorizer(
      new Authorizer(std::move(tokens_path)));
  AUTOTM_RETURN_IF_ERROR(authorizer->Reload());
  return authorizer;
}

absl::Status Authorizer::Reload() {
  if (open()) return absl::OkStatus();
  AUTOTM_ASSIGN_OR_RETURN(IdentityTable table,
                          IdentityTable::Load(tokens_path_));
  auto shared = std::make_shared<const IdentityTable>(std::move(table));
  absl::MutexLock lock(&mu_);
  table_ = std::move(shared);
  return absl::OkStatus();
}

size_t Authorizer::identities() const {
  absl::MutexLock lock(&mu_);
  return table_ == nullptr ? 0 : table_->size();
}

absl::StatusOr<Principal> Authorizer::Authenticate(
    absl::string_view bearer_token, absl::string_view common_name) const {
  if (open()) return LocalPrincipal();
  std::shared_ptr<const IdentityTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  if (!bearer_token.empty()) {
    if (const Principal* p = table->ByToken(bearer_token)) return *p;
    return absl::UnauthenticatedError(
        "unknown bearer token (not in the server's identities file)");
  }
  if (!common_name.empty()) {
    if (const Principal* p = table->ByCertificate(common_name)) return *p;
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate CN \"", common_name,
                     "\" is not in the server's identities file"));
  }
  return absl::UnauthenticatedError(
      "no credentials: send \"authorization: Bearer TOKEN\" (--token-file, "
      "$AUTOTM_TOKEN) or a client certificate");
}

absl::StatusOr<std::optional<Principal>> Authorizer::Authorize(
    absl::string_view method, absl::string_view bearer_token,
    absl::string_view common_name) const {
  const std::optional<uint32_t> required = RequiredRoles(method);
  if (required.has_value() && *required == kOpen) {
    return std::optional<Principal>();
  }
  AUTOTM_ASSIGN_OR_RETURN(Principal principal,
                          Authenticate(bearer_token, common_name));
  if (!required.has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("no role may call ", method));
  }
  if ((principal.roles & *required) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "principal ", principal.name,
        " (roles: ", principal.roles == 0 ? "none" : RoleNames(principal.roles),
        ") may not call ", method, ": it needs one of ", RoleNames(*required)));
  }
  return std::optional<Principal>(std::move(principal));
}

std::string BearerToken(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") &&
      !absl::ConsumePrefix(&value, "bearer ")) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(value));
}

namespace {

std::string CommonName(const grpc::AuthContext& context) {
  std::vector<grpc::string_ref> names =
      context.FindPropertyValues("x509_common_name");
  return names.empty() ? "" : ToString(names.front());
}

}  // namespace

absl::StatusOr<Principal> Authorizer::Identify(
    const grpc::ServerContextBase& context) const {
  if (open()) return LocalPrincipal();
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return Authenticate(BearerToken(context.client_metadata()),
                      auth == nullptr ? "" : CommonName(*auth));
}

grpc::Status AuthProcessor::Process(const InputMetadata& auth_metadata,
                                    grpc::AuthContext* context,
                                    OutputMetadata* consumed_auth_metadata,
                                    OutputMetadata* response_metadata) {
  (void)consumed_auth_metadata;
  (void)response_metadata;
  std::string method;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) {
    method = ToString(it->second);
  }
  absl::StatusOr<std::optional<Principal>> decision = authorizer_.Authorize(
      method, BearerToken(auth_metadata), CommonName(*context));
  if (!decision.ok()) {
    return grpc::Status(static_cast<grpc::StatusCode>(decision.status().code()),
                        std::string(decision.status().message()));
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls) {
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls-cert and --tls-key");
  }
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  AUTOTM_ASSIGN_OR_RETURN(pair.private_key,
                          ReadTextFile(tls.key_file, "--tls-key"));
  AUTOTM_ASSIGN_OR_RETURN(pair.cert_chain,
                          ReadTextFile(tls.cert_file, "--tls-cert"));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file.empty()) {
    AUTOTM_ASSIGN_OR_RETURN(
        options.pem_root_certs,
        ReadTextFile(tls.client_ca_file, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(options);
}

void Audit(spdlog::logger& logger, const Principal& principal,
           absl::string_view rpc, absl::string_view target,
           const absl::Status& result) {
  // absl::string_view is not std::string_view here: fmt needs strings.
  if (result.ok()) {
    logger.info("audit principal={} rpc={} target={} result=OK", principal.name,
                std::string(rpc), std::string(target));
  } else {
    logger.info("audit principal={} rpc={} target={} result={}: {}",
                principal.name, std::string(rpc), std::string(target),
                absl::StatusCodeToString(result.code()),
                std::string(result.message()));
  }
}

bool IsLoopbackAddress(absl::string_view address) {
  absl::string_view host = address;
  if (const size_t colon = host.rfind(':'); colon != host.npos) {
    host = host.substr(0, colon);
  }
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

}  // namespace autotm::server
