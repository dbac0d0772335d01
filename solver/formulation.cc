#include "solver/formulation.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "solver/formulation_internal.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {}  // namespace

int Formulation::RerunColumn(const Interval& in,
                             const ScheduledRecompute& recompute) const {
  if (recompute.remade_inputs.empty()) return in.recompute;
  for (int column : in.remakes) {
    if (remade_chains_.at(column) == recompute.remade_inputs) return column;
  }
  return -1;
}

// The steps in model order (see solver/formulation_internal.h).
absl::Status FormulationBuilder::Build() {
  out_.graph_ = &graph_;
  out_.method_ = options_.method;
  ClassifyTensors();
  AUTOTM_RETURN_IF_ERROR(AnalyseKernels());
  if (CheckMustBeFast()) return absl::OkStatus();  // infeasible, no model
  FindKeepableInputs();
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    if (out_.fixed_tier_[t] == v1::TIER_UNSPECIFIED) AddTensorFlow(t);
  }
  AddRecomputeCosts();
  out_.config_columns_.assign(graph_.num_kernels(), {});
  out_.only_fast_positions_.assign(graph_.num_kernels(), {});
  for (int k = 0; k < graph_.num_kernels(); ++k) AddKernelCost(k);
  AddCapacityRows();
  return absl::OkStatus();
}

absl::StatusOr<Formulation> Formulation::Build(
    const GraphModel& graph, const ProfileModel& profile,
    const FormulationOptions& options) {
  if (options.method != v1::METHOD_STATIC &&
      options.method != v1::METHOD_SYNCHRONOUS &&
      options.method != v1::METHOD_ASYNCHRONOUS) {
    return absl::InvalidArgumentError(
        "the ILP formulation supports the static, synchronous and "
        "asynchronous methods");
  }
  if (options.async_window < 0) {
    return absl::InvalidArgumentError("async_window must be >= 0");
  }
  if (options.max_remade_inputs < 0 ||
      options.max_remade_inputs > kMaxRemadeInputs) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_remade_inputs is ", options.max_remade_inputs,
                     "; it must lie in [0, ", kMaxRemadeInputs, "]"));
  }
  if (static_cast<int>(options.kernel_limit_bytes.size()) !=
      graph.num_kernels()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kernel_limit_bytes has ", options.kernel_limit_bytes.size(),
        " entries for ", graph.num_kernels(), " kernels"));
  }
  Formulation formulation;
  FormulationBuilder builder(graph, profile, options, formulation);
  absl::Status status = builder.Build();
  if (!status.ok()) return status;
  if (formulation.infeasible_.has_value()) formulation.model_ = IlpModel();
  AUTOTM_RETURN_IF_ERROR(formulation.CheckCoefficients());
  return formulation;
}

absl::Status Formulation::CheckCoefficients() const {
  // A last line of defence: ProfileModel::Create and GraphModel::Create
  // bound every input number so that this never fires, but CBC must never
  // see a coefficient it cannot take (Clp asserts |objective| < 1e25 and
  // aborts the whole process), whatever path built the models.
  auto bad = [](double value) {
    return !(std::fabs(value) <= kMaxIlpCoefficient);
  };
  auto error = [&](absl::string_view what, double value, int column) {
    std::string where;
    if (column >= 0) {
      const std::vector<int> kernels = ColumnKernels();
      if (kernels[column] >= 0) {
        where = absl::StrCat(" (a variable of kernel '",
                             graph_->kernel(kernels[column]).id, "')");
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "the ILP has ", what, " ", value, where, ", beyond the ",
        kMaxIlpCoefficient,
        " the solver can take; the profile's times or bandwidths, or the "
        "graph's sizes, are out of range"));
  };
  const IlpModel& m = model_;
  if (bad(m.objective_offset)) {
    return error("an objective constant", m.objective_offset, -1);
  }
  for (int j = 0; j < m.num_columns(); ++j) {
    if (bad(m.objective[j]))
      return error("an objective cost", m.objective[j], j);
    // Bounds may be infinite (no bound), never NaN or finite and huge.
    for (double bound : {m.col_lower[j], m.col_upper[j]}) {
      if (!std::isinf(bound) && bad(bound)) {
        return error("a variable bound", bound, j);
      }
    }
  }
  for (int i = 0; i < m.num_rows(); ++i) {
    for (double bound : {m.row_lower[i], m.row_upper[i]}) {
      if (!std::isinf(bound) && bad(bound)) {
        return error("a constraint bound", bound, -1);
      }
    }
  }
  for (size_t e = 0; e < m.row_value.size(); ++e) {
    if (bad(m.row_value[e])) {
      return error("a constraint coefficient", m.row_value[e], m.row_column[e]);
    }
  }
  return absl::OkStatus();
}

