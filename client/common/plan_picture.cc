#include "client/common/plan_picture.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "client/common/svg_chart.h"
#include "client/common/units.h"
#include "solver/checked_math.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"

namespace autotm::client {
namespace {

// Colours, fixed per meaning across the panels so a reader learns them once:
// SvgColor()'s Okabe-Ito palette, spelled out for constant initialization.
constexpr char kFastColor[] = "#0072B2";    // blue: fast memory / kernels
constexpr char kMoveColor[] = "#D55E00";    // vermillion: to slow, moves
constexpr char kToFastColor[] = "#009E73";  // bluish green: to fast
constexpr char kReRunColor[] = "#56B4E9";   // sky blue: re-runs
constexpr char kPhaseColor[] = "#CC79A7";   // reddish purple: phases
constexpr char kSlowColor[] = "#E69F00";    // orange: slow tier, penalty
constexpr char kLiveColor[] = "#555555";    // grey: all-fast footprint
constexpr char kBudgetColor[] = "#C00000";  // dark red: the budget line

bool IsBackwardOp(absl::string_view op) {
  const std::string lower = absl::AsciiStrToLower(op);
  return absl::StrContains(lower, "_bwd") ||
         absl::StrContains(lower, "backward") ||
         absl::StrContains(lower, "_grad") || absl::StartsWith(lower, "bwd");
}

// A unit that keeps axis numbers short: the largest binary unit <= `max`.
struct ByteUnit {
  double scale = 1;
  const char* name = "B";
};
ByteUnit UnitFor(double max_bytes) {
  static constexpr ByteUnit kUnits[] = {
      {1.0, "B"},
      {1024.0, "KiB"},
      {1024.0 * 1024, "MiB"},
      {1024.0 * 1024 * 1024, "GiB"},
      {1024.0 * 1024 * 1024 * 1024, "TiB"},
      {1024.0 * 1024 * 1024 * 1024 * 1024, "PiB"}};
  ByteUnit unit = kUnits[0];
  for (const ByteUnit& u : kUnits) {
    if (max_bytes >= u.scale) unit = u;
  }
  return unit;
}

std::string Ms(double us) { return absl::StrFormat("%.3f ms", us / 1000); }

std::string Percent(double part, double whole) {
  if (whole <= 0) return "-";
  return absl::StrFormat("%.0f%%", 100 * part / whole);
}

std::string Truncate(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  return text.substr(0, max - 3) + "...";
}

// Ticks of the kernel axis [0, kernels]: whole kernels only.
std::vector<double> KernelTicks(int kernels) {
  std::vector<double> ticks;
  for (double t : NiceTicks(0, std::max(kernels, 1), 10)) {
    if (t >= 0 && t <= kernels && t == std::floor(t)) ticks.push_back(t);
  }
  if (ticks.empty()) ticks.push_back(0);
  return ticks;
}

// Y ticks from 0 to at least `max` (nice steps).
std::vector<double> ZeroBasedTicks(double max, int target) {
  return NiceTicks(0, max > 0 ? max : 1, target);
}

// Everything one Gantt row needs.
struct TensorRow {
  int tensor = 0;
  std::vector<std::pair<int, int>> fast;  // inclusive kernel ranges
  std::vector<int> moves;                 // indexes into plan.moves
};

// The plan's residency per tensor: fast intervals and moves, checked
// against the graph.
struct Residency {
  std::vector<std::vector<std::pair<int, int>>> fast;  // per tensor
  std::vector<std::vector<int>> moves;                 // per tensor
};

absl::StatusOr<Residency> ComputeResidency(const v1::Plan& plan,
                                           const solver::GraphModel& graph) {
  const int kernels = graph.num_kernels();
  Residency residency;
  residency.fast.resize(graph.num_tensors());
  residency.moves.resize(graph.num_tensors());
  for (const v1::TensorPlacement& placement : plan.tensors()) {
    const int t = graph.FindTensor(placement.tensor_id());
    if (t < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the plan places tensor \"", placement.tensor_id(),
                       "\", which graph \"", graph.name(), "\" lacks"));
    }
    for (const v1::FastInterval& interval : placement.fast_intervals()) {
      if (interval.first_kernel() > interval.last_kernel() ||
          interval.last_kernel() >= static_cast<uint32_t>(kernels)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "tensor \"%s\": fast interval [%u, %u] is outside the graph's %d "
            "kernels",
            placement.tensor_id(), interval.first_kernel(),
            interval.last_kernel(), kernels));
      }
      residency.fast[t].emplace_back(interval.first_kernel(),
                                     interval.last_kernel());
    }
  }
  for (int m = 0; m < plan.moves_size(); ++m) {
    const v1::Move& move = plan.moves(m);
    const int t = graph.FindTensor(move.tensor_id());
    if (t < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("move ", m, " is of tensor \"", move.tensor_id(),
                       "\", which graph \"", graph.name(), "\" lacks"));
    }
    if (move.kernel_index() >= static_cast<uint32_t>(kernels)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("move %d is at kernel %u; the graph has %d kernels",
                          m, move.kernel_index(), kernels));
    }
    residency.moves[t].push_back(m);
  }
  return residency;
}

// Kernels of `info`'s live range covered by `fast` (disjoint in a valid
// plan; 64-bit and capped at the live range so that a hostile plan with
// repeated intervals cannot overflow or exceed 100%).
int64_t FastKernels(const std::vector<std::pair<int, int>>& fast,
                    const solver::TensorInfo& info) {
  int64_t count = 0;
  for (const auto& [first, last] : fast) {
    count += int64_t{last} - first + 1;
  }
  return std::min<int64_t>(count, info.last_live - info.first_live + 1);
}

// Consecutive kernels drawn as one column: [begin, end).
struct Bucket {
  int begin = 0;
  int end = 0;
};
std::vector<Bucket> Buckets(int kernels, int size) {
  std::vector<Bucket> buckets;
  for (int k = 0; k < kernels; k += size) {
    buckets.push_back({k, std::min(kernels, k + size)});
  }
  return buckets;
}
int BucketSize(int kernels, double pixels) {
  return std::max(1,
                  static_cast<int>(std::ceil(kernels / std::max(pixels, 1.0))));
}

// "kernel 7 (conv2a.fwd)" or "kernels 14-20" for a bucket: tooltips.
std::string KernelRange(const solver::GraphModel& graph, int begin, int end) {
  if (end - begin == 1) {
    return absl::StrFormat("kernel %d (%s)", begin, graph.kernel(begin).id);
  }
  return absl::StrFormat("kernels %d-%d", begin, end - 1);
}

