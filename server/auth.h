// Who may call what: the identities of autotm-server's callers, the role
// each RPC requires, and the one place where that is enforced.
//
// A caller's principal comes from a bearer token ("authorization: Bearer
// TOKEN" request metadata) or, with mutual TLS, from the common name of its
// verified client certificate. Both are looked up in the identities file
// (autotm-server --tokens FILE), one identity per line:
//
//   # credential                principal   roles            host classes
//   sha256:9f86d081884c7d65...  alice       planner
//   sha256:60303ae22b998861...  agent-7     agent            xeon-cxl,xeon-nvm
//   cn:ci-runner                ci          planner,reader
//   sha256:fd61a03af4f77d87...  root        operator
//
// `credential` is "sha256:<64 hex digits>", the SHA-256 of the token (the
// file never holds a token itself: `autotm-server hash-token` prints the
// line for one), or "cn:<common name>" for a client certificate signed by
// the --tls-client-ca. `roles` is a comma-separated subset of reader,
// planner, agent, operator. `host classes` (comma-separated, or "*" for
// all) is required with the agent role and names the host classes the
// agent may upload to and read the work list of. '#' starts a comment.
//
// Roles (docs/SECURITY.md has the table of every RPC):
//   reader    status, list host classes and jobs;
//   planner   plan, look up plans, create/watch/cancel/list its OWN jobs;
//   agent     upload measurements (UploadMeasurements, StreamMeasurements,
//             ImportProfile) and read the work list of the host classes it
//             is granted;
//   operator  everything: import, export, delete, any job.
//
// Enforcement: AuthProcessor (a grpc::AuthMetadataProcessor, so TLS only)
// runs before every call's handler and answers UNAUTHENTICATED (no or an
// unknown credential) or PERMISSION_DENIED (none of the method's roles)
// from kMethodRoles, the single per-method table. Health checking is open.
// What depends on the request body -- an agent's host-class grant, a
// planner's own jobs -- is checked by the services through Identify() and
// the Principal's helpers.
//
// Open mode: without an identities file there is no authentication; every
// caller is the principal "local" with every role. autotm-server allows
// that only on a loopback address or with --insecure.
#ifndef AUTOTM_SERVER_AUTH_H_
#define AUTOTM_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/logger.h"

namespace autotm::server {

// Role bits; a principal holds a set, a method accepts a set.
enum Role : uint32_t {
  kRoleReader = 1u << 0,
  kRolePlanner = 1u << 1,
  kRoleAgent = 1u << 2,
  kRoleOperator = 1u << 3,
};
inline constexpr uint32_t kAllRoles =
    kRoleReader | kRolePlanner | kRoleAgent | kRoleOperator;

// "reader,planner" for a role set (in that fixed order); "" for none.
std::string RoleNames(uint32_t roles);
// The role set of "planner,agent"; InvalidArgument naming an unknown role.
absl::StatusOr<uint32_t> ParseRoles(absl::string_view text);

// The authenticated caller of one request.
struct Principal {
  std::string name;
  uint32_t roles = 0;
  // Host classes the agent role is granted; empty with all_host_classes.
  std::vector<std::string> host_classes;
  bool all_host_classes = false;

  bool Has(uint32_t role) const { return (roles & role) != 0; }
  bool IsOperator() const { return Has(kRoleOperator); }
  // May this principal upload measurements to / read the work list of
  // `host_class`? Operators always; agents when granted.
  bool MayProfile(const std::string& host_class) const;
  // May this principal see or cancel a job created by `owner`? Operators
  // always; anyone their own.
  bool MaySeeJob(const std::string& owner) const {
    return IsOperator() || owner == name;
  }
};

// The principal of open mode (no identities file): every role.
Principal LocalPrincipal();

// "sha256:<hex>" of a bearer token: what the identities file stores.
std::string HashToken(absl::string_view token);

// The parsed identities file.
class IdentityTable {
 public:
  // Parses the file's text; InvalidArgument naming `source`, the line and
  // what is wrong (bad credential, unknown role, agent without host
  // classes, a credential listed twice).
  static absl::StatusOr<IdentityTable> Parse(absl::string_view text,
                                             absl::string_view source);
  // Reads and parses `path`. NotFound / PermissionDenied when unreadable.
  static absl::StatusOr<IdentityTable> Load(const std::string& path);

  // nullptr when unknown.
  const Principal* ByToken(absl::string_view token) const;
  const Principal* ByCertificate(absl::string_view common_name) const;
  size_t size() const { return by_hash_.size() + by_cn_.size(); }

