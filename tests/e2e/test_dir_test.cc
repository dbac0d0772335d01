#include "tests/e2e/test_dir.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::testing {
namespace {

TEST(TestDirTest, MakesAFreshDirectoryEachTime) {
  absl::StatusOr<std::string> a = MakeTestDir("test_dir_test");
  absl::StatusOr<std::string> b = MakeTestDir("test_dir_test");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(std::filesystem::is_directory(*a));
  EXPECT_THAT(std::filesystem::path(*a).filename().string(),
              ::testing::StartsWith("autotm_test_dir_test_"));
  std::filesystem::remove_all(*a);
  std::filesystem::remove_all(*b);
}

TEST(TestDirTest, APassingTestRemovesItsDirectory) {
  absl::StatusOr<std::string> dir = MakeTestDir("test_dir_test");
  ASSERT_TRUE(dir.ok()) << dir.status();
  std::filesystem::create_directories(*dir + "/sub");
  std::ofstream(*dir + "/sub/file") << "x";
  RemoveTestDirIfPassed(*dir);
  EXPECT_FALSE(std::filesystem::exists(*dir));
  RemoveTestDirIfPassed("");  // no-op
}

// Run by AFailingTestKeepsItsDirectory in a child process: fails on
// purpose after writing its directory's path to $AUTOTM_TEST_DIR_RECORD.
TEST(TestDirTest, DISABLED_FailsOnPurpose) {
  const char* record = std::getenv("AUTOTM_TEST_DIR_RECORD");
  ASSERT_NE(record, nullptr);
  absl::StatusOr<std::string> dir = MakeTestDir("test_dir_test");
  ASSERT_TRUE(dir.ok()) << dir.status();
  std::ofstream(record) << *dir;
  ADD_FAILURE() << "on purpose";
  RemoveTestDirIfPassed(*dir);
}

TEST(TestDirTest, AFailingTestKeepsItsDirectory) {
  absl::StatusOr<std::string> work = MakeTestDir("test_dir_test");
  ASSERT_TRUE(work.ok()) << work.status();
  const std::string record = *work + "/record";
  const std::string err = *work + "/err";
  const std::string command =
      absl::StrCat("AUTOTM_TEST_DIR_RECORD=", record, " /proc/", ::getpid(),
                   "/exe --gtest_also_run_disabled_tests "
                   "--gtest_filter=TestDirTest.DISABLED_FailsOnPurpose >",
                   err, " 2>&1");
  EXPECT_NE(std::system(command.c_str()), 0) << command;
  std::string kept;
  std::ifstream(record) >> kept;
  ASSERT_FALSE(kept.empty()) << "the child wrote no path";
  EXPECT_TRUE(std::filesystem::is_directory(kept));
  std::string said;
  std::ifstream in(err);
  said.assign(std::istreambuf_iterator<char>(in), {});
  EXPECT_THAT(said, ::testing::HasSubstr("its files are kept in " + kept));
  std::filesystem::remove_all(kept);
  RemoveTestDirIfPassed(*work);
}

}  // namespace
}  // namespace autotm::testing