std::string KernelName(const solver::GraphModel& graph, int k) {
  return absl::StrFormat("kernel %d (%s)", k, Truncate(graph.kernel(k).id, 32));
}

// Vertical phase lines through a plot, labelled at its top when `labels`.
std::string PhaseLines(const PlotArea& area, const GraphPhases& phases,
                       bool labels) {
  std::string svg;
  auto line = [&](int kernel, const char* text) {
    if (kernel < 0) return;
    const double x = area.X(kernel);
    absl::StrAppendFormat(&svg,
                          "<line class=\"phase\" x1=\"%.2f\" y1=\"%.2f\" "
                          "x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                          "stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n",
                          x, area.top, x, area.bottom, kPhaseColor);
    if (labels) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" "
                            "fill=\"%s\">%s</text>\n",
                            x + 4, area.top + 12, kPhaseColor, text);
    }
  };
  if (labels && (phases.backward_start > 0 || phases.optimizer_start > 0)) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" "
                          "fill=\"%s\">forward</text>\n",
                          area.left + 4, area.top + 12, kPhaseColor);
  }
  line(phases.backward_start, "backward \u2192");
  line(phases.optimizer_start, "optimizer \u2192");
  return svg;
}

// A panel heading: bold title and a grey note after it.
std::string Heading(double x, double y, const std::string& title,
                    const std::string& note) {
  std::string svg = absl::StrFormat(
      "<text x=\"%.2f\" y=\"%.2f\" font-size=\"14\" font-weight=\"bold\">%s", x,
      y, SvgEscape(title));
  if (!note.empty()) {
    absl::StrAppendFormat(&svg,
                          "<tspan dx=\"8\" font-weight=\"normal\" "
                          "fill=\"#555\" font-size=\"12\">%s</tspan>",
                          SvgEscape(note));
  }
  svg += "</text>\n";
  return svg;
}

// Layout shared by the panels: the kernel axis spans [left, right].
struct Layout {
  double width = 1200;
  double left = 90;
  double right = 1170;
  double y = 0;           // the next panel's top
  std::string id_prefix;  // escaped PlanPictureOptions::id_prefix
};

// The memory panel's legend: the plan's fast bytes, the graph's live bytes
// (peak `live_peak`), the budget and the phase boundaries (or why none).
std::vector<LegendEntry> MemoryLegend(uint64_t budget_bytes, uint64_t live_peak,
                                      const GraphPhases& phases) {
  std::vector<LegendEntry> legend = {
      {Swatch::kBox, "#9CC3E0", "this plan: fast bytes live"},
      {Swatch::kLine, kLiveColor,
       absl::StrCat("all tensors fast (the graph's live bytes, peak ",
                    FormatBytes(live_peak), ")")},
      {Swatch::kDashedLine, kBudgetColor,
       absl::StrCat("budget ", FormatBytes(budget_bytes))},
  };
  if (phases.backward_start >= 0 || phases.optimizer_start >= 0) {
    legend.push_back({Swatch::kDashedLine, kPhaseColor,
                      absl::StrCat("phase boundary (", phases.how, ")")});
  } else {
    legend.push_back({Swatch::kDashedLine, "#bbbbbb",
                      absl::StrCat("no phase boundary drawn: ", phases.how)});
  }
  return legend;
}

// The peak: a dot on the curve at (px, py) and `text`, its value, kept
// inside `area` (left of the dot when it would cross the right edge).
std::string PeakMarker(const PlotArea& area, double px, double py,
                       const std::string& text) {
  const double text_w = SvgTextWidth(text, 12);
  const bool flip = px + 8 + text_w > area.right;
  const double ty = std::max(py - 8, area.top + 26);
  return absl::StrFormat(
      "<circle class=\"peak\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" "
      "stroke=\"white\"/>\n<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\" "
      "text-anchor=\"%s\" fill=\"%s\" stroke=\"white\" stroke-width=\"3\" "
      "paint-order=\"stroke\">%s</text>\n",
      px, py, kFastColor, flip ? px - 8 : px + 8, ty, flip ? "end" : "start",
      kFastColor, SvgEscape(text));
}

std::string MemoryPanel(const v1::Plan& plan, const solver::GraphModel& graph,
                        const PlanTimeline& timeline, const GraphPhases& phases,
                        Layout* layout) {
  const int kernels = graph.num_kernels();
  const double plot_px = layout->right - layout->left;
  const int bucket = BucketSize(kernels, plot_px);
  const std::vector<Bucket> buckets = Buckets(kernels, bucket);

  std::vector<uint64_t> fast_max, live_max;
  for (const Bucket& b : buckets) {
    fast_max.push_back(*std::max_element(timeline.fast_bytes.begin() + b.begin,
                                         timeline.fast_bytes.begin() + b.end));
    live_max.push_back(*std::max_element(timeline.live_bytes.begin() + b.begin,
                                         timeline.live_bytes.begin() + b.end));
  }
  const uint64_t drawn_peak =
      fast_max.empty() ? 0
                       : *std::max_element(fast_max.begin(), fast_max.end());
  const uint64_t live_peak =
      live_max.empty() ? 0
                       : *std::max_element(live_max.begin(), live_max.end());
  const double top_value = static_cast<double>(
      std::max({drawn_peak, live_peak, plan.budget_bytes()}));
  const ByteUnit unit = UnitFor(top_value);

  std::string svg = absl::StrFormat(
      "<g id=\"%smemory-timeline\" data-peak-bytes=\"%d\" "
      "data-peak-kernel=\"%d\" "
      "data-budget-bytes=\"%d\" data-bucket-kernels=\"%d\">\n",
      layout->id_prefix, drawn_peak, timeline.peak_kernel, plan.budget_bytes(),
      bucket);
  svg += Heading(layout->left, layout->y + 14, "Fast memory over the iteration",
                 bucket > 1 ? absl::StrFormat("(each step: the maximum over "
                                              "%d kernels)",
                                              bucket)
                            : std::string("(bytes live in the fast tier while "
                                          "each kernel runs)"));
  const std::vector<LegendEntry> legend =
      MemoryLegend(plan.budget_bytes(), live_peak, phases);
  double legend_height = 0;
  svg += RenderLegendRow(layout->left, layout->y + 22, layout->right, legend,
                         &legend_height);

  const std::vector<double> y_ticks =
      ZeroBasedTicks(top_value * 1.05 / unit.scale, 5);
  PlotArea area{layout->left,
                layout->y + 28 + legend_height,
                layout->right,
                layout->y + 28 + legend_height + 220,
                0,
                static_cast<double>(std::max(kernels, 1)),
                0,
                y_ticks.back()};
  svg += RenderPlotFrame(
      area, Axis{KernelTicks(kernels), {}, "kernel (execution order)"},
      Axis{y_ticks, {}, absl::StrCat("fast memory (", unit.name, ")")});

  auto y_of = [&](uint64_t bytes) {
    return area.Y(static_cast<double>(bytes) / unit.scale);
  };
  // Step curves: a bucket is a flat stretch over its kernels.
  std::string fast_points, live_points;
  for (size_t i = 0; i < buckets.size(); ++i) {
    absl::StrAppendFormat(&fast_points, "%.2f,%.2f %.2f,%.2f ",
                          area.X(buckets[i].begin), y_of(fast_max[i]),
                          area.X(buckets[i].end), y_of(fast_max[i]));
    absl::StrAppendFormat(&live_points, "%.2f,%.2f %.2f,%.2f ",
                          area.X(buckets[i].begin), y_of(live_max[i]),
                          area.X(buckets[i].end), y_of(live_max[i]));
  }
  absl::StrAppendFormat(
      &svg,
      "<polygon points=\"%.2f,%.2f %s%.2f,%.2f\" fill=\"#9CC3E0\" "
      "fill-opacity=\"0.8\" stroke=\"none\"/>\n",
      area.X(0), area.bottom, fast_points, area.X(kernels), area.bottom);
  absl::StrAppendFormat(&svg,
                        "<polyline class=\"fast-bytes\" data-max-bytes=\"%d\" "
                        "points=\"%s\" fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"1.5\"/>\n",
                        drawn_peak, fast_points, kFastColor);
  absl::StrAppendFormat(&svg,
                        "<polyline class=\"live-bytes\" data-max-bytes=\"%d\" "
                        "points=\"%s\" fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"1.5\"/>\n",
                        live_peak, live_points, kLiveColor);
  absl::StrAppendFormat(
      &svg,
      "<line class=\"budget\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
      "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"8 4\"/>\n",
      area.left, y_of(plan.budget_bytes()), area.right,
      y_of(plan.budget_bytes()), kBudgetColor);
  svg += PhaseLines(area, phases, /*labels=*/true);

  if (kernels > 0) {
    svg += PeakMarker(
        area, area.X(timeline.peak_kernel + 0.5),
        y_of(timeline.peak_fast_bytes),
        absl::StrCat("peak ", FormatBytes(timeline.peak_fast_bytes), " at ",
                     KernelName(graph, timeline.peak_kernel)));
  }
  svg += "</g>\n";
  layout->y = area.bottom + 62;
  return svg;
}

