#include "client/costmodel/optane_data.h"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace autotm::costmodel {
namespace {

absl::Status MeasurementError(size_t index, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("measurement ", index + 1, ": ", problem));
}

absl::StatusOr<v1::DataType> JuliaType(absl::string_view name) {
  static constexpr std::pair<absl::string_view, v1::DataType> kTypes[] = {
      {"Float32", v1::DATA_TYPE_F32}, {"Float64", v1::DATA_TYPE_F64},
      {"Float16", v1::DATA_TYPE_F16}, {"Int32", v1::DATA_TYPE_I32},
      {"Int64", v1::DATA_TYPE_I64},   {"Int8", v1::DATA_TYPE_I8},
      {"UInt8", v1::DATA_TYPE_U8},    {"Bool", v1::DATA_TYPE_BOOL}};
  for (const auto& [julia, dtype] : kTypes) {
    if (julia == name) return dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown element type \"", name, "\""));
}

absl::Status AddOperands(
    const google::protobuf::RepeatedPtrField<google::protobuf::ListValue>&
        shapes,
    const google::protobuf::RepeatedPtrField<std::string>& types,
    google::protobuf::RepeatedPtrField<v1::OperandSpec>* operands) {
  if (shapes.size() != types.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        shapes.size(), " shapes but ", types.size(), " element types"));
  }
  for (int i = 0; i < shapes.size(); ++i) {
    v1::OperandSpec* operand = operands->Add();
    for (const google::protobuf::Value& value : shapes[i].values()) {
      const double dim = value.number_value();
      if (value.kind_case() != google::protobuf::Value::kNumberValue ||
          !(dim >= 0) || dim != std::floor(dim) || dim > 9.0e15) {
        return absl::InvalidArgumentError(absl::StrCat(
            "operand ", i, " has a dim that is not a whole ", "number >= 0"));
      }
      operand->add_dims(static_cast<int64_t>(dim));
    }
    absl::StatusOr<v1::DataType> dtype = JuliaType(types[i]);
    if (!dtype.ok()) return dtype.status();
    operand->set_dtype(*dtype);
  }
  return absl::OkStatus();
}

absl::Status AddTiers(
    const google::protobuf::RepeatedPtrField<std::string>& tiers, int operands,
    std::vector<bool>* slow) {
  if (tiers.size() != operands) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration has ", tiers.size(), " entries for ",
                     operands, " operands"));
  }
  for (const std::string& tier : tiers) {
    if (tier == "PMEM") {
      slow->push_back(true);
    } else if (tier == "DRAM") {
      slow->push_back(false);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown tier \"", tier, "\"; expected DRAM or PMEM"));
    }
  }
  return absl::OkStatus();
}

// The identity of a kernel in AutoTM's cache (CPUKernelParams).
std::string KernelKey(const OptaneMeasurement& m,
                      const v1::KernelSignature& signature) {
  auto dims = [](const v1::OperandSpec& operand) {
    return absl::StrCat("[", absl::StrJoin(operand.dims(), ","),
                        "]:", operand.dtype());
  };
  std::string key = absl::StrCat(m.op(), "(");
  for (const auto& operand : signature.inputs()) {
    absl::StrAppend(&key, dims(operand), ";");
  }
  absl::StrAppend(&key, ")->(");
  for (const auto& operand : signature.outputs()) {
    absl::StrAppend(&key, dims(operand), ";");
  }
  absl::StrAppend(&key, ")", m.mkldnn() ? "mkl" : "", "{",
                  absl::StrJoin(m.input_mkldnn_formats(), ","), "}");
  return key;
}

std::string ConfigKey(const std::vector<bool>& slow) {
  std::string key;
  for (bool s : slow) key.push_back(s ? 'P' : 'D');
  return key;
}

}  // namespace

std::optional<double> MeasuredKernel::AllFastTimeUs() const {
  for (const MeasuredConfig& config : configs) {
    bool all_fast = true;
    for (bool slow : config.slow) all_fast = all_fast && !slow;
    if (all_fast) return config.time_us;
  }
  return std::nullopt;
}

absl::StatusOr<OptaneMeasurement> ParseMeasurementLine(absl::string_view line) {
  OptaneMeasurement measurement;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::util::Status status =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(line.data(), line.size()), &measurement,
          options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a measurement: ", status.message().as_string()));
  }
  return measurement;
}

