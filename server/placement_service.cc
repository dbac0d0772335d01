#include "server/placement_service.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_convert.h"
#include "server/plan_key.h"
#include "server/request_limits.h"
#include "server/store/digest.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/status_macros.h"

namespace autotm::server {
namespace {

// What a request names, resolved and validated.
struct Inputs {
  std::string graph_digest;
  HostClassInfo host_class;
  v1::SolveParameters parameters;
};

// Digest of the graph a GraphRef names, without storing or validating it
// (the cache lookup path). InvalidArgument when the ref is empty.
absl::StatusOr<std::string> DigestOf(const v1::GraphRef& ref) {
  switch (ref.graph_case()) {
    case v1::GraphRef::kInlineGraph:
      return GraphDigest(ref.inline_graph());
    case v1::GraphRef::kDigest:
      if (!IsWellFormedDigest(ref.digest())) {
        return absl::InvalidArgumentError(
            absl::StrCat("graph.digest: \"", Excerpt(ref.digest(), 80),
                         "\" is not of the form sha256:<64 hex digits>"));
      }
      return ref.digest();
    default:
      return absl::InvalidArgumentError(
          "graph: give an inline graph or the digest of a stored graph");
  }
}

// Full validation for queueing: the graph (stored when inline), the host
// class and its coverage of the graph, the parameters.
absl::StatusOr<Inputs> Resolve(Store& store, const v1::GraphRef& ref,
                               const std::string& host_class,
                               const v1::SolveParameters& parameters) {
  Inputs inputs;
  AUTOTM_ASSIGN_OR_RETURN(inputs.parameters, NormalizeParameters(parameters));
  AUTOTM_RETURN_IF_ERROR(CheckHostClassName(host_class, "host_class"));
  v1::Graph graph;
  if (ref.graph_case() == v1::GraphRef::kInlineGraph) {
    graph = ref.inline_graph();
  } else {
    AUTOTM_ASSIGN_OR_RETURN(std::string digest, DigestOf(ref));
    absl::StatusOr<v1::Graph> stored = store.graphs().GetGraph(digest);
    if (absl::IsNotFound(stored.status())) {
      return absl::NotFoundError(
          absl::StrCat("graph.digest: no stored graph ", digest));
    }
    if (!stored.ok()) return stored.status();
    graph = *std::move(stored);
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph: ", model.status().message()));
  }
  // Stored and recorded before the host class is checked: a graph that
  // cannot be planned yet (unknown host class, kernels not profiled) is
  // exactly what the profiler agents' work list must show.
  if (ref.graph_case() == v1::GraphRef::kInlineGraph) {
    AUTOTM_ASSIGN_OR_RETURN(inputs.graph_digest,
                            store.graphs().PutGraph(graph));
  } else {
    inputs.graph_digest = ref.digest();
  }
  AUTOTM_RETURN_IF_ERROR(
      store.graphs().RecordSubmission(host_class, inputs.graph_digest));
  absl::StatusOr<HostClassInfo> info =
      store.profiles().GetHostClassVersion(host_class);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(
        absl::StrCat("host_class: unknown host class \"", host_class, "\""));
  }
  if (!info.ok()) return info.status();
  inputs.host_class = *std::move(info);
  AUTOTM_ASSIGN_OR_RETURN(v1::Profile profile,
                          store.profiles().GetProfile(host_class));
  absl::StatusOr<solver::ProfileModel> profile_model =
      solver::ProfileModel::Create(profile);
  if (!profile_model.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host class \"", host_class,
        "\": its profile is not usable: ", profile_model.status().message()));
  }
  if (absl::Status coverage = solver::CheckCoverage(*model, *profile_model);
      !coverage.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("host class \"", host_class, "\": ", coverage.message()));
  }
  return inputs;
}

