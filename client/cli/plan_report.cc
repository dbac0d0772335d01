#include "client/cli/plan_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "client/common/units.h"
#include "solver/checked_math.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/verifier.h"

namespace autotm::client {
namespace {

// Width of the label column, so values line up.
constexpr int kLabelWidth = 22;

void AppendLine(std::string* out, const std::string& label,
                const std::string& value) {
  absl::StrAppendFormat(out, "  %-*s%s\n", kLabelWidth, label, value);
}

std::string Ms(double us) { return absl::StrFormat("%.3f ms", us / 1000); }

// "42.0%", or "-" when the whole is zero (an empty graph, a zero budget).
std::string Percent(double part, double whole) {
  if (whole <= 0) return "-";
  return absl::StrFormat("%.1f%%", 100 * part / whole);
}

std::string DirectionName(v1::MoveDirection direction) {
  switch (direction) {
    case v1::MOVE_DIRECTION_TO_FAST:
      return "to fast";
    case v1::MOVE_DIRECTION_TO_SLOW:
      return "to slow";
    default:
      return "?";
  }
}

struct MoveTotals {
  int count = 0;
  int free_drops = 0;  // TO_SLOW of a clean copy: nothing copied
  int async = 0;
  uint64_t bytes = 0;
  double time_us = 0;
};

std::string DescribeMoves(const MoveTotals& totals, bool to_slow) {
  std::string text = absl::StrFormat(
      "%d %s: %s copied, %s", totals.count, to_slow ? "to slow" : "to fast",
      FormatBytes(totals.bytes), Ms(totals.time_us));
  if (to_slow && totals.free_drops > 0) {
    absl::StrAppendFormat(&text, " (%d free drops of clean copies)",
                          totals.free_drops);
  }
  if (totals.async > 0) {
    absl::StrAppendFormat(&text, "; %d asynchronous", totals.async);
  }
  return text;
}

void AppendSolverStats(const v1::Plan& plan, std::string* out) {
  const v1::SolverStats& stats = plan.stats();
  if (plan.method() == v1::METHOD_TWO_LEVEL_MEMORY) {
    const v1::TwoLevelMemory& cache = plan.two_level_memory();
    const uint64_t accessed = cache.hit_bytes() + cache.miss_bytes();
    AppendLine(
        out, "simulation",
        absl::StrFormat(
            "2LM: the fast tier as a direct-mapped cache of %s in %s "
            "lines in front of a %s slow-tier address space",
            FormatBytes(plan.budget_bytes()), FormatBytes(cache.line_bytes()),
            FormatBytes(cache.address_space_bytes())));
    AppendLine(
        out, "",
        absl::StrFormat(
            "%s accessed, %.1f%% hits; %s of dirty lines written back (%s)",
            FormatBytes(accessed),
            accessed == 0 ? 0.0
                          : 100.0 * static_cast<double>(cache.hit_bytes()) /
                                static_cast<double>(accessed),
            FormatBytes(cache.writeback_bytes()),
            Ms(cache.writeback_time_us())));
    return;
  }
  if (stats.termination() == v1::TERMINATION_HEURISTIC &&
      stats.variables() == 0) {
    AppendLine(
        out, "solver",
        plan.method() == v1::METHOD_HEURISTIC
            ? std::string("none: the pricing heuristic (no ILP, no "
                          "bound)")
            : absl::StrCat("none: the ", solver::MethodName(plan.method()),
                           " baseline is a heuristic (no ILP, no "
                           "bound)"));
    return;
  }
  if (stats.termination() == v1::TERMINATION_HEURISTIC) {
    // The planner's fallback: its ILP ran but did not beat its start.
    AppendLine(out, "fallback",
               absl::StrCat("the ILP found no better plan that fits; this "
                            "is the ",
                            solver::MethodName(plan.method()),
                            " plan it started from"));
  }
  AppendLine(out, "solver",
             absl::StrFormat("%s: %d variables (%d integer), %d rows, "
                             "%d nonzeros",
                             stats.solver().empty() ? "?" : stats.solver(),
                             stats.variables(), stats.integer_variables(),
                             stats.rows(), stats.nonzeros()));
  AppendLine(
      out, "",
      absl::StrFormat("build %s, solve %s, %d branch-and-bound nodes",
                      FormatDuration(stats.build_seconds()),
                      FormatDuration(stats.solve_seconds()), stats.nodes()));
  if (stats.search_windows() > 0) {
    AppendLine(
        out, "",
        absl::StrFormat("window search: %d windows, %d improved the plan",
                        stats.search_windows(), stats.search_improvements()));
  }
  std::string bound = std::isfinite(stats.best_bound_us())
                          ? Ms(stats.best_bound_us())
                          : std::string("none");
  std::string gap = std::isfinite(stats.relative_gap())
                        ? absl::StrFormat("%.2f%%", 100 * stats.relative_gap())
                        : std::string("unknown");
  AppendLine(out, "",
             absl::StrFormat("objective %s, bound %s, gap %s",
                             Ms(stats.objective_us()), bound, gap));
}

void AppendLargestMoves(const v1::Plan& plan, int top, std::string* out) {
  if (top <= 0 || plan.moves_size() == 0) return;
  std::vector<int> order(plan.moves_size());
  for (int i = 0; i < plan.moves_size(); ++i) order[i] = i;
  // Bytes first (what fills the links), then time; ties keep plan order so
  // the table is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const v1::Move& x = plan.moves(a);
    const v1::Move& y = plan.moves(b);
    if (x.bytes_copied() != y.bytes_copied()) {
      return x.bytes_copied() > y.bytes_copied();
    }
    return x.time_us() > y.time_us();
  });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(top)));

  struct Row {
    std::string index, kernel, tensor, direction, bytes, time;
  };
  std::vector<Row> rows;
  rows.push_back({"at", "kernel", "tensor", "direction", "copied", "time"});
  for (int i : order) {
    const v1::Move& move = plan.moves(i);
    std::string direction = DirectionName(move.direction());
    if (!move.sync()) direction += " (async)";
    rows.push_back({absl::StrCat(move.kernel_index()), move.kernel_id(),
                    move.tensor_id(), direction,
                    FormatBytes(move.bytes_copied()),
                    absl::StrFormat("%.1f us", move.time_us())});
  }
  size_t w[6] = {0, 0, 0, 0, 0, 0};
  for (const Row& row : rows) {
    w[0] = std::max(w[0], row.index.size());
    w[1] = std::max(w[1], row.kernel.size());
    w[2] = std::max(w[2], row.tensor.size());
    w[3] = std::max(w[3], row.direction.size());
    w[4] = std::max(w[4], row.bytes.size());
    w[5] = std::max(w[5], row.time.size());
  }
  absl::StrAppendFormat(out, "\nlargest moves (%d of %d, by bytes copied):\n",
                        rows.size() - 1, plan.moves_size());
  for (const Row& row : rows) {
    // Numbers right-aligned, names left-aligned.
    absl::StrAppendFormat(out, "  %*s  %-*s  %-*s  %-*s  %*s  %*s\n", w[0],
                          row.index, w[1], row.kernel, w[2], row.tensor, w[3],
                          row.direction, w[4], row.bytes, w[5], row.time);
  }
}