// The moves panel's ticks of one bucket and direction: how many, and the
// bytes they copied.
struct MoveCell {
  int count = 0;
  uint64_t bytes = 0;
};

// `half` (0 up to the largest value) mirrored below zero: the moves axis,
// copies to fast above, to slow below.
void MirroredTicks(const std::vector<double>& half, std::vector<double>* ticks,
                   std::vector<std::string>* labels) {
  for (auto it = half.rbegin(); it != half.rend(); ++it) {
    if (*it == 0) continue;
    ticks->push_back(-*it);
    labels->push_back(SvgTickLabel(*it));
  }
  for (double t : half) {
    ticks->push_back(t);
    labels->push_back(SvgTickLabel(t));
  }
}

// The moves panel's zero line and its "to fast" (above) and "to slow"
// (below) labels.
std::string MovesZeroLine(const PlotArea& area) {
  std::string svg;
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                        "stroke=\"#222\"/>\n",
                        area.left, area.Y(0), area.right, area.Y(0));
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" "
                        "fill=\"%s\">\u2191 to fast</text>\n<text x=\"%.2f\" "
                        "y=\"%.2f\" font-size=\"11\" fill=\"%s\">\u2193 to "
                        "slow</text>\n",
                        area.left + 4, area.top + 12, kToFastColor,
                        area.left + 4, area.bottom - 5, kMoveColor);
  return svg;
}

// One tick of the moves panel: the moves `cell` of class `cls` ("to-fast",
// "to-slow" or "free-drop") over bucket `b`, from y0 to y1, `tick_w` wide,
// with a tooltip.
std::string MoveTick(const solver::GraphModel& graph, const PlotArea& area,
                     double tick_w, const char* cls, const MoveCell& cell,
                     const Bucket& b, double y0, double y1, const char* color) {
  const double cx = (area.X(b.begin) + area.X(b.end)) / 2;
  // The <title> is the tooltip a browser (or the dashboard) shows.
  const std::string what = absl::string_view(cls) == "to-fast" ? "to fast"
                           : absl::string_view(cls) == "to-slow"
                               ? "to slow"
                               : "free drop(s) to slow";
  return absl::StrFormat(
      "<rect class=\"move %s\" data-count=\"%d\" data-bytes=\"%d\" "
      "data-first-kernel=\"%d\" data-last-kernel=\"%d\" x=\"%.2f\" "
      "y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
      "<title>%s: %d %s, %s copied</title></rect>\n",
      cls, cell.count, cell.bytes, b.begin, b.end - 1, cx - tick_w / 2,
      std::min(y0, y1), tick_w, std::abs(y1 - y0), color,
      SvgEscape(KernelRange(graph, b.begin, b.end)), cell.count, what,
      FormatBytes(cell.bytes));
}

