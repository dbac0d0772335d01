// A directory of one test's own for what it writes (databases, logs, keys),
// removed when the test passes and kept for diagnosis when it fails:
//
//   void SetUp() override {
//     absl::StatusOr<std::string> dir = MakeTestDir("placement");
//     ASSERT_TRUE(dir.ok()) << dir.status();
//     dir_ = *dir;
//   }
//   void TearDown() override {
//     server_.reset();  // stop what writes there first
//     RemoveTestDirIfPassed(dir_);
//   }
//
// The name is unique (mkdtemp), so tests that ctest runs in parallel, or
// runs of the same test, never share one.
#ifndef AUTOTM_TESTS_E2E_TEST_DIR_H_
#define AUTOTM_TESTS_E2E_TEST_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace autotm::testing {

// Makes TMPDIR/autotm_<prefix>_XXXXXX (std::filesystem::temp_directory_path:
// $TMPDIR, else /tmp) and returns its path; the errno of mkdtemp on failure.
inline absl::StatusOr<std::string> MakeTestDir(absl::string_view prefix) {
  std::string dir = (std::filesystem::temp_directory_path() /
                     absl::StrCat("autotm_", prefix, "_XXXXXX"))
                        .string();
  if (::mkdtemp(dir.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", dir));
  }
  return dir;
}

// Removes `dir` and everything in it when the current test has not failed
// (so far: call it last, in TearDown). When the test failed, keeps it and
// says where on stderr, beside the failure. No-op for "".
inline void RemoveTestDirIfPassed(const std::string& dir) {
  if (dir.empty()) return;
  if (::testing::Test::HasFailure()) {
    std::cerr << "the test failed: its files are kept in " << dir << "\n";
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error) {
    std::cerr << "cannot remove " << dir << ": " << error.message() << "\n";
  }
}

}  // namespace autotm::testing

#endif  // AUTOTM_TESTS_E2E_TEST_DIR_H_
