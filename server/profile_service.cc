#include "server/profile_service.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_convert.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/measurement_guard.h"
#include "server/request_limits.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/signature.h"
#include "solver/status_macros.h"
#include "solver/work_list.h"

namespace autotm::server {
namespace {

using google::protobuf::util::MessageDifferencer;

bool HasBandwidths(const v1::CopyBandwidths& b) {
  return b.slow_to_fast_sync_gb_per_s() != 0 ||
         b.fast_to_slow_sync_gb_per_s() != 0 ||
         b.slow_to_fast_async_gb_per_s() != 0 ||
         b.fast_to_slow_async_gb_per_s() != 0;
}

// The physical bounds are the solver's (solver::CheckBandwidths), so that
// nothing stored can make a later solve fail or abort.
absl::Status ValidateBandwidths(const std::string& host_class,
                                const v1::CopyBandwidths& b) {
  if (absl::Status s = solver::CheckBandwidths(b); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host class ", host_class, ": ", s.message(),
                     " (all four are required when the host class is new)"));
  }
  return absl::OkStatus();
}

absl::Status EntryError(int index, const std::string& key,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("entries[", index, "] (", key, "): ", problem));
}

// The validated content of an upload request.
struct ParsedEntries {
  std::vector<Measurement> measurements;
  // One per signature key (a later entry replaces an earlier one).
  std::vector<v1::KernelProfile> separable;
};

absl::StatusOr<ParsedEntries> ParseEntries(
    const v1::UploadMeasurementsRequest& request) {
  ParsedEntries parsed;
  absl::flat_hash_map<std::string, size_t> separable_index;
  for (int i = 0; i < request.entries_size(); ++i) {
    const v1::MeasurementEntry& entry = request.entries(i);
    const v1::KernelSignature& signature = entry.signature();
    if (signature.op().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "]: signature.op is empty"));
    }
    std::string key = solver::SignatureKey(signature);
    const int num_inputs = signature.inputs_size();
    const int num_outputs = signature.outputs_size();
    if (entry.has_separable()) {
      if (!entry.config().empty()) {
        return EntryError(i, key,
                          "has both a configuration and a separable cost");
      }
      const v1::SeparableCost& cost = entry.separable();
      if (cost.input_slow_penalty_us_size() != num_inputs ||
          cost.output_slow_penalty_us_size() != num_outputs) {
        return EntryError(
            i, key,
            absl::StrCat("separable cost has ",
                         cost.input_slow_penalty_us_size(), " input and ",
                         cost.output_slow_penalty_us_size(),
                         " output penalties for a kernel with ", num_inputs,
                         " inputs and ", num_outputs, " outputs"));
      }
      if (absl::Status s = solver::CheckKernelTimeUs(cost.all_fast_time_us());
          !s.ok()) {
        return EntryError(
            i, key, absl::StrCat("separable.all_fast_time_us ", s.message()));
      }
      for (int p = 0; p < cost.input_slow_penalty_us_size(); ++p) {
        if (absl::Status s =
                solver::CheckKernelTimeUs(cost.input_slow_penalty_us(p));
            !s.ok()) {
          return EntryError(i, key,
                            absl::StrCat("separable.input_slow_penalty_us[", p,
                                         "] ", s.message()));
        }
      }
      for (int p = 0; p < cost.output_slow_penalty_us_size(); ++p) {
        if (absl::Status s =
                solver::CheckKernelTimeUs(cost.output_slow_penalty_us(p));
            !s.ok()) {
          return EntryError(i, key,
                            absl::StrCat("separable.output_slow_penalty_us[", p,
                                         "] ", s.message()));
        }
      }
      v1::KernelProfile kernel;
      *kernel.mutable_signature() = signature;
      *kernel.mutable_separable() = cost;
      auto [it, inserted] =
          separable_index.try_emplace(key, parsed.separable.size());
      if (inserted) {
        parsed.separable.push_back(std::move(kernel));
      } else {
        parsed.separable[it->second] = std::move(kernel);
      }
      continue;
    }
    if (num_inputs + num_outputs > solver::kMaxTableOperands) {
      return EntryError(
          i, key,
          absl::StrCat("a configuration table allows at most ",
                       solver::kMaxTableOperands,
                       " operands; upload a separable cost instead"));
    }
    absl::StatusOr<solver::ConfigMask> mask =
        solver::ParseConfig(entry.config(), num_inputs, num_outputs);
    if (!mask.ok()) return EntryError(i, key, mask.status().message());
    if (absl::Status s = solver::CheckKernelTimeUs(entry.time_us()); !s.ok()) {
      return EntryError(i, key,
                        absl::StrCat("configuration ", entry.config(),
                                     ": time_us ", s.message()));
    }
    Measurement m;
    m.signature_key = std::move(key);
    m.signature = signature;
    m.config = solver::FormatConfig(*mask, num_inputs, num_outputs);
    m.time_us = entry.time_us();
    m.measurement_id = entry.measurement_id();
    parsed.measurements.push_back(std::move(m));
  }
  return parsed;
}