std::string MovesPanel(const v1::Plan& plan, const solver::GraphModel& graph,
                       const GraphPhases& phases, Layout* layout) {
  const int kernels = graph.num_kernels();
  const double plot_px = layout->right - layout->left;
  const int bucket = BucketSize(kernels, plot_px / 2);
  const std::vector<Bucket> buckets = Buckets(kernels, bucket);

  // Per bucket: to fast, to slow (copies), free drops.
  using Cell = MoveCell;
  std::vector<Cell> to_fast(buckets.size()), to_slow(buckets.size()),
      free_drops(buckets.size());
  Cell total_fast, total_slow, total_free;
  int async = 0;
  for (const v1::Move& move : plan.moves()) {
    const size_t b = move.kernel_index() / bucket;
    const bool slow = move.direction() == v1::MOVE_DIRECTION_TO_SLOW;
    Cell& cell = !slow                      ? to_fast[b]
                 : move.bytes_copied() == 0 ? free_drops[b]
                                            : to_slow[b];
    Cell& total = !slow                      ? total_fast
                  : move.bytes_copied() == 0 ? total_free
                                             : total_slow;
    ++cell.count;
    solver::SaturatingAddTo(cell.bytes, move.bytes_copied());
    ++total.count;
    solver::SaturatingAddTo(total.bytes, move.bytes_copied());
    if (!move.sync()) ++async;
  }
  uint64_t max_bytes = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    max_bytes = std::max({max_bytes, to_fast[i].bytes, to_slow[i].bytes});
  }
  const ByteUnit unit = UnitFor(static_cast<double>(max_bytes));

  std::string svg = absl::StrFormat("<g id=\"%smoves\" data-moves=\"%d\">\n",
                                    layout->id_prefix, plan.moves_size());
  std::string note =
      plan.moves_size() == 0
          ? std::string("(none: every tensor stays where it is created)")
          : absl::StrFormat(
                "(%d; %d asynchronous%s)", plan.moves_size(), async,
                bucket > 1 ? absl::StrFormat("; one tick per %d kernels and "
                                             "direction",
                                             bucket)
                           : std::string("; one tick per kernel and "
                                         "direction"));
  svg += Heading(layout->left, layout->y + 14, "Moves between the tiers", note);
  std::vector<LegendEntry> legend = {
      {Swatch::kUpTick, kToFastColor,
       absl::StrFormat("to fast: %d move%s, %s copied", total_fast.count,
                       total_fast.count == 1 ? "" : "s",
                       FormatBytes(total_fast.bytes))},
      {Swatch::kDownTick, kMoveColor,
       absl::StrFormat("to slow: %d move%s, %s copied", total_slow.count,
                       total_slow.count == 1 ? "" : "s",
                       FormatBytes(total_slow.bytes))},
      {Swatch::kBox, "#999999",
       absl::StrFormat("to slow, free (clean copy dropped, 0 B): %d",
                       total_free.count)},
  };
  double legend_height = 0;
  svg += RenderLegendRow(layout->left, layout->y + 22, layout->right, legend,
                         &legend_height);

  const std::vector<double> half =
      ZeroBasedTicks(static_cast<double>(max_bytes) * 1.05 / unit.scale, 2);
  const double m = half.back();
  std::vector<double> ticks;
  std::vector<std::string> labels;
  MirroredTicks(half, &ticks, &labels);
  PlotArea area{layout->left,
                layout->y + 28 + legend_height,
                layout->right,
                layout->y + 28 + legend_height + 130,
                0,
                static_cast<double>(std::max(kernels, 1)),
                -m,
                m};
  svg += RenderPlotFrame(
      area, Axis{KernelTicks(kernels), {}, "kernel (execution order)"},
      Axis{ticks, labels, absl::StrCat("copied (", unit.name, ")")});
  svg += MovesZeroLine(area);
  svg += PhaseLines(area, phases, /*labels=*/false);

  const double column = plot_px / std::max(kernels, 1) * bucket;
  const double tick_w = std::clamp(column * 0.6, 1.5, 8.0);
  auto tick = [&](const char* cls, const Cell& cell, const Bucket& b, double y0,
                  double y1, const char* color) {
    svg += MoveTick(graph, area, tick_w, cls, cell, b, y0, y1, color);
  };
  const double zero = area.Y(0);
  for (size_t i = 0; i < buckets.size(); ++i) {
    // At least 2 px, so a small copy is still seen.
    if (to_fast[i].count > 0) {
      const double y = std::min(
          area.Y(static_cast<double>(to_fast[i].bytes) / unit.scale), zero - 2);
      tick("to-fast", to_fast[i], buckets[i], zero, y, kToFastColor);
    }
    if (to_slow[i].count > 0) {
      const double y =
          std::max(area.Y(-static_cast<double>(to_slow[i].bytes) / unit.scale),
                   zero + 2);
      tick("to-slow", to_slow[i], buckets[i], zero, y, kMoveColor);
    }
    if (free_drops[i].count > 0) {
      tick("free-drop", free_drops[i], buckets[i], zero + 1, zero + 5,
           "#999999");
    }
  }
  svg += "</g>\n";
  layout->y = area.bottom + 62;
  return svg;
}

std::string TimePanel(const v1::Plan& plan, const solver::GraphModel& graph,
                      const PlanTimeline& timeline, const GraphPhases& phases,
                      Layout* layout) {
  const int kernels = graph.num_kernels();
  const double plot_px = layout->right - layout->left;
  const int bucket = BucketSize(kernels, plot_px / 3);
  const std::vector<Bucket> buckets = Buckets(kernels, bucket);
  const bool split = !timeline.all_fast_kernel_us.empty();

  double kernel_total = 0, move_total = 0, base_total = 0;
  struct Bar {
    double base = 0, penalty = 0, move = 0;
  };
  std::vector<Bar> bars(buckets.size());
  double max_bar = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    for (int k = buckets[i].begin; k < buckets[i].end; ++k) {
      const double base = split ? std::min(timeline.all_fast_kernel_us[k],
                                           timeline.kernel_us[k])
                                : timeline.kernel_us[k];
      bars[i].base += base;
      bars[i].penalty += timeline.kernel_us[k] - base;
      bars[i].move += timeline.move_us[k];
      kernel_total += timeline.kernel_us[k];
      move_total += timeline.move_us[k];
      base_total += base;
    }
    max_bar = std::max(max_bar, bars[i].base + bars[i].penalty + bars[i].move);
  }
  const bool ms = max_bar >= 2000;
  const double scale = ms ? 1000 : 1;
  const double total = kernel_total + move_total;

  std::string svg = absl::StrFormat(
      "<g id=\"%stime\" data-kernel-us=\"%.3f\" data-move-us=\"%.3f\">\n",
      layout->id_prefix, kernel_total, move_total);
  svg += Heading(
      layout->left, layout->y + 14, "Where the time goes",
      absl::StrFormat("(predicted %s: kernels %s, moves %s%s)", Ms(total),
                      Percent(kernel_total, total), Percent(move_total, total),
                      split ? "" : "; pass the profile to split kernel time"));
  std::vector<LegendEntry> legend;
  if (split) {
    legend.push_back(
        {Swatch::kBox, kFastColor,
         absl::StrCat("kernels at all-fast speed ", Ms(base_total))});
    legend.push_back(
        {Swatch::kBox, kSlowColor,
         absl::StrCat("slow-operand penalty ", Ms(kernel_total - base_total))});
  } else {
    legend.push_back(
        {Swatch::kBox, kFastColor, absl::StrCat("kernels ", Ms(kernel_total))});
  }
  legend.push_back(
      {Swatch::kBox, kMoveColor,
       absl::StrCat("moves ", Ms(move_total),
                    " (synchronous copies + asynchronous overrun)")});
  double legend_height = 0;
  svg += RenderLegendRow(layout->left, layout->y + 22, layout->right, legend,
                         &legend_height);

  const std::vector<double> y_ticks = ZeroBasedTicks(max_bar * 1.05 / scale, 4);
  PlotArea area{layout->left,
                layout->y + 28 + legend_height,
                layout->right,
                layout->y + 28 + legend_height + 150,
                0,
                static_cast<double>(std::max(kernels, 1)),
                0,
                y_ticks.back()};
  svg += RenderPlotFrame(
      area, Axis{KernelTicks(kernels), {}, "kernel (execution order)"},
      Axis{y_ticks,
           {},
           bucket > 1
               ? absl::StrFormat("%s per %d kernels", ms ? "ms" : "\u00b5s",
                                 bucket)
               : absl::StrFormat("%s per kernel", ms ? "ms" : "\u00b5s")});
  svg += PhaseLines(area, phases, /*labels=*/false);
  const double column = plot_px / std::max(kernels, 1) * bucket;
  const double gap = column >= 4 ? std::min(column * 0.15, 2.0) : 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const double x = area.X(buckets[i].begin) + gap / 2;
    const double w = std::max(column - gap, 0.5);
    double at = 0;
    absl::StrAppendFormat(
        &svg, "<g><title>%s: kernels %.1f us%s, moves %.1f us</title>\n",
        SvgEscape(KernelRange(graph, buckets[i].begin, buckets[i].end)),
        bars[i].base + bars[i].penalty,
        split ? absl::StrFormat(" (%.1f us of it slow-operand penalty)",
                                bars[i].penalty)
              : std::string(),
        bars[i].move);
    auto segment = [&](double value, const char* color) {
      if (value <= 0) return;
      const double y0 = area.Y(at / scale), y1 = area.Y((at + value) / scale);
      absl::StrAppendFormat(&svg,
                            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                            "height=\"%.2f\" fill=\"%s\"/>\n",
                            x, y1, w, std::max(y0 - y1, 0.0), color);
      at += value;
    };
    segment(bars[i].base, kFastColor);
    segment(bars[i].penalty, kSlowColor);
    segment(bars[i].move, kMoveColor);
    svg += "</g>\n";
  }
  svg += "</g>\n";
  layout->y = area.bottom + 62;
  return svg;
}

