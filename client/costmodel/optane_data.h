// Reads AutoTM's real Optane DC kernel measurements
// (data/optane-2019/fuzz_kernel_profiles.jsonl.gz; its README says where
// it comes from):
// 28,045 timings of 2,068 kernels, each kernel measured under several
// DRAM/PMM placements of its operands.
//
// All functions are thread-safe and never throw.
#ifndef AUTOTM_CLIENT_COSTMODEL_OPTANE_DATA_H_
#define AUTOTM_CLIENT_COSTMODEL_OPTANE_DATA_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"
#include "client/costmodel/optane_data.pb.h"

namespace autotm::costmodel {

// The measurements file inside the data directory.
inline constexpr char kOptaneProfilesFile[] = "fuzz_kernel_profiles.jsonl.gz";

// One measured IO configuration of a kernel.
struct MeasuredConfig {
  // One entry per operand, inputs then outputs: true = in PMM.
  std::vector<bool> slow;
  double time_us = 0;
};

// A kernel of the measurements with every configuration measured for it.
struct MeasuredKernel {
  // nGraph op name and shapes in Julia order (W, H, C, N); dtypes mapped
  // from Julia's names. AnalyzeKernel() understands this vocabulary.
  v1::KernelSignature signature;
  // In file order; each configuration once.
  std::vector<MeasuredConfig> configs;

  // The time with every operand in DRAM, or nullopt when not measured.
  std::optional<double> AllFastTimeUs() const;
};

// Parses one JSON line. InvalidArgument for text that is not a measurement
// (bad JSON, unknown field, wrong types).
absl::StatusOr<OptaneMeasurement> ParseMeasurementLine(absl::string_view line);

// Groups measurements by kernel: the same op, shapes, element types,
// MKL-DNN flag and input formats (the key of AutoTM's cache), in order of
// first appearance. InvalidArgument (naming the measurement's index) for a
// shape with a negative or fractional dim, an unknown element type or tier
// name, a configuration whose length differs from the operand count, a
// negative or non-finite time, or a configuration measured twice.
absl::StatusOr<std::vector<MeasuredKernel>> GroupMeasurements(
    const std::vector<OptaneMeasurement>& measurements);

// The decompressed contents of a gzip file (a plain file is returned as is).
// NotFound when it does not exist, DataLoss for a corrupt stream, another
// errno-derived code otherwise; messages start with the path.
absl::StatusOr<std::string> ReadGzipFile(const std::string& path);

// Every measurement of a JSON-lines file (gzip or plain; blank lines
// skipped) and the line number each came from. Errors as ReadGzipFile; a
// line that does not parse is InvalidArgument "PATH:LINE: ...".
struct MeasurementFile {
  std::vector<OptaneMeasurement> measurements;
  std::vector<int> lines;  // 1-based, one per measurement
};
absl::StatusOr<MeasurementFile> ReadMeasurementFile(const std::string& path);

// Reads `data_dir`/kOptaneProfilesFile and groups it. Errors as above; a
// parse error names the file and line.
absl::StatusOr<std::vector<MeasuredKernel>> LoadOptaneKernels(
    const std::string& data_dir);

}  // namespace autotm::costmodel

#endif  // AUTOTM_CLIENT_COSTMODEL_OPTANE_DATA_H_