// Looks up the cached plan's bytes; NotFound when absent. Reports the
// lookup's hit or miss to `on_lookup` (when set) once the key is known.
absl::StatusOr<std::shared_ptr<const std::string>> CachedPlan(
    Store& store, const v1::GraphRef& ref, const std::string& host_class,
    uint64_t budget_bytes, const v1::SolveParameters& parameters,
    const CacheLookupHook& on_lookup) {
  AUTOTM_ASSIGN_OR_RETURN(std::string digest, DigestOf(ref));
  AUTOTM_RETURN_IF_ERROR(CheckHostClassName(host_class, "host_class"));
  if (budget_bytes == 0) {
    return absl::InvalidArgumentError("budget_bytes: must be > 0");
  }
  AUTOTM_ASSIGN_OR_RETURN(v1::SolveParameters normalized,
                          NormalizeParameters(parameters));
  absl::StatusOr<HostClassInfo> info =
      store.profiles().GetHostClassVersion(host_class);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(
        absl::StrCat("host_class: unknown host class \"", host_class, "\""));
  }
  if (!info.ok()) return info.status();
  const std::string key =
      PlanCacheKey(digest, host_class, info->version, budget_bytes, normalized,
                   SolverVersion());
  absl::StatusOr<std::shared_ptr<const std::string>> plan =
      store.plans().GetPlanBytes(key);
  if (on_lookup && (plan.ok() || absl::IsNotFound(plan.status()))) {
    on_lookup(plan.ok());
  }
  if (absl::IsNotFound(plan.status())) {
    return absl::NotFoundError(
        absl::StrCat("no plan cached for these inputs (graph ", digest,
                     ", host class \"", host_class, "\" profile version ",
                     info->version, ", budget ", budget_bytes, " bytes)"));
  }
  return plan;
}

// What a response adds to the plan's encoding (field tags, gRPC framing):
// the plan must leave room for it under the message limit.
constexpr size_t kResponseOverheadBytes = 64;

// `bytes` as a gRPC message without copying them: the slice keeps a
// reference until gRPC has sent it.
grpc::ByteBuffer MessageOf(std::shared_ptr<const std::string> bytes) {
  auto* owner = new std::shared_ptr<const std::string>(std::move(bytes));
  grpc::Slice slice(
      const_cast<char*>((*owner)->data()), (*owner)->size(),
      [](void* p) {
        delete static_cast<std::shared_ptr<const std::string>*>(p);
      },
      owner);
  return grpc::ByteBuffer(&slice, 1);
}

// Parses a raw method's request; InvalidArgument when it is not one.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, Request* request) {
  grpc::ByteBuffer copy(bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<Request>::Deserialize(&copy, request).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is not a ", Request::descriptor()->name()));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

template <typename T>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 absl::StatusOr<T> result, T* response) {
  if (result.ok()) *response = *std::move(result);
  return Answer(context, result.status());
}

}  // namespace

// Streams a job's state on every change until it is final, or until
// `end_at` (then it ends OK after the latest state; clients watch again).
class WatchReactor final : public grpc::ServerWriteReactor<v1::SolveJob> {
 public:
  WatchReactor(PlacementServiceImpl& service, JobRunner& runner, std::string id,
               absl::Time end_at)
      : service_(service),
        runner_(runner),
        id_(std::move(id)),
        end_at_(end_at) {
    service_.AddWatch(this);
  }

  absl::Time end_at() const { return end_at_; }

  // The server-side end: after the write in flight, if any.
  void Expire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    if (writing_) {
      expired_ = true;
      return;
    }
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  // Ends the call with `status` at once (e.g. the caller may not see the
  // job).
  void Reject(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    Finish(ToGrpcStatus(status));
  }