// The residency row's marks of a tensor's moves (indices into plan.moves()),
// on the row centred at `mid`: a triangle up at the start of the kernel
// for a move to fast, down at its end for one to slow (grey when free).
std::string MoveMarks(const v1::Plan& plan, const std::vector<int>& moves,
                      const PlotArea& area, double mid) {
  std::string svg;
  for (int m : moves) {
    const v1::Move& move = plan.moves(m);
    const bool to_fast = move.direction() != v1::MOVE_DIRECTION_TO_SLOW;
    // To fast: at the start of its kernel; to slow: at its end.
    const double x = area.X(move.kernel_index() + (to_fast ? 0 : 1));
    const char* color = to_fast                    ? kToFastColor
                        : move.bytes_copied() == 0 ? "#999999"
                                                   : kMoveColor;
    if (to_fast) {
      absl::StrAppendFormat(&svg,
                            "<polygon class=\"move-mark\" points=\"%.2f,%.2f "
                            "%.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n",
                            x, mid - 10, x - 4, mid - 3, x + 4, mid - 3, color);
    } else {
      absl::StrAppendFormat(&svg,
                            "<polygon class=\"move-mark\" points=\"%.2f,%.2f "
                            "%.2f,%.2f %.2f,%.2f\" fill=\"%s\"/>\n",
                            x, mid - 3, x - 4, mid - 10, x + 4, mid - 10,
                            color);
    }
  }
  return svg;
}

// The residency row's marks of a tensor's re-runs (indices into
// plan.recomputes()): the stretch it is dropped for, outlined and empty,
// and a dot at the start of the kernel it is re-made for.
std::string ReRunMarks(const v1::Plan& plan, const std::vector<int>& reruns,
                       const PlotArea& area, double mid) {
  std::string svg;
  for (int i : reruns) {
    const v1::Recompute& step = plan.recomputes(i);
    const double begin = area.X(step.dropped_after_kernel_index() + 1);
    const double end = area.X(step.before_kernel_index());
    if (end > begin) {
      absl::StrAppendFormat(
          &svg,
          "<rect class=\"dropped\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
          "height=\"10\" fill=\"#ffffff\" stroke=\"%s\" "
          "stroke-dasharray=\"2,2\"/>\n",
          begin, mid - 6, end - begin, kReRunColor);
    }
    absl::StrAppendFormat(&svg,
                          "<circle class=\"rerun-mark\" cx=\"%.2f\" "
                          "cy=\"%.2f\" r=\"3.5\" fill=\"%s\"/>\n",
                          end, mid - 1, kReRunColor);
  }
  return svg;
}

// The residency panel's legend; the re-run entries only for a plan with
// re-runs.
std::vector<LegendEntry> ResidencyLegend(bool has_reruns) {
  std::vector<LegendEntry> legend = {
      {Swatch::kBox, kFastColor, "in fast memory"},
      {Swatch::kBox, "#F3C26B", "in slow memory"},
      {Swatch::kTriangleUp, kToFastColor, "moved to fast (before the kernel)"},
      {Swatch::kTriangleDown, kMoveColor, "moved to slow (after the kernel)"},
      {Swatch::kTriangleDown, "#999999", "free drop (0 B)"},
      {Swatch::kUpTick, "#222222", "kernels reading or writing it"},
  };
  if (has_reruns) {
    legend.push_back({Swatch::kBox, "#ffffff", "dropped (in no memory)"});
    legend.push_back(
        {Swatch::kUpTick, kReRunColor, "re-made by re-running its producer"});
  }
  return legend;
}

// Indices into plan.recomputes() per graph tensor, of the steps that can be
// drawn (a hostile plan's others are left out; the verifier says why).
std::vector<std::vector<int>> ReRunsByTensor(const v1::Plan& plan,
                                             const solver::GraphModel& graph) {
  std::vector<std::vector<int>> reruns(graph.num_tensors());
  for (int i = 0; i < plan.recomputes_size(); ++i) {
    const v1::Recompute& step = plan.recomputes(i);
    const int t = graph.FindTensor(step.tensor_id());
    if (t < 0 ||
        step.before_kernel_index() >=
            static_cast<uint32_t>(graph.num_kernels()) ||
        step.dropped_after_kernel_index() >= step.before_kernel_index()) {
      continue;
    }
    reruns[t].push_back(i);
  }
  return reruns;
}

