// Output helpers of `autotm-bench`: aligned text tables, CSV fields and the
// geometric mean. (Its SVG chart is client/common/svg_chart.h, shared with
// `autotm sweep`.)
#ifndef AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_
#define AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace autotm::bench {

// A text table: a header row and data rows, printed with every column padded
// to its widest cell. Columns listed in `right_aligned` (by index) are
// right-aligned (numbers), the others left-aligned. A row with no cells
// prints as a rule of dashes across the table.
struct TextTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> right_aligned;
};
std::string RenderTextTable(const TextTable& table);

// `field` quoted for CSV (RFC 4180) when it holds a comma, quote or newline.
std::string CsvField(absl::string_view field);
// The fields joined by commas, each through CsvField, and a newline.
std::string CsvRow(const std::vector<std::string>& fields);

// exp(mean(log(x))) of the values; nullopt when `values` is empty or any
// value is not finite and positive.
std::optional<double> GeometricMean(const std::vector<double>& values);

}  // namespace autotm::bench

#endif  // AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_
