// Recomputation (FormulationOptions::recompute): which tensors may be
// dropped between two uses and re-made by re-running their producer, which
// inputs must then be kept in slow memory past their life, and the re-run
// columns' costs and exclusion rows. The drop and keep edges themselves are
// part of the flow graphs (formulation_flows.cc).

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "absl/types/span.h"
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
    // Every producer of a re-run chain may read kept inputs too.
    for (size_t g = 0; g + 1 < users.size(); ++g) {
      const int before = users[g + 1];
      for (const std::vector<int>& chain :
           RemakeChains(t, users[g], before, /*assume_keepable=*/true)) {
        std::vector<int> kernels = {graph_.tensor(t).producer};
        for (int j : chain) kernels.push_back(graph_.tensor(j).producer);
        for (int kernel : kernels) {
          const KernelInfo& info = graph_.kernel(kernel);
          for (int p = 0; p < info.num_inputs; ++p) {
            const int j = info.operands[p];
            if (before > graph_.tensor(j).last_live &&
                out_.fixed_tier_[j] == v1::TIER_UNSPECIFIED &&
                std::find(chain.begin(), chain.end(), j) == chain.end()) {
              keepable_[j] = 1;
            }
          }
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
  // Only the step's own tensors are re-made: an updated weight or optimizer
  // state outlives the iteration (PyTorch's batch norm returns its running
  // statistics as outputs beside the activation).
  if (tensor.producer < 0 || tensor.role != v1::TENSOR_ROLE_ACTIVATION) {
    return false;
  }
  const KernelInfo& producer = graph_.kernel(tensor.producer);
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
    if (!CanReadLiveInput(tensor.producer, p, before)) return false;
  }
  return true;
}

bool FormulationBuilder::CanReadLiveInput(int kernel, int p, int before) const {
  const int j = graph_.kernel(kernel).operands[p];
  const TensorInfo& input = graph_.tensor(j);
  if (before < input.first_live || before > input.last_live) return false;
  return !(costs_[kernel]->OnlyFast(p) && out_.fixed_tier_[j] == v1::TIER_SLOW);
}

std::vector<std::vector<int>> FormulationBuilder::RemakeChains(
    int t, int after, int before, bool assume_keepable) const {
  // SYNCHRONOUS only: STATIC has one drop column per interval (f1_x =
  // recompute), and in ASYNCHRONOUS the remade inputs' producers would read
  // inputs that overlapped reads land on during the re-run, which neither
  // the brute-force tests nor the executor cover yet (docs/FORMULATION.md).
  std::vector<std::vector<int>> chains;
  if (!options_.recompute || options_.max_remade_inputs <= 0 ||
      options_.method != v1::METHOD_SYNCHRONOUS || before <= after + 1) {
    return chains;
  }
  const TensorInfo& tensor = graph_.tensor(t);
  if (tensor.producer < 0 || tensor.role != v1::TENSOR_ROLE_ACTIVATION ||
      !costs_[tensor.producer]->separable()) {
    return chains;
  }
  // Depth first from t's producer: made[0] is one of its inputs, made[k + 1]
  // an input of made[k]'s producer.
  std::vector<int> made;
  std::function<void(int)> extend = [&](int kernel) {
    if (static_cast<int>(made.size()) >= options_.max_remade_inputs) return;
    // t's producer makes again only an input whose life has ended (the
    // two-level re-run); deeper kernels also one the plan may drop there.
    const std::vector<int> candidates =
        RemakeCandidates(kernel, before, /*dead_only=*/made.empty());
    if (candidates.size() > kMaxRemakeCandidates) return;
    for (int j : candidates) {
      const TensorInfo& input = graph_.tensor(j);
      if (input.producer < 0 || input.role != v1::TENSOR_ROLE_ACTIVATION ||
          !costs_[input.producer]->separable()) {
        continue;
      }
      made.push_back(j);
      std::vector<int> chain(made.rbegin(), made.rend());  // re-run order
      if (ChainReadsInputs(t, chain, before, assume_keepable)) {
        chains.push_back(std::move(chain));
      }
      extend(input.producer);
      made.pop_back();
    }
  };
  extend(tensor.producer);
  return chains;
}

std::vector<int> FormulationBuilder::RemakeCandidates(int kernel, int before,
                                                      bool dead_only) const {
  const KernelInfo& info = graph_.kernel(kernel);
  std::vector<int> candidates;
  for (int p = 0; p < info.num_inputs; ++p) {
    const int j = info.operands[p];
    if (std::find(candidates.begin(), candidates.end(), j) !=
        candidates.end()) {
      continue;
    }
    if (before > graph_.tensor(j).last_live ||
        (!dead_only && MayBeDroppedAt(j, before))) {
      candidates.push_back(j);
    }
  }
  return candidates;
}

bool FormulationBuilder::MayBeDroppedAt(int j, int k) const {
  const TensorInfo& tensor = graph_.tensor(j);
  if (out_.fixed_tier_[j] != v1::TIER_UNSPECIFIED || tensor.producer < 0 ||
      tensor.role != v1::TENSOR_ROLE_ACTIVATION) {
    return false;
  }
  const std::vector<int>& users = tensor.users;
  const auto next = std::upper_bound(users.begin(), users.end(), k);
  // Strictly between two consecutive uses.
  return next != users.begin() && next != users.end() && *(next - 1) != k;
}

bool FormulationBuilder::ChainReadsInputs(int t, const std::vector<int>& chain,
                                          int before,
                                          bool assume_keepable) const {
  if (!ReadsInputsAt(graph_.tensor(t).producer, before, assume_keepable,
                     chain)) {
    return false;
  }
  for (size_t e = 0; e < chain.size(); ++e) {
    if (!ReadsInputsAt(graph_.tensor(chain[e]).producer, before,
                       assume_keepable, absl::MakeConstSpan(chain.data(), e))) {
      return false;
    }
  }
  return true;
}

bool FormulationBuilder::ReadsInputsAt(int kernel, int before,
                                       bool assume_keepable,
                                       absl::Span<const int> made) const {
  const KernelInfo& info = graph_.kernel(kernel);
  const KernelCost& cost = *costs_[kernel];
  for (int p = 0; p < info.num_inputs; ++p) {
    const int j = info.operands[p];
    if (std::find(made.begin(), made.end(), j) != made.end()) continue;
    if (before <= graph_.tensor(j).last_live) {
      if (!CanReadLiveInput(kernel, p, before)) return false;
      continue;
    }
    // Dead there: readable only if kept in slow memory past its life.
    const v1::Tier fixed = out_.fixed_tier_[j];
    if (!options_.keep_inputs_for_recompute || cost.OnlyFast(p) ||
        fixed == v1::TIER_FAST ||
        !(assume_keepable || keepable_[j] || fixed == v1::TIER_SLOW)) {
      return false;
    }
  }
  return true;
}

uint64_t FormulationBuilder::OutputFootprint(int kernel, int except) const {
  const KernelInfo& info = graph_.kernel(kernel);
  uint64_t bytes = 0;
  for (size_t p = info.num_inputs; p < info.operands.size(); ++p) {
    if (info.operands[p] != except) bytes += Footprint(info.operands[p]);
  }
  return bytes;
}

void FormulationBuilder::AddRecomputeCosts() {
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const Formulation::TensorFlow& flow = out_.flows_[t];
    const int p = graph_.tensor(t).producer;
    for (size_t g = 0; g < flow.intervals.size(); ++g) {
      const Formulation::Interval& in = flow.intervals[g];
      if (in.recompute < 0 && in.remakes.empty()) continue;
      // Re-runs leave X into F1 at the next use.
      const int u = flow.gadgets[in.rerun_into];
      if (in.recompute >= 0) {
        PriceRerun(in.recompute, p, u, {});
        if (const uint64_t bytes = OutputFootprint(p, t); bytes > 0) {
          rerun_scratch_[u].emplace_back(in.recompute, bytes);
        }
      }
      for (int column : in.remakes) {
        // Each producer of the chain reads the entries re-run before it
        // fast, from scratch; all of them are scratch.
        const std::vector<int>& chain = out_.remade_chains_.at(column);
        PriceRerun(column, p, u, chain);
        uint64_t scratch = OutputFootprint(p, t);
        for (size_t e = 0; e < chain.size(); ++e) {
          const int remade_by = graph_.tensor(chain[e]).producer;
          PriceRerun(column, remade_by, u,
                     absl::MakeConstSpan(chain.data(), e));
          scratch += OutputFootprint(remade_by, -1);
        }
        rerun_scratch_[u].emplace_back(column, scratch);
      }
    }
  }
}

