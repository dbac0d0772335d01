#include "client/common/progress_line.h"

#include <unistd.h>

namespace autotm {

ProgressLine::ProgressLine(std::FILE* stream, bool live)
    : stream_(stream), live_(live) {}

bool ProgressLine::IsTerminal(std::FILE* stream) {
  return ::isatty(::fileno(stream)) != 0;
}

void ProgressLine::Show(absl::string_view text) {
  if (!live_) return;
  absl::MutexLock lock(&mu_);
  std::fprintf(stream_, "\r\033[K%.*s", static_cast<int>(text.size()),
               text.data());
  std::fflush(stream_);
  shown_ = true;
}

void ProgressLine::Clear() {
  if (!live_) return;
  absl::MutexLock lock(&mu_);
  if (!shown_) return;
  std::fputs("\r\033[K", stream_);
  std::fflush(stream_);
  shown_ = false;
}

void ProgressLine::Finish() {
  if (!live_) return;
  absl::MutexLock lock(&mu_);
  if (!shown_) return;
  std::fputc('\n', stream_);
  std::fflush(stream_);
  shown_ = false;
}

}  // namespace autotm