std::string ResidencyPanel(const v1::Plan& plan,
                           const solver::GraphModel& graph,
                           const Residency& residency,
                           const std::vector<int>& rows,
                           const GraphPhases& phases, Layout* layout) {
  const int kernels = graph.num_kernels();
  std::string svg = absl::StrFormat("<g id=\"%sresidency\" data-rows=\"%d\">\n",
                                    layout->id_prefix, rows.size());
  svg += Heading(
      layout->left, layout->y + 14,
      absl::StrFormat("Residency of the %d largest tensors", rows.size()),
      absl::StrFormat("(of %d; bars span each tensor's live kernels)",
                      graph.num_tensors()));
  const std::vector<std::vector<int>> reruns = ReRunsByTensor(plan, graph);
  const std::vector<LegendEntry> legend =
      ResidencyLegend(plan.recomputes_size() > 0);
  double legend_height = 0;
  svg += RenderLegendRow(layout->left, layout->y + 22, layout->right, legend,
                         &legend_height);
  constexpr double kRow = 22;
  // A tensor live for one kernel of thousands still shows.
  constexpr double kMinBarPx = 2;
  PlotArea area{
      layout->left,
      layout->y + 28 + legend_height,
      layout->right,
      layout->y + 28 + legend_height + kRow * std::max<size_t>(rows.size(), 1),
      0,
      static_cast<double>(std::max(kernels, 1)),
      0,
      1};
  svg += RenderPlotFrame(
      area, Axis{KernelTicks(kernels), {}, "kernel (execution order)"}, Axis{});
  svg += PhaseLines(area, phases, /*labels=*/false);

  for (size_t r = 0; r < rows.size(); ++r) {
    const int t = rows[r];
    const solver::TensorInfo& info = graph.tensor(t);
    const double top = area.top + kRow * static_cast<double>(r);
    const double mid = top + kRow / 2;
    const int64_t fast_kernels = FastKernels(residency.fast[t], info);
    const int live_kernels = info.last_live - info.first_live + 1;
    absl::StrAppendFormat(
        &svg,
        "<g class=\"tensor-row\" data-tensor=\"%s\" data-bytes=\"%d\" "
        "data-fast-kernels=\"%d\" data-live-kernels=\"%d\">\n"
        "<title>%s, %s: live at kernels %d-%d, fast at %d of them, %d "
        "move(s)</title>\n",
        SvgEscape(info.id), info.size_bytes, fast_kernels, live_kernels,
        SvgEscape(info.id), FormatBytes(info.size_bytes), info.first_live,
        info.last_live, fast_kernels, residency.moves[t].size());
    if (r % 2 == 1) {
      absl::StrAppendFormat(&svg,
                            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                            "height=\"%.2f\" fill=\"#f4f4f4\"/>\n",
                            area.left + 0.5, top, area.right - area.left - 1,
                            kRow);
    }
    std::string label =
        absl::StrCat(Truncate(info.id, 36), "  ", FormatBytes(info.size_bytes));
    if (info.fixed_tier == v1::TIER_FAST)
      absl::StrAppend(&label, " (pinned fast)");
    if (info.fixed_tier == v1::TIER_SLOW)
      absl::StrAppend(&label, " (pinned slow)");
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" "
                          "text-anchor=\"end\">%s</text>\n",
                          area.left - 6, mid + 4, SvgEscape(label));
    // The live range in the slow colour, fast stretches over it.
    absl::StrAppendFormat(
        &svg,
        "<rect class=\"slow\" x=\"%.2f\" y=\"%.2f\" "
        "width=\"%.2f\" height=\"10\" fill=\"#F3C26B\"/>\n",
        area.X(info.first_live), mid - 6,
        std::max(area.X(info.last_live + 1) - area.X(info.first_live),
                 kMinBarPx));
    for (const auto& [first, last] : residency.fast[t]) {
      absl::StrAppendFormat(
          &svg,
          "<rect class=\"fast\" x=\"%.2f\" y=\"%.2f\" "
          "width=\"%.2f\" height=\"10\" fill=\"%s\"/>\n",
          area.X(first), mid - 6,
          std::max(area.X(last + 1) - area.X(first), kMinBarPx), kFastColor);
    }
    // Uses: one mark per pixel column at most.
    double last_x = -1;
    std::string uses;
    for (int u : info.users) {
      const double x = area.X(u + 0.5);
      if (x - last_x < 1) continue;
      last_x = x;
      absl::StrAppendFormat(&uses, "M%.2f %.2fv3", x, mid + 5);
    }
    if (!uses.empty()) {
      absl::StrAppendFormat(&svg,
                            "<path d=\"%s\" stroke=\"#222\" "
                            "stroke-width=\"1.2\"/>\n",
                            uses);
    }
    svg += ReRunMarks(plan, reruns[t], area, mid);
    svg += MoveMarks(plan, residency.moves[t], area, mid);
    svg += "</g>\n";
  }
  svg += "</g>\n";
  layout->y = area.bottom + 62;
  return svg;
}

}  // namespace

GraphPhases InferPhases(const solver::GraphModel& graph) {
  GraphPhases phases;
  std::string backward_how, optimizer_how;
  for (int k = 0; k < graph.num_kernels() && phases.backward_start < 0; ++k) {
    for (int t : graph.kernel(k).distinct_operands) {
      if (graph.tensor(t).producer == k &&
          graph.tensor(t).role == v1::TENSOR_ROLE_GRADIENT) {
        phases.backward_start = k;
        backward_how = "backward: first kernel producing a GRADIENT tensor";
        break;
      }
    }
  }
  if (phases.backward_start < 0) {
    // The op names: KernelInfo keeps only the signature key, whose text
    // starts with the signature op.
    for (int k = 0; k < graph.num_kernels(); ++k) {
      const solver::KernelInfo& kernel = graph.kernel(k);
      const std::string op =
          kernel.signature_key.substr(0, kernel.signature_key.find('('));
      const size_t dot = kernel.id.rfind('.');
      if (IsBackwardOp(op) || (dot != std::string::npos &&
                               IsBackwardOp(kernel.id.substr(dot + 1)))) {
        phases.backward_start = k;
        backward_how = "backward: first kernel with a backward op name (_bwd)";
        break;
      }
    }
  }
  const int from = std::max(phases.backward_start, 0);
  for (int k = from; k < graph.num_kernels() && phases.optimizer_start < 0;
       ++k) {
    for (int t : graph.kernel(k).distinct_operands) {
      const solver::TensorInfo& info = graph.tensor(t);
      if (info.producer == k &&
          (info.role == v1::TENSOR_ROLE_WEIGHT ||
           info.role == v1::TENSOR_ROLE_OPTIMIZER_STATE)) {
        phases.optimizer_start = k;
        optimizer_how = "optimizer: first kernel writing a weight";
        break;
      }
    }
  }
  if (phases.backward_start < 0 && phases.optimizer_start < 0) {
    phases.how =
        "forward/backward not inferable (no GRADIENT tensors, no backward op "
        "names, no weight updates)";
  } else if (phases.backward_start < 0) {
    phases.how = absl::StrCat(
        "backward start not inferable (no GRADIENT tensors or backward op "
        "names); ",
        optimizer_how);
  } else {
    phases.how = optimizer_how.empty()
                     ? backward_how
                     : absl::StrCat(backward_how, "; ", optimizer_how);
  }
  return phases;
}

