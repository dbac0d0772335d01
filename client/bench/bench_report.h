// Output helpers of `autotm-bench`: aligned text tables, CSV fields, the
// geometric mean, and a dependency-free SVG line chart (the paper's
// "slowdown vs DRAM limit" case-study plot).
#ifndef AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_
#define AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_

#include <optional>
#include <string>
#include <utility>
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

struct ChartSeries {
  std::string name;
  // (x, y) points, drawn in the given order as one polyline with a marker
  // at each point.
  std::vector<std::pair<double, double>> points;
};

struct LineChart {
  std::string title;
  std::string subtitle;  // a smaller second title line; may be empty
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  // A dashed horizontal reference line (e.g. 1.0 = as fast as all-DRAM).
  std::optional<double> y_reference;
  int width = 800;
  int height = 520;
};

// "Nice" tick positions (steps of 1, 2 or 5 times a power of ten) covering
// [lo, hi] with about `target` ticks; the first tick is <= lo and the last
// >= hi. lo == hi is widened. Returns at least two ticks.
std::vector<double> NiceTicks(double lo, double hi, int target);

// A standalone SVG 1.1 document drawing `chart`: axes with ticks and tick
// labels, axis labels, title, one coloured polyline with markers per series
// and a legend. The x axis starts at 0; the y axis spans the data (and the
// reference line) on nice ticks. Series with no points appear only in the
// legend. Deterministic.
std::string RenderLineChartSvg(const LineChart& chart);

}  // namespace autotm::bench

#endif  // AUTOTM_CLIENT_BENCH_BENCH_REPORT_H_