  // Subscribes first, then reads the job, so that no update is lost.
  // `principal` must be allowed to see the job.
  void Begin(const Principal& principal) {
    token_ = runner_.Subscribe([this](const v1::SolveJob& job) {
      if (job.id() == id_) Update(job);
    });
    absl::StatusOr<v1::SolveJob> job = runner_.GetJob(id_);
    if (job.ok() && !principal.MaySeeJob(job->owner())) {
      job = absl::PermissionDeniedError(
          absl::StrCat("job ", id_, " was created by another principal"));
    }
    if (!job.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
      Finish(ToGrpcStatus(job.status()));
      return;
    }
    Update(*job);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mutex_);
    writing_ = false;
    if (finished_) return;
    if (!ok) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return;
    }
    if (IsFinal(current_.state()) || (expired_ && !pending_.has_value())) {
      finished_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    if (pending_.has_value()) WriteNextLocked();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    runner_.Unsubscribe(token_);
    service_.RemoveWatch(this);
    delete this;
  }

 private:
  void Update(const v1::SolveJob& job) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || final_seen_) return;
    // Never go back in time: a stale read must not follow a newer update.
    if (IsFinal(job.state())) final_seen_ = true;
    pending_ = job;
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() {
    current_ = *std::move(pending_);
    pending_.reset();
    writing_ = true;
    StartWrite(&current_);
  }

  PlacementServiceImpl& service_;
  JobRunner& runner_;
  const std::string id_;
  const absl::Time end_at_;
  int token_ = 0;
  std::mutex mutex_;
  bool writing_ = false;
  bool finished_ = false;
  bool expired_ = false;
  bool final_seen_ = false;
  v1::SolveJob current_;
  std::optional<v1::SolveJob> pending_;
};

namespace {

// A WatchSolveJob refused before it starts: finishes at once.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::SolveJob> {
 public:
  void OnDone() override { delete this; }
};

// UploadGraph: collects the pieces, then has the service check and store
// the graph. Reads run one at a time (gRPC calls OnReadDone serially), so
// the fields need no lock.
class UploadReactor final
    : public grpc::ServerReadReactor<v1::UploadGraphRequest> {
 public:
  UploadReactor(PlacementServiceImpl& service, spdlog::logger& logger,
                absl::StatusOr<Principal> principal,
                v1::UploadGraphResponse* response)
      : service_(service),
        logger_(logger),
        principal_(std::move(principal)),
        response_(response) {
    if (!principal_.ok()) {
      Finish(ToGrpcStatus(principal_.status()));
      return;
    }
    StartRead(&piece_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client finished sending (or went away)
      End(Complete());
      return;
    }
    if (absl::Status s = Take(); !s.ok()) {
      End(s);
      return;
    }
    StartRead(&piece_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Take() {
    if (pieces_ == 0) {
      if (!IsWellFormedDigest(piece_.digest())) {
        return absl::InvalidArgumentError(
            absl::StrCat("UploadGraph: the first message's digest \"",
                         Excerpt(piece_.digest(), 80),
                         "\" is not of the form sha256:<64 hex digits>"));
      }
      if (piece_.total_bytes() > kMaxGraphUploadBytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat("UploadGraph: total_bytes ", piece_.total_bytes(),
                         " is over this server's upload limit of ",
                         kMaxGraphUploadBytes, " bytes"));
      }
      digest_ = piece_.digest();
      total_bytes_ = piece_.total_bytes();
      bytes_.reserve(total_bytes_);
    } else if (!piece_.digest().empty() || piece_.total_bytes() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("UploadGraph: message ", pieces_,
                       " sets digest or total_bytes; only the first may"));
    }
    if (bytes_.size() + piece_.data().size() > total_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UploadGraph: message ", pieces_, " brings the upload to ",
          bytes_.size() + piece_.data().size(),
          " bytes, more than the total_bytes ", total_bytes_,
          " the first message announced"));
    }
    bytes_.append(piece_.data());
    ++pieces_;
    return absl::OkStatus();
  }

  absl::Status Complete() {
    if (pieces_ == 0) {
      return absl::InvalidArgumentError(
          "UploadGraph: no message arrived; the first names the digest");
    }
    if (bytes_.size() != total_bytes_) {
      return absl::InvalidArgumentError(
          absl::StrCat("UploadGraph: ", bytes_.size(),
                       " bytes arrived, the first message announced ",
                       total_bytes_, " (the upload was cut short)"));
    }
    AUTOTM_RETURN_IF_ERROR(service_.StoreUploadedGraph(digest_, bytes_));
    response_->set_digest(digest_);
    response_->set_received_bytes(bytes_.size());
    return absl::OkStatus();
  }

  void End(const absl::Status& status) {
    Audit(logger_, *principal_, "UploadGraph",
          absl::StrCat(digest_.empty() ? "?" : digest_, " ", bytes_.size(),
                       " bytes"),
          status);
    std::string().swap(bytes_);  // the memory goes back before OnDone
    Finish(ToGrpcStatus(status));
  }

  PlacementServiceImpl& service_;
  spdlog::logger& logger_;
  const absl::StatusOr<Principal> principal_;
  v1::UploadGraphResponse* const response_;
  v1::UploadGraphRequest piece_;
  int64_t pieces_ = 0;
  std::string digest_;
  uint64_t total_bytes_ = 0;
  std::string bytes_;
};

