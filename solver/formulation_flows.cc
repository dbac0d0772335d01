// Per free tensor, the lifetime flow graph of solver/formulation.h: its
// decision points (gadgets), the edge columns with their copy costs, the
// flow conservation rows (including the recomputation edges' dropped state
// and keep edges, whose candidates formulation_recompute.cc decides), and
// AppendFast, the edge sum that stands for D(t,k) in every other row.

#include <algorithm>
#include <vector>

#include "solver/formulation_internal.h"

namespace autotm::solver {

std::vector<int> FormulationBuilder::Gadgets(int t,
                                             std::vector<char>* async) const {
  const TensorInfo& tensor = graph_.tensor(t);
  if (options_.method != v1::METHOD_ASYNCHRONOUS) {
    async->assign(tensor.users.size(), 0);
    return tensor.users;
  }
  std::vector<int> gadgets;
  async->clear();
  const int window = options_.async_window;
  const uint64_t bytes = tensor.size_bytes;
  const double async_extra_us =
      std::min(profile_.AsyncToFastUs(bytes) - profile_.SyncToFastUs(bytes),
               profile_.AsyncToSlowUs(bytes) - profile_.SyncToSlowUs(bytes));
  size_t next_user = 0;
  for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
    while (next_user < tensor.users.size() && tensor.users[next_user] < k) {
      ++next_user;
    }
    const bool is_user =
        next_user < tensor.users.size() && tensor.users[next_user] == k;
    bool near = is_user;
    if (!near && next_user < tensor.users.size()) {
      near = tensor.users[next_user] - k <= window;
    }
    if (!near && next_user > 0) {
      near = k - tensor.users[next_user - 1] <= window;
    }
    if (!near) continue;
    if (!is_user && max_time_us_[k] <= async_extra_us) continue;
    gadgets.push_back(k);
    async->push_back(is_user ? 0 : 1);
  }
  return gadgets;
}

void FormulationBuilder::AddTensorFlow(int t) {
  Formulation::TensorFlow& flow = out_.flows_[t];
  const TensorInfo& tensor = graph_.tensor(t);
  IlpModel& m = out_.model_;
  if (IsStatic()) {
    flow.gadgets = {tensor.first_live};
    flow.static_fast = m.AddBinary(0);
    AddStaticDrops(t);  // recomputation, formulation_recompute.cc
    return;
  }
  flow.gadgets = Gadgets(t, &flow.async);
  const int num_gadgets = static_cast<int>(flow.gadgets.size());
  flow.source_f1 = m.AddBinary(0);
  flow.source_s = m.AddBinary(0);
  flow.reads.assign(num_gadgets, -1);
  flow.intervals.assign(num_gadgets, {});
  flow.remade_from.assign(num_gadgets, -1);
  // A synchronous copy costs its time in the objective; an asynchronous
  // one overlaps with the gadget's kernel and is charged through z[k].
  auto copy_column = [&](int g, double sync_us, double async_us) {
    if (!flow.async[g]) return m.AddBinary(sync_us);
    const int column = m.AddBinary(0);
    async_copies_[flow.gadgets[g]].emplace_back(column, async_us);
    return column;
  };
  for (int g = 1; g < num_gadgets; ++g) {
    flow.reads[g] = copy_column(g, profile_.SyncToFastUs(tensor.size_bytes),
                                profile_.AsyncToFastUs(tensor.size_bytes));
  }
  for (int g = 0; g < num_gadgets; ++g) {
    Formulation::Interval& in = flow.intervals[g];
    const bool last = g + 1 == num_gadgets;
    // After the last gadget the tensor is dead unless it stays live to the
    // end of the iteration (an updated weight); only then can moves there
    // change anything.
    const bool trailing = !last || tensor.last_live > flow.gadgets[g];
    in.f1_f1 = m.AddBinary(0);
    in.s_s = m.AddBinary(0);
    if (trailing) {
      in.f1_s = copy_column(g, profile_.SyncToSlowUs(tensor.size_bytes),
                            profile_.AsyncToSlowUs(tensor.size_bytes));
    }
    if (g >= 1) {
      in.f2_f2 = m.AddBinary(0);
      if (trailing) in.f2_s = m.AddBinary(0);
    }
    const int next_use = NextUseGadget(flow, g);
    const bool rerun = next_use >= 0 &&
                       CanRecompute(t, flow.gadgets[g], flow.gadgets[next_use]);
    const std::vector<std::vector<int>> chains =
        next_use >= 0 ? RemakeChains(t, flow.gadgets[g], flow.gadgets[next_use],
                                     /*assume_keepable=*/false)
                      : std::vector<std::vector<int>>();
    if (rerun || !chains.empty()) {
      in.f1_x = m.AddBinary(0);
      if (g >= 1) in.f2_x = m.AddBinary(0);
      in.s_x = m.AddBinary(0);
      // Priced in AddRecomputeCosts.
      if (rerun) in.recompute = m.AddBinary(0);
      for (const std::vector<int>& chain : chains) {
        in.remakes.push_back(m.AddBinary(0));
        out_.remade_chains_[in.remakes.back()] = chain;
      }
      in.rerun_into = next_use;
      flow.remade_from[next_use] = g;
    }
    // Kept in slow memory past its life for re-runs that read it: ends
    // slow, written there first when it has no slow copy.
    if (last && !trailing && keepable_[t]) {
      flow.keep_f1 = m.AddBinary(profile_.SyncToSlowUs(tensor.size_bytes));
      if (g >= 1) flow.keep_f2 = m.AddBinary(0);
      flow.keep_s = m.AddBinary(0);
    }
  }
  AddFlowConservationRows(flow);
}

