#include "client/common/progress_line.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace autotm {
namespace {

// What the line wrote to a memory stream.
class Captured {
 public:
  Captured() : stream_(open_memstream(&data_, &size_)) {}
  ~Captured() {
    std::fclose(stream_);
    std::free(data_);
  }
  std::FILE* stream() { return stream_; }
  std::string text() {
    std::fflush(stream_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* stream_;
};

TEST(ProgressLineTest, ShowRewritesTheLineInPlace) {
  Captured out;
  ProgressLine line(out.stream(), /*live=*/true);
  line.Show("one");
  line.Show("two");
  EXPECT_EQ(out.text(), "\r\033[Kone\r\033[Ktwo");
}

TEST(ProgressLineTest, ClearErasesOnlyAShownLine) {
  Captured out;
  ProgressLine line(out.stream(), /*live=*/true);
  line.Clear();
  EXPECT_EQ(out.text(), "");
  line.Show("x");
  line.Clear();
  line.Clear();
  EXPECT_EQ(out.text(), "\r\033[Kx\r\033[K");
}

TEST(ProgressLineTest, FinishEndsAShownLineOnce) {
  Captured out;
  ProgressLine line(out.stream(), /*live=*/true);
  line.Finish();
  line.Show("done");
  line.Finish();
  line.Finish();
  EXPECT_EQ(out.text(), "\r\033[Kdone\n");
}

TEST(ProgressLineTest, NotLiveWritesNothing) {
  Captured out;
  ProgressLine line(out.stream(), /*live=*/false);
  line.Show("x");
  line.Clear();
  line.Finish();
  EXPECT_FALSE(line.live());
  EXPECT_EQ(out.text(), "");
}

TEST(ProgressLineTest, AMemoryStreamIsNoTerminal) {
  Captured out;
  EXPECT_FALSE(ProgressLine::IsTerminal(out.stream()));
}

}  // namespace
}  // namespace autotm