v1::HostClassSummary ToSummary(const HostClassInfo& info) {
  v1::HostClassSummary summary;
  *summary.mutable_host_class() = info.host_class;
  summary.set_profile_version(info.version);
  summary.set_signatures(info.signatures);
  summary.set_configs(info.configs);
  summary.set_measurements(info.measurements);
  return summary;
}

// Empty, over-long or control characters: INVALID_ARGUMENT (RequestLimits).
absl::Status RequireName(const std::string& name, const char* field) {
  return CheckHostClassName(name, field);
}

// Finishes a unary call with `result`: copies the value into `response` when
// OK, the status (code and message) otherwise.
template <typename T>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      absl::StatusOr<T> result, T* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) {
    *response = *std::move(result);
    reactor->Finish(grpc::Status::OK);
  } else {
    reactor->Finish(ToGrpcStatus(result.status()));
  }
  return reactor;
}

// StreamMeasurements: each batch is applied as it arrives (so a long stream
// needs no buffering); the first bad batch ends the call with its error,
// keeping the batches before it.
class UploadStreamReactor final
    : public grpc::ServerReadReactor<v1::UploadMeasurementsRequest> {
 public:
  UploadStreamReactor(ProfileServiceImpl* service, Principal principal,
                      v1::UploadMeasurementsResponse* response)
      : service_(service),
        principal_(std::move(principal)),
        response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call was cancelled)
      Finish(grpc::Status::OK);
      return;
    }
    absl::StatusOr<v1::UploadMeasurementsResponse> batch =
        service_->Upload(request_, principal_, "StreamMeasurements");
    if (!batch.ok()) {
      Finish(ToGrpcStatus(batch.status()));
      return;
    }
    response_->set_accepted(response_->accepted() + batch->accepted());
    response_->set_duplicates(response_->duplicates() + batch->duplicates());
    response_->set_profile_version(batch->profile_version());
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  ProfileServiceImpl* service_;
  const Principal principal_;
  v1::UploadMeasurementsResponse* response_;
  v1::UploadMeasurementsRequest request_;
};

}  // namespace

ProfileServiceImpl::ProfileServiceImpl(ProfileStore& store, GraphStore& graphs,
                                       const Authorizer& authorizer,
                                       std::shared_ptr<spdlog::logger> logger)
    : store_(store),
      graphs_(graphs),
      authorizer_(authorizer),
      logger_(std::move(logger)) {}

absl::Status ProfileServiceImpl::LogOutcome(const char* method,
                                            const std::string& host_class,
                                            absl::Status status) {
  if (status.ok()) return status;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      logger_->info("{} host_class=\"{}\" rejected: {}", method,
                    Excerpt(host_class), status.ToString());
      break;
    default:
      logger_->error("{} host_class=\"{}\" failed: {}", method,
                     Excerpt(host_class), status.ToString());
  }
  return status;
}

