#include "client/common/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace autotm::client {

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(lo) * 0.1, 0.5);
    lo -= pad;
    hi += pad;
  }
  target = std::max(target, 2);
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  std::vector<double> ticks;
  for (double t = first;; t += step) {
    // Snap away accumulated error (0.30000000000000004).
    const double snapped = std::round(t / step) * step;
    ticks.push_back(std::abs(snapped) < step * 1e-9 ? 0.0 : snapped);
    if (snapped >= hi - step * 1e-9 && ticks.size() >= 2) break;
  }
  return ticks;
}

namespace {

std::string Marker(int index, double x, double y, const char* color) {
  switch (index % 3) {
    case 0:
      return absl::StrFormat(
          "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n", x, y,
          color);
    case 1:
      return absl::StrFormat(
          "<rect x=\"%.2f\" y=\"%.2f\" width=\"8\" height=\"8\" "
          "fill=\"%s\"/>\n",
          x - 4, y - 4, color);
    default:
      return absl::StrFormat(
          "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n",
          x, y - 5, x - 5, y + 4, x + 5, y + 4, color);
  }
}

}  // namespace

std::string SvgEscape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

std::string SvgTickLabel(double value) {
  return absl::StrFormat("%.4g", value);
}

const char* SvgColor(int index) {
  // Okabe-Ito: distinguishable with every common colour-vision deficiency.
  static constexpr const char* kColors[] = {"#0072B2", "#D55E00", "#009E73",
                                            "#CC79A7", "#E69F00", "#56B4E9",
                                            "#000000", "#F0E442"};
  constexpr int kCount = sizeof(kColors) / sizeof(kColors[0]);
  return kColors[((index % kCount) + kCount) % kCount];
}

std::string SvgDocumentStart(int width, int height) {
  return absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n"
      "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
      width, height, width, height, width, height);
}

std::string SvgDocumentEnd() { return "</svg>\n"; }

double PlotArea::X(double x) const {
  if (!(x_hi > x_lo)) return left;
  return left + (x - x_lo) / (x_hi - x_lo) * (right - left);
}

double PlotArea::Y(double y) const {
  if (!(y_hi > y_lo)) return bottom;
  return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top);
}

std::string RenderPlotFrame(const PlotArea& area, const Axis& x,
                            const Axis& y) {
  auto label = [](const Axis& axis, size_t i) {
    return i < axis.labels.size() ? SvgEscape(axis.labels[i])
                                  : SvgTickLabel(axis.ticks[i]);
  };
  std::string svg = "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double t : x.ticks) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\"/>\n",
                          area.X(t), area.top, area.X(t), area.bottom);
  }
  for (double t : y.ticks) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\"/>\n",
                          area.left, area.Y(t), area.right, area.Y(t));
  }
  svg += "</g>\n<g font-size=\"12\" fill=\"#222\">\n";
  for (size_t i = 0; i < x.ticks.size(); ++i) {
    const double px = area.X(x.ticks[i]);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\" stroke=\"#222\"/>\n"
                          "<text x=\"%.2f\" y=\"%.2f\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          px, area.bottom, px, area.bottom + 5, px,
                          area.bottom + 19, label(x, i));
  }
  for (size_t i = 0; i < y.ticks.size(); ++i) {
    const double py = area.Y(y.ticks[i]);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\" stroke=\"#222\"/>\n"
                          "<text x=\"%.2f\" y=\"%.2f\" "
                          "text-anchor=\"end\">%s</text>\n",
                          area.left - 5, py, area.left, py, area.left - 8,
                          py + 4, label(y, i));
  }
  svg += "</g>\n";
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                        "height=\"%.2f\" fill=\"none\" stroke=\"#222\"/>\n",
                        area.left, area.top, area.right - area.left,
                        area.bottom - area.top);
  if (!x.title.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          (area.left + area.right) / 2, area.bottom + 42,
                          SvgEscape(x.title));
  }
  if (!y.title.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"0\" font-size=\"14\" "
                          "text-anchor=\"middle\" transform=\"translate(%.1f "
                          "%.1f) rotate(-90)\">%s</text>\n",
                          area.left - 58, (area.top + area.bottom) / 2,
                          SvgEscape(y.title));
  }
  return svg;
}

double SvgTextWidth(absl::string_view text, double font_size) {
  // Helvetica averages a little over half an em per character.
  return 0.56 * font_size * static_cast<double>(text.size());
}

namespace {

std::string SwatchSvg(Swatch swatch, const std::string& color, double x,
                      double y) {
  // (x, y): the left end of the swatch's 24 px, vertically centred.
  switch (swatch) {
    case Swatch::kLine:
      return absl::StrFormat(
          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
          "stroke=\"%s\" stroke-width=\"2.5\"/>\n",
          x, y, x + 24, y, color);
    case Swatch::kDashedLine:
      return absl::StrFormat(
          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
          "stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n",
          x, y, x + 24, y, color);
    case Swatch::kBox:
      return absl::StrFormat(
          "<rect x=\"%.2f\" y=\"%.2f\" width=\"24\" height=\"10\" "
          "fill=\"%s\"/>\n",
          x, y - 5, color);
    case Swatch::kUpTick:
      return absl::StrFormat(
          "<rect x=\"%.2f\" y=\"%.2f\" width=\"4\" height=\"12\" "
          "fill=\"%s\"/>\n<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
          "y2=\"%.2f\" stroke=\"#222\"/>\n",
          x + 10, y - 6, color, x, y + 6, x + 24, y + 6);
    case Swatch::kDownTick:
      return absl::StrFormat(
          "<rect x=\"%.2f\" y=\"%.2f\" width=\"4\" height=\"12\" "
          "fill=\"%s\"/>\n<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
          "y2=\"%.2f\" stroke=\"#222\"/>\n",
          x + 10, y - 6, color, x, y - 6, x + 24, y - 6);
    case Swatch::kTriangleUp:
      return absl::StrFormat(
          "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n",
          x + 12, y - 6, x + 6, y + 5, x + 18, y + 5, color);
    case Swatch::kTriangleDown:
      return absl::StrFormat(
          "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n",
          x + 12, y + 6, x + 6, y - 5, x + 18, y - 5, color);
  }
  return "";
}

}  // namespace