std::vector<TensorSchedule> Formulation::Decode(
    const std::vector<double>& values) const {
  auto on = [&](int column) { return column >= 0 && values[column] > 0.5; };
  std::vector<TensorSchedule> schedule(graph_->num_tensors());
  for (int t = 0; t < graph_->num_tensors(); ++t) {
    TensorSchedule& out = schedule[t];
    if (fixed_tier_[t] != v1::TIER_UNSPECIFIED) {
      out.creation_tier = fixed_tier_[t];
      continue;
    }
    const TensorFlow& flow = flows_[t];
    if (flow.static_fast >= 0) {
      out.creation_tier = on(flow.static_fast) ? v1::TIER_FAST : v1::TIER_SLOW;
      for (const Interval& in : flow.intervals) {
        if (on(in.recompute)) {
          out.recomputes.push_back({flow.gadgets[&in - flow.intervals.data()],
                                    flow.gadgets[in.rerun_into]});
        }
      }
      out.kept_slow = on(flow.keep_s);
      continue;
    }
    enum class State {
      kF1,
      kF2,
      kS,
      kDropped
    } state = on(flow.source_f1) ? State::kF1 : State::kS;
    out.creation_tier = state == State::kF1 ? v1::TIER_FAST : v1::TIER_SLOW;
    int dropped_after = -1;
    int dropped_in = -1;  // the interval of the current drop
    for (size_t g = 0; g < flow.gadgets.size(); ++g) {
      const int kernel = flow.gadgets[g];
      const bool sync = !flow.async[g];
      if (state == State::kDropped) {
        // Flow conservation leaves X only by a re-run into F1 at the next
        // use; asynchronous points in between see no flow.
        const Interval& dropped = flow.intervals[dropped_in];
        if (dropped.rerun_into != static_cast<int>(g)) continue;
        ScheduledRecompute& recompute = out.recomputes.emplace_back();
        recompute.dropped_after = dropped_after;
        recompute.before = kernel;
        for (int column : dropped.remakes) {
          if (on(column)) recompute.remade_inputs = remade_chains_.at(column);
        }
        state = State::kF1;
      }
      if (state == State::kS && on(flow.reads[g])) {
        out.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_FAST, sync});
        state = State::kF2;
      }
      const Interval& in = flow.intervals[g];
      if (g + 1 == flow.gadgets.size() &&
          (on(flow.keep_f1) || on(flow.keep_f2) || on(flow.keep_s))) {
        // Kept in slow memory past its life: it ends slow.
        if (state == State::kF1 || state == State::kF2) {
          out.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_SLOW, sync});
        }
        out.kept_slow = true;
        continue;
      }
      if ((state == State::kF1 && on(in.f1_x)) ||
          (state == State::kF2 && on(in.f2_x)) ||
          (state == State::kS && on(in.s_x))) {
        state = State::kDropped;
        dropped_after = kernel;
        dropped_in = static_cast<int>(g);
      } else if (state == State::kF1 && on(in.f1_s)) {
        out.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_SLOW, sync});
        state = State::kS;
      } else if (state == State::kF2 && on(in.f2_s)) {
        out.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_SLOW, sync});
        state = State::kS;
      }
    }
  }
  return schedule;
}

