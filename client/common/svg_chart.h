// Dependency-free SVG charts, for plots the tools write beside their tables:
// a line chart (`autotm sweep`: predicted time vs fast memory;
// `autotm-bench paper`: slowdown vs DRAM limit), and the building blocks
// (document, plot frame with axes, legend row, palette) that composite
// pictures such as the plan pictures (plan_picture.h) draw with.
#ifndef AUTOTM_CLIENT_COMMON_SVG_CHART_H_
#define AUTOTM_CLIENT_COMMON_SVG_CHART_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

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

// --- Building blocks. Every function returns SVG text to concatenate; all
// coordinates are pixels of the document, numbers are printed with two
// decimals, text is escaped, and the output is deterministic.

// `text` with &, <, > and " escaped, for element text and attribute values.
std::string SvgEscape(absl::string_view text);

// The shortest label of a tick value (at most 4 significant digits).
std::string SvgTickLabel(double value);

// The colour-blind-safe Okabe-Ito palette by index (wraps around): blue,
// vermillion, bluish green, reddish purple, orange, sky blue, black, yellow.
const char* SvgColor(int index);

// The XML declaration, the <svg> root of `width` x `height` pixels and a
// white background. Close the document with SvgDocumentEnd().
std::string SvgDocumentStart(int width, int height);
std::string SvgDocumentEnd();

// A rectangle of the document ([left, right] x [top, bottom] in pixels) that
// maps data coordinates linearly: x in [x_lo, x_hi] to left..right, y in
// [y_lo, y_hi] to bottom..top. Degenerate ranges map to the left/bottom edge.
struct PlotArea {
  double left = 0, top = 0, right = 0, bottom = 0;
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  double X(double x) const;
  double Y(double y) const;
};

// One axis of a plot frame: tick positions (data coordinates, inside the
// area's range), their labels (empty: SvgTickLabel of each tick) and the
// axis title, which should name the unit.
struct Axis {
  std::vector<double> ticks;
  std::vector<std::string> labels;
  std::string title;
};

// Grid lines at the ticks, tick marks and labels below the x axis and left
// of the y axis, the frame, and the axis titles (the x title 42 px below the
// area, the y title rotated, 58 px left of it).
std::string RenderPlotFrame(const PlotArea& area, const Axis& x, const Axis& y);

// What a legend entry's swatch looks like.
enum class Swatch {
  kLine,        // a solid line in the colour
  kDashedLine,  // a dashed line
  kBox,         // a filled box
  kUpTick,      // a vertical bar rising from a baseline
  kDownTick,    // a vertical bar hanging from a baseline
  kTriangleUp,  // a filled upward triangle
  kTriangleDown,
};

struct LegendEntry {
  Swatch swatch = Swatch::kLine;
  std::string color;  // any SVG colour, e.g. SvgColor(0) or "#888"
  std::string label;
};

// The entries left to right from (x, y) (the top left corner of the row,
// 16 px high), wrapping to a new row before `max_x`. Returns the SVG; adds
// the height used to *height when not null.
std::string RenderLegendRow(double x, double y, double max_x,
                            const std::vector<LegendEntry>& entries,
                            double* height = nullptr);

// The width in pixels that `text` takes at `font_size`, estimated (no font
// metrics): for laying out labels and legends.
double SvgTextWidth(absl::string_view text, double font_size);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_SVG_CHART_H_
