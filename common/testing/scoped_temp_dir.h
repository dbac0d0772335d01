// A temporary directory for a test, removed with everything in it when the
// object goes out of scope: tests make file tiers, logs, scripts and data
// files in them, and a test run must not leave them behind in $TMPDIR.
#ifndef AUTOTM_COMMON_TESTING_SCOPED_TEMP_DIR_H_
#define AUTOTM_COMMON_TESTING_SCOPED_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace autotm::testing {

class ScopedTempDir {
 public:
  // Makes ::testing::TempDir()/PREFIX_XXXXXX; a failure fails the test.
  explicit ScopedTempDir(const std::string& prefix)
      : path_(::testing::TempDir() + "/" + prefix + "_XXXXXX") {
    if (mkdtemp(path_.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << path_ << " failed";
      path_.clear();
    }
  }
  ~ScopedTempDir() {
    if (path_.empty()) return;
    std::error_code ignored;  // best effort: nothing to report it to
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace autotm::testing

#endif  // AUTOTM_COMMON_TESTING_SCOPED_TEMP_DIR_H_
