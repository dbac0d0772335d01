// One status line rewritten in place ("\r", erase to the end of the line,
// the new text) while long work runs: the CLI's solve, sweep and job
// progress and the profiler agent's measurement progress all draw through
// it, so they behave alike on a terminal and print nothing when they must
// not.

#ifndef AUTOTM_CLIENT_COMMON_PROGRESS_LINE_H_
#define AUTOTM_CLIENT_COMMON_PROGRESS_LINE_H_

#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace autotm {

class ProgressLine {
 public:
  // Draws on `stream` only when `live`; callers usually pass
  // IsTerminal(stream), since "\r" rewriting makes a mess of a log file.
  // `stream` must outlive this object.
  ProgressLine(std::FILE* stream, bool live);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Whether `stream` is a terminal.
  static bool IsTerminal(std::FILE* stream);

  bool live() const { return live_; }

  // Replaces the line's text with `text` (one line: no newline in it).
  // Callable from any thread.
  void Show(absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);

  // Erases a shown line so that other output can take its place; the next
  // Show() starts the line afresh.
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends a shown line with a newline, leaving its last text on screen.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::FILE* const stream_;
  const bool live_;
  absl::Mutex mu_;
  bool shown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace autotm

#endif  // AUTOTM_CLIENT_COMMON_PROGRESS_LINE_H_