absl::Status Formulation::EncodeKernelChoices(
    const std::vector<std::vector<v1::Tier>>& tiers,
    std::vector<double>& values) const {
  for (int k = 0; k < graph_->num_kernels(); ++k) {
    if (config_columns_[k].empty() && only_fast_positions_[k].empty()) {
      continue;
    }
    const KernelInfo& kernel = graph_->kernel(k);
    auto slow_at = [&](int p) {
      const int t = kernel.operands[p];
      return tiers[t][k - graph_->tensor(t).first_live] == v1::TIER_SLOW;
    };
    auto cannot_choose = [&]() {
      std::vector<bool> slow(kernel.operands.size());
      for (size_t p = 0; p < slow.size(); ++p) slow[p] = slow_at(p);
      return absl::InvalidArgumentError(absl::StrCat(
          "kernel #", k, " '", kernel.id, "' would run in configuration ",
          FormatConfig(slow, kernel.num_inputs), ", which it cannot choose"));
    };
    // A collapsed table's OnlyFast operands (pinned fast by a row).
    for (int p : only_fast_positions_[k]) {
      if (slow_at(p)) return cannot_choose();
    }
    if (config_columns_[k].empty()) continue;
    ConfigMask mask = 0;
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      if (slow_at(static_cast<int>(p))) mask |= ConfigMask{1} << p;
    }
    bool found = false;
    for (const auto& [option, column] : config_columns_[k]) {
      if (option == mask) {
        values[column] = 1;
        found = true;
      }
    }
    if (!found) return cannot_choose();
  }
  return absl::OkStatus();
}