// StreamPlan: the plan's encoding in pieces under the message limit, one
// write at a time (gRPC allows one outstanding write per stream).
class PlanChunkWriter final : public grpc::ServerWriteReactor<v1::PlanChunk> {
 public:
  PlanChunkWriter(std::shared_ptr<const std::string> bytes, size_t piece_bytes)
      : bytes_(std::move(bytes)), piece_bytes_(piece_bytes) {
    chunk_.set_total_bytes(bytes_->size());
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return;
    }
    if (offset_ >= bytes_->size()) {
      Finish(grpc::Status::OK);
      return;
    }
    chunk_.clear_total_bytes();
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    const size_t n = std::min(piece_bytes_, bytes_->size() - offset_);
    chunk_.set_data(bytes_->data() + offset_, n);
    offset_ += n;
    StartWrite(&chunk_);
  }

  const std::shared_ptr<const std::string> bytes_;
  const size_t piece_bytes_;
  size_t offset_ = 0;
  v1::PlanChunk chunk_;
};

// A streaming call refused before it starts: finishes at once.
template <typename Message>
class RefusedWrite final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit RefusedWrite(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

absl::Status PlacementServiceImpl::StoreUploadedGraph(
    const std::string& digest, const std::string& bytes) {
  v1::Graph graph;
  if (!graph.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("UploadGraph: the ", bytes.size(),
                     " bytes received are not a protobuf encoding of a Graph"));
  }
  const std::string actual = GraphDigest(graph);
  if (actual != digest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UploadGraph: the graph received has the canonical digest ", actual,
        ", not ", digest,
        " as announced (see graph.proto, \"Canonical digest\")"));
  }
  if (absl::Status valid = solver::GraphModel::Create(graph).status();
      !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("graph: ", valid.message()));
  }
  AUTOTM_ASSIGN_OR_RETURN(std::string stored, store_.graphs().PutGraph(graph));
  if (stored != digest) {
    return absl::InternalError(absl::StrCat(
        "UploadGraph: the store keyed the graph ", stored, ", not ", digest));
  }
  return absl::OkStatus();
}

grpc::ServerReadReactor<v1::UploadGraphRequest>*
PlacementServiceImpl::UploadGraph(grpc::CallbackServerContext* context,
                                  v1::UploadGraphResponse* response) {
  return new UploadReactor(*this, *logger_, authorizer_.Identify(*context),
                           response);
}

grpc::ServerWriteReactor<v1::PlanChunk>* PlacementServiceImpl::StreamPlan(
    grpc::CallbackServerContext* context, const v1::GetPlanRequest* request) {
  absl::StatusOr<std::shared_ptr<const std::string>> plan =
      LookupPlanBytes(*request);
  if (!plan.ok()) return new RefusedWrite<v1::PlanChunk>(plan.status());
  // Pieces well under the limit: a 1 MiB piece keeps memory per write
  // small and the stream flowing.
  const size_t piece_bytes =
      std::min<size_t>(size_t{1} << 20, limits_.max_message_bytes / 2);
  return new PlanChunkWriter(*std::move(plan), piece_bytes);
}