// "3 (1.234 ms = 2.1%), re-making 12.00 MiB; 2 inputs kept slow (4.00 MiB)"
void AppendRecomputeLine(const v1::Plan& plan, const solver::GraphModel* graph,
                         std::string* out) {
  if (plan.recomputes_size() == 0) return;
  auto size_of = [graph](const std::string& tensor_id) -> uint64_t {
    if (graph == nullptr) return 0;
    const int index = graph->FindTensor(tensor_id);
    return index < 0 ? 0 : graph->tensor(index).size_bytes;
  };
  uint64_t remade_bytes = 0, kept_bytes = 0;
  int kept = 0;
  for (const v1::Recompute& step : plan.recomputes()) {
    solver::SaturatingAddTo(remade_bytes, size_of(step.tensor_id()));
  }
  for (const v1::TensorPlacement& placement : plan.tensors()) {
    if (placement.kept_slow_until_kernel() == 0) continue;
    ++kept;
    solver::SaturatingAddTo(kept_bytes, size_of(placement.tensor_id()));
  }
  std::string text = absl::StrFormat(
      "%d (%s = %s)", plan.recomputes_size(), Ms(plan.recompute_time_us()),
      Percent(plan.recompute_time_us(), plan.predicted_time_us()));
  if (graph != nullptr) {
    absl::StrAppend(&text, ", re-making ", FormatBytes(remade_bytes));
  }
  if (kept > 0) {
    absl::StrAppendFormat(&text, "; %d input%s kept slow", kept,
                          kept == 1 ? "" : "s");
    if (graph != nullptr) {
      absl::StrAppend(&text, " (", FormatBytes(kept_bytes), ")");
    }
  }
  AppendLine(out, "re-runs", text);
}

void AppendLargestRecomputes(const v1::Plan& plan, int top, std::string* out) {
  if (top <= 0 || plan.recomputes_size() == 0) return;
  std::vector<int> order(plan.recomputes_size());
  for (int i = 0; i < plan.recomputes_size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return plan.recomputes(a).time_us() > plan.recomputes(b).time_us();
  });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(top)));
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back(
      {"before", "kernel re-run", "tensor", "dropped after", "time"});
  for (int i : order) {
    const v1::Recompute& step = plan.recomputes(i);
    rows.push_back({absl::StrCat(step.before_kernel_index()), step.kernel_id(),
                    step.tensor_id(),
                    absl::StrCat(step.dropped_after_kernel_index()),
                    absl::StrFormat("%.1f us", step.time_us())});
  }
  std::array<size_t, 5> w{};
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c)
      w[c] = std::max(w[c], row[c].size());
  }
  absl::StrAppendFormat(out, "\nlargest re-runs (%d of %d, by time):\n",
                        rows.size() - 1, plan.recomputes_size());
  for (const auto& row : rows) {
    absl::StrAppendFormat(out, "  %*s  %-*s  %-*s  %*s  %*s\n", w[0], row[0],
                          w[1], row[1], w[2], row[2], w[3], row[3], w[4],
                          row[4]);
  }
}

}  // namespace