absl::StatusOr<PlanTimeline> ComputePlanTimeline(
    const v1::Plan& plan, const solver::GraphModel& graph,
    const solver::ProfileModel* profile) {
  const int kernels = graph.num_kernels();
  if (plan.kernels_size() != 0 && plan.kernels_size() != kernels) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the plan has %d kernel choices but graph \"%s\" has %d kernels: it "
        "is not this graph's plan",
        plan.kernels_size(), graph.name(), kernels));
  }
  absl::StatusOr<Residency> residency = ComputeResidency(plan, graph);
  if (!residency.ok()) return residency.status();

  PlanTimeline timeline;
  timeline.live_bytes.resize(kernels);
  timeline.kernel_us.assign(kernels, 0);
  timeline.move_us.assign(kernels, 0);
  for (int k = 0; k < kernels; ++k) timeline.live_bytes[k] = graph.LiveBytes(k);
  if (plan.kernels_size() == kernels) {
    for (int k = 0; k < kernels; ++k) {
      timeline.fast_bytes.push_back(plan.kernels(k).fast_bytes());
      timeline.kernel_us[k] = plan.kernels(k).time_us();
    }
  } else {
    // No kernel choices: the fast bytes from the intervals (as the verifier
    // counts them), and no kernel times.
    std::vector<uint64_t> starting(kernels + 1, 0), ending(kernels + 1, 0);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      for (const auto& [first, last] : residency->fast[t]) {
        solver::SaturatingAddTo(starting[first], graph.tensor(t).size_bytes);
        solver::SaturatingAddTo(ending[last + 1], graph.tensor(t).size_bytes);
      }
    }
    uint64_t live = 0;
    for (int k = 0; k < kernels; ++k) {
      live = live + starting[k] - ending[k];
      timeline.fast_bytes.push_back(live);
    }
  }
  // Times become coordinates: a NaN or infinity would poison every bar.
  auto bad_time = [](double us) { return !std::isfinite(us) || us < 0; };
  for (int k = 0; k < kernels; ++k) {
    if (bad_time(timeline.kernel_us[k])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "kernel %d (%s): time %g us is not a finite non-negative number", k,
          graph.kernel(k).id, timeline.kernel_us[k]));
    }
  }
  for (int m = 0; m < plan.moves_size(); ++m) {
    if (bad_time(plan.moves(m).time_us())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "move %d: time %g us is not a finite non-negative number", m,
          plan.moves(m).time_us()));
    }
  }
  std::vector<double> async_us(kernels, 0);
  for (const v1::Move& move : plan.moves()) {
    if (move.sync()) {
      timeline.move_us[move.kernel_index()] += move.time_us();
    } else {
      async_us[move.kernel_index()] += move.time_us();
    }
  }
  for (int k = 0; k < kernels; ++k) {
    timeline.move_us[k] += std::max(0.0, async_us[k] - timeline.kernel_us[k]);
    if (timeline.fast_bytes[k] > timeline.peak_fast_bytes) {
      timeline.peak_fast_bytes = timeline.fast_bytes[k];
      timeline.peak_kernel = k;
    }
  }
  if (profile != nullptr) {
    for (int k = 0; k < kernels; ++k) {
      const solver::KernelInfo& kernel = graph.kernel(k);
      const solver::KernelCost* cost = profile->Find(kernel.signature_key);
      std::optional<double> fast =
          cost == nullptr
              ? std::nullopt
              : cost->TimeUs(std::vector<bool>(kernel.operands.size(), false));
      if (!fast.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the profile has no all-fast time for kernel ", k, " (", kernel.id,
            "), signature ", kernel.signature_key));
      }
      timeline.all_fast_kernel_us.push_back(*fast);
    }
  }
  return timeline;
}

std::vector<int> LargestTensors(const solver::GraphModel& graph, int n) {
  std::vector<int> order(graph.num_tensors());
  std::iota(order.begin(), order.end(), 0);
  // Among equal sizes (a network's many same-shaped activations) the
  // longest-lived first: they are the ones a budget has to work around.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const solver::TensorInfo& x = graph.tensor(a);
    const solver::TensorInfo& y = graph.tensor(b);
    if (x.size_bytes != y.size_bytes) return x.size_bytes > y.size_bytes;
    return x.last_live - x.first_live > y.last_live - y.first_live;
  });
  order.resize(std::min<size_t>(order.size(), std::max(n, 0)));
  return order;
}

