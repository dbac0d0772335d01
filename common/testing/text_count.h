// Counting a string's occurrences in the text that tests render (SVG
// charts, plan pictures, dashboard pages, server logs). Header-only, so that
// tests of any target can use it without linking one more library.
#ifndef AUTOTM_COMMON_TESTING_TEXT_COUNT_H_
#define AUTOTM_COMMON_TESTING_TEXT_COUNT_H_

#include <cstddef>
#include <string_view>

namespace autotm::testing {

// Non-overlapping occurrences of `needle` in `text`, from the left ("aa"
// occurs twice in "aaaaa"). 0 for an empty needle, which would otherwise
// match at every position.
inline int CountOccurrences(std::string_view text, std::string_view needle) {
  if (needle.empty()) return 0;
  int n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace autotm::testing

#endif  // AUTOTM_COMMON_TESTING_TEXT_COUNT_H_
