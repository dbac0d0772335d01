#include "client/costmodel/optane_data.h"

#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/scoped_temp_dir.h"
#include "gtest/gtest.h"

namespace autotm::costmodel {
namespace {

// Lines in the format of fuzz_kernel_profiles.jsonl.gz (the first two are
// real ones).
constexpr char kConvDramIn[] =
    R"({"op": "ConvolutionBias", "input_shapes": [[17, 17, 192, 16], [3, 3, 192, 192], [192]], "output_shapes": [[8, 8, 192, 16]], "input_types": ["Float32", "Float32", "Float32"], "output_types": ["Float32"], "mkldnn": true, "input_mkldnn_formats": [36, 53, 3], "config_inputs": ["PMEM", "PMEM", "DRAM"], "config_outputs": ["DRAM"], "time_us": 614.0})";
constexpr char kConvAllDram[] =
    R"({"op": "ConvolutionBias", "input_shapes": [[17, 17, 192, 16], [3, 3, 192, 192], [192]], "output_shapes": [[8, 8, 192, 16]], "input_types": ["Float32", "Float32", "Float32"], "output_types": ["Float32"], "mkldnn": true, "input_mkldnn_formats": [36, 53, 3], "config_inputs": ["DRAM", "DRAM", "DRAM"], "config_outputs": ["DRAM"], "time_us": 335.0})";
constexpr char kAdd[] =
    R"({"op": "Add", "input_shapes": [[10, 10], [10, 10]], "output_shapes": [[10, 10]], "input_types": ["Float32", "Bool"], "output_types": ["Int32"], "mkldnn": false, "input_mkldnn_formats": [], "config_inputs": ["DRAM", "DRAM"], "config_outputs": ["PMEM"], "time_us": 726.0})";

std::vector<OptaneMeasurement> Parse(const std::vector<std::string>& lines) {
  std::vector<OptaneMeasurement> out;
  for (const std::string& line : lines) {
    absl::StatusOr<OptaneMeasurement> m = ParseMeasurementLine(line);
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok()) out.push_back(*m);
  }
  return out;
}

TEST(OptaneDataTest, ParsesALine) {
  const absl::StatusOr<OptaneMeasurement> m = ParseMeasurementLine(kConvDramIn);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->op(), "ConvolutionBias");
  ASSERT_EQ(m->input_shapes_size(), 3);
  ASSERT_EQ(m->input_shapes(1).values_size(), 4);
  EXPECT_EQ(m->input_shapes(1).values(3).number_value(), 192);
  EXPECT_EQ(m->output_types(0), "Float32");
  EXPECT_TRUE(m->mkldnn());
  EXPECT_EQ(m->input_mkldnn_formats(1), 53);
  EXPECT_EQ(m->config_inputs(0), "PMEM");
  EXPECT_EQ(m->config_outputs(0), "DRAM");
  EXPECT_EQ(m->time_us(), 614);
}