namespace {

// PERMISSION_DENIED unless `principal` may profile `host_class`.
absl::Status CheckProfileGrant(const Principal& principal,
                               const std::string& host_class) {
  if (principal.MayProfile(host_class)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("principal ", principal.name,
                   " may not profile host class \"", host_class, "\": ",
                   principal.Has(kRoleAgent)
                       ? "not among the host classes its agent role is granted"
                       : "it needs the agent role for it, or operator"));
}

// For an upload to existing host class `stored` (named as the request's):
// FailedPrecondition for another fingerprint; otherwise sets in *update
// the host class and bandwidths when they change, and leaves in
// *separable only the separable costs that differ from the stored ones,
// so that re-sending the same data keeps the profile version.
absl::Status PlanUpdateOfExisting(ProfileStore& store,
                                  const v1::UploadMeasurementsRequest& request,
                                  const v1::HostClass& stored,
                                  std::vector<v1::KernelProfile>* separable,
                                  ProfileUpdate* update) {
  const std::string& name = request.host_class().name();
  if (stored.fingerprint() != request.host_class().fingerprint()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host class ", name, " exists with fingerprint \"",
        Excerpt(stored.fingerprint(), 256), "\", not \"",
        Excerpt(request.host_class().fingerprint(), 256),
        "\"; profiles of different fingerprints never mix (use another "
        "host class name, or delete this one first)"));
  }
  v1::HostClass merged = stored;
  if (!request.host_class().fast_tier_name().empty()) {
    merged.set_fast_tier_name(request.host_class().fast_tier_name());
  }
  if (!request.host_class().slow_tier_name().empty()) {
    merged.set_slow_tier_name(request.host_class().slow_tier_name());
  }
  const bool names_changed = !MessageDifferencer::Equals(merged, stored);
  if (names_changed || HasBandwidths(request.bandwidths()) ||
      !separable->empty()) {
    // Write only what differs, so that re-sending the same data keeps
    // the profile version.
    AUTOTM_ASSIGN_OR_RETURN(v1::Profile current, store.GetProfile(name));
    v1::CopyBandwidths bandwidths = current.bandwidths();
    bool bandwidths_changed = false;
    if (HasBandwidths(request.bandwidths()) &&
        !MessageDifferencer::Equals(request.bandwidths(), bandwidths)) {
      AUTOTM_RETURN_IF_ERROR(ValidateBandwidths(name, request.bandwidths()));
      bandwidths = request.bandwidths();
      bandwidths_changed = true;
    }
    if (names_changed || bandwidths_changed) {
      update->host_class = merged;
      update->bandwidths = bandwidths;
    }
    if (!separable->empty()) {
      absl::flat_hash_map<std::string, const v1::KernelProfile*> stored_k;
      for (const v1::KernelProfile& k : current.kernels()) {
        if (k.has_separable()) {
          stored_k[solver::SignatureKey(k.signature())] = &k;
        }
      }
      std::vector<v1::KernelProfile> changed;
      for (v1::KernelProfile& k : *separable) {
        auto it = stored_k.find(solver::SignatureKey(k.signature()));
        if (it == stored_k.end() ||
            !MessageDifferencer::Equals(it->second->separable(),
                                        k.separable())) {
          changed.push_back(std::move(k));
        }
      }
      separable->swap(changed);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::UploadMeasurementsResponse> ProfileServiceImpl::Upload(
    const v1::UploadMeasurementsRequest& request, const Principal& principal,
    const char* rpc) {
  const std::string& name = request.host_class().name();
  auto run = [&]() -> absl::StatusOr<v1::UploadMeasurementsResponse> {
    AUTOTM_RETURN_IF_ERROR(RequireName(name, "host_class.name"));
    AUTOTM_RETURN_IF_ERROR(CheckProfileGrant(principal, name));
    AUTOTM_ASSIGN_OR_RETURN(ParsedEntries parsed, ParseEntries(request));
    for (Measurement& m : parsed.measurements) m.uploader = principal.name;

    absl::MutexLock lock(&write_mu_);
    absl::StatusOr<HostClassInfo> existing = store_.GetHostClassVersion(name);
    std::vector<v1::KernelProfile> separable = std::move(parsed.separable);
    // Poisoning (issue 17): refused before anything is written, under the
    // lock so that the data checked against is the data written over.
    if (existing.ok()) {
      if (HasBandwidths(request.bandwidths())) {
        AUTOTM_RETURN_IF_ERROR(ValidateBandwidths(name, request.bandwidths()));
      }
      AUTOTM_ASSIGN_OR_RETURN(const v1::Profile* stored,
                              reference_.Get(name, existing->version, [&] {
                                return store_.GetProfile(name);
                              }));
      AUTOTM_RETURN_IF_ERROR(CheckPlausible(request, stored));
    } else if (absl::IsNotFound(existing.status())) {
      reference_.Invalidate();
      AUTOTM_RETURN_IF_ERROR(CheckPlausible(request, nullptr));
    }
    // The reference cache is merged only after every write succeeded; a
    // failed write changes the stored version, so the next upload reads the
    // profile afresh.
    const uint64_t version_before = existing.ok() ? existing->version : 0;
    // Everything this upload writes, applied at the end in one transaction
    // so that a crash mid-upload leaves the old profile or the new one.
    ProfileUpdate update;
    const bool creating = absl::IsNotFound(existing.status());
    if (creating) {
      AUTOTM_RETURN_IF_ERROR(ValidateBandwidths(name, request.bandwidths()));
      update.host_class = request.host_class();
      update.bandwidths = request.bandwidths();
    } else if (!existing.ok()) {
      return existing.status();
    } else {
      AUTOTM_RETURN_IF_ERROR(PlanUpdateOfExisting(
          store_, request, existing->host_class, &separable, &update));
    }

    const uint64_t separable_changed = separable.size();
    update.measurements = std::move(parsed.measurements);
    update.separable = std::move(separable);
    AUTOTM_ASSIGN_OR_RETURN(const uint64_t accepted,
                            store_.ApplyProfileUpdate(name, update));
    if (creating) logger_->info("created host class \"{}\"", name);
    AUTOTM_ASSIGN_OR_RETURN(HostClassInfo info,
                            store_.GetHostClassVersion(name));
    reference_.Update(request, version_before, info.version);
    v1::UploadMeasurementsResponse response;
    // Entries that changed nothing (an id already stored, a separable cost
    // equal to the stored one) are duplicates.
    response.set_accepted(accepted + separable_changed);
    response.set_duplicates(static_cast<uint64_t>(request.entries_size()) -
                            response.accepted());
    response.set_profile_version(info.version);
    logger_->info(
        "upload host_class=\"{}\" entries={} accepted={} duplicates={} "
        "profile_version={}",
        name, request.entries_size(), response.accepted(),
        response.duplicates(), response.profile_version());
    return response;
  };
  absl::StatusOr<v1::UploadMeasurementsResponse> result = run();
  Audit(*logger_, principal, rpc,
        absl::StrCat(
            "host_class=", name,
            result.ok() ? absl::StrCat(" accepted=", result->accepted()) : ""),
        result.status());
  if (!result.ok()) {
    return LogOutcome("UploadMeasurements", name, result.status());
  }
  return result;
}

absl::StatusOr<v1::UploadMeasurementsResponse> ProfileServiceImpl::Import(
    const v1::Profile& profile, const Principal& principal) {
  const std::string& name = profile.host_class().name();
  if (absl::Status s = RequireName(name, "profile.host_class.name"); !s.ok()) {
    return LogOutcome("ImportProfile", name, s);
  }
  // Who may write the class comes before what is written: a principal not
  // granted it learns nothing about why its profile would be refused.
  if (absl::Status s = CheckProfileGrant(principal, name); !s.ok()) {
    return LogOutcome("ImportProfile", name, s);
  }
  if (absl::StatusOr<solver::ProfileModel> model =
          solver::ProfileModel::Create(profile);
      !model.ok()) {
    return LogOutcome("ImportProfile", name,
                      absl::Status(model.status().code(),
                                   absl::StrCat("invalid profile: ",
                                                model.status().message())));
  }
  // Each configuration time becomes one measurement whose id is derived
  // from what it measures and its value: importing the same file twice adds
  // nothing, importing a re-measured file adds the new values to the median.
  v1::UploadMeasurementsRequest request;
  *request.mutable_host_class() = profile.host_class();
  *request.mutable_bandwidths() = profile.bandwidths();
  for (const v1::KernelProfile& kernel : profile.kernels()) {
    const std::string key = solver::SignatureKey(kernel.signature());
    if (kernel.configs().empty()) {
      v1::MeasurementEntry* entry = request.add_entries();
      *entry->mutable_signature() = kernel.signature();
      *entry->mutable_separable() = kernel.separable();
      continue;
    }
    for (const v1::ConfigTiming& timing : kernel.configs()) {
      v1::MeasurementEntry* entry = request.add_entries();
      *entry->mutable_signature() = kernel.signature();
      entry->set_config(timing.config());
      entry->set_time_us(timing.time_us());
      entry->set_measurement_id(absl::StrFormat(
          "import/%s/%s/%.17g", key, timing.config(), timing.time_us()));
    }
  }
  return Upload(request, principal, "ImportProfile");
}

absl::StatusOr<v1::HostClassSummary> ProfileServiceImpl::GetSummary(
    const std::string& name) {
  if (absl::Status s = RequireName(name, "name"); !s.ok()) {
    return LogOutcome("GetHostClass", name, s);
  }
  absl::StatusOr<HostClassInfo> info = store_.GetHostClass(name);
  if (!info.ok()) return LogOutcome("GetHostClass", name, info.status());
  v1::HostClassSummary summary = ToSummary(*info);
  absl::StatusOr<std::vector<Contribution>> contributions =
      store_.ListContributions(name);
  if (!contributions.ok()) {
    return LogOutcome("GetHostClass", name, contributions.status());
  }
  for (const Contribution& c : *contributions) {
    v1::Contribution* out = summary.add_contributions();
    out->set_principal(c.uploader);
    out->set_measurements(c.measurements);
    out->set_signatures(c.signatures);
  }
  return summary;
}

absl::StatusOr<v1::ListHostClassesResponse> ProfileServiceImpl::List() {
  absl::StatusOr<std::vector<HostClassInfo>> infos = store_.ListHostClasses();
  if (!infos.ok()) return LogOutcome("ListHostClasses", "", infos.status());
  v1::ListHostClassesResponse response;
  for (const HostClassInfo& info : *infos) {
    *response.add_host_classes() = ToSummary(info);
  }
  return response;
}

absl::StatusOr<v1::Profile> ProfileServiceImpl::Export(
    const std::string& name) {
  if (absl::Status s = RequireName(name, "name"); !s.ok()) {
    return LogOutcome("ExportProfile", name, s);
  }
  absl::StatusOr<v1::Profile> profile = store_.GetProfile(name);
  if (!profile.ok()) return LogOutcome("ExportProfile", name, profile.status());
  return profile;
}

absl::Status ProfileServiceImpl::Delete(const std::string& name,
                                        const Principal& principal) {
  if (absl::Status s = RequireName(name, "name"); !s.ok()) {
    return LogOutcome("DeleteHostClass", name, s);
  }
  absl::MutexLock lock(&write_mu_);
  reference_.Invalidate();
  absl::Status status = store_.DeleteHostClass(name);
  Audit(*logger_, principal, "DeleteHostClass",
        absl::StrCat("host_class=", name), status);
  if (status.ok()) logger_->info("deleted host class \"{}\"", name);
  return LogOutcome("DeleteHostClass", name, status);
}

absl::StatusOr<v1::DropMeasurementsResponse> ProfileServiceImpl::Drop(
    const v1::DropMeasurementsRequest& request, const Principal& principal) {
  const std::string& name = request.host_class();
  if (absl::Status s = RequireName(name, "host_class"); !s.ok()) {
    return LogOutcome("DropMeasurements", name, s);
  }
  absl::MutexLock lock(&write_mu_);
  absl::StatusOr<uint64_t> removed =
      store_.DeleteMeasurementsBy(name, request.principal());
  absl::StatusOr<HostClassInfo> info =
      removed.ok() ? store_.GetHostClassVersion(name)
                   : absl::StatusOr<HostClassInfo>(removed.status());
  Audit(*logger_, principal, "DropMeasurements",
        absl::StrCat("host_class=", name, " principal=", request.principal(),
                     removed.ok() ? absl::StrCat(" removed=", *removed) : ""),
        info.status());
  if (!info.ok()) return LogOutcome("DropMeasurements", name, info.status());
  v1::DropMeasurementsResponse response;
  response.set_removed(*removed);
  response.set_profile_version(info->version);
  return response;
}

absl::StatusOr<v1::WorkList> ProfileServiceImpl::GetWorkList(
    const v1::GetWorkListRequest& request, const Principal& principal) {
  const std::string& name = request.host_class();
  auto fail = [&](absl::Status s) {
    return LogOutcome("GetWorkList", name, s);
  };
  if (absl::Status s = RequireName(name, "host_class"); !s.ok()) return fail(s);
  if (absl::Status s = CheckProfileGrant(principal, name); !s.ok()) {
    return fail(s);
  }
  v1::WorkList list;
  list.mutable_host_class()->set_name(name);

  std::vector<std::string> digests;
  if (request.has_graph()) {
    if (absl::StatusOr<solver::GraphModel> model =
            solver::GraphModel::Create(request.graph());
        !model.ok()) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("graph: ", model.status().message())));
    }
    absl::StatusOr<std::string> digest = graphs_.PutGraph(request.graph());
    if (!digest.ok()) return fail(digest.status());
    if (absl::Status s = graphs_.RecordSubmission(name, *digest); !s.ok()) {
      return fail(s);
    }
    digests.push_back(*std::move(digest));
  } else {
    absl::StatusOr<std::vector<std::string>> submitted =
        graphs_.ListSubmittedGraphs(name);
    if (!submitted.ok()) return fail(submitted.status());
    digests = *std::move(submitted);
  }

  absl::flat_hash_set<std::string> known;
  if (absl::StatusOr<v1::Profile> profile = store_.GetProfile(name);
      profile.ok()) {
    *list.mutable_host_class() = profile->host_class();
    for (const v1::KernelProfile& k : profile->kernels()) {
      known.insert(solver::SignatureKey(k.signature()));
    }
  } else if (!absl::IsNotFound(profile.status())) {
    return fail(profile.status());
  }

  solver::WorkListBuilder builder(std::move(known));
  for (const std::string& digest : digests) {
    absl::StatusOr<v1::Graph> graph = graphs_.GetGraph(digest);
    if (!graph.ok()) return fail(graph.status());
    builder.AddGraph(*graph);
  }
  // Cut so that the response stays far below gRPC's 4 MiB message limit
  // however many graphs were submitted (issue 18: list responses are
  // bounded); the agent asks again once it uploaded these.
  constexpr size_t kMaxWorkListBytes = size_t{1} << 20;
  size_t bytes = 0;
  for (v1::WorkItem& item : builder.Take()) {
    bytes += item.ByteSizeLong() + 8;
    if (list.items_size() > 0 && bytes > kMaxWorkListBytes) {
      list.set_truncated(true);
      break;
    }
    *list.add_items() = std::move(item);
  }
  list.set_graphs(static_cast<uint32_t>(digests.size()));
  logger_->info(
      "GetWorkList host_class=\"{}\": {} graphs, {} missing "
      "signatures",
      name, digests.size(), list.items_size());
  return list;
}

