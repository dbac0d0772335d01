#include "server/measurement_guard.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

v1::KernelSignature Sig(const std::string& op, int inputs) {
  v1::KernelSignature signature;
  signature.set_op(op);
  for (int i = 0; i < inputs; ++i) {
    v1::OperandSpec* spec = signature.add_inputs();
    spec->set_dtype(v1::DATA_TYPE_F32);
    spec->add_dims(16);
  }
  v1::OperandSpec* out = signature.add_outputs();
  out->set_dtype(v1::DATA_TYPE_F32);
  out->add_dims(16);
  return signature;
}

// A stored profile: kernel "mul" (2 inputs, 1 output) with a full table,
// kernel "noop" (1 input) taking 0 us everywhere, kernel "wide" separable.
v1::Profile Stored() {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("hc");
  v1::CopyBandwidths* b = profile.mutable_bandwidths();
  b->set_slow_to_fast_sync_gb_per_s(10);
  b->set_fast_to_slow_sync_gb_per_s(5);
  b->set_slow_to_fast_async_gb_per_s(8);
  b->set_fast_to_slow_async_gb_per_s(4);
  v1::KernelProfile* mul = profile.add_kernels();
  *mul->mutable_signature() = Sig("mul", 2);
  const std::pair<const char*, double> times[] = {
      {"FF|F", 100}, {"SF|F", 150}, {"FS|F", 140}, {"FF|S", 130},
      {"SS|F", 200}, {"SF|S", 180}, {"FS|S", 170}, {"SS|S", 250}};
  for (const auto& [config, time] : times) {
    v1::ConfigTiming* timing = mul->add_configs();
    timing->set_config(config);
    timing->set_time_us(time);
  }
  v1::KernelProfile* noop = profile.add_kernels();
  *noop->mutable_signature() = Sig("noop", 1);
  for (const char* config : {"F|F", "S|F", "F|S", "S|S"}) {
    v1::ConfigTiming* timing = noop->add_configs();
    timing->set_config(config);
    timing->set_time_us(0);
  }
  v1::KernelProfile* wide = profile.add_kernels();
  *wide->mutable_signature() = Sig("wide", 3);
  wide->mutable_separable()->set_all_fast_time_us(50);
  for (int i = 0; i < 3; ++i) {
    wide->mutable_separable()->add_input_slow_penalty_us(10);
  }
  wide->mutable_separable()->add_output_slow_penalty_us(20);
  return profile;
}

v1::UploadMeasurementsRequest Request() {
  v1::UploadMeasurementsRequest request;
  request.mutable_host_class()->set_name("hc");
  return request;
}

void Add(v1::UploadMeasurementsRequest& request, const std::string& op,
         int inputs, const std::string& config, double time_us) {
  v1::MeasurementEntry* entry = request.add_entries();
  *entry->mutable_signature() = Sig(op, inputs);
  entry->set_config(config);
  entry->set_time_us(time_us);
}

absl::Status Check(const v1::UploadMeasurementsRequest& request,
                   bool with_stored = true) {
  const v1::Profile stored = Stored();
  return CheckPlausible(request, with_stored ? &stored : nullptr);
}

TEST(MeasurementGuardTest, PlausibleRemeasurementsPass) {
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "mul", 2, "FF|F", 120);  // 1.2x the stored median
  Add(request, "mul", 2, "SS|S", 190);
  Add(request, "mul", 2, "FS|F", 95);   // slightly faster than all-fast: noise
  Add(request, "noop", 1, "S|S", 0);    // a no-op stays a no-op
  Add(request, "noop", 1, "F|F", 0.5);  // within the 1 us slack of 0
  EXPECT_TRUE(Check(request).ok()) << Check(request);
}

// The attack of issue 17: 0 us for slow-tier configurations.
TEST(MeasurementGuardTest, ZeroForSlowConfigurationIsRefused) {
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "mul", 2, "FF|F", 100);
  Add(request, "mul", 2, "SS|S", 0);
  const absl::Status status = Check(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("entries[1] (mul("), HasSubstr("SS|S"),
                    HasSubstr("time_us 0 us is implausible"),
                    HasSubstr("100 us in configuration FF|F (stored median)"),
                    HasSubstr("delete the host class")));
}