PlacementServiceImpl::PlacementServiceImpl(
    Store& store, JobRunner& runner, const Authorizer& authorizer,
    std::shared_ptr<spdlog::logger> logger, const RequestLimits& limits,
    CacheLookupHook on_cache_lookup)
    : store_(store),
      runner_(runner),
      authorizer_(authorizer),
      logger_(std::move(logger)),
      limits_(limits),
      on_cache_lookup_(std::move(on_cache_lookup)) {
  waiter_ = std::thread([this] { WaiterLoop(); });
}

PlacementServiceImpl::~PlacementServiceImpl() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  waiter_.join();
}

absl::StatusOr<v1::SolveJob> PlacementServiceImpl::CreateJob(
    const v1::CreateSolveJobRequest& request, const Principal& principal) {
  if (request.budgets_bytes_size() == 0) {
    return absl::InvalidArgumentError("budgets_bytes: give at least one");
  }
  // The caps first: nothing of an over-limit request is stored.
  AUTOTM_ASSIGN_OR_RETURN(v1::SolveParameters normalized,
                          NormalizeParameters(request.parameters()));
  AUTOTM_RETURN_IF_ERROR(
      CheckSolveLimits(request.budgets_bytes_size(), normalized, limits_));
  for (int i = 0; i < request.budgets_bytes_size(); ++i) {
    if (request.budgets_bytes(i) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("budgets_bytes[", i, "]: must be > 0"));
    }
  }
  AUTOTM_ASSIGN_OR_RETURN(Inputs inputs,
                          Resolve(store_, request.graph(), request.host_class(),
                                  request.parameters()));
  v1::SolveJob job;
  job.set_graph_digest(inputs.graph_digest);
  job.set_host_class(request.host_class());
  job.set_profile_version(inputs.host_class.version);
  *job.mutable_budgets_bytes() = request.budgets_bytes();
  *job.mutable_parameters() = inputs.parameters;
  job.set_priority(request.priority());
  job.set_owner(principal.name);
  return runner_.Submit(std::move(job));
}

absl::StatusOr<v1::SolveJob> PlacementServiceImpl::GetJob(
    const std::string& id, const Principal& principal) {
  AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job, runner_.GetJob(id));
  if (!principal.MaySeeJob(job.owner())) {
    return absl::PermissionDeniedError(absl::StrCat(
        "job ", id, " was created by another principal; ", principal.name,
        " sees and cancels only its own jobs (operators: any)"));
  }
  return job;
}

absl::StatusOr<v1::ListSolveJobsResponse> PlacementServiceImpl::ListJobs(
    const v1::ListSolveJobsRequest& request, const Principal& principal) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", request.page_size(), " is not in 0..1000"));
  }
  if (!v1::SolveJob::State_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state: unknown state ", request.state()));
  }
  JobFilter filter;
  filter.state = request.state();
  filter.page_size = request.page_size();
  filter.page_token = request.page_token();
  // Readers and operators see every job; a planner only its own.
  if (!principal.IsOperator() && !principal.Has(kRoleReader)) {
    filter.owner = principal.name;
  }
  AUTOTM_ASSIGN_OR_RETURN(JobPage page, store_.jobs().ListJobs(filter));
  // A page is cut to the jobs that fit in max_list_response_bytes (at least
  // one), so that no response can exceed gRPC's 4 MB message limit however
  // large the jobs are (issue 18: a dozen 100,000-budget jobs made
  // `autotm jobs list` fail for everyone). The shorter page is read again so
  // that the store issues the matching next_page_token.
  size_t bytes = 0;
  size_t fit = 0;
  for (const v1::SolveJob& job : page.jobs) {
    bytes += job.ByteSizeLong() + 16;  // + field tag and length
    if (fit > 0 && bytes > limits_.max_list_response_bytes) break;
    ++fit;
  }
  if (fit < page.jobs.size()) {
    filter.page_size = static_cast<int>(fit);
    AUTOTM_ASSIGN_OR_RETURN(page, store_.jobs().ListJobs(filter));
  }
  runner_.Overlay(page.jobs);
  v1::ListSolveJobsResponse response;
  for (v1::SolveJob& job : page.jobs) *response.add_jobs() = std::move(job);
  response.set_next_page_token(page.next_page_token);
  return response;
}