void FormulationBuilder::AddFlowConservationRows(
    const Formulation::TensorFlow& flow) {
  IlpModel& m = out_.model_;
  const int num_gadgets = static_cast<int>(flow.gadgets.size());
  std::vector<IlpModel::Term> terms;
  auto row_equal = [&](double rhs) {
    m.AddRow(rhs, rhs, terms);
    terms.clear();
  };
  auto add = [&](int column, double coefficient) {
    if (column >= 0) terms.emplace_back(column, coefficient);
  };
  add(flow.source_f1, 1);
  add(flow.source_s, 1);
  row_equal(1);
  for (int g = 0; g < num_gadgets; ++g) {
    const Formulation::Interval& out = flow.intervals[g];
    // F1(g): in = out.
    add(g == 0 ? flow.source_f1 : flow.intervals[g - 1].f1_f1, 1);
    if (const int from = flow.remade_from[g]; from >= 0) {
      add(flow.intervals[from].recompute, 1);
      for (int column : flow.intervals[from].remakes) add(column, 1);
    }
    add(out.f1_f1, -1);
    add(out.f1_s, -1);
    add(out.f1_x, -1);
    if (g + 1 == num_gadgets) add(flow.keep_f1, -1);
    row_equal(0);
    // F2(g), g >= 1.
    if (g >= 1) {
      add(flow.intervals[g - 1].f2_f2, 1);
      add(flow.reads[g], 1);
      add(out.f2_f2, -1);
      add(out.f2_s, -1);
      add(out.f2_x, -1);
      if (g + 1 == num_gadgets) add(flow.keep_f2, -1);
      row_equal(0);
    }
    // S(g).
    if (g == 0) {
      add(flow.source_s, 1);
    } else {
      const Formulation::Interval& prev = flow.intervals[g - 1];
      add(prev.s_s, 1);
      add(prev.f1_s, 1);
      add(prev.f2_s, 1);
      add(flow.reads[g], -1);
    }
    add(out.s_s, -1);
    add(out.s_x, -1);
    if (g + 1 == num_gadgets) add(flow.keep_s, -1);
    row_equal(0);
    // X (dropped) in the interval after g: left only by the re-run.
    if (out.f1_x >= 0) {
      add(out.f1_x, 1);
      add(out.f2_x, 1);
      add(out.s_x, 1);
      add(out.recompute, -1);
      for (int column : out.remakes) add(column, -1);
      row_equal(0);
    }
  }
}

void FormulationBuilder::AppendFast(int t, int k, double scale,
                                    std::vector<IlpModel::Term>& terms,
                                    double* constant) const {
  const v1::Tier fixed = out_.fixed_tier_[t];
  if (fixed != v1::TIER_UNSPECIFIED) {
    if (fixed == v1::TIER_FAST) *constant += scale;
    return;
  }
  const Formulation::TensorFlow& flow = out_.flows_[t];
  // Latest gadget at or before k.
  const int g = static_cast<int>(
      std::upper_bound(flow.gadgets.begin(), flow.gadgets.end(), k) -
      flow.gadgets.begin() - 1);
  if (flow.static_fast >= 0) {
    terms.emplace_back(flow.static_fast, scale);
    // Fast, but dropped between two uses: static_fast - drop.
    if (!flow.intervals.empty() && flow.gadgets[g] != k &&
        flow.intervals[g].f1_x >= 0) {
      terms.emplace_back(flow.intervals[g].f1_x, -scale);
    }
    return;
  }
  auto add = [&](int column) {
    if (column >= 0) terms.emplace_back(column, scale);
  };
  if (flow.gadgets[g] == k) {
    if (g == 0) {
      add(flow.source_f1);
    } else {
      add(flow.intervals[g - 1].f1_f1);
      add(flow.intervals[g - 1].f2_f2);
      add(flow.reads[g]);
      if (const int from = flow.remade_from[g]; from >= 0) {
        add(flow.intervals[from].recompute);
        for (int column : flow.intervals[from].remakes) add(column);
      }
    }
  } else {
    add(flow.intervals[g].f1_f1);
    add(flow.intervals[g].f2_f2);
  }
}

}  // namespace autotm::solver