TEST(OptaneDataTest, RejectsMalformedLines) {
  EXPECT_EQ(ParseMeasurementLine("{not json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ParseMeasurementLine(R"({"op": "Add", "colour": 3})").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMeasurementLine(R"({"time_us": "fast"})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OptaneDataTest, GroupsConfigurationsByKernel) {
  const absl::StatusOr<std::vector<MeasuredKernel>> kernels =
      GroupMeasurements(Parse({kConvDramIn, kAdd, kConvAllDram}));
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  ASSERT_EQ(kernels->size(), 2);

  const MeasuredKernel& conv = (*kernels)[0];
  EXPECT_EQ(conv.signature.op(), "ConvolutionBias");
  ASSERT_EQ(conv.signature.inputs_size(), 3);
  EXPECT_EQ(conv.signature.inputs(0).dims_size(), 4);
  EXPECT_EQ(conv.signature.inputs(0).dims(2), 192);
  EXPECT_EQ(conv.signature.inputs(0).dtype(), v1::DATA_TYPE_F32);
  ASSERT_EQ(conv.configs.size(), 2);
  EXPECT_EQ(conv.configs[0].slow,
            (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(conv.configs[0].time_us, 614);
  EXPECT_EQ(conv.AllFastTimeUs(), 335);

  const MeasuredKernel& add = (*kernels)[1];
  EXPECT_EQ(add.signature.inputs(1).dtype(), v1::DATA_TYPE_BOOL);
  EXPECT_EQ(add.signature.outputs(0).dtype(), v1::DATA_TYPE_I32);
  EXPECT_EQ(add.configs[0].slow, (std::vector<bool>{false, false, true}));
  EXPECT_EQ(add.AllFastTimeUs(), std::nullopt);
}

TEST(OptaneDataTest, DifferentLayoutsAreDifferentKernels) {
  std::string other_layout = kConvAllDram;
  other_layout.replace(other_layout.find("[36, 53, 3]"), 11, "[36, 60, 3]");
  const absl::StatusOr<std::vector<MeasuredKernel>> kernels =
      GroupMeasurements(Parse({kConvAllDram, other_layout}));
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  EXPECT_EQ(kernels->size(), 2);
}

TEST(OptaneDataTest, RejectsInconsistentMeasurements) {
  // The same configuration twice.
  EXPECT_EQ(
      GroupMeasurements(Parse({kConvAllDram, kConvAllDram})).status().code(),
      absl::StatusCode::kInvalidArgument);
  // An unknown tier, a short configuration, an unknown type, a bad dim.
  const std::pair<std::string, std::string> edits[] = {
      {"\"PMEM\"]", "\"HBM\"]"},
      {"\"config_outputs\": [\"PMEM\"]", "\"config_outputs\": []"},
      {"\"Int32\"", "\"Complex\""},
      {"[10, 10]]", "[10, -1]]"},
  };
  for (const auto& [from, to] : edits) {
    std::string line = kAdd;
    ASSERT_NE(line.find(from), std::string::npos) << from;
    line.replace(line.find(from), from.size(), to);
    const absl::Status status = GroupMeasurements(Parse({line})).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << to;
    EXPECT_NE(status.message().find("measurement 1"), absl::string_view::npos);
  }
}

// Writes `text` gzipped to DIR/NAME.
std::string WriteGzip(const std::string& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = absl::StrCat(dir, "/", name);
  gzFile file = gzopen(path.c_str(), "wb");
  EXPECT_NE(file, nullptr);
  EXPECT_EQ(gzwrite(file, text.data(), text.size()),
            static_cast<int>(text.size()));
  EXPECT_EQ(gzclose(file), Z_OK);
  return path;
}

TEST(OptaneDataTest, LoadsAGzippedDirectory) {
  const ::autotm::testing::ScopedTempDir temp("optane_data_test");
  const std::string dir = absl::StrCat(temp.path(), "/optane_ok");
  std::filesystem::create_directories(dir);
  WriteGzip(temp.path(), absl::StrCat("optane_ok/", kOptaneProfilesFile),
            absl::StrCat(kConvDramIn, "\n", kAdd, "\n\n", kConvAllDram, "\n"));
  const absl::StatusOr<std::vector<MeasuredKernel>> kernels =
      LoadOptaneKernels(dir);
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  EXPECT_EQ(kernels->size(), 2);
}

TEST(OptaneDataTest, ReportsMissingCorruptAndBadFiles) {
  EXPECT_EQ(ReadGzipFile("/nonexistent/file.gz").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadOptaneKernels("/nonexistent").status().code(),
            absl::StatusCode::kNotFound);

  // A truncated stream.
  std::string text;
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&text, kAdd, "\n");
  const ::autotm::testing::ScopedTempDir temp("optane_data_test");
  const std::string path = WriteGzip(temp.path(), "truncated.gz", text);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  EXPECT_EQ(ReadGzipFile(path).status().code(), absl::StatusCode::kDataLoss);

  // A bad line names the file and line.
  const std::string dir = absl::StrCat(temp.path(), "/optane_bad");
  std::filesystem::create_directories(dir);
  WriteGzip(temp.path(), absl::StrCat("optane_bad/", kOptaneProfilesFile),
            absl::StrCat(kAdd, "\n{oops\n"));
  const absl::Status status = LoadOptaneKernels(dir).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(":2:"), absl::string_view::npos)
      << status.message();
}

}  // namespace
}  // namespace autotm::costmodel