grpc::ServerUnaryReactor* ProfileServiceImpl::UploadMeasurements(
    grpc::CallbackServerContext* context,
    const v1::UploadMeasurementsRequest* request,
    v1::UploadMeasurementsResponse* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    return FinishUnary<v1::UploadMeasurementsResponse>(
        context, principal.status(), response);
  }
  return FinishUnary(context, Upload(*request, *principal), response);
}

grpc::ServerReadReactor<v1::UploadMeasurementsRequest>*
ProfileServiceImpl::StreamMeasurements(
    grpc::CallbackServerContext* context,
    v1::UploadMeasurementsResponse* response) {
  // AuthProcessor let the call in, so Identify fails only when the
  // identities file dropped the caller since: an empty principal (no
  // roles) is then refused batch by batch.
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  return new UploadStreamReactor(
      this, principal.ok() ? *std::move(principal) : Principal(), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::GetHostClass(
    grpc::CallbackServerContext* context,
    const v1::GetHostClassRequest* request, v1::HostClassSummary* response) {
  return FinishUnary(context, GetSummary(request->name()), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::ListHostClasses(
    grpc::CallbackServerContext* context,
    const v1::ListHostClassesRequest* request,
    v1::ListHostClassesResponse* response) {
  return FinishUnary(context, List(), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::ExportProfile(
    grpc::CallbackServerContext* context,
    const v1::ExportProfileRequest* request, v1::Profile* response) {
  return FinishUnary(context, Export(request->name()), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::ImportProfile(
    grpc::CallbackServerContext* context,
    const v1::ImportProfileRequest* request,
    v1::UploadMeasurementsResponse* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    return FinishUnary<v1::UploadMeasurementsResponse>(
        context, principal.status(), response);
  }
  return FinishUnary(context, Import(request->profile(), *principal), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::DeleteHostClass(
    grpc::CallbackServerContext* context,
    const v1::DeleteHostClassRequest* request,
    v1::DeleteHostClassResponse* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  absl::Status status =
      principal.ok() ? Delete(request->name(), *principal) : principal.status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* ProfileServiceImpl::DropMeasurements(
    grpc::CallbackServerContext* context,
    const v1::DropMeasurementsRequest* request,
    v1::DropMeasurementsResponse* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    return FinishUnary<v1::DropMeasurementsResponse>(
        context, principal.status(), response);
  }
  return FinishUnary(context, Drop(*request, *principal), response);
}

grpc::ServerUnaryReactor* ProfileServiceImpl::GetWorkList(
    grpc::CallbackServerContext* context, const v1::GetWorkListRequest* request,
    v1::WorkList* response) {
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    return FinishUnary<v1::WorkList>(context, principal.status(), response);
  }
  return FinishUnary(context, GetWorkList(*request, *principal), response);
}

}  // namespace autotm::server