absl::StatusOr<std::string> RenderPlanSvg(const v1::Plan& plan,
                                          const solver::GraphModel& graph,
                                          const PlanPictureOptions& options) {
  absl::StatusOr<PlanTimeline> timeline =
      ComputePlanTimeline(plan, graph, options.profile);
  if (!timeline.ok()) return timeline.status();
  absl::StatusOr<Residency> residency = ComputeResidency(plan, graph);
  if (!residency.ok()) return residency.status();
  const GraphPhases phases = InferPhases(graph);
  const std::vector<int> rows = LargestTensors(graph, options.top_tensors);

  Layout layout;
  layout.width = std::max(options.width, 640);
  layout.id_prefix = SvgEscape(options.id_prefix);
  // The Gantt's labels sit left of the kernel axis; every panel shares it.
  double label_w = 0;
  for (int t : rows) {
    std::string label = absl::StrCat(Truncate(graph.tensor(t).id, 36), "  ",
                                     FormatBytes(graph.tensor(t).size_bytes));
    if (graph.tensor(t).fixed_tier != v1::TIER_UNSPECIFIED) {
      absl::StrAppend(&label, " (pinned fast)");
    }
    label_w = std::max(label_w, SvgTextWidth(label, 11));
  }
  layout.left = std::clamp(label_w + 14, 90.0, layout.width * 0.4);
  layout.right = layout.width - 30;

  const double total = plan.kernel_time_us() + plan.move_time_us();
  const std::string title =
      !options.title.empty()
          ? options.title
          : absl::StrFormat(
                "Plan for %s: %s%s, budget %s = %s of all-fast peak",
                plan.graph_name().empty() ? graph.name() : plan.graph_name(),
                solver::MethodName(plan.method()),
                plan.stats().termination() == v1::TERMINATION_HEURISTIC ||
                        plan.stats().termination() ==
                            v1::TERMINATION_UNSPECIFIED
                    ? std::string()
                    : absl::StrCat(
                          " (",
                          solver::TerminationName(plan.stats().termination()),
                          ")"),
                FormatBytes(plan.budget_bytes()),
                Percent(static_cast<double>(plan.budget_bytes()),
                        static_cast<double>(graph.PeakLiveBytes())));
  const std::string subtitle = absl::StrFormat(
      "predicted iteration %s (kernels %s, moves %s)  \u00b7  peak fast %s  "
      "\u00b7  %d moves  \u00b7  %d kernels, %d tensors",
      Ms(plan.predicted_time_us()), Percent(plan.kernel_time_us(), total),
      Percent(plan.move_time_us(), total), FormatBytes(plan.peak_fast_bytes()),
      plan.moves_size(), graph.num_kernels(), graph.num_tensors());

  layout.y = 62;
  std::string body;
  body += MemoryPanel(plan, graph, *timeline, phases, &layout);
  body += MovesPanel(plan, graph, phases, &layout);
  body += TimePanel(plan, graph, *timeline, phases, &layout);
  if (!rows.empty()) {
    body += ResidencyPanel(plan, graph, *residency, rows, phases, &layout);
  }
  const int height = static_cast<int>(std::ceil(layout.y - 8));
  const int width = static_cast<int>(layout.width);

  std::string svg = SvgDocumentStart(width, height);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.2f\" y=\"26\" font-size=\"18\" "
                        "font-weight=\"bold\">%s</text>\n"
                        "<text x=\"%.2f\" y=\"46\" font-size=\"12\" "
                        "fill=\"#444\">%s</text>\n",
                        layout.left, SvgEscape(title), layout.left,
                        SvgEscape(subtitle));
  svg += body;
  svg += SvgDocumentEnd();
  return svg;
}

absl::StatusOr<std::string> FormatPlanPictureSummary(
    const v1::Plan& plan, const solver::GraphModel& graph,
    const PlanPictureOptions& options) {
  absl::StatusOr<PlanTimeline> timeline =
      ComputePlanTimeline(plan, graph, options.profile);
  if (!timeline.ok()) return timeline.status();
  absl::StatusOr<Residency> residency = ComputeResidency(plan, graph);
  if (!residency.ok()) return residency.status();
  const GraphPhases phases = InferPhases(graph);

  std::string out = "\npicture:\n";
  auto line = [&](const std::string& label, const std::string& value) {
    absl::StrAppendFormat(&out, "  %-22s%s\n", label, value);
  };
  std::string phase_text;
  if (phases.backward_start >= 0) {
    absl::StrAppend(&phase_text, "backward from ",
                    KernelName(graph, phases.backward_start));
  }
  if (phases.optimizer_start >= 0) {
    absl::StrAppend(&phase_text, phase_text.empty() ? "" : ", ",
                    "optimizer from ",
                    KernelName(graph, phases.optimizer_start));
  }
  line("phases", phase_text.empty()
                     ? phases.how
                     : absl::StrCat(phase_text, " [", phases.how, "]"));
  int live_peak_kernel = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    if (graph.LiveBytes(k) > graph.LiveBytes(live_peak_kernel)) {
      live_peak_kernel = k;
    }
  }
  if (graph.num_kernels() > 0) {
    line("peak fast memory",
         absl::StrFormat("%s at %s; all-fast would peak at %s at %s",
                         FormatBytes(timeline->peak_fast_bytes),
                         KernelName(graph, timeline->peak_kernel),
                         FormatBytes(graph.PeakLiveBytes()),
                         KernelName(graph, live_peak_kernel)));
  }
  double kernel_us = 0, move_us = 0, base_us = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    kernel_us += timeline->kernel_us[k];
    move_us += timeline->move_us[k];
    if (!timeline->all_fast_kernel_us.empty()) {
      base_us +=
          std::min(timeline->all_fast_kernel_us[k], timeline->kernel_us[k]);
    }
  }
  std::string time =
      absl::StrFormat("kernels %s (%s), moves %s (%s)", Ms(kernel_us),
                      Percent(kernel_us, kernel_us + move_us), Ms(move_us),
                      Percent(move_us, kernel_us + move_us));
  if (!timeline->all_fast_kernel_us.empty()) {
    absl::StrAppendFormat(&time,
                          "; kernels = %s at all-fast speed + %s "
                          "slow-operand penalty",
                          Ms(base_us), Ms(kernel_us - base_us));
  }
  line("time", time);

  const std::vector<int> rows = LargestTensors(graph, options.top_tensors);
  if (rows.empty()) return out;
  struct Row {
    std::string id, size, live, fast, moves;
  };
  std::vector<Row> table = {
      {"tensor", "size", "live kernels", "fast", "moves"}};
  for (int t : rows) {
    const solver::TensorInfo& info = graph.tensor(t);
    const int64_t fast = FastKernels(residency->fast[t], info);
    const int live = info.last_live - info.first_live + 1;
    int to_fast = 0, to_slow = 0;
    for (int m : residency->moves[t]) {
      ++(plan.moves(m).direction() == v1::MOVE_DIRECTION_TO_SLOW ? to_slow
                                                                 : to_fast);
    }
    table.push_back(
        {Truncate(info.id, 40), FormatBytes(info.size_bytes),
         absl::StrFormat("%d-%d", info.first_live, info.last_live),
         // "0%" would claim never; a kernel or two of thousands is "<1%".
         fast > 0 && 100 * fast < live ? std::string("<1%")
                                       : Percent(fast, live),
         to_fast + to_slow == 0
             ? std::string("-")
             : absl::StrFormat("%d to fast, %d to slow", to_fast, to_slow)});
  }
  size_t w[5] = {0, 0, 0, 0, 0};
  for (const Row& row : table) {
    w[0] = std::max(w[0], row.id.size());
    w[1] = std::max(w[1], row.size.size());
    w[2] = std::max(w[2], row.live.size());
    w[3] = std::max(w[3], row.fast.size());
  }
  absl::StrAppendFormat(&out,
                        "\nlargest tensors (%d of %d; fast = share of their "
                        "live kernels in fast memory):\n",
                        rows.size(), graph.num_tensors());
  for (const Row& row : table) {
    absl::StrAppendFormat(&out, "  %-*s  %*s  %*s  %*s  %s\n", w[0], row.id,
                          w[1], row.size, w[2], row.live, w[3], row.fast,
                          row.moves);
  }
  return out;
}

}  // namespace autotm::client