absl::Status Formulation::EncodeTensorFlow(int t, const TensorSchedule& entry,
                                           std::vector<double>& values) const {
  auto set = [&](int column) {
    if (column >= 0) values[column] = 1;
  };
  const TensorFlow& flow = flows_[t];
  if (flow.static_fast >= 0) return EncodeStaticTensor(t, entry, values);
  // Walk the flow graph along the schedule's moves, which must all sit at
  // decision points.
  enum class State {
    kF1,
    kF2,
    kS,
    kDropped
  } state = entry.creation_tier == v1::TIER_FAST ? State::kF1 : State::kS;
  set(state == State::kF1 ? flow.source_f1 : flow.source_s);
  size_t next = 0;
  size_t next_recompute = 0;
  int dropped_in = -1;  // the interval of the current drop
  for (size_t g = 0; g < flow.gadgets.size(); ++g) {
    const int kernel = flow.gadgets[g];
    if (state == State::kDropped) {
      // The drop's interval has a re-run into its next use's F1; the
      // asynchronous points before it see no flow.
      if (flow.intervals[dropped_in].rerun_into != static_cast<int>(g)) {
        continue;
      }
      set(RerunColumn(flow.intervals[dropped_in],
                      entry.recomputes[next_recompute - 1]));
      state = State::kF1;
    }
    if (next < entry.moves.size() && entry.moves[next].kernel < kernel) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", graph_->tensor(t).id, "' moves at kernel #",
          entry.moves[next].kernel, ", which is no decision point"));
    }
    bool to_fast = false, to_slow = false;
    for (; next < entry.moves.size() && entry.moves[next].kernel == kernel;
         ++next) {
      (entry.moves[next].direction == v1::MOVE_DIRECTION_TO_FAST ? to_fast
                                                                 : to_slow) =
          true;
    }
    if (to_fast && state == State::kS) {
      if (flow.reads[g] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", graph_->tensor(t).id,
                         "' cannot move to fast at its "
                         "creation"));
      }
      set(flow.reads[g]);
      state = State::kF2;
    }
    const Interval& in = flow.intervals[g];
    if (g + 1 == flow.gadgets.size() && entry.kept_slow) {
      const int keep = state == State::kF1   ? flow.keep_f1
                       : state == State::kF2 ? flow.keep_f2
                                             : flow.keep_s;
      if (keep < 0 || (state != State::kS && !to_slow) ||
          next_recompute < entry.recomputes.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", graph_->tensor(t).id,
                         "' is kept in slow memory past its life where this "
                         "formulation cannot keep it"));
      }
      set(keep);
      continue;
    }
    if (next_recompute < entry.recomputes.size() &&
        entry.recomputes[next_recompute].dropped_after <= kernel) {
      const ScheduledRecompute& recompute = entry.recomputes[next_recompute];
      if (recompute.dropped_after != kernel || RerunColumn(in, recompute) < 0 ||
          flow.gadgets[in.rerun_into] != recompute.before || to_slow) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", graph_->tensor(t).id,
            "' is recomputed (dropped after kernel #", recompute.dropped_after,
            ", re-made for kernel #", recompute.before,
            ") where this formulation has no "
            "recomputation"));
      }
      set(state == State::kF1   ? in.f1_x
          : state == State::kF2 ? in.f2_x
                                : in.s_x);
      state = State::kDropped;
      dropped_in = static_cast<int>(g);
      ++next_recompute;
      continue;
    }
    if (to_slow && state == State::kF1 && in.f1_s >= 0) {
      set(in.f1_s);
      state = State::kS;
    } else if (to_slow && state == State::kF2 && in.f2_s >= 0) {
      set(in.f2_s);
      state = State::kS;
    } else {
      set(state == State::kF1   ? in.f1_f1
          : state == State::kF2 ? in.f2_f2
                                : in.s_s);
    }
  }
  if (next < entry.moves.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", graph_->tensor(t).id,
                     "' moves after its last decision "
                     "point"));
  }
  if (next_recompute < entry.recomputes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", graph_->tensor(t).id,
                     "' is recomputed where this formulation has no "
                     "recomputation"));
  }
  return absl::OkStatus();
}