absl::StatusOr<std::vector<MeasuredKernel>> GroupMeasurements(
    const std::vector<OptaneMeasurement>& measurements) {
  std::vector<MeasuredKernel> kernels;
  absl::flat_hash_map<std::string, size_t> index_of;
  // Per kernel: the configurations seen, to reject duplicates.
  std::vector<absl::flat_hash_map<std::string, size_t>> seen_configs;
  for (size_t i = 0; i < measurements.size(); ++i) {
    const OptaneMeasurement& m = measurements[i];
    v1::KernelSignature signature;
    signature.set_op(m.op());
    if (absl::Status status = AddOperands(m.input_shapes(), m.input_types(),
                                          signature.mutable_inputs());
        !status.ok()) {
      return MeasurementError(i, absl::StrCat("inputs: ", status.message()));
    }
    if (absl::Status status = AddOperands(m.output_shapes(), m.output_types(),
                                          signature.mutable_outputs());
        !status.ok()) {
      return MeasurementError(i, absl::StrCat("outputs: ", status.message()));
    }
    MeasuredConfig config;
    if (absl::Status status =
            AddTiers(m.config_inputs(), signature.inputs_size(), &config.slow);
        !status.ok()) {
      return MeasurementError(i, absl::StrCat("inputs: ", status.message()));
    }
    if (absl::Status status = AddTiers(m.config_outputs(),
                                       signature.outputs_size(), &config.slow);
        !status.ok()) {
      return MeasurementError(i, absl::StrCat("outputs: ", status.message()));
    }
    if (!std::isfinite(m.time_us()) || m.time_us() < 0) {
      return MeasurementError(i, "time_us must be finite and >= 0");
    }
    config.time_us = m.time_us();

    const std::string key = KernelKey(m, signature);
    auto [it, inserted] = index_of.try_emplace(key, kernels.size());
    if (inserted) {
      kernels.push_back(MeasuredKernel{std::move(signature), {}});
      seen_configs.emplace_back();
    }
    const std::string config_key = ConfigKey(config.slow);
    if (!seen_configs[it->second].try_emplace(config_key, i).second) {
      return MeasurementError(
          i, absl::StrCat("configuration ", config_key, " of ", m.op(),
                          " measured twice (first as measurement ",
                          seen_configs[it->second][config_key] + 1, ")"));
    }
    kernels[it->second].configs.push_back(std::move(config));
  }
  return kernels;
}

absl::StatusOr<std::string> ReadGzipFile(const std::string& path) {
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error = errno;
    if (error == 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": cannot allocate a gzip reader"));
    }
    return absl::ErrnoToStatus(error, absl::StrCat(path, ": cannot open"));
  }
  std::string contents;
  constexpr unsigned kChunk = 1 << 20;
  std::string buffer(kChunk, '\0');
  while (true) {
    const int n = gzread(file, buffer.data(), kChunk);
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      return absl::DataLossError(absl::StrCat(path, ": ", message));
    }
    if (n == 0) break;
    contents.append(buffer.data(), n);
  }
  const int closed = gzclose(file);
  if (closed != Z_OK) {
    return absl::DataLossError(absl::StrCat(
        path, closed == Z_BUF_ERROR ? ": truncated gzip stream"
                                    : ": error closing gzip stream"));
  }
  return contents;
}

absl::StatusOr<MeasurementFile> ReadMeasurementFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadGzipFile(path);
  if (!text.ok()) return text.status();
  MeasurementFile file;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    absl::StatusOr<OptaneMeasurement> m = ParseMeasurementLine(line);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": ", m.status().message()));
    }
    file.measurements.push_back(*std::move(m));
    file.lines.push_back(line_number);
  }
  return file;
}

absl::StatusOr<std::vector<MeasuredKernel>> LoadOptaneKernels(
    const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kOptaneProfilesFile);
  absl::StatusOr<MeasurementFile> file = ReadMeasurementFile(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::vector<MeasuredKernel>> kernels =
      GroupMeasurements(file->measurements);
  if (!kernels.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", kernels.status().message()));
  }
  return kernels;
}

}  // namespace autotm::costmodel
