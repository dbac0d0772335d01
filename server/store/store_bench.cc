// Profile ingest benchmark: AddMeasurements batches into a temp SQLite file.
//
//   autotm-store-bench [--batches 50] [--batch-size 1000] [--signatures 200]
//
// Prints entries per second over all batches, plus per-batch latency
// percentiles and the time to serve the resulting profile.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/store/sqlite_store.h"
#include "solver/signature.h"

namespace {

using autotm::server::Measurement;
namespace v1 = autotm::v1;

// A conv-like signature with 2 inputs and 1 output, unique per index.
v1::KernelSignature SyntheticSignature(int index) {
  v1::KernelSignature sig;
  sig.set_op("conv2d_fwd");
  v1::OperandSpec* x = sig.add_inputs();
  v1::OperandSpec* w = sig.add_inputs();
  v1::OperandSpec* y = sig.add_outputs();
  for (int64_t dim : {16, 64 + index, 56, 56}) x->add_dims(dim);
  for (int64_t dim : {64, 64 + index, 3, 3}) w->add_dims(dim);
  for (int64_t dim : {16, 64, 56, 56}) y->add_dims(dim);
  for (v1::OperandSpec* spec : {x, w, y}) spec->set_dtype(v1::DATA_TYPE_F32);
  (*sig.mutable_attributes())["stride"] = "1";
  (*sig.mutable_attributes())["pad"] = "1";
  return sig;
}

int Run(int batches, int batch_size, int num_signatures) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              absl::StrCat("autotm_store_bench_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bench.db").string();
  auto store = autotm::server::OpenSqliteStore(path);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  autotm::server::ProfileStore& profiles = (*store)->profiles();
  v1::HostClass host;
  host.set_name("bench");
  host.set_fingerprint("bench-fp");
  if (auto status = profiles.PutHostClass(host, v1::CopyBandwidths());
      !status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }

  std::vector<v1::KernelSignature> sigs;
  std::vector<std::string> keys;
  for (int i = 0; i < num_signatures; ++i) {
    sigs.push_back(SyntheticSignature(i));
    keys.push_back(autotm::solver::SignatureKey(sigs.back()));
  }
  static const char* kConfigs[] = {"FF|F", "FF|S", "FS|F", "FS|S",
                                   "SF|F", "SF|S", "SS|F", "SS|S"};

  // Measurements are built outside the timed region: the rate is the
  // store's, not the generator's.
  std::vector<double> latencies_ms;
  uint64_t total = 0;
  absl::Duration elapsed;
  uint64_t n = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<Measurement> batch;
    batch.reserve(batch_size);
    for (int i = 0; i < batch_size; ++i, ++n) {
      Measurement m;
      int s = static_cast<int>((n / 8) % sigs.size());
      m.signature = sigs[s];
      m.signature_key = keys[s];
      m.config = kConfigs[n % 8];
      m.time_us = 100.0 + static_cast<double>(n % 997);
      m.measurement_id = absl::StrCat("bench/", n);
      batch.push_back(std::move(m));
    }
    absl::Time start = absl::Now();
    auto added = profiles.AddMeasurements("bench", batch);
    absl::Duration took = absl::Now() - start;
    if (!added.ok()) {
      std::fprintf(stderr, "%s\n", added.status().ToString().c_str());
      return 1;
    }
    total += *added;
    elapsed += took;
    latencies_ms.push_back(absl::ToDoubleMilliseconds(took));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<size_t>(p * latencies_ms.size()))];
  };
  absl::Time start = absl::Now();
  auto profile = profiles.GetProfile("bench");
  absl::Duration serve = absl::Now() - start;
  if (!profile.ok()) {
    std::fprintf(stderr, "%s\n", profile.status().ToString().c_str());
    return 1;
  }
  absl::PrintF("store: SQLite file (WAL) %s\n", path);
  absl::PrintF("batches: %d x %d measurements, %d signatures x 8 configs\n",
               batches, batch_size, num_signatures);
  absl::PrintF("ingested: %d entries in %.3f s\n", total,
               absl::ToDoubleSeconds(elapsed));
  absl::PrintF("ingest rate: %.0f entries/s\n",
               total / absl::ToDoubleSeconds(elapsed));
  absl::PrintF("batch latency ms: p50 %.2f  p99 %.2f  max %.2f\n", pct(0.5),
               pct(0.99), latencies_ms.back());
  absl::PrintF("GetProfile (%d kernels, medians of %d entries): %.1f ms\n",
               profile->kernels_size(), total,
               absl::ToDoubleMilliseconds(serve));
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"autotm store ingest benchmark"};
  int batches = 50;
  int batch_size = 1000;
  int signatures = 200;
  app.add_option("--batches", batches, "number of batches")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "measurements per batch")
      ->check(CLI::PositiveNumber);
  app.add_option("--signatures", signatures, "distinct kernel signatures")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return Run(batches, batch_size, signatures);
}