void FormulationBuilder::PriceRerun(int r, int kernel, int u,
                                    absl::Span<const int> made) {
  IlpModel& m = out_.model_;
  std::vector<IlpModel::Term> terms;
  const KernelInfo& producer = graph_.kernel(kernel);
  const KernelCost& cost = *costs_[kernel];
  m.objective[r] += cost.all_fast_time_us();
  // Summed penalty per distinct input tensor; OnlyFast inputs pinned.
  std::vector<std::pair<int, double>> penalties;
  for (int q = 0; q < producer.num_inputs; ++q) {
    const int j = producer.operands[q];
    if (std::find(made.begin(), made.end(), j) != made.end()) {
      continue;  // made again in scratch, fast
    }
    auto it = std::find_if(penalties.begin(), penalties.end(),
                           [j](const auto& e) { return e.first == j; });
    if (it == penalties.end()) {
      penalties.emplace_back(j, 0.0);
      it = penalties.end() - 1;
    }
    if (cost.OnlyFast(q)) {
      if (out_.fixed_tier_[j] == v1::TIER_UNSPECIFIED) {
        // r <= D(j,u), as the re-run sees it.
        terms = {{r, 1}};
        double constant = 0;
        AppendFastAtRerun(j, u, -1, terms, &constant);
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
  // An input dropped itself at u cannot be read: r + (j's re-runs) <= 1.
  for (const auto& [j, penalty] : penalties) {
    const Formulation::Interval* dropped = DropSpanning(j, u);
    if (dropped == nullptr) continue;
    terms = {{r, 1}};
    if (dropped->recompute >= 0) terms.emplace_back(dropped->recompute, 1);
    for (int other : dropped->remakes) terms.emplace_back(other, 1);
    m.AddRow(-kInfinity, 1, terms);
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

const Formulation::Interval* FormulationBuilder::DropSpanning(int j,
                                                              int k) const {
  const Formulation::TensorFlow& input = out_.flows_[j];
  if (input.intervals.empty()) return nullptr;
  int g = static_cast<int>(
      std::upper_bound(input.gadgets.begin(), input.gadgets.end(), k) -
      input.gadgets.begin() - 1);
  if (g < 0) return nullptr;
  if (input.gadgets[g] == k) {
    if (!input.async[g]) return nullptr;  // a use: present there (or re-made)
    --g;
  }
  // The drop starts at a use: skip the asynchronous points after it.
  while (g >= 0 && input.async[g]) --g;
  if (g < 0) return nullptr;
  const Formulation::Interval& in = input.intervals[g];
  if (in.rerun_into < 0 || input.gadgets[in.rerun_into] <= k) return nullptr;
  return &in;
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
  flow.remade_from.assign(num_uses, -1);
  for (int g : candidates) {
    // Dropped between uses g and g + 1, re-made fast before g + 1: only a
    // fast tensor (dropping a slow one frees no fast memory), drop <= fast.
    Formulation::Interval& in = flow.intervals[g];
    in.f1_x = in.recompute = m.AddBinary(0);  // priced in AddRecomputeCosts
    in.rerun_into = g + 1;
    flow.remade_from[g + 1] = g;
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