absl::StatusOr<std::shared_ptr<const std::string>>
PlacementServiceImpl::LookupPlanBytes(const v1::GetPlanRequest& request) {
  return CachedPlan(store_, request.graph(), request.host_class(),
                    request.budget_bytes(), request.parameters(),
                    on_cache_lookup_);
}

absl::StatusOr<v1::Plan> PlacementServiceImpl::LookupPlan(
    const v1::GetPlanRequest& request) {
  AUTOTM_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes,
                          LookupPlanBytes(request));
  v1::Plan plan;
  if (!plan.ParseFromString(*bytes)) {
    return absl::InternalError("the cached plan does not parse");
  }
  return plan;
}

grpc::ServerUnaryReactor* PlacementServiceImpl::CreateSolveJob(
    grpc::CallbackServerContext* context,
    const v1::CreateSolveJobRequest* request, v1::SolveJob* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) return Answer(context, principal.status());
  absl::StatusOr<v1::SolveJob> job = CreateJob(*request, *principal);
  Audit(*logger_, *principal, "CreateSolveJob",
        job.ok()
            ? absl::StrCat(job->id(), " host_class=", request->host_class())
            : absl::StrCat("host_class=", request->host_class()),
        job.status());
  return Answer(context, std::move(job), response);
}

grpc::ServerUnaryReactor* PlacementServiceImpl::GetSolveJob(
    grpc::CallbackServerContext* context, const v1::GetSolveJobRequest* request,
    v1::SolveJob* response) {
  if (absl::Status s = CheckJobId(request->id(), "id"); !s.ok()) {
    return Answer(context, s);
  }
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) return Answer(context, principal.status());
  return Answer(context, GetJob(request->id(), *principal), response);
}

grpc::ServerWriteReactor<v1::SolveJob>* PlacementServiceImpl::WatchSolveJob(
    grpc::CallbackServerContext* context,
    const v1::WatchSolveJobRequest* request) {
  if (absl::Status s = CheckJobId(request->id(), "id"); !s.ok()) {
    auto* refused = new RefusedWatch();
    refused->Finish(ToGrpcStatus(s));
    return refused;
  }
  auto* reactor =
      new WatchReactor(*this, runner_, request->id(),
                       absl::Now() + absl::Seconds(limits_.max_watch_seconds));
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    reactor->Reject(principal.status());
  } else {
    reactor->Begin(*principal);
  }
  return reactor;
}

grpc::ServerUnaryReactor* PlacementServiceImpl::CancelSolveJob(
    grpc::CallbackServerContext* context,
    const v1::CancelSolveJobRequest* request, v1::SolveJob* response) {
  if (absl::Status s = CheckJobId(request->id(), "id"); !s.ok()) {
    return Answer(context, s);
  }
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) return Answer(context, principal.status());
  absl::StatusOr<v1::SolveJob> job = GetJob(request->id(), *principal);
  if (job.ok()) job = runner_.Cancel(request->id());
  Audit(*logger_, *principal, "CancelSolveJob", request->id(), job.status());
  return Answer(context, std::move(job), response);
}

grpc::ServerUnaryReactor* PlacementServiceImpl::ListSolveJobs(
    grpc::CallbackServerContext* context,
    const v1::ListSolveJobsRequest* request,
    v1::ListSolveJobsResponse* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) return Answer(context, principal.status());
  return Answer(context, ListJobs(*request, *principal), response);
}

grpc::ServerUnaryReactor* PlacementServiceImpl::GetPlan(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  v1::GetPlanRequest lookup;
  if (absl::Status s = ParseRequest(*request, &lookup); !s.ok()) {
    return Answer(context, s);
  }
  absl::StatusOr<grpc::ByteBuffer> plan =
      FitsOneMessage(LookupPlanBytes(lookup));
  if (plan.ok()) *response = *std::move(plan);
  return Answer(context, plan.status());
}