std::string FormatPlanReport(const v1::Plan& plan,
                             const solver::GraphModel* graph,
                             const PlanReportOptions& options) {
  std::string out;
  absl::StrAppendFormat(
      &out, "plan for %s: %s, %s\n",
      plan.graph_name().empty() ? "(unnamed graph)" : plan.graph_name(),
      solver::MethodName(plan.method()),
      solver::TerminationName(plan.stats().termination()));

  AppendLine(
      &out, "predicted iteration",
      absl::StrFormat("%s (kernels %s = %s, moves %s = %s)",
                      Ms(plan.predicted_time_us()), Ms(plan.kernel_time_us()),
                      Percent(plan.kernel_time_us(), plan.predicted_time_us()),
                      Ms(plan.move_time_us()),
                      Percent(plan.move_time_us(), plan.predicted_time_us())));

  std::string memory = absl::StrFormat(
      "peak %s of %s budget (%s)", FormatBytes(plan.peak_fast_bytes()),
      FormatBytes(plan.budget_bytes()),
      Percent(static_cast<double>(plan.peak_fast_bytes()),
              static_cast<double>(plan.budget_bytes())));
  if (graph != nullptr) {
    absl::StrAppend(&memory, "; all-fast needs ",
                    FormatBytes(graph->PeakLiveBytes()));
  }
  AppendLine(&out, "fast memory", memory);

  int fast = 0, slow = 0;
  uint64_t fast_bytes = 0, slow_bytes = 0;
  for (const v1::TensorPlacement& placement : plan.tensors()) {
    uint64_t size = 0;
    if (graph != nullptr) {
      const int index = graph->FindTensor(placement.tensor_id());
      if (index >= 0) size = graph->tensor(index).size_bytes;
    }
    if (placement.creation_tier() == v1::TIER_FAST) {
      ++fast;
      solver::SaturatingAddTo(fast_bytes, size);
    } else {
      ++slow;
      solver::SaturatingAddTo(slow_bytes, size);
    }
  }
  AppendLine(&out, "tensors at creation",
             graph != nullptr
                 ? absl::StrFormat("%d fast (%s), %d slow (%s)", fast,
                                   FormatBytes(fast_bytes), slow,
                                   FormatBytes(slow_bytes))
                 : absl::StrFormat("%d fast, %d slow", fast, slow));

  MoveTotals to_fast, to_slow;
  for (const v1::Move& move : plan.moves()) {
    MoveTotals& totals =
        move.direction() == v1::MOVE_DIRECTION_TO_SLOW ? to_slow : to_fast;
    ++totals.count;
    solver::SaturatingAddTo(totals.bytes, move.bytes_copied());
    totals.time_us += move.time_us();
    if (!move.sync()) ++totals.async;
    if (move.direction() == v1::MOVE_DIRECTION_TO_SLOW &&
        move.bytes_copied() == 0) {
      ++totals.free_drops;
    }
  }
  if (plan.moves_size() == 0) {
    AppendLine(&out, "moves", "none");
  } else {
    AppendLine(&out, absl::StrFormat("moves (%d)", plan.moves_size()),
               DescribeMoves(to_fast, /*to_slow=*/false));
    AppendLine(&out, "", DescribeMoves(to_slow, /*to_slow=*/true));
  }
  AppendRecomputeLine(plan, graph, &out);

  AppendSolverStats(plan, &out);
  AppendLargestMoves(plan, options.top_moves, &out);
  AppendLargestRecomputes(plan, options.top_recomputes, &out);
  return out;
}

std::string FormatVerifyReport(const solver::VerifyReport& report,
                               const v1::Plan& plan, uint64_t budget_bytes) {
  std::string out = absl::StrFormat(
      "verified: the %s plan for %s is consistent with the graph, the "
      "profile and a budget of %s\n",
      solver::MethodName(plan.method()),
      plan.graph_name().empty() ? "(unnamed graph)" : plan.graph_name(),
      FormatBytes(budget_bytes));
  AppendLine(
      &out, "recomputed iteration",
      absl::StrFormat("%s (kernels %s, moves %s)", Ms(report.predicted_time_us),
                      Ms(report.kernel_time_us), Ms(report.move_time_us)));
  AppendLine(&out, "peak fast memory",
             absl::StrFormat(
                 "%s of %s budget (%s)", FormatBytes(report.peak_fast_bytes),
                 FormatBytes(budget_bytes),
                 Percent(static_cast<double>(report.peak_fast_bytes),
                         static_cast<double>(budget_bytes))));
  return out;
}

}  // namespace autotm::client
