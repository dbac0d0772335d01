// Turns AutoTM's real Optane DC measurements
// (data/optane-2019/fuzz_kernel_profiles.jsonl.gz, read by optane_data.h)
// into an autotm.v1.Profile keyed by OUR kernel signatures, the ones the
// graph zoo (client/zoo/network_builder.h) emits. This is what
// `autotm profiles import --format optane-jsonl` runs (docs/COST_MODEL.md,
// "Importing the 2019 measurements").
//
// The measurements use nGraph's op vocabulary and operand orders with shapes
// in Julia order (W, H, C, N). A measured kernel maps to one of our
// signatures only when it is the same kernel: the same computation over the
// same operands. Shapes are reversed into NCHW / OIHW, operands are permuted
// into the order of client/zoo/ops.h, attributes the zoo sets ("kernel",
// "stride", "pad") are recovered from the shapes, and every measured DRAM/PMEM
// placement becomes one of our "FS|F" configuration strings (DRAM -> F,
// PMEM -> S) in our operand order. Every mapping, and every kernel left out
// with its reason, is listed in MapOptaneKernel()'s table (optane_import.cc).
//
// Two projections are made and reported as such, never silently:
//   * nGraph's BatchNormTrainingBackprop reads beta, which the gradient does
//     not use and our batchnorm_bwd does not take: beta is dropped and the
//     configurations that differ only in beta's tier are merged (median);
//   * several measured kernels can map to one signature of ours (they differ
//     only in MKL-DNN input formats, which our signatures do not carry): all
//     their timings of a configuration are merged (median).
//
// All functions are pure, thread-safe and never throw.
#ifndef AUTOTM_CLIENT_COSTMODEL_OPTANE_IMPORT_H_
#define AUTOTM_CLIENT_COSTMODEL_OPTANE_IMPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/costmodel/optane_data.pb.h"

