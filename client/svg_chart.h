// A dependency-free SVG line chart, for plots the tools write beside their
// tables: `autotm sweep` (predicted time vs fast memory) and `autotm-bench
// paper` (slowdown vs DRAM limit).
#ifndef AUTOTM_CLIENT_SVG_CHART_H_
#define AUTOTM_CLIENT_SVG_CHART_H_

#include <string>
#include <utility>
#include <vector>

namespace autotm::client {

struct ChartSeries {
  std::string name;
  // (x, y) points, drawn in the given order as one polyline with a marker
  // at each point.
  std::vector<std::pair<double, double>> points;
};

// A dashed horizontal line across the plot at `y` (e.g. 1.0 = as fast as
// all-DRAM), with `label` written just above its left end when not empty.
struct ReferenceLine {
  double y = 0;
  std::string label;
};

struct LineChart {
  std::string title;
  std::string subtitle;  // a smaller second title line; may be empty
  std::string x_label;   // say the unit, e.g. "fast memory (MiB)"
  std::string y_label;
  std::vector<ChartSeries> series;
  std::vector<ReferenceLine> y_references;
  int width = 800;
  int height = 520;
};

// "Nice" tick positions (steps of 1, 2 or 5 times a power of ten) covering
// [lo, hi] with about `target` ticks; the first tick is <= lo and the last
// >= hi. lo == hi is widened. Returns at least two ticks.
std::vector<double> NiceTicks(double lo, double hi, int target);

// A standalone SVG 1.1 document drawing `chart`: axes with ticks and tick
// labels, axis labels, title, one coloured polyline with markers per series,
// the reference lines and a legend. The x axis starts at 0; the y axis spans
// the data and the reference lines on nice ticks. Series with no points
// appear only in the legend. Text is XML-escaped. Deterministic.
std::string RenderLineChartSvg(const LineChart& chart);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_SVG_CHART_H_
