// autotm-fit-optane: fits the Optane cost model's factors on AutoTM's real
// Optane DC kernel measurements and prints them with the model's error per
// op family; optionally writes them as client/costmodel/optane_2019_factors.inc
// (docs/COST_MODEL.md).
//
// CLI11 reports parse errors by throwing; they are caught at the parse call
// and nowhere else.

#include <cstdio>
#include <fstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "client/costmodel/optane_data.h"
#include "client/costmodel/optane_fit.h"

#ifndef AUTOTM_SOURCE_DIR
#define AUTOTM_SOURCE_DIR "."
#endif

namespace {

constexpr char kDescription[] =
    "Fits the Optane cost model behind `autotm profile synth --cost-model "
    "optane-2019` on AutoTM's real Optane DC measurements (28,045 timings of "
    "2,068 kernels in DIR/fuzz_kernel_profiles.jsonl.gz) and prints, per op "
    "family, the fitted factors (roofline efficiencies and launch time for "
    "the all-DRAM time; per-operand PMM penalties), the kernel and timing "
    "counts, the median and 90th-percentile relative error of the predicted "
    "times, and the geomean slowdowns of outputs-in-PMM and inputs-in-PMM, "
    "measured and modelled. With --write-factors it also writes the factors "
    "as the C++ include the model is compiled from. The fit is "
    "deterministic. See docs/COST_MODEL.md.";

int Run(const std::string& data_dir, const std::string& factors_path) {
  absl::StatusOr<std::vector<autotm::costmodel::MeasuredKernel>> kernels =
      autotm::costmodel::LoadOptaneKernels(data_dir);
  if (!kernels.ok()) {
    std::fprintf(stderr, "autotm-fit-optane: %s\n",
                 std::string(kernels.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<autotm::costmodel::FitResult> fit =
      autotm::costmodel::FitOptaneModel(*kernels);
  if (!fit.ok()) {
    std::fprintf(stderr, "autotm-fit-optane: %s\n",
                 std::string(fit.status().message()).c_str());
    return 1;
  }
  std::fputs(autotm::costmodel::FormatFitReport(*fit).c_str(), stdout);
  if (!factors_path.empty()) {
    const std::string text = autotm::costmodel::FormatFactorsInclude(
        *fit,
        "build/client/costmodel/autotm-fit-optane --write-factors "
        "client/costmodel/optane_2019_factors.inc");
    std::ofstream file(factors_path, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) {
      std::fprintf(stderr, "autotm-fit-optane: cannot write %s\n",
                   factors_path.c_str());
      return 1;
    }
    std::printf("\nWrote %s\n", factors_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "autotm-fit-optane");
  std::string data_dir = absl::StrCat(AUTOTM_SOURCE_DIR, "/data/optane-2019");
  std::string factors_path;
  app.add_option("--data", data_dir,
                 "Directory holding fuzz_kernel_profiles.jsonl.gz")
      ->capture_default_str();
  app.add_option("--write-factors", factors_path,
                 "Also write the fitted factors to this file (the committed "
                 "one is client/costmodel/optane_2019_factors.inc; rebuild "
                 "afterwards)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return Run(data_dir, factors_path);
}
