// Recomputation (FormulationOptions::recompute): which tensors may be
// dropped between two uses and re-made by re-running their producer, which
// inputs must then be kept in slow memory past their life, and the re-run
// columns' costs and exclusion rows. The drop and keep edges themselves are
// part of the flow graphs (formulation_flows.cc).

#include <algorithm>
#include <utility>
#include <vector>

#include "solver/formulation_internal.h"

namespace autotm::solver {

void FormulationBuilder::FindKeepableInputs() {
  keepable_.assign(graph_.num_tensors(), 0);
  if (!options_.recompute || !options_.keep_inputs_for_recompute) return;
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
    const std::vector<int>& users = graph_.tensor(t).users;
    for (size_t g = 0; g + 1 < users.size(); ++g) {
      if (!CanRecomputeIgnoringDeadInputs(t, users[g], users[g + 1])) {
        continue;
      }
      const KernelInfo& producer = graph_.kernel(graph_.tensor(t).producer);
      for (int p = 0; p < producer.num_inputs; ++p) {
        const int j = producer.operands[p];
        if (users[g + 1] > graph_.tensor(j).last_live &&
            out_.fixed_tier_[j] == v1::TIER_UNSPECIFIED) {
          keepable_[j] = 1;
        }
      }
    }
  }
}

bool FormulationBuilder::CanRecompute(int t, int after, int before) const {
  if (!options_.recompute) return false;
  if (!CanRecomputeIgnoringDeadInputs(t, after, before)) return false;
  const KernelInfo& producer = graph_.kernel(graph_.tensor(t).producer);
  for (int p = 0; p < producer.num_inputs; ++p) {
    const int j = producer.operands[p];
    if (before > graph_.tensor(j).last_live && !keepable_[j] &&
        out_.fixed_tier_[j] != v1::TIER_SLOW) {
      return false;
    }
  }
  return true;
}

bool FormulationBuilder::CanRecomputeIgnoringDeadInputs(int t, int after,
                                                        int before) const {
  if (before <= after + 1) return false;  // nothing in between to free
  const TensorInfo& tensor = graph_.tensor(t);
  if (tensor.producer < 0) return false;
  const KernelInfo& producer = graph_.kernel(tensor.producer);
  if (producer.num_outputs != 1) return false;
  const KernelCost& cost = *costs_[tensor.producer];
  if (!cost.separable()) return false;
  for (int p = 0; p < producer.num_inputs; ++p) {
    const int j = producer.operands[p];
    const TensorInfo& input = graph_.tensor(j);
    if (before < input.first_live) return false;
    if (before > input.last_live) {
      // Only readable if kept in slow memory past its life.
      if (!options_.keep_inputs_for_recompute || cost.OnlyFast(p) ||
          out_.fixed_tier_[j] == v1::TIER_FAST) {
        return false;
      }
      continue;
    }
    if (cost.OnlyFast(p) && out_.fixed_tier_[j] == v1::TIER_SLOW) {
      return false;
    }
  }
  return true;
}

void FormulationBuilder::AddRecomputeCosts() {
  IlpModel& m = out_.model_;
  std::vector<IlpModel::Term> terms;
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const Formulation::TensorFlow& flow = out_.flows_[t];
    for (size_t g = 0; g < flow.intervals.size(); ++g) {
      const int r = flow.intervals[g].recompute;
      if (r < 0) continue;
      const int u = flow.gadgets[flow.intervals[g].rerun_into];
      const int p = graph_.tensor(t).producer;
      const KernelInfo& producer = graph_.kernel(p);
      const KernelCost& cost = *costs_[p];
      m.objective[r] += cost.all_fast_time_us();
      // Summed penalty per distinct input tensor; OnlyFast inputs pinned.
      std::vector<std::pair<int, double>> penalties;
      for (int q = 0; q < producer.num_inputs; ++q) {
        const int j = producer.operands[q];
        auto it = std::find_if(penalties.begin(), penalties.end(),
                               [j](const auto& e) { return e.first == j; });
        if (it == penalties.end()) {
          penalties.emplace_back(j, 0.0);
          it = penalties.end() - 1;
        }
        if (cost.OnlyFast(q)) {
          if (out_.fixed_tier_[j] == v1::TIER_UNSPECIFIED) {
            // r <= D(j,u).
            terms = {{r, 1}};
            double constant = 0;
            AppendFast(j, u, -1, terms, &constant);
            m.AddRow(-kInfinity, 0, terms);
          }
          continue;
        }
        it->second += cost.slow_penalty_us()[q];
      }
      for (const auto& [j, penalty] : penalties) {
        if (u > graph_.tensor(j).last_live) {
          // Kept in slow memory past its life: r <= keep_j, slow penalty.
          m.objective[r] += std::max(0.0, penalty);
          const Formulation::TensorFlow& input = out_.flows_[j];
          if (out_.fixed_tier_[j] == v1::TIER_UNSPECIFIED) {
            terms = {{r, 1}};
            for (int column : {input.keep_f1, input.keep_f2, input.keep_s}) {
              if (column >= 0) terms.emplace_back(column, -1);
            }
            m.AddRow(-kInfinity, 0, terms);
          }
          continue;
        }
        if (out_.fixed_tier_[j] == v1::TIER_FAST || penalty <= 0) continue;
        if (out_.fixed_tier_[j] == v1::TIER_SLOW) {
          m.objective[r] += penalty;
          continue;
        }
        // s >= r - D(j,u): s - r + D(j,u) >= 0.
        const int slow = m.AddColumn(0, 1, penalty, /*integer=*/false);
        terms = {{slow, 1}, {r, -1}};
        double constant = 0;
        AppendFastAtRerun(j, u, 1, terms, &constant);
        m.AddRow(0, kInfinity, terms);
      }
      // An input dropped itself at u cannot be read: r + r_j <= 1.
      for (const auto& [j, penalty] : penalties) {
        const int other = DropSpanning(j, u);
        if (other < 0) continue;
        terms = {{r, 1}, {other, 1}};
        m.AddRow(-kInfinity, 1, terms);
      }
    }
  }
}

