#include "server/store/store_common.h"

#include <cmath>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/store/digest.h"
#include "solver/signature.h"

namespace autotm::server {

bool IsFinalState(v1::SolveJob::State state) {
  return state == v1::SolveJob::SUCCEEDED || state == v1::SolveJob::FAILED ||
         state == v1::SolveJob::CANCELLED;
}

absl::Status ValidateConfig(absl::string_view config,
                            const v1::KernelSignature& signature) {
  size_t bar = config.find('|');
  if (bar == absl::string_view::npos ||
      config.find('|', bar + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("config \"", config, "\" must have exactly one '|'"));
  }
  for (size_t i = 0; i < config.size(); ++i) {
    if (i != bar && config[i] != 'F' && config[i] != 'S') {
      return absl::InvalidArgumentError(absl::StrCat(
          "config \"", config, "\" may only contain 'F', 'S' and '|'"));
    }
  }
  if (bar != static_cast<size_t>(signature.inputs_size()) ||
      config.size() - bar - 1 !=
          static_cast<size_t>(signature.outputs_size())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "config \"%s\" does not match %d inputs and %d outputs of %s", config,
        signature.inputs_size(), signature.outputs_size(), signature.op()));
  }
  return absl::OkStatus();
}

// The id under which a measurement without one is stored: equal
// (signature, config, time) give equal ids, so re-sending is idempotent.
std::string DerivedMeasurementId(const std::string& signature_key,
                                 const std::string& config, double time_us) {
  uint64_t bits;
  static_assert(sizeof(bits) == sizeof(time_us));
  std::memcpy(&bits, &time_us, sizeof(bits));
  return absl::StrCat(
      "derived:",
      Sha256Hex(absl::StrCat(signature_key, std::string(1, '\0'), config,
                             std::string(1, '\0'), absl::Hex(bits))));
}

// ListJobs page tokens: web-safe base64 of "v1:<state>:<last sequence>". The
// state is carried so a token is not reused under another filter.
std::string EncodePageToken(int state, uint64_t last_sequence) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1:", state, ":", last_sequence));
}

absl::StatusOr<uint64_t> DecodePageToken(const std::string& token, int state) {
  const absl::Status malformed =
      absl::InvalidArgumentError("page_token is malformed");
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text)) return malformed;
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  int token_state;
  uint64_t sequence;
  if (parts.size() != 3 || parts[0] != "v1" ||
      !absl::SimpleAtoi(parts[1], &token_state) ||
      !absl::SimpleAtoi(parts[2], &sequence)) {
    return malformed;
  }
  if (token_state != state) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different state filter");
  }
  return sequence;
}

absl::StatusOr<std::vector<MeasurementRow>> CheckMeasurements(
    const std::vector<Measurement>& measurements) {
  std::vector<MeasurementRow> rows;
  rows.reserve(measurements.size());
  for (size_t i = 0; i < measurements.size(); ++i) {
    const Measurement& m = measurements[i];
    std::string key = solver::SignatureKey(m.signature);
    if (m.signature.op().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("measurement ", i, ": signature has no op"));
    }
    if (!m.signature_key.empty() && m.signature_key != key) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "measurement %d: signature_key \"%s\" does not match the "
          "signature's key \"%s\"",
          i, m.signature_key, key));
    }
    if (!std::isfinite(m.time_us) || m.time_us < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "measurement %d (%s %s): time_us %g must be finite and >= 0", i, key,
          m.config, m.time_us));
    }
    absl::Status config_ok = ValidateConfig(m.config, m.signature);
    if (!config_ok.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("measurement ", i, ": ", config_ok.message()));
    }
    std::string id = m.measurement_id.empty()
                         ? DerivedMeasurementId(key, m.config, m.time_us)
                         : m.measurement_id;
    rows.push_back({std::move(key), std::move(id), &m});
  }
  return rows;
}

absl::StatusOr<std::map<std::string, std::string>> CheckSeparableCosts(
    const std::vector<v1::KernelProfile>& kernels) {
  std::map<std::string, std::string> rows;  // key -> bytes; last one wins
  for (size_t i = 0; i < kernels.size(); ++i) {
    const v1::KernelProfile& kernel = kernels[i];
    if (kernel.signature().op().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("separable cost ", i, ": signature has no op"));
    }
    std::string key = solver::SignatureKey(kernel.signature());
    if (!kernel.has_separable() || kernel.configs_size() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("separable cost ", i, " (", key,
                       "): must set `separable` and no `configs`"));
    }
    const v1::SeparableCost& cost = kernel.separable();
    if (cost.input_slow_penalty_us_size() != kernel.signature().inputs_size() ||
        cost.output_slow_penalty_us_size() !=
            kernel.signature().outputs_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("separable cost ", i, " (", key,
                       "): needs one slow penalty per input and per output"));
    }
    rows[key] = DeterministicBytes(kernel);
  }
  return rows;
}

}  // namespace autotm::server