std::string RenderLegendRow(double x, double y, double max_x,
                            const std::vector<LegendEntry>& entries,
                            double* height) {
  constexpr double kRow = 18, kFont = 12;
  std::string svg = "<g class=\"legend\" font-size=\"12\" fill=\"#222\">\n";
  double cx = x, cy = y;
  for (const LegendEntry& entry : entries) {
    const double w = 30 + SvgTextWidth(entry.label, kFont) + 18;
    if (cx > x && cx + w > max_x) {
      cx = x;
      cy += kRow;
    }
    svg += SwatchSvg(entry.swatch, entry.color, cx, cy + kRow / 2);
    absl::StrAppendFormat(&svg, "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
                          cx + 30, cy + kRow / 2 + 4, SvgEscape(entry.label));
    cx += w;
  }
  svg += "</g>\n";
  if (height != nullptr && !entries.empty()) *height += cy + kRow - y;
  return svg;
}

std::string RenderLineChartSvg(const LineChart& chart) {
  // Plot area inside margins.
  const double left = 80, right = 30, top = chart.subtitle.empty() ? 50 : 68,
               bottom = 60;
  const double w = chart.width, h = chart.height;
  const double px0 = left, px1 = w - right, py0 = top, py1 = h - bottom;

  double x_max = 0;
  double y_min = std::numeric_limits<double>::infinity();
  double y_max = -std::numeric_limits<double>::infinity();
  for (const ChartSeries& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  for (const ReferenceLine& line : chart.y_references) {
    y_min = std::min(y_min, line.y);
    y_max = std::max(y_max, line.y);
  }
  if (!std::isfinite(y_min)) {
    y_min = 0;
    y_max = 1;
  }
  if (x_max <= 0) x_max = 1;
  const std::vector<double> x_ticks = NiceTicks(0, x_max * 1.04, 8);
  const std::vector<double> y_ticks = NiceTicks(y_min, y_max, 6);
  const double xa = x_ticks.front(), xb = x_ticks.back();
  const double ya = y_ticks.front(), yb = y_ticks.back();
  const PlotArea area{px0, py0, px1, py1, xa, xb, ya, yb};
  auto sx = [&](double x) { return area.X(x); };
  auto sy = [&](double y) { return area.Y(y); };
  std::string svg = SvgDocumentStart(chart.width, chart.height);
  absl::StrAppendFormat(
      &svg,
      "<text x=\"%.1f\" y=\"28\" font-size=\"18\" "
      "text-anchor=\"middle\" font-weight=\"bold\">%s</text>\n",
      w / 2, SvgEscape(chart.title));
  if (!chart.subtitle.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"48\" font-size=\"12\" "
                          "text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                          w / 2, SvgEscape(chart.subtitle));
  }
  svg += RenderPlotFrame(area, Axis{x_ticks, {}, chart.x_label},
                         Axis{y_ticks, {}, chart.y_label});
  for (const ReferenceLine& line : chart.y_references) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\" stroke=\"#888\" stroke-width=\"1.5\" "
                          "stroke-dasharray=\"6 4\"/>\n",
                          px0, sy(line.y), px1, sy(line.y));
    if (!line.label.empty()) {
      // Left end, just above the line: the legend sits top right.
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" "
                            "fill=\"#555\">%s</text>\n",
                            px0 + 6, sy(line.y) - 4, SvgEscape(line.label));
    }
  }

  // Series.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    const char* color = SvgColor(static_cast<int>(i));
    if (s.points.empty()) continue;
    std::string points;
    for (const auto& [x, y] : s.points) {
      absl::StrAppendFormat(&points, "%s%.2f,%.2f", points.empty() ? "" : " ",
                            sx(x), sy(y));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" "
                          "stroke=\"%s\" stroke-width=\"2\"/>\n",
                          points, color);
    for (const auto& [x, y] : s.points) {
      svg += Marker(static_cast<int>(i), sx(x), sy(y), color);
    }
  }

  // Legend, top right inside the plot area.
  size_t longest = 0;
  for (const ChartSeries& s : chart.series) {
    longest = std::max(longest, s.name.size());
  }
  const double lw = 44 + 7.2 * static_cast<double>(longest);
  const double lh = 10 + 20 * static_cast<double>(chart.series.size());
  const double lx = px1 - lw - 10, ly = py0 + 10;
  if (!chart.series.empty()) {
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                          "height=\"%.2f\" fill=\"white\" fill-opacity=\"0.9\" "
                          "stroke=\"#999\"/>\n",
                          lx, ly, lw, lh);
  }
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const char* color = SvgColor(static_cast<int>(i));
    const double y = ly + 18 + 20 * static_cast<double>(i);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                          "y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          lx + 8, y - 4, lx + 32, y - 4, color);
    svg += Marker(static_cast<int>(i), lx + 20, y - 4, color);
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\">%s"
                          "</text>\n",
                          lx + 38, y, SvgEscape(chart.series[i].name));
  }
  svg += SvgDocumentEnd();
  return svg;
}

}  // namespace autotm::client