// ---- Per-variant helpers: where a drop may start, where its re-run lands,
// what the re-run sees.

int FormulationBuilder::NextUseGadget(const Formulation::TensorFlow& flow,
                                      int g) const {
  // SYNCHRONOUS gadgets are all uses; ASYNCHRONOUS ones in between are
  // points of overlapped copies, which a dropped tensor skips.
  if (flow.async[g]) return -1;
  for (int next = g + 1; next < static_cast<int>(flow.gadgets.size()); ++next) {
    if (!flow.async[next]) return next;
  }
  return -1;
}

int FormulationBuilder::DropSpanning(int j, int k) const {
  const Formulation::TensorFlow& input = out_.flows_[j];
  if (input.intervals.empty()) return -1;
  int g = static_cast<int>(
      std::upper_bound(input.gadgets.begin(), input.gadgets.end(), k) -
      input.gadgets.begin() - 1);
  if (g < 0) return -1;
  if (input.gadgets[g] == k) {
    if (!input.async[g]) return -1;  // a use: present there (or re-made)
    --g;
  }
  // The drop starts at a use: skip the asynchronous points after it.
  while (g >= 0 && input.async[g]) --g;
  if (g < 0) return -1;
  const Formulation::Interval& in = input.intervals[g];
  if (in.recompute < 0 || input.gadgets[in.rerun_into] <= k) return -1;
  return in.recompute;
}

void FormulationBuilder::AppendFastAtRerun(int t, int k, double scale,
                                           std::vector<IlpModel::Term>& terms,
                                           double* constant) const {
  const size_t first = terms.size();
  AppendFast(t, k, scale, terms, constant);
  if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) return;
  // An asynchronous read of t at k overlaps k itself: the copy lands after
  // a re-run made right before k, which therefore reads t's slow copy.
  const Formulation::TensorFlow& flow = out_.flows_[t];
  if (flow.reads.empty()) return;  // STATIC
  const auto at = std::lower_bound(flow.gadgets.begin(), flow.gadgets.end(), k);
  if (at == flow.gadgets.end() || *at != k) return;
  const int g = static_cast<int>(at - flow.gadgets.begin());
  if (!flow.async[g] || flow.reads[g] < 0) return;
  const int read = flow.reads[g];
  terms.erase(std::remove_if(terms.begin() + first, terms.end(),
                             [read](const IlpModel::Term& term) {
                               return term.first == read;
                             }),
              terms.end());
}

void FormulationBuilder::AddStaticDrops(int t) {
  if (!options_.recompute) return;
  Formulation::TensorFlow& flow = out_.flows_[t];
  const TensorInfo& tensor = graph_.tensor(t);
  const std::vector<int>& users = tensor.users;
  const int num_uses = static_cast<int>(users.size());
  std::vector<int> candidates;
  for (int g = 0; g + 1 < num_uses; ++g) {
    if (CanRecompute(t, users[g], users[g + 1])) candidates.push_back(g);
  }
  // Kept slow past its life (for re-runs reading it): only a slow tensor,
  // which stays where it is; a fast one would need a move.
  const bool keep = keepable_[t] && tensor.last_live == users.back();
  if (candidates.empty() && !keep) return;
  IlpModel& m = out_.model_;
  flow.gadgets = users;
  flow.async.assign(num_uses, 0);
  flow.intervals.assign(num_uses, {});
  flow.remade.assign(num_uses, -1);
  for (int g : candidates) {
    // Dropped between uses g and g + 1, re-made fast before g + 1: only a
    // fast tensor (dropping a slow one frees no fast memory), drop <= fast.
    Formulation::Interval& in = flow.intervals[g];
    in.f1_x = in.recompute = m.AddBinary(0);  // priced in AddRecomputeCosts
    in.rerun_into = g + 1;
    flow.remade[g + 1] = in.recompute;
    const std::vector<IlpModel::Term> row = {{in.recompute, 1},
                                             {flow.static_fast, -1}};
    m.AddRow(-kInfinity, 0, row);
  }
  if (keep) {
    flow.keep_s = m.AddBinary(0);
    const std::vector<IlpModel::Term> row = {{flow.keep_s, 1},
                                             {flow.static_fast, 1}};
    m.AddRow(-kInfinity, 1, row);
  }
}

}  // namespace autotm::solver