namespace autotm::costmodel {

// Default host class of an import. Note: the synthetic cost model
// (CostModel::Optane2019()) uses the same name with another fingerprint;
// a server keeps one fingerprint per host class, so pick another name with
// `--host-class` to keep both on one server.
inline constexpr char kOptaneImportHostClass[] = "optane-2019-measured";

// Why a measured kernel has no signature of ours.
enum class UnmappedReason {
  // An op this importer does not know.
  kUnknownOp = 0,
  // nGraph plumbing our graphs have no kernel for (ConvertLayout, Reshape,
  // Broadcast, Convert).
  kNoCounterpart,
  // One nGraph kernel does the work of several of ours
  // (BatchNormTrainingRelu = batchnorm_fwd + relu_fwd).
  kFusedInTheirs,
  // One kernel of ours does the work of several nGraph kernels (split vs
  // one Slice per piece, softmax_xent_* vs Softmax/Log/Sum/..., sgd_update
  // vs Multiply/Subtract, matmul_bwd_weights (dw, db) vs a GEMM + a Sum).
  kFusedInOurs,
  // The same computation over other operands (MaxPoolWithIndices writes an
  // index tensor that our maxpool_fwd does not, and its backward reads it).
  kOperandsDiffer,
  // Window, stride or padding cannot be recovered from the shapes alone
  // (pooling windows other than global; a convolution whose stride/padding
  // has several solutions).
  kWindowUnknown,
  // Shapes our zoo never emits for the op (broadcasting Add, a concat not
  // along channels, a dtype other than f32, inconsistent operands).
  kShapeUnsupported,
};
inline constexpr int kNumUnmappedReasons = 7;

// "unknown_op", "no_counterpart", "fused_in_theirs", "fused_in_ours",
// "operands_differ", "window_unknown", "shape_unsupported".
absl::string_view UnmappedReasonName(UnmappedReason reason);

// How one measured kernel maps to one of our signatures.
struct KernelMapping {
  // Our signature, exactly as the zoo emits it.
  v1::KernelSignature signature;
  // For each of our operand positions (inputs, then outputs): the position
  // of the measured operand it is (inputs, then outputs). Measured operands
  // not listed are dropped (see the file comment).
  std::vector<int> source;
  // Empty, or what this mapping projects away (shown in the report).
  std::string note;
};

// A mapping, or why there is none.
struct MapResult {
  std::optional<KernelMapping> mapping;
  UnmappedReason reason = UnmappedReason::kUnknownOp;  // when !mapping
  std::string detail;                                  // when !mapping
};

// Maps a measured kernel signature: nGraph op, shapes in Julia order, as
// GroupMeasurements() builds it.
MapResult MapOptaneKernel(const v1::KernelSignature& measured);

struct OptaneImportOptions {
  // HostClass.name of the profile (default kOptaneImportHostClass).
  std::string host_class = kOptaneImportHostClass;
};

// Figures of one nGraph op in an import.
struct OptaneOpStats {
  // Our ops its kernels map to (MatmulBias: two), sorted.
  std::set<std::string> our_ops;
  int64_t records = 0;         // measurements of the op
  int64_t kernels = 0;         // distinct measured kernels (AutoTM's key)
  int64_t mapped_kernels = 0;  // of those, mapped to a signature of ours
  int64_t mapped_records = 0;  // measurements of the mapped kernels
  int64_t signatures = 0;      // our signatures they became
  int64_t configs = 0;         // (signature, configuration) entries
  std::map<UnmappedReason, int64_t> unmapped_kernels;
  std::string note;  // KernelMapping::note of its mapped kernels, if any
};

// What an import read and produced. Invariants (checked by the tests):
// kernels = mapped_kernels + sum(unmapped_kernels); the per-op figures add
// up to the totals; mapped_kernels >= signatures.
struct OptaneImportReport {
  int64_t records = 0;
  int64_t kernels = 0;
  int64_t mapped_kernels = 0;
  int64_t mapped_records = 0;
  // Kernels of the profile (our signatures) and their configurations.
  int64_t signatures = 0;
  int64_t configs = 0;
  // Configurations that merged more than one measurement (median).
  int64_t merged_configs = 0;
  std::map<UnmappedReason, int64_t> unmapped_kernels;
  // Keyed by nGraph op name.
  std::map<std::string, OptaneOpStats> ops;
};

struct OptaneImport {
  v1::Profile profile;
  OptaneImportReport report;
};

// The profile's fingerprint and tier names.
inline constexpr char kOptaneFingerprint[] =
    "AutoTM 2019 measurements: 2x Xeon Platinum 8260L (1 socket, 24 threads "
    "used), Optane DC PMM (App Direct), nGraph/MKL-DNN; autotm "
    "optane_import v1";
inline constexpr char kOptaneFastTier[] = "DRAM";
inline constexpr char kOptaneSlowTier[] = "PMM";

// The copy bandwidths of the imported profile, from the same machine's
// measured copy kernels (optane_import.cc says which rows and why).
v1::CopyBandwidths OptaneCopyBandwidths();

// Builds the profile from parsed measurements. Kernels in order of first
// appearance of their signature; configurations sorted. Each configuration's
// time is the median of the measurements that map to it (the mean of the two
// middle ones for an even count), with `repetitions` the count.
// InvalidArgument "measurement N: ..." (N 1-based) for a measurement that
// GroupMeasurements() rejects.
absl::StatusOr<OptaneImport> ImportOptaneMeasurements(
    const std::vector<OptaneMeasurement>& measurements,
    const OptaneImportOptions& options = {});

// Reads a JSON-lines file, gzip-compressed or plain, and imports it. Errors
// name the file and, for a bad record, its line: "PATH:LINE: ...". NotFound /
// DataLoss / errno codes as ReadGzipFile(); InvalidArgument for bad lines or
// a file without records.
absl::StatusOr<OptaneImport> ImportOptaneFile(
    const std::string& path, const OptaneImportOptions& options = {});

// How much of a graph's kernels a profile covers.
struct ProfileCoverage {
  struct OpCoverage {
    int64_t signatures = 0;
    int64_t covered = 0;
  };
  // Distinct signatures (solver::SignatureKey) of the graph's kernels.
  int64_t signatures = 0;
  int64_t covered = 0;
  // Kernels (not distinct) of the graph, and those whose signature is
  // covered.
  int64_t kernels = 0;
  int64_t covered_kernels = 0;
  // By our op name.
  std::map<std::string, OpCoverage> ops;
  bool complete() const { return covered == signatures; }
};

// Counts, without validating either message, which of `graph`'s signatures
// `profile` has an entry for. A plan needs complete coverage
// (solver::CheckCoverage).
ProfileCoverage ComputeCoverage(const v1::Graph& graph,
                                const v1::Profile& profile);

}  // namespace autotm::costmodel

#endif  // AUTOTM_CLIENT_COSTMODEL_OPTANE_IMPORT_H_