 private:
  std::map<std::string, Principal, std::less<>> by_hash_;  // "sha256:<hex>"
  std::map<std::string, Principal, std::less<>> by_cn_;
};

// The roles each RPC accepts, by full method name
// ("/autotm.v1.PlacementService/CreateSolveJob"). The proto comments and
// docs/SECURITY.md state the same table; auth_test.cc checks that every
// method of every autotm service has an entry. kOpen: no credentials
// needed (health checking).
inline constexpr uint32_t kOpen = 0;
struct MethodRule {
  const char* method;
  uint32_t roles;
};
const std::vector<MethodRule>& MethodRoles();
// The rule for `method`; nullopt for a method not in the table (denied).
std::optional<uint32_t> RequiredRoles(absl::string_view method);

// The current identities (reloadable) and the decisions made from them.
// Thread-safe.
class Authorizer {
 public:
  // Open mode: no authentication, everyone is LocalPrincipal().
  Authorizer() = default;
  // Authenticated mode, reading `tokens_path` now and at every Reload().
  static absl::StatusOr<std::unique_ptr<Authorizer>> FromFile(
      std::string tokens_path);

  bool open() const { return tokens_path_.empty(); }
  const std::string& tokens_path() const { return tokens_path_; }

  // Re-reads the identities file. On error the old identities stay in force
  // and the error is returned (the caller logs it).
  absl::Status Reload();
  size_t identities() const;

  // Who presents `bearer_token` (may be empty) over a connection whose
  // verified client certificate has `common_name` (may be empty): the token
  // when given (an unknown token is UNAUTHENTICATED even when the
  // certificate is known), else the certificate. UNAUTHENTICATED naming
  // what was missing or unknown. Open mode: LocalPrincipal().
  absl::StatusOr<Principal> Authenticate(absl::string_view bearer_token,
                                         absl::string_view common_name) const;

  // The decision for one call of `method`: OK with the principal (nullopt
  // for an open method called without credentials), UNAUTHENTICATED,
  // or PERMISSION_DENIED naming the principal, the method and the roles it
  // needs.
  absl::StatusOr<std::optional<Principal>> Authorize(
      absl::string_view method, absl::string_view bearer_token,
      absl::string_view common_name) const;

  // The principal of a call that AuthProcessor already let through (the
  // services call this for ownership and host-class grants). Open mode:
  // LocalPrincipal(). UNAUTHENTICATED when the call has no valid
  // credential (e.g. the identities file changed since the call began).
  absl::StatusOr<Principal> Identify(
      const grpc::ServerContextBase& context) const;

 private:
  explicit Authorizer(std::string tokens_path)
      : tokens_path_(std::move(tokens_path)) {}

  const std::string tokens_path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const IdentityTable> table_ ABSL_GUARDED_BY(mu_);
};

// The bearer token of "authorization: Bearer TOKEN" metadata, "" if absent.
std::string BearerToken(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// Enforces Authorizer::Authorize before every call's handler. Installed on
// the server's TLS credentials (gRPC runs metadata processors only on
// secure connections).
class AuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit AuthProcessor(const Authorizer& authorizer)
      : authorizer_(authorizer) {}
  // A map lookup under a mutex: runs inline on gRPC's thread.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const Authorizer& authorizer_;
};

// TLS settings of the server; all empty: plaintext.
struct ServerTlsOptions {
  std::string cert_file;       // PEM certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM; set: client certificates required
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// TLS credentials from the files (InvalidArgument when only one of cert and
// key is given, NotFound/PermissionDenied naming an unreadable file), or
// insecure credentials when TLS is off. With a client CA, clients must
// present a certificate it signed (mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls);

// True for "127.0.0.1:P", "[::1]:P", "localhost:P" (and 127.0.0.0/8): an
// address only this host can reach.
bool IsLoopbackAddress(absl::string_view address);

// The audit log: one line per mutating RPC, at info level,
//   audit principal=alice rpc=CancelSolveJob target=job-000042 result=OK
// `target` names the job or host class; `result` is the status code name
// (with the message when not OK).
void Audit(spdlog::logger& logger, const Principal& principal,
           absl::string_view rpc, absl::string_view target,
           const absl::Status& result);

// Reads a whole file; NotFound/PermissionDenied/Internal naming `what` and
// the path.
absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         absl::string_view what);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_AUTH_H_