TEST(MeasurementGuardTest, ZeroAgainstAPositiveTimeInTheSameUpload) {
  // A new host class: no stored data, the upload contradicts itself.
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "mul", 2, "FF|F", 100);
  Add(request, "mul", 2, "FS|F", 0);
  const absl::Status status = Check(request, /*with_stored=*/false);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("entries[1]"), HasSubstr("FS|F"),
                    HasSubstr("(entries[0])")));
  // Zeros everywhere: a no-op kernel, fine.
  v1::UploadMeasurementsRequest noop = Request();
  Add(noop, "view", 1, "F|F", 0);
  Add(noop, "view", 1, "S|S", 0);
  EXPECT_TRUE(Check(noop, false).ok());
}

TEST(MeasurementGuardTest, LargeFactorAgainstTheStoredMedianIsRefused) {
  for (double time : {1001.5, 8.9}) {  // > 10x + 1 us, < 1/10 - 1 us
    v1::UploadMeasurementsRequest request = Request();
    Add(request, "mul", 2, "FF|F", time);
    const absl::Status status = Check(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << time;
    EXPECT_THAT(
        status.message(),
        AllOf(HasSubstr("entries[0]"), HasSubstr("FF|F"),
              HasSubstr("stored median is 100 us"), HasSubstr("factor of 10")));
  }
  v1::UploadMeasurementsRequest near = Request();
  Add(near, "mul", 2, "FF|F", 1000);  // exactly 10x: allowed
  EXPECT_TRUE(Check(near).ok());
}

TEST(MeasurementGuardTest, SlowConfigurationMuchFasterThanAllFastIsRefused) {
  // "add" has only its all-fast time stored (100 us): a configuration with
  // slow operands cannot take 5 us.
  v1::Profile stored = Stored();
  v1::KernelProfile* add = stored.add_kernels();
  *add->mutable_signature() = Sig("add", 2);
  v1::ConfigTiming* timing = add->add_configs();
  timing->set_config("FF|F");
  timing->set_time_us(100);
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "add", 2, "SS|S", 5);
  const absl::Status status = CheckPlausible(request, &stored);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("entries[0]"), HasSubstr("SS|S"),
                    HasSubstr("100 us with every operand fast")));
}

TEST(MeasurementGuardTest, AnUploadIsNotComparedWithItselfExceptForZeros) {
  // A kernel new to the host class, measured in one run whose first sample
  // carried a one-time cost (seen in CI: 7,155 us all-fast, 4.5 us with
  // slow operands): accepted, since nothing stored contradicts it.
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "add", 2, "FF|F", 7155);
  Add(request, "add", 2, "SF|S", 4.5);
  EXPECT_TRUE(Check(request).ok());
  EXPECT_TRUE(Check(request, /*with_stored=*/false).ok());
}

TEST(MeasurementGuardTest, AllFastMuchSlowerThanASlowConfigurationIsRefused) {
  // "wide2" has no stored all-fast time: an uploaded one is compared with
  // its stored configurations with slow operands (10x + 1 us).
  v1::Profile stored = Stored();
  v1::KernelProfile* kernel = stored.add_kernels();
  *kernel->mutable_signature() = Sig("wide2", 2);
  v1::ConfigTiming* timing = kernel->add_configs();
  timing->set_config("SS|S");
  timing->set_time_us(40);
  v1::UploadMeasurementsRequest request = Request();
  Add(request, "wide2", 2, "FF|F", 401);
  EXPECT_TRUE(CheckPlausible(request, &stored).ok());
  request.mutable_entries(0)->set_time_us(402);
  const absl::Status status = CheckPlausible(request, &stored);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("entries[0]"), HasSubstr("FF|F"),
                    HasSubstr("40 us in configuration SS|S (stored median)")));
  // Within one upload the pair is not compared (a first sample can carry
  // one-time costs): AnUploadIsNotComparedWithItselfExceptForZeros.
  v1::UploadMeasurementsRequest pair = Request();
  Add(pair, "add", 2, "SF|F", 10);
  Add(pair, "add", 2, "FF|F", 5000);
  EXPECT_TRUE(Check(pair).ok());
}