absl::StatusOr<grpc::ByteBuffer> PlacementServiceImpl::FitsOneMessage(
    absl::StatusOr<std::shared_ptr<const std::string>> plan) const {
  if (!plan.ok()) return plan.status();
  const size_t bytes = (*plan)->size();
  if (bytes + kResponseOverheadBytes <= limits_.max_message_bytes) {
    return MessageOf(*std::move(plan));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "plan too large for one message: ", bytes,
      " bytes, over this server's --max-message-bytes of ",
      limits_.max_message_bytes,
      "; it is cached: fetch it with StreamPlan (the autotm clients do so "
      "by themselves)"));
}

grpc::ServerUnaryReactor* PlacementServiceImpl::PlanGraph(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  v1::PlanGraphRequest parsed;
  if (absl::Status s = ParseRequest(*request_bytes, &parsed); !s.ok()) {
    return Answer(context, s);
  }
  const v1::PlanGraphRequest* const request = &parsed;
  absl::StatusOr<std::shared_ptr<const std::string>> cached = CachedPlan(
      store_, request->graph(), request->host_class(), request->budget_bytes(),
      request->parameters(), on_cache_lookup_);
  // A miss, or a host class nobody has profiled yet: CreateJob validates
  // everything (and records the graph for the agents' work list before it
  // reports the unknown host class).
  if (cached.ok()) {
    absl::StatusOr<grpc::ByteBuffer> plan = FitsOneMessage(std::move(cached));
    if (plan.ok()) *response = *std::move(plan);
    return Answer(context, plan.status());
  }
  if (!absl::IsNotFound(cached.status()) ||
      !(absl::StartsWith(cached.status().message(), "no plan cached") ||
        absl::StartsWith(cached.status().message(),
                         "host_class: unknown host class"))) {
    return Answer(context, cached.status());
  }
  v1::CreateSolveJobRequest create;
  *create.mutable_graph() = request->graph();
  create.set_host_class(request->host_class());
  create.add_budgets_bytes(request->budget_bytes());
  *create.mutable_parameters() = request->parameters();
  create.set_priority(request->priority());
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) return Answer(context, principal.status());
  absl::StatusOr<v1::SolveJob> job = CreateJob(create, *principal);
  Audit(*logger_, *principal, "PlanGraph",
        job.ok()
            ? absl::StrCat(job->id(), " host_class=", request->host_class())
            : absl::StrCat("host_class=", request->host_class()),
        job.status());
  if (!job.ok()) return Answer(context, job.status());
  logger_->info("job {}: PlanGraph waits for it", job->id());

  Parked parked;
  parked.context = context;
  parked.reactor = context->DefaultReactor();
  parked.response = response;
  parked.job_id = job->id();
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() -
                      std::chrono::hours(24 * 365)) {
    // No deadline: still not for ever (issue 18: a job that could not
    // progress kept its caller waiting with no end).
    parked.cancel_at = absl::Now() + absl::Hours(24) - absl::Seconds(2);
    parked.give_up_at = absl::Now() + absl::Hours(24);
  } else {
    const absl::Time end = absl::FromChrono(deadline);
    const absl::Duration left =
        std::max(end - absl::Now(), absl::ZeroDuration());
    // A cancelled solve needs up to about a second to hand back its best
    // plan: ask for it early enough.
    parked.cancel_at = end - std::min(absl::Milliseconds(1200), left * 0.3);
    parked.give_up_at = end - std::min(absl::Milliseconds(50), left * 0.05);
  }
  grpc::ServerUnaryReactor* reactor = parked.reactor;
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    return reactor;
  }
  parked_.push_back(std::move(parked));
  return reactor;
}

