// autotm-graph-bench: a benchmark command (not a test) of graph validation
// on a large synthetic graph, for issue 18's "a 1M-tensor / 200k-kernel
// graph is validated in seconds within a stated memory bound".
//
//   autotm-graph-bench                         # 200,000 kernels, 1M tensors
//   autotm-graph-bench --kernels 20000 --outputs-per-kernel 5
//
// The graph is the worst case for per-kernel live sets: every kernel reads
// the previous kernel's activations and produces `outputs-per-kernel`
// tensors, one of them an updated weight that lives to the end of the
// iteration, so the sum of lifetimes is about K^2/2 (2 * 10^10 entries at
// 200k kernels, 80 GB as per-kernel sets). It prints the wall time of
// GraphModel::Create, of AlignedPeakLiveBytes, the serialized size of the
// graph, and the peak RSS of the process (getrusage) before and after
// validation: the difference is what validation costs on top of holding
// the request.
//
// Exit codes: 0 validated; 1 bad flags or the graph was refused.

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"

namespace autotm::bench {
namespace {

double PeakRssMiB() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

void AddOperand(v1::OperandSpec* spec) {
  spec->add_dims(256);
  spec->set_dtype(v1::DATA_TYPE_F32);
}

v1::Graph SyntheticGraph(int kernels, int outputs_per_kernel) {
  v1::Graph graph;
  graph.set_name("synthetic");
  graph.mutable_tensors()->Reserve(kernels * outputs_per_kernel + 1);
  graph.mutable_kernels()->Reserve(kernels);
  v1::Tensor* input = graph.add_tensors();
  input->set_id("input");
  input->set_size_bytes(1024);
  input->set_role(v1::TENSOR_ROLE_INPUT);
  for (int k = 0; k < kernels; ++k) {
    v1::Kernel* kernel = graph.add_kernels();
    kernel->set_id(absl::StrCat("k", k));
    kernel->set_op("layer");
    v1::KernelSignature* signature = kernel->mutable_signature();
    signature->set_op("layer");
    // Inputs: the previous kernel's activations (the graph input at k0).
    if (k == 0) {
      kernel->add_inputs("input");
      AddOperand(signature->add_inputs());
    } else {
      for (int o = 1; o < outputs_per_kernel; ++o) {
        kernel->add_inputs(absl::StrCat("t", k - 1, "_", o));
        AddOperand(signature->add_inputs());
      }
    }
    for (int o = 0; o < outputs_per_kernel; ++o) {
      v1::Tensor* tensor = graph.add_tensors();
      tensor->set_id(absl::StrCat("t", k, "_", o));
      tensor->set_size_bytes(4096 + 64 * (k % 100) + o);
      // Output 0 is an updated weight: it lives to the end.
      tensor->set_role(o == 0 ? v1::TENSOR_ROLE_WEIGHT
                              : v1::TENSOR_ROLE_ACTIVATION);
      kernel->add_outputs(tensor->id());
      AddOperand(signature->add_outputs());
    }
  }
  return graph;
}

int Main(int argc, char** argv) {
  CLI::App app{"Validates a large synthetic graph; prints time and peak RSS"};
  int kernels = 200'000;
  int outputs_per_kernel = 5;
  app.add_option("--kernels", kernels, "Kernels (default 200000)")
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--outputs-per-kernel", outputs_per_kernel,
                 "Tensors each kernel produces (default 5: 1M tensors)")
      ->check(CLI::Range(2, 64));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  const double rss_start = PeakRssMiB();
  absl::Time start = absl::Now();
  const v1::Graph graph = SyntheticGraph(kernels, outputs_per_kernel);
  const absl::Duration build = absl::Now() - start;
  const size_t serialized = graph.ByteSizeLong();
  const double rss_graph = PeakRssMiB();

  start = absl::Now();
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  const absl::Duration validate = absl::Now() - start;
  if (!model.ok()) {
    std::fprintf(stderr, "autotm-graph-bench: refused: %s\n",
                 model.status().ToString().c_str());
    return 1;
  }
  const double rss_validated = PeakRssMiB();
  start = absl::Now();
  const uint64_t aligned_peak =
      solver::AlignedPeakLiveBytes(*model, solver::kDefaultAlignmentBytes);
  const absl::Duration peak_time = absl::Now() - start;
  uint64_t lifetimes = 0;
  for (const solver::TensorInfo& tensor : model->tensors()) {
    lifetimes += tensor.last_live - tensor.first_live + 1;
  }

  std::printf(
      "graph: %d kernels, %d tensors, %.1f MB serialized (built in %s)\n",
      model->num_kernels(), model->num_tensors(), serialized / 1e6,
      absl::FormatDuration(build).c_str());
  std::printf(
      "sum of lifetimes: %llu tensor-kernel pairs (what per-kernel "
      "live sets would store)\n",
      static_cast<unsigned long long>(lifetimes));
  std::printf("GraphModel::Create: %s\n",
              absl::FormatDuration(validate).c_str());
  std::printf("AlignedPeakLiveBytes: %s (peak %llu bytes)\n",
              absl::FormatDuration(peak_time).c_str(),
              static_cast<unsigned long long>(aligned_peak));
  std::printf(
      "peak RSS: %.0f MiB at start, %.0f MiB holding the graph, "
      "%.0f MiB after validation (+%.0f MiB for validation)\n",
      rss_start, rss_graph, rss_validated, rss_validated - rss_graph);
  return 0;
}

}  // namespace
}  // namespace autotm::bench

int main(int argc, char** argv) { return autotm::bench::Main(argc, argv); }