TEST(MeasurementGuardTest, BandwidthChangesBeyondTheFactorAreRefused) {
  v1::UploadMeasurementsRequest request = Request();
  v1::CopyBandwidths* b = request.mutable_bandwidths();
  b->set_slow_to_fast_sync_gb_per_s(12);
  b->set_fast_to_slow_sync_gb_per_s(5);
  b->set_slow_to_fast_async_gb_per_s(8);
  b->set_fast_to_slow_async_gb_per_s(4);
  EXPECT_TRUE(Check(request).ok());
  // 20x slower is noise of a re-measured (emulated) tier; 400x is not.
  b->set_fast_to_slow_async_gb_per_s(0.2);
  EXPECT_TRUE(Check(request).ok());
  b->set_fast_to_slow_async_gb_per_s(0.01);
  const absl::Status status = Check(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("bandwidths.fast_to_slow_async_gb_per_s 0.01"),
                    HasSubstr("the host class has 4 GB/s")));
  // A new host class has nothing to contradict.
  EXPECT_TRUE(Check(request, /*with_stored=*/false).ok());
}

TEST(MeasurementGuardTest, SeparableCostsAreCheckedAgainstTheStoredOne) {
  auto separable = [](double all_fast, double penalty) {
    v1::UploadMeasurementsRequest request = Request();
    v1::MeasurementEntry* entry = request.add_entries();
    *entry->mutable_signature() = Sig("wide", 3);
    v1::SeparableCost* cost = entry->mutable_separable();
    cost->set_all_fast_time_us(all_fast);
    for (int i = 0; i < 3; ++i) cost->add_input_slow_penalty_us(penalty);
    cost->add_output_slow_penalty_us(penalty);
    return request;
  };
  EXPECT_TRUE(Check(separable(60, 15)).ok());
  const absl::Status zero = Check(separable(0, 0));
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.message(),
              AllOf(HasSubstr("entries[0] (wide("),
                    HasSubstr("separable.all_fast_time_us 0 us")));
  const absl::Status huge = Check(separable(50, 10000));
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(huge.message(), HasSubstr("all-slow time"));
}

// The cache of the reference profile: read once per stored version, merged
// with accepted uploads, read afresh when another writer changed it.
TEST(StoredReferenceTest, ReadsOncePerVersionAndMergesUploads) {
  StoredReference reference;
  int reads = 0;
  auto fetch = [&]() -> absl::StatusOr<v1::Profile> {
    ++reads;
    return Stored();
  };
  absl::StatusOr<const v1::Profile*> first = reference.Get("hc", 3, fetch);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(reads, 1);
  ASSERT_TRUE(reference.Get("hc", 3, fetch).ok());
  EXPECT_EQ(reads, 1);

  // An accepted upload of a new kernel and a new bandwidth moves it to
  // version 4 without a read; the new kernel is then a reference.
  v1::UploadMeasurementsRequest upload = Request();
  Add(upload, "add", 2, "FF|F", 500);
  upload.mutable_bandwidths()->set_slow_to_fast_sync_gb_per_s(11);
  upload.mutable_bandwidths()->set_fast_to_slow_sync_gb_per_s(5);
  upload.mutable_bandwidths()->set_slow_to_fast_async_gb_per_s(8);
  upload.mutable_bandwidths()->set_fast_to_slow_async_gb_per_s(4);
  reference.Update(upload, 3, 4);
  absl::StatusOr<const v1::Profile*> merged = reference.Get("hc", 4, fetch);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(reads, 1);
  EXPECT_EQ((*merged)->bandwidths().slow_to_fast_sync_gb_per_s(), 11);
  v1::UploadMeasurementsRequest slow = Request();
  Add(slow, "add", 2, "SS|S", 20);  // > 10x faster than the merged 500 us
  EXPECT_EQ(CheckPlausible(slow, *merged).code(),
            absl::StatusCode::kInvalidArgument);

  // Another writer (version 6, not 4): read again; another host class too.
  ASSERT_TRUE(reference.Get("hc", 6, fetch).ok());
  EXPECT_EQ(reads, 2);
  ASSERT_TRUE(reference.Get("other", 6, fetch).ok());
  EXPECT_EQ(reads, 3);
  // An update from a version the cache was not at drops it.
  reference.Update(upload, 5, 7);
  ASSERT_TRUE(reference.Get("other", 7, fetch).ok());
  EXPECT_EQ(reads, 4);
}

}  // namespace
}  // namespace autotm::server