absl::Status Formulation::EncodeStaticTensor(
    int t, const TensorSchedule& entry, std::vector<double>& values) const {
  const TensorFlow& flow = flows_[t];
  const std::string& id = graph_->tensor(t).id;
  if (!entry.moves.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", id, "' moves in a static plan"));
  }
  if (entry.creation_tier == v1::TIER_FAST) values[flow.static_fast] = 1;
  for (const ScheduledRecompute& recompute : entry.recomputes) {
    const auto at = std::find(flow.gadgets.begin(), flow.gadgets.end(),
                              recompute.dropped_after);
    const Interval* in = at == flow.gadgets.end() || flow.intervals.empty()
                             ? nullptr
                             : &flow.intervals[at - flow.gadgets.begin()];
    if (in == nullptr || RerunColumn(*in, recompute) < 0 ||
        flow.gadgets[in->rerun_into] != recompute.before ||
        entry.creation_tier != v1::TIER_FAST) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", id, "' is recomputed (dropped after kernel #",
          recompute.dropped_after, ", re-made for kernel #", recompute.before,
          ") where this formulation has no recomputation"));
    }
    values[in->recompute] = 1;
  }
  if (entry.kept_slow) {
    if (flow.keep_s < 0 || entry.creation_tier != v1::TIER_SLOW) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", id,
                       "' is kept in slow memory past its life where this "
                       "formulation cannot keep it"));
    }
    values[flow.keep_s] = 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> Formulation::Encode(
    const std::vector<TensorSchedule>& schedule) const {
  if (static_cast<int>(schedule.size()) != graph_->num_tensors()) {
    return absl::InvalidArgumentError("schedule size differs from the graph");
  }
  std::vector<double> values(model_.num_columns(), 0.0);
  const std::vector<std::vector<v1::Tier>> tiers =
      TiersOverTime(*graph_, schedule);
  for (int t = 0; t < graph_->num_tensors(); ++t) {
    if (fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
    if (absl::Status status = EncodeTensorFlow(t, schedule[t], values);
        !status.ok()) {
      return status;
    }
  }
  if (absl::Status status = EncodeKernelChoices(tiers, values); !status.ok()) {
    return status;
  }
  return values;
}

std::vector<int> Formulation::ColumnKernels() const {
  std::vector<int> kernel(model_.num_columns(), -1);
  auto set = [&](int column, int k) {
    if (column >= 0) kernel[column] = k;
  };
  for (const TensorFlow& flow : flows_) {
    if (flow.gadgets.empty()) continue;  // fixed tensor: no columns
    set(flow.static_fast, flow.gadgets[0]);
    set(flow.source_f1, flow.gadgets[0]);
    set(flow.source_s, flow.gadgets[0]);
    for (int column : {flow.keep_f1, flow.keep_f2, flow.keep_s}) {
      set(column, flow.gadgets.back());
    }
    for (size_t g = 0; g < flow.gadgets.size(); ++g) {
      const int k = flow.gadgets[g];
      if (g < flow.reads.size()) set(flow.reads[g], k);
      if (g < flow.intervals.size()) {
        const Interval& in = flow.intervals[g];
        for (int column : {in.f1_f1, in.f1_s, in.f2_f2, in.f2_s, in.s_s,
                           in.f1_x, in.f2_x, in.s_x, in.recompute}) {
          set(column, k);
        }
        for (int column : in.remakes) set(column, k);
      }
    }
  }
  for (size_t k = 0; k < config_columns_.size(); ++k) {
    for (const auto& [mask, column] : config_columns_[k]) {
      set(column, static_cast<int>(k));
    }
  }
  return kernel;
}

std::vector<Formulation::ColumnRole> Formulation::ColumnRoles() const {
  std::vector<ColumnRole> roles(model_.num_columns());
  for (size_t t = 0; t < flows_.size(); ++t) {
    const TensorFlow& flow = flows_[t];
    auto set = [&](int column, int gadget, ColumnRole::Kind kind) {
      if (column < 0) return;
      ColumnRole& role = roles[column];
      role.tensor = static_cast<int>(t);
      role.kernel = flow.gadgets[gadget];
      role.gadget = gadget;
      role.kind = kind;
      role.async = gadget < static_cast<int>(flow.async.size()) &&
                   flow.async[gadget] != 0;
    };
    if (flow.gadgets.empty()) continue;  // fixed tensor: no columns
    set(flow.static_fast, 0, ColumnRole::kStaticFast);
    set(flow.source_f1, 0, ColumnRole::kSourceFast);
    set(flow.source_s, 0, ColumnRole::kSourceSlow);
    for (size_t g = 0; g < flow.gadgets.size(); ++g) {
      const int gadget = static_cast<int>(g);
      if (g < flow.reads.size()) set(flow.reads[g], gadget, ColumnRole::kRead);
      if (g < flow.intervals.size()) {
        const Interval& in = flow.intervals[g];
        set(in.f1_f1, gadget, ColumnRole::kFastFast);
        set(in.f1_s, gadget, ColumnRole::kFastSlow);
        set(in.f2_f2, gadget, ColumnRole::kCleanFast);
        set(in.f2_s, gadget, ColumnRole::kCleanSlow);
        set(in.s_s, gadget, ColumnRole::kSlowSlow);
      }
    }
  }
  for (size_t k = 0; k < config_columns_.size(); ++k) {
    for (const auto& [mask, column] : config_columns_[k]) {
      ColumnRole& role = roles[column];
      role.kernel = static_cast<int>(k);
      role.kind = ColumnRole::kConfiguration;
      role.mask = mask;
    }
  }
  return roles;
}

}  // namespace autotm::solver