absl::StatusOr<v1::Plan> PlacementServiceImpl::PlanOfFinishedJob(
    const v1::SolveJob& job) {
  if (job.plan_keys_size() > 0) {
    return store_.plans().GetPlan(job.plan_keys(job.plan_keys_size() - 1));
  }
  if (job.state() == v1::SolveJob::CANCELLED) {
    return absl::DeadlineExceededError(
        absl::StrCat("job ", job.id(), ": no plan found before the deadline"));
  }
  // The typed termination, never the text of `error`. An infeasible budget
  // is an answer (issue 17): a plan-less Plan saying so.
  if (job.termination() == v1::TERMINATION_INFEASIBLE) {
    v1::Plan answer;
    if (job.budgets_bytes_size() > 0) {
      answer.set_budget_bytes(job.budgets_bytes(0));
    }
    answer.set_method(job.parameters().method());
    answer.mutable_stats()->set_termination(v1::TERMINATION_INFEASIBLE);
    answer.set_no_plan_reason(
        absl::StrCat("job ", job.id(), ": ", job.error()));
    return answer;
  }
  if (job.termination() == v1::TERMINATION_NO_SOLUTION) {
    return absl::DeadlineExceededError(
        absl::StrCat("job ", job.id(), ": ", job.error()));
  }
  return absl::InternalError(absl::StrCat("job ", job.id(), ": ", job.error()));
}

void PlacementServiceImpl::WaiterLoop() {
  uint64_t seen = runner_.generation();
  while (true) {
    std::list<Parked> work;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) {
        for (Parked& p : parked_) {
          p.reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "server shutting down"));
        }
        parked_.clear();
        return;
      }
      work.swap(parked_);
    }
    const absl::Time now = absl::Now();
    for (auto it = work.begin(); it != work.end();) {
      Parked& p = *it;
      absl::StatusOr<v1::SolveJob> job = runner_.GetJob(p.job_id);
      std::optional<absl::Status> answer;
      if (!job.ok()) {
        answer = job.status();
      } else if (IsFinal(job->state())) {
        absl::StatusOr<v1::Plan> plan = PlanOfFinishedJob(*job);
        absl::StatusOr<grpc::ByteBuffer> message =
            plan.ok() ? FitsOneMessage(std::make_shared<const std::string>(
                            DeterministicBytes(*plan)))
                      : absl::StatusOr<grpc::ByteBuffer>(plan.status());
        if (message.ok()) *p.response = *std::move(message);
        answer = message.status();
      } else if (p.context->IsCancelled()) {
        runner_.Cancel(p.job_id).IgnoreError();
        answer = absl::CancelledError("PlanGraph call cancelled");
      } else if (now >= p.give_up_at) {
        runner_.Cancel(p.job_id).IgnoreError();
        answer = absl::DeadlineExceededError(absl::StrCat(
            "job ", p.job_id, ": no plan found before the deadline"));
      } else if (now >= p.cancel_at && !p.cancel_sent) {
        p.cancel_sent = true;
        logger_->info("job {}: PlanGraph deadline near; cancelling", p.job_id);
        runner_.Cancel(p.job_id).IgnoreError();
      }
      if (answer.has_value()) {
        p.reactor->Finish(ToGrpcStatus(*answer));
        it = work.erase(it);
      } else {
        ++it;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      parked_.splice(parked_.end(), work);
    }
    ExpireWatches(absl::Now());
    seen = runner_.WaitForChange(seen, absl::Milliseconds(50));
  }
}

void PlacementServiceImpl::AddWatch(WatchReactor* watch) {
  std::lock_guard<std::mutex> lock(watch_mutex_);
  watches_.insert(watch);
}

void PlacementServiceImpl::RemoveWatch(WatchReactor* watch) {
  std::lock_guard<std::mutex> lock(watch_mutex_);
  watches_.erase(watch);
}

void PlacementServiceImpl::ExpireWatches(absl::Time now) {
  // OnDone (which unregisters) runs on gRPC's threads after Finish, never
  // inside it, so holding watch_mutex_ here cannot deadlock.
  std::lock_guard<std::mutex> lock(watch_mutex_);
  for (WatchReactor* watch : watches_) {
    if (now >= watch->end_at()) watch->Expire();
  }
}

}  // namespace autotm::server
