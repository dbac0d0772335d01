#include "client/costmodel/optane_import.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/costmodel/optane_data.h"
#include "client/zoo/network_builder.h"
#include "client/zoo/zoo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/profile_model.h"
#include "solver/signature.h"

namespace autotm::costmodel {
namespace {

using ::testing::HasSubstr;

// One JSON line of the measurements file. Shapes in Julia order; every
// operand Float32 unless `types` says otherwise.
struct Rec {
  std::string op;
  std::vector<std::vector<int>> in;
  std::vector<std::vector<int>> out;
  std::string config_in;   // one letter per input: D(RAM) or P(MEM)
  std::string config_out;  // one per output
  double time_us = 100;
  int format = 36;  // MKL-DNN input format (part of AutoTM's kernel key)
  std::vector<std::string> out_types = {};
};

std::string Line(const Rec& r) {
  auto shapes = [](const std::vector<std::vector<int>>& s) {
    std::vector<std::string> parts;
    for (const auto& d : s)
      parts.push_back(absl::StrCat("[", absl::StrJoin(d, ","), "]"));
    return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
  };
  auto repeat = [](size_t n, const std::string& item) {
    std::vector<std::string> v(n, item);
    return absl::StrCat("[", absl::StrJoin(v, ","), "]");
  };
  auto tiers = [](const std::string& letters) {
    std::vector<std::string> v;
    for (char c : letters) v.push_back(c == 'P' ? "\"PMEM\"" : "\"DRAM\"");
    return absl::StrCat("[", absl::StrJoin(v, ","), "]");
  };
  std::string out_types = repeat(r.out.size(), "\"Float32\"");
  if (!r.out_types.empty()) {
    out_types = absl::StrCat("[\"", absl::StrJoin(r.out_types, "\",\""), "\"]");
  }
  return absl::StrCat("{\"op\": \"", r.op,
                      "\", \"input_shapes\": ", shapes(r.in),
                      ", \"output_shapes\": ", shapes(r.out),
                      ", \"input_types\": ", repeat(r.in.size(), "\"Float32\""),
                      ", \"output_types\": ", out_types, ", \"mkldnn\": true",
                      ", \"input_mkldnn_formats\": ",
                      repeat(r.in.size(), absl::StrCat(r.format)),
                      ", \"config_inputs\": ", tiers(r.config_in),
                      ", \"config_outputs\": ", tiers(r.config_out),
                      ", \"time_us\": ", r.time_us, "}");
}

OptaneMeasurement Parse(const Rec& r) {
  absl::StatusOr<OptaneMeasurement> m = ParseMeasurementLine(Line(r));
  EXPECT_TRUE(m.ok()) << m.status() << "\n" << Line(r);
  return m.ok() ? *m : OptaneMeasurement();
}

OptaneImport MustImport(const std::vector<Rec>& recs) {
  std::vector<OptaneMeasurement> ms;
  for (const Rec& r : recs) ms.push_back(Parse(r));
  absl::StatusOr<OptaneImport> imported = ImportOptaneMeasurements(ms);
  EXPECT_TRUE(imported.ok()) << imported.status();
  return imported.ok() ? *std::move(imported) : OptaneImport();
}

v1::KernelSignature Measured(const Rec& r) {
  absl::StatusOr<std::vector<MeasuredKernel>> k = GroupMeasurements({Parse(r)});
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? (*k)[0].signature : v1::KernelSignature();
}

// Signature keys of every kernel of a zoo-built graph.
absl::flat_hash_set<std::string> GraphKeys(const v1::Graph& graph) {
  absl::flat_hash_set<std::string> keys;
  for (const v1::Kernel& k : graph.kernels()) {
    keys.insert(solver::SignatureKey(k.signature()));
  }
  return keys;
}

// A small network built the zoo's way, batch 16, whose layers are the ones
// the hand-written records below measured: the mapped signatures must be
// among its kernels' exactly.
v1::Graph ZooLayers() {
  zoo::NetworkBuilder b("layers");
  zoo::Value x = b.Input("input", {16, 192, 17, 17});
  zoo::Value c1 = b.Conv("c1", x, 192, 3, 2, 0, /*bias=*/true);  // -> 8x8
  zoo::Value c2 = b.Conv("c2", c1, 224, {1, 7}, 1, {0, 3}, /*bias=*/true);
  zoo::Value c3 = b.Conv("c3", c2, 32, 1, 1, 0);  // no bias
  zoo::Value bn = b.BatchNorm("bn", c3);
  zoo::Value r = b.Relu("r", bn);
  zoo::Value cat = b.Concat("cat", {r, c3});
  zoo::Value sum = b.Add("sum", cat, cat);
  zoo::Value pool = b.GlobalAvgPool("pool", sum);
  zoo::Value fc = b.Linear("fc", pool, 1000);
  zoo::Value labels = b.Input("labels", {16, 1000});
  b.SoftmaxCrossEntropy("loss", fc, labels);
  absl::StatusOr<v1::Graph> graph = b.Finish();
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *graph : v1::Graph();
}

struct MapCase {
  Rec rec;
  std::string our_op;
  // Our config string for rec's configuration.
  std::string config;
};

// Each supported op: the mapped signature is one the zoo emits for the
// layer, and the configuration follows the operand permutation.
TEST(OptaneImportTest, EachSupportedOpMapsToTheZooSignature) {
  const absl::flat_hash_set<std::string> zoo = GraphKeys(ZooLayers());
  const std::vector<MapCase> cases = {
      // c1: 3x3 stride 2 valid, with bias.
      {{"ConvolutionBias",
        {{17, 17, 192, 16}, {3, 3, 192, 192}, {192}},
        {{8, 8, 192, 16}},
        "PDD",
        "P"},
       "conv2d_fwd",
       "SFF|S"},
      // c2: 1x7 pad 0x3: nGraph (w, dy) -> dx, ours (dy, w) -> dx.
      {{"ConvolutionBackpropData",
        {{7, 1, 192, 224}, {8, 8, 224, 16}},
        {{8, 8, 192, 16}},
        "DP",
        "P"},
       "conv2d_bwd_data",
       "SF|S"},
      {{"ConvolutionBiasBackpropFiltersBias",
        {{8, 8, 192, 16}, {8, 8, 224, 16}},
        {{7, 1, 192, 224}, {224}},
        "PD",
        "DP"},
       "conv2d_bwd_weights",
       "SF|FS"},
      // c3: no bias.
      {{"Convolution",
        {{8, 8, 224, 16}, {1, 1, 224, 32}},
        {{8, 8, 32, 16}},
        "DP",
        "D"},
       "conv2d_fwd",
       "FS|F"},
      {{"ConvolutionBackpropFilters",
        {{8, 8, 224, 16}, {8, 8, 32, 16}},
        {{1, 1, 224, 32}},
        "DD",
        "P"},
       "conv2d_bwd_weights",
       "FF|S"},
      // nGraph (gamma, beta, x) -> (y, mean, var); ours (x, gamma, beta).
      {{"BatchNormTraining",
        {{32}, {32}, {8, 8, 32, 16}},
        {{8, 8, 32, 16}, {32}, {32}},
        "PDD",
        "DPD"},
       "batchnorm_fwd",
       "FSF|FSF"},
      // nGraph (gamma, beta, x, mean, var, dy); ours (dy, x, gamma, mean,
      // var), beta dropped.
      {{"BatchNormTrainingBackprop",
        {{32}, {32}, {8, 8, 32, 16}, {32}, {32}, {8, 8, 32, 16}},
        {{8, 8, 32, 16}, {32}, {32}},
        "DPPDDD",
        "DDP"},
       "batchnorm_bwd",
       "FSFFF|FFS"},
      {{"Relu", {{8, 8, 32, 16}}, {{8, 8, 32, 16}}, "P", "D"},
       "relu_fwd",
       "S|F"},
      // nGraph (y, dy); ours (dy, y).
      {{"ReluBackprop",
        {{8, 8, 32, 16}, {8, 8, 32, 16}},
        {{8, 8, 32, 16}},
        "PD",
        "D"},
       "relu_bwd",
       "FS|F"},
      {{"Concat",
        {{8, 8, 32, 16}, {8, 8, 32, 16}},
        {{8, 8, 64, 16}},
        "DP",
        "D"},
       "concat",
       "FS|F"},
      {{"Add", {{8, 8, 64, 16}, {8, 8, 64, 16}}, {{8, 8, 64, 16}}, "PD", "P"},
       "add",
       "SF|S"},
      {{"AvgPool", {{8, 8, 64, 16}}, {{1, 1, 64, 16}}, "P", "D"},
       "avgpool_fwd",
       "S|F"},
      {{"AvgPoolBackprop", {{1, 1, 64, 16}}, {{8, 8, 64, 16}}, "D", "P"},
       "avgpool_bwd",
       "F|S"},
      // Linear 64 -> 1000: x [1,1,64,16] seen as [16, 64].
      {{"MatmulBias",
        {{1, 1, 64, 16}, {1000, 64}, {1000}},
        {{1000, 16}},
        "DPD",
        "P"},
       "matmul_fwd",
       "FSF|S"},
      {{"MatmulBias", {{1000, 16}, {1000, 64}}, {{64, 16}}, "PD", "D"},
       "matmul_bwd_data",
       "SF|F"},
  };
  for (const MapCase& c : cases) {
    SCOPED_TRACE(Line(c.rec));
    const MapResult mapped = MapOptaneKernel(Measured(c.rec));
    ASSERT_TRUE(mapped.mapping.has_value()) << mapped.detail;
    const v1::KernelSignature& sig = mapped.mapping->signature;
    EXPECT_EQ(sig.op(), c.our_op);
    EXPECT_TRUE(zoo.contains(solver::SignatureKey(sig)))
        << "not emitted by the zoo: " << solver::SignatureKey(sig);
    const OptaneImport imported = MustImport({c.rec});
    ASSERT_EQ(imported.profile.kernels_size(), 1);
    ASSERT_EQ(imported.profile.kernels(0).configs_size(), 1);
    EXPECT_EQ(imported.profile.kernels(0).configs(0).config(), c.config);
    EXPECT_EQ(imported.profile.kernels(0).configs(0).time_us(), c.rec.time_us);
  }
}

TEST(OptaneImportTest, ConvWindowIsRecoveredFromShapes) {
  const MapResult mapped =
      MapOptaneKernel(Measured({"ConvolutionBias",
                                {{224, 224, 3, 16}, {7, 7, 3, 64}, {64}},
                                {{112, 112, 64, 16}},
                                "DDD",
                                "D"}));
  ASSERT_TRUE(mapped.mapping.has_value()) << mapped.detail;
  EXPECT_EQ(solver::SignatureKey(mapped.mapping->signature),
            "conv2d_fwd(f32[16,3,224,224],f32[64,3,7,7],f32[64])->"
            "(f32[16,64,112,112]){kernel=7x7,pad=3,stride=2}");
}

TEST(OptaneImportTest, GlobalMaxPoolBackpropSwapsItsOperands) {
  // nGraph (x, dy) -> dx; ours (dy, x) -> dx. (Not in the measurements,
  // which use MaxPoolWithIndices, but nGraph emits it without fusion.)
  const Rec rec = {"MaxPoolBackprop",
                   {{7, 7, 8, 2}, {1, 1, 8, 2}},
                   {{7, 7, 8, 2}},
                   "PD",
                   "D"};
  const MapResult mapped = MapOptaneKernel(Measured(rec));
  ASSERT_TRUE(mapped.mapping.has_value()) << mapped.detail;
  EXPECT_EQ(solver::SignatureKey(mapped.mapping->signature),
            "maxpool_bwd(f32[2,8,1,1],f32[2,8,7,7])->(f32[2,8,7,7])"
            "{kernel=7x7,pad=0,stride=1}");
  const OptaneImport imported = MustImport({rec});
  ASSERT_EQ(imported.profile.kernels_size(), 1);
  EXPECT_EQ(imported.profile.kernels(0).configs(0).config(), "FS|F");
}

TEST(OptaneImportTest, MedianOverKernelsThatShareOurSignature) {
  // Same shapes, different MKL-DNN formats: two kernels for AutoTM, one
  // signature for us. Three timings of one configuration: the median; two of
  // another: their mean.
  Rec a = {"Relu", {{4, 4, 8, 2}}, {{4, 4, 8, 2}}, "D", "D", 10, 36};
  Rec b = a, c = a;
  b.format = 7;
  b.time_us = 30;
  c.format = 8;
  c.time_us = 20;
  Rec d = a, e = b;
  d.config_out = e.config_out = "P";
  d.time_us = 100;
  e.time_us = 200;
  const OptaneImport imported = MustImport({a, b, c, d, e});
  ASSERT_EQ(imported.profile.kernels_size(), 1);
  const v1::KernelProfile& k = imported.profile.kernels(0);
  ASSERT_EQ(k.configs_size(), 2);
  EXPECT_EQ(k.configs(0).config(), "F|F");
  EXPECT_EQ(k.configs(0).time_us(), 20);
  EXPECT_EQ(k.configs(0).repetitions(), 3u);
  EXPECT_EQ(k.configs(1).config(), "F|S");
  EXPECT_EQ(k.configs(1).time_us(), 150);
  EXPECT_EQ(imported.report.kernels, 3);
  EXPECT_EQ(imported.report.mapped_kernels, 3);
  EXPECT_EQ(imported.report.signatures, 1);
  EXPECT_EQ(imported.report.merged_configs, 2);
}

TEST(OptaneImportTest, BatchNormBackpropMergesBetaPlacements) {
  const Rec base = {"BatchNormTrainingBackprop",
                    {{8}, {8}, {2, 2, 8, 4}, {8}, {8}, {2, 2, 8, 4}},
                    {{2, 2, 8, 4}, {8}, {8}},
                    "DDDDDD",
                    "DDD",
                    40};
  Rec beta_slow = base;
  beta_slow.config_in = "DPDDDD";
  beta_slow.time_us = 60;
  const OptaneImport imported = MustImport({base, beta_slow});
  ASSERT_EQ(imported.profile.kernels_size(), 1);
  ASSERT_EQ(imported.profile.kernels(0).configs_size(), 1);
  EXPECT_EQ(imported.profile.kernels(0).configs(0).config(), "FFFFF|FFF");
  EXPECT_EQ(imported.profile.kernels(0).configs(0).time_us(), 50);
  EXPECT_THAT(imported.report.ops.at("BatchNormTrainingBackprop").note,
              HasSubstr("beta"));
}

TEST(OptaneImportTest, UnmappedKernelsAreCountedByReason) {
  struct Case {
    Rec rec;
    UnmappedReason reason;
  };
  const std::vector<Case> cases = {
      {{"BatchNormTrainingRelu",
        {{8}, {8}, {4, 4, 8, 2}},
        {{4, 4, 8, 2}, {8}, {8}},
        "DDD",
        "DDD"},
       UnmappedReason::kFusedInTheirs},
      {{"Slice", {{4, 4, 8, 2}}, {{4, 4, 4, 2}}, "D", "D"},
       UnmappedReason::kFusedInOurs},
      {{"MatmulBias", {{64, 16}, {1000, 16}}, {{1000, 64}}, "DD", "D"},
       UnmappedReason::kFusedInOurs},
      {{"MaxPoolWithIndices",
        {{8, 8, 4, 2}},
        {{4, 4, 4, 2}, {4, 4, 4, 2}},
        "D",
        "DD",
        100,
        36,
        {"Float32", "Int32"}},
       UnmappedReason::kOperandsDiffer},
      {{"AvgPool", {{56, 56, 64, 16}}, {{28, 28, 64, 16}}, "D", "D"},
       UnmappedReason::kWindowUnknown},
      // 3x3 on a 3x3 input to 1x1: stride 1, 2 and 3 all fit.
      {{"Convolution", {{3, 3, 8, 2}, {3, 3, 8, 8}}, {{1, 1, 8, 2}}, "DD", "D"},
       UnmappedReason::kWindowUnknown},
      {{"Add", {{8, 2}, {8, 1}}, {{8, 2}}, "DD", "D"},
       UnmappedReason::kShapeUnsupported},
      {{"Concat", {{1, 1, 8, 4}, {1, 1, 8, 4}}, {{1, 1, 8, 8}}, "DD", "D"},
       UnmappedReason::kShapeUnsupported},
      {{"ConvertLayout", {{4, 4, 8, 2}}, {{4, 4, 8, 2}}, "D", "D"},
       UnmappedReason::kNoCounterpart},
      {{"FancyNewOp", {{4}}, {{4}}, "D", "D"}, UnmappedReason::kUnknownOp},
  };
  std::vector<Rec> all;
  for (const Case& c : cases) {
    SCOPED_TRACE(Line(c.rec));
    const MapResult mapped = MapOptaneKernel(Measured(c.rec));
    EXPECT_FALSE(mapped.mapping.has_value());
    EXPECT_EQ(UnmappedReasonName(mapped.reason), UnmappedReasonName(c.reason))
        << mapped.detail;
    EXPECT_FALSE(mapped.detail.empty());
    all.push_back(c.rec);
  }
  const OptaneImport imported = MustImport(all);
  EXPECT_EQ(imported.profile.kernels_size(), 0);
  EXPECT_EQ(imported.report.kernels, static_cast<int64_t>(cases.size()));
  EXPECT_EQ(imported.report.mapped_kernels, 0);
  EXPECT_EQ(imported.report.unmapped_kernels.at(UnmappedReason::kFusedInOurs),
            2);
  EXPECT_EQ(imported.report.unmapped_kernels.at(UnmappedReason::kWindowUnknown),
            2);
  EXPECT_EQ(
      imported.report.unmapped_kernels.at(UnmappedReason::kShapeUnsupported),
      2);
}

TEST(OptaneImportTest, ProfileCarriesHostClassAndBandwidths) {
  OptaneImportOptions options;
  options.host_class = "optane-measured";
  absl::StatusOr<OptaneImport> imported = ImportOptaneMeasurements(
      {Parse({"Relu", {{4}}, {{4}}, "D", "D"})}, options);
  ASSERT_TRUE(imported.ok()) << imported.status();
  const v1::HostClass& host = imported->profile.host_class();
  EXPECT_EQ(host.name(), "optane-measured");
  EXPECT_EQ(host.fast_tier_name(), "DRAM");
  EXPECT_EQ(host.slow_tier_name(), "PMM");
  EXPECT_THAT(host.fingerprint(), HasSubstr("AutoTM 2019"));
  EXPECT_TRUE(solver::ProfileModel::Create(imported->profile).ok());
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/optane_import_test_",
                      name);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(OptaneImportTest, BadLineErrorNamesFileAndLine) {
  const std::string good = Line({"Relu", {{4}}, {{4}}, "D", "D"});
  const std::string path = TempPath("bad_json.jsonl");
  WriteFile(path, absl::StrCat(good, "\n\n{\"op\": \n", good, "\n"));
  absl::StatusOr<OptaneImport> imported = ImportOptaneFile(path);
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(imported.status().message(), HasSubstr(path + ":3: "));

  // A record that parses but breaks a rule (an unknown tier) on line 2.
  std::string bad_tier = good;
  bad_tier.replace(bad_tier.find("\"DRAM\""), 6, "\"NVME\"");
  WriteFile(path, absl::StrCat(good, "\n", bad_tier, "\n"));
  imported = ImportOptaneFile(path);
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(imported.status().message(), HasSubstr(path + ":2: "));
  EXPECT_THAT(imported.status().message(), HasSubstr("NVME"));

  WriteFile(path, "\n\n");
  EXPECT_EQ(ImportOptaneFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

TEST(OptaneImportTest, CorruptGzipIsDataLossNamingTheFile) {
  const std::string path = TempPath("corrupt.jsonl.gz");
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  for (int i = 0; i < 200; ++i) {
    const std::string good =
        Line({"Relu", {{4 + i}}, {{4 + i}}, "D", "D", 1.0 * i});
    gzwrite(gz, good.data(), static_cast<unsigned>(good.size()));
    gzwrite(gz, "\n", 1);
  }
  gzclose(gz);
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::string data = bytes.str();
  ASSERT_GT(data.size(), 40u);
  data.resize(data.size() / 2);  // truncated stream
  WriteFile(path, data);
  absl::StatusOr<OptaneImport> imported = ImportOptaneFile(path);
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(imported.status().message(), HasSubstr(path));
  std::remove(path.c_str());
  EXPECT_EQ(ImportOptaneFile(path).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(OptaneImportTest, CoverageCountsDistinctSignatures) {
  const v1::Graph graph = ZooLayers();
  v1::Profile empty;
  ProfileCoverage none = ComputeCoverage(graph, empty);
  EXPECT_GT(none.signatures, 0);
  EXPECT_EQ(none.covered, 0);
  EXPECT_EQ(none.kernels, graph.kernels_size());
  EXPECT_FALSE(none.complete());

  const OptaneImport imported = MustImport(
      {{"Relu", {{8, 8, 32, 16}}, {{8, 8, 32, 16}}, "D", "D"},
       {"Add", {{8, 8, 64, 16}, {8, 8, 64, 16}}, {{8, 8, 64, 16}}, "DD", "D"}});
  ProfileCoverage some = ComputeCoverage(graph, imported.profile);
  EXPECT_EQ(some.covered, 2);
  EXPECT_EQ(some.ops.at("relu_fwd").covered, 1);
  // The forward add; the graph's gradient-accumulation adds are others.
  EXPECT_EQ(some.ops.at("add").covered, 1);
  EXPECT_GT(some.ops.at("add").signatures, 1);
}

// --- The real measurements (skipped when the data is absent).

std::string DataDir() {
  const char* source = std::getenv("AUTOTM_SOURCE_DIR");
  return absl::StrCat(source != nullptr ? source : ".", "/data/optane-2019");
}

bool HaveData() {
  return std::ifstream(DataDir() + "/" + kOptaneProfilesFile).good();
}

TEST(OptaneImportRealDataTest, InvariantsHold) {
  if (!HaveData()) GTEST_SKIP() << "no " << DataDir();
  absl::StatusOr<OptaneImport> imported =
      ImportOptaneFile(DataDir() + "/" + kOptaneProfilesFile);
  ASSERT_TRUE(imported.ok()) << imported.status();
  const OptaneImportReport& r = imported->report;

  // The same grouping as the parser's own.
  absl::StatusOr<std::vector<MeasuredKernel>> grouped =
      LoadOptaneKernels(DataDir());
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  EXPECT_EQ(r.kernels, static_cast<int64_t>(grouped->size()));
  int64_t records = 0;
  for (const MeasuredKernel& k : *grouped) records += k.configs.size();
  EXPECT_EQ(r.records, records);

  // Counts add up.
  int64_t unmapped = 0;
  for (const auto& [reason, n] : r.unmapped_kernels) unmapped += n;
  EXPECT_EQ(r.mapped_kernels + unmapped, r.kernels);
  int64_t op_records = 0, op_kernels = 0, op_mapped = 0, op_signatures = 0,
          op_configs = 0;
  for (const auto& [op, s] : r.ops) {
    op_records += s.records;
    op_kernels += s.kernels;
    op_mapped += s.mapped_kernels;
    op_signatures += s.signatures;
    op_configs += s.configs;
    int64_t op_unmapped = 0;
    for (const auto& [reason, n] : s.unmapped_kernels) op_unmapped += n;
    EXPECT_EQ(s.mapped_kernels + op_unmapped, s.kernels) << op;
  }
  EXPECT_EQ(op_records, r.records);
  EXPECT_EQ(op_kernels, r.kernels);
  EXPECT_EQ(op_mapped, r.mapped_kernels);
  EXPECT_EQ(op_signatures, r.signatures);
  EXPECT_EQ(op_configs, r.configs);
  EXPECT_GE(r.mapped_kernels, r.signatures);
  EXPECT_GT(r.signatures, 0);

  // Every mapped signature and configuration passes the solver's checks.
  const v1::Profile& profile = imported->profile;
  EXPECT_EQ(profile.kernels_size(), r.signatures);
  absl::StatusOr<solver::ProfileModel> model =
      solver::ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  int64_t configs = 0, repetitions = 0;
  for (const v1::KernelProfile& k : profile.kernels()) {
    const v1::KernelSignature& sig = k.signature();
    for (const auto* side : {&sig.inputs(), &sig.outputs()}) {
      for (const v1::OperandSpec& o : *side) {
        EXPECT_EQ(o.dtype(), v1::DATA_TYPE_F32);
        for (int64_t d : o.dims()) EXPECT_GT(d, 0);
      }
    }
    for (const v1::ConfigTiming& c : k.configs()) {
      EXPECT_TRUE(
          solver::ParseConfig(c.config(), sig.inputs_size(), sig.outputs_size())
              .ok())
          << c.config();
      EXPECT_GE(c.time_us(), 0);
      repetitions += c.repetitions();
    }
    configs += k.configs_size();
  }
  EXPECT_EQ(configs, r.configs);
  EXPECT_EQ(repetitions, r.mapped_records);
}

TEST(OptaneImportRealDataTest, CoversEveryConvolutionOfVgg19) {
  if (!HaveData()) GTEST_SKIP() << "no " << DataDir();
  absl::StatusOr<OptaneImport> imported =
      ImportOptaneFile(DataDir() + "/" + kOptaneProfilesFile);
  ASSERT_TRUE(imported.ok()) << imported.status();
  // VGG19 at the measured batch: its convolutions have biases, as AutoTM's
  // did, so every one of their signatures (shapes, operand order, window
  // attributes) must be found exactly.
  absl::StatusOr<v1::Graph> graph = zoo::BuildZooGraph("vgg19", 16);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const ProfileCoverage coverage = ComputeCoverage(*graph, imported->profile);
  EXPECT_LT(coverage.covered, coverage.signatures);  // e.g. sgd_update
  for (const char* op : {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weights",
                         "matmul_fwd", "matmul_bwd_data", "relu_bwd"}) {
    SCOPED_TRACE(op);
    ASSERT_TRUE(coverage.ops.contains(op));
    EXPECT_GT(coverage.ops.at(op).signatures, 0);
    EXPECT_EQ(coverage.ops.at(op).covered, coverage.ops.at(op).signatures);
  }
  EXPECT_EQ(coverage.ops.at("matmul_bwd_weights").covered, 0);  // db
}

TEST(OptaneImportRealDataTest, BandwidthsMatchTheMeasuredCopyRows) {
  std::ifstream csv(DataDir() + "/bandwidth_vs_threads_GBps.csv");
  if (!csv.good()) GTEST_SKIP() << "no bandwidth CSV in " << DataDir();
  std::string line;
  std::getline(csv, line);
  const std::vector<std::string> header = absl::StrSplit(line, ',');
  auto column = [&](absl::string_view name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    ADD_FAILURE() << "no column " << name;
    return 0;
  };
  const int to_dram = column("PMM -> DRAM (stream)");
  const int to_pmm = column("DRAM -> PMM (stream)");
  std::vector<std::vector<double>> rows;  // rows[threads - 1]
  while (std::getline(csv, line)) {
    std::vector<double> row;
    for (absl::string_view cell : absl::StrSplit(line, ',')) {
      row.push_back(std::strtod(std::string(cell).c_str(), nullptr));
    }
    rows.push_back(row);
  }
  ASSERT_EQ(rows.size(), 24u);
  const v1::CopyBandwidths b = OptaneCopyBandwidths();
  EXPECT_NEAR(b.slow_to_fast_sync_gb_per_s(), rows[23][to_dram], 1e-3);
  EXPECT_NEAR(b.fast_to_slow_sync_gb_per_s(), rows[3][to_pmm], 1e-3);
  EXPECT_NEAR(b.slow_to_fast_async_gb_per_s(), rows[0][to_dram], 1e-3);
  EXPECT_NEAR(b.fast_to_slow_async_gb_per_s(), rows[0][to_pmm], 1e-3);
}

}  // namespace
}  // namespace autotm::costmodel
