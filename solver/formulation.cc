#include "solver/formulation.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "solver/allocator.h"
#include "solver/checked_math.h"
#include "solver/status_macros.h"

namespace autotm::solver {

namespace {

// Capacity rows count bytes in MiB: exact in double for any size (sizes are
// < 2^50) and small enough coefficients to keep the LP well scaled.
constexpr double kBytesPerUnit = 1024.0 * 1024.0;

double Units(uint64_t bytes) {
  return static_cast<double>(bytes) / kBytesPerUnit;
}

// One usable configuration of a kernel, projected on its free tensors.
struct Option {
  ConfigMask mask;
  double time_us;
};

}  // namespace

// Builds a Formulation; a class so that the many steps can share state.
class FormulationBuilder {
 public:
  FormulationBuilder(const GraphModel& graph, const ProfileModel& profile,
                     const FormulationOptions& options, Formulation& out)
      : graph_(graph), profile_(profile), options_(options), out_(out) {}

  absl::Status Build() {
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

 private:
  bool IsStatic() const { return options_.method == v1::METHOD_STATIC; }

  // Fast-memory bytes tensor t takes: its size rounded up to the pool's
  // alignment, as the allocator will place it.
  uint64_t Footprint(int t) const {
    return AlignUp(graph_.tensor(t).size_bytes, options_.alignment_bytes);
  }

  void ClassifyTensors() {
    const uint64_t max_limit = *std::max_element(
        options_.kernel_limit_bytes.begin(), options_.kernel_limit_bytes.end());
    out_.fixed_tier_.assign(graph_.num_tensors(), v1::TIER_UNSPECIFIED);
    out_.flows_.assign(graph_.num_tensors(), {});
    for (int t = 0; t < graph_.num_tensors(); ++t) {
      const TensorInfo& tensor = graph_.tensor(t);
      if (tensor.fixed_tier != v1::TIER_UNSPECIFIED) {
        out_.fixed_tier_[t] = tensor.fixed_tier;
      } else if (Footprint(t) > max_limit) {
        // It can never be fast anywhere: no variables.
        out_.fixed_tier_[t] = v1::TIER_SLOW;
        too_big_.push_back(t);
      }
    }
  }

  // Finds each kernel's usable configurations.
  absl::Status AnalyseKernels() {
    options_per_kernel_.assign(graph_.num_kernels(), {});
    for (int k = 0; k < graph_.num_kernels(); ++k) {
      const KernelInfo& kernel = graph_.kernel(k);
      const KernelCost* cost = profile_.Find(kernel.signature_key);
      if (cost == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("kernel #", k, " '", kernel.id,
                         "' has no profile entry for ", kernel.signature_key));
      }
      costs_.push_back(cost);
      max_time_us_.push_back(MaxTimeUs(*cost));
      bool had_graph_consistent = false;
      bool usable = false;
      if (cost->separable()) {
        // Every configuration is listed but those with an OnlyFast operand
        // slow (a collapsed table), so it is consistent unless such an
        // operand is pinned slow, and usable unless it is too big.
        had_graph_consistent = usable = true;
        for (size_t p = 0; p < kernel.operands.size(); ++p) {
          if (!cost->OnlyFast(static_cast<int>(p))) continue;
          const int t = kernel.operands[p];
          if (graph_.tensor(t).fixed_tier == v1::TIER_SLOW) {
            had_graph_consistent = false;
          }
          if (out_.fixed_tier_[t] == v1::TIER_SLOW) usable = false;
        }
      } else {
        for (const auto& [mask, time] : cost->table()) {
          if (!ConsistentWithGraph(kernel, mask, /*respect_size=*/false))
            continue;
          had_graph_consistent = true;
          if (!ConsistentWithGraph(kernel, mask, /*respect_size=*/true))
            continue;
          options_per_kernel_[k].push_back({mask, time});
        }
        usable = !options_per_kernel_[k].empty();
      }
      if (!had_graph_consistent) {
        return absl::FailedPreconditionError(absl::StrCat(
            "kernel #", k, " '", kernel.id, "': profile ",
            profile_.host_class().name(),
            " has no configuration consistent with the graph's fixed tiers ",
            "and repeated operands for ", kernel.signature_key));
      }
      if (!usable) {
        std::vector<std::string> names;
        for (int t : too_big_) {
          if (std::find(kernel.distinct_operands.begin(),
                        kernel.distinct_operands.end(),
                        t) != kernel.distinct_operands.end()) {
            names.push_back(absl::StrCat("'", graph_.tensor(t).id, "' (",
                                         graph_.tensor(t).size_bytes,
                                         " bytes)"));
          }
        }
        out_.infeasible_ = absl::StrCat(
            "kernel #", k, " '", kernel.id,
            "' has no profiled configuration with its operand(s) ",
            absl::StrJoin(names, ", "),
            " in the slow tier, and they are larger than the fast-memory "
            "budget");
      }
    }
    return absl::OkStatus();
  }

  // Whether `mask` puts repeated operands in one tier and fixed tensors in
  // their tier (and, with respect_size, too-big tensors in the slow tier).
  bool ConsistentWithGraph(const KernelInfo& kernel, ConfigMask mask,
                           bool respect_size) const {
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const bool slow = mask >> p & 1;
      const int t = kernel.operands[p];
      for (size_t q = 0; q < p; ++q) {
        if (kernel.operands[q] == t && ((mask >> q & 1) != slow)) return false;
      }
      v1::Tier fixed = graph_.tensor(t).fixed_tier;
      if (respect_size) fixed = out_.fixed_tier_[t];
      if (fixed == v1::TIER_FAST && slow) return false;
      if (fixed == v1::TIER_SLOW && !slow) return false;
    }
    return true;
  }

  // Returns true (and records why) when some kernel needs more fast memory
  // than its limit for tensors that must be fast there.
  bool CheckMustBeFast() {
    if (out_.infeasible_.has_value()) return true;
    const int num_kernels = graph_.num_kernels();
    // Tensors that every usable configuration of kernel k puts in fast
    // memory (static: then fast for their whole life).
    std::vector<std::vector<int>> forced(num_kernels);
    std::vector<char> forced_for_life(graph_.num_tensors(), 0);
    for (int k = 0; k < num_kernels; ++k) {
      const KernelInfo& kernel = graph_.kernel(k);
      const KernelCost& cost = *costs_[k];
      if (!cost.separable() && options_per_kernel_[k].empty()) continue;
      for (size_t p = 0; p < kernel.operands.size(); ++p) {
        const int t = kernel.operands[p];
        if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
        bool always_fast = true;
        if (cost.separable()) {
          always_fast = cost.OnlyFast(static_cast<int>(p));
        } else {
          for (const Option& option : options_per_kernel_[k]) {
            if (option.mask >> p & 1) always_fast = false;
          }
        }
        if (always_fast && std::find(forced[k].begin(), forced[k].end(), t) ==
                               forced[k].end()) {
          forced[k].push_back(t);
          if (IsStatic()) forced_for_life[t] = 1;
        }
      }
    }
    for (int k = 0; k < num_kernels; ++k) {
      uint64_t bytes = 0;
      std::vector<int> culprits;
      for (int t : graph_.LiveAt(k)) {
        const bool fixed_fast = out_.fixed_tier_[t] == v1::TIER_FAST;
        const bool needed =
            fixed_fast || forced_for_life[t] ||
            std::find(forced[k].begin(), forced[k].end(), t) != forced[k].end();
        if (needed) {
          SaturatingAddTo(bytes, Footprint(t));
          culprits.push_back(t);
        }
      }
      if (bytes <= options_.kernel_limit_bytes[k]) continue;
      std::sort(culprits.begin(), culprits.end(), [&](int a, int b) {
        return graph_.tensor(a).size_bytes > graph_.tensor(b).size_bytes;
      });
      std::vector<std::string> names;
      for (size_t i = 0; i < culprits.size() && i < 5; ++i) {
        names.push_back(absl::StrCat("'", graph_.tensor(culprits[i]).id, "' (",
                                     graph_.tensor(culprits[i]).size_bytes,
                                     " bytes)"));
      }
      if (culprits.size() > 5) {
        names.push_back(absl::StrCat("and ", culprits.size() - 5, " more"));
      }
      out_.infeasible_ = absl::StrFormat(
          "kernel #%d '%s' needs %u bytes of fast memory for tensors that "
          "must be fast while it runs (%s), more than its limit of %u bytes",
          k, graph_.kernel(k).id, bytes, absl::StrJoin(names, ", "),
          options_.kernel_limit_bytes[k]);
      return true;
    }
    return false;
  }

  // The longest a kernel can take, over every configuration: an upper bound
  // on the compute an asynchronous copy can hide behind.
  static double MaxTimeUs(const KernelCost& cost) {
    if (cost.separable()) {
      double time = cost.all_fast_time_us();
      for (double penalty : cost.slow_penalty_us()) {
        time += std::max(0.0, penalty);
      }
      return time;
    }
    double time = 0;
    for (const auto& [mask, time_us] : cost.table()) {
      time = std::max(time, time_us);
    }
    return time;
  }

  // Decision points of a tensor: its users (SYNCHRONOUS), plus for
  // ASYNCHRONOUS every other kernel of its live range within
  // `async_window` kernels of a user, where moves overlap with that kernel.
  // `async[g]` tells which gadgets are asynchronous.
  //
  // A non-user kernel is left out when no copy of this tensor can pay
  // there: an asynchronous copy at kernel k adds at least (its time - the
  // longest k can take) to z[k], so when that is no less than the blocking
  // copy's time in both directions, the same move made synchronously at the
  // neighbouring user costs no more and holds the tensor in fast memory for
  // no longer (a read made later, an eviction made earlier). Dropping such
  // points keeps an optimal plan and shrinks the model: with AutoTM's
  // Optane bandwidths (async 2-2.5 GB/s, sync 12-29 GB/s) a large
  // activation's copy hides behind few kernels.
  std::vector<int> Gadgets(const TensorInfo& tensor,
                           std::vector<char>* async) const {
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

  void AddTensorFlow(int t) {
    Formulation::TensorFlow& flow = out_.flows_[t];
    const TensorInfo& tensor = graph_.tensor(t);
    IlpModel& m = out_.model_;
    if (IsStatic()) {
      flow.gadgets = {tensor.first_live};
      flow.static_fast = m.AddBinary(0);
      return;
    }
    flow.gadgets = Gadgets(tensor, &flow.async);
    const int num_gadgets = static_cast<int>(flow.gadgets.size());
    flow.source_f1 = m.AddBinary(0);
    flow.source_s = m.AddBinary(0);
    flow.reads.assign(num_gadgets, -1);
    flow.intervals.assign(num_gadgets, {});
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
      if (!last && CanRecompute(t, flow.gadgets[g], flow.gadgets[g + 1])) {
        in.f1_x = m.AddBinary(0);
        if (g >= 1) in.f2_x = m.AddBinary(0);
        in.s_x = m.AddBinary(0);
        in.recompute = m.AddBinary(0);  // priced in AddRecomputeCosts
      }
      // Kept in slow memory past its life for re-runs that read it: ends
      // slow, written there first when it has no slow copy.
      if (last && !trailing && keepable_[t]) {
        flow.keep_f1 = m.AddBinary(profile_.SyncToSlowUs(tensor.size_bytes));
        if (g >= 1) flow.keep_f2 = m.AddBinary(0);
        flow.keep_s = m.AddBinary(0);
      }
    }
    // Flow conservation.
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
      if (g >= 1) add(flow.intervals[g - 1].recompute, 1);
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
      if (out.recompute >= 0) {
        add(out.f1_x, 1);
        add(out.f2_x, 1);
        add(out.s_x, 1);
        add(out.recompute, -1);
        row_equal(0);
      }
    }
  }

  // Whether tensor t may be dropped after kernel `after` (a decision point)
  // and recomputed before kernel `before` (its next one): see
  // FormulationOptions::recompute. The re-run's cost must be linear in the
  // D variables (a separable producer), and its inputs live at `before`
  // anyway, so that it adds no lifetime to any tensor.
  bool CanRecompute(int t, int after, int before) const {
    if (!options_.recompute || options_.method != v1::METHOD_SYNCHRONOUS) {
      return false;
    }
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

  // Every tensor that some candidate re-run would read after its life: it
  // may be kept in slow memory until then (options_.keep_inputs_for_recompute;
  // a fixed-slow tensor is kept for free, a fixed-fast one never).
  void FindKeepableInputs() {
    keepable_.assign(graph_.num_tensors(), 0);
    if (!options_.recompute || !options_.keep_inputs_for_recompute ||
        options_.method != v1::METHOD_SYNCHRONOUS) {
      return;
    }
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

  // CanRecompute's rules but an input's lifetime: one dead at `before` is
  // acceptable here when it may be kept (not fixed fast, not OnlyFast).
  bool CanRecomputeIgnoringDeadInputs(int t, int after, int before) const {
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

  // Kernel time of every re-run column: the producer's all-fast time plus,
  // per input tensor j slow at the next use, its penalty, through a
  // continuous s_j >= r - D(j,u) (the producer's output is made fast).
  // Also excludes a re-run whose input is dropped itself at that point.
  void AddRecomputeCosts() {
    IlpModel& m = out_.model_;
    std::vector<IlpModel::Term> terms;
    for (int t = 0; t < graph_.num_tensors(); ++t) {
      const Formulation::TensorFlow& flow = out_.flows_[t];
      for (size_t g = 0; g < flow.intervals.size(); ++g) {
        const int r = flow.intervals[g].recompute;
        if (r < 0) continue;
        const int u = flow.gadgets[g + 1];
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
          AppendFast(j, u, 1, terms, &constant);
          m.AddRow(0, kInfinity, terms);
        }
        // An input dropped itself at u cannot be read: r + r_j <= 1.
        for (const auto& [j, penalty] : penalties) {
          const Formulation::TensorFlow& input = out_.flows_[j];
          if (input.intervals.empty()) continue;
          const auto next =
              std::upper_bound(input.gadgets.begin(), input.gadgets.end(), u);
          if (next == input.gadgets.begin() || next == input.gadgets.end() ||
              *(next - 1) == u) {
            continue;
          }
          const int other =
              input.intervals[next - input.gadgets.begin() - 1].recompute;
          if (other < 0) continue;
          terms = {{r, 1}, {other, 1}};
          m.AddRow(-kInfinity, 1, terms);
        }
      }
    }
  }

  // Appends the terms of D(t,k) (scaled by `scale`) to `terms`, or adds its
  // constant value times `scale` to `*constant`.
  void AppendFast(int t, int k, double scale,
                  std::vector<IlpModel::Term>& terms, double* constant) const {
    const v1::Tier fixed = out_.fixed_tier_[t];
    if (fixed != v1::TIER_UNSPECIFIED) {
      if (fixed == v1::TIER_FAST) *constant += scale;
      return;
    }
    const Formulation::TensorFlow& flow = out_.flows_[t];
    if (flow.static_fast >= 0) {
      terms.emplace_back(flow.static_fast, scale);
      return;
    }
    // Latest gadget at or before k.
    const int g = static_cast<int>(
        std::upper_bound(flow.gadgets.begin(), flow.gadgets.end(), k) -
        flow.gadgets.begin() - 1);
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
        add(flow.intervals[g - 1].recompute);
      }
    } else {
      add(flow.intervals[g].f1_f1);
      add(flow.intervals[g].f2_f2);
    }
  }

  // Adds kernel k's time rho_k: to the objective, or, when asynchronous
  // copies overlap with k, through z[k] >= rho_k and z[k] >= their sum.
  void AddKernelCost(int k) {
    std::vector<IlpModel::Term> rho;
    double rho_constant = 0;
    KernelTime(k, rho, rho_constant);
    IlpModel& m = out_.model_;
    const auto copies = async_copies_.find(k);
    if (copies == async_copies_.end()) {
      m.objective_offset += rho_constant;
      for (const auto& [column, coefficient] : rho) {
        m.objective[column] += coefficient;
      }
      return;
    }
    // z[k] = max(rho_k, C) with C the sum of the chosen copies' times.
    // The plain rows z >= rho and z >= C are weak in the LP: a copy chosen
    // to the extent x costs only max(rho, c x), whereas any integral choice
    // of a copy longer than the kernel costs its excess in full. Two
    // lifted rows carry that excess (both valid for binary x; see
    // docs/FORMULATION.md, "Overlapped copies"):
    //   z >= rho   + sum_i (c_i - rho_max)^+ x_i    (replaces z >= rho)
    //   z >= rho_min + sum_i (c_i - rho_min)^+ x_i  (when rho varies)
    // and z >= C stays for several copies that only together outlast k.
    // With one copy the lifted rows imply z >= C.
    const bool lift = options_.lift_overlap_rows;
    auto [rho_min, rho_max] = TimeRangeUs(k, rho, rho_constant);
    rho_min = std::max(0.0, rho_min);
    if (!lift) rho_max = rho_min = kInfinity;
    const int z = m.AddColumn(0, kInfinity, 1, /*integer=*/false);
    std::vector<IlpModel::Term> terms = {{z, 1}};
    for (const auto& [column, coefficient] : rho) {
      terms.emplace_back(column, -coefficient);
    }
    for (const auto& [column, time_us] : copies->second) {
      if (time_us > rho_max) terms.emplace_back(column, rho_max - time_us);
    }
    m.AddRow(rho_constant, kInfinity, terms);
    if (lift && !rho.empty() && rho_min < rho_max) {
      terms = {{z, 1}};
      for (const auto& [column, time_us] : copies->second) {
        if (time_us > rho_min) terms.emplace_back(column, rho_min - time_us);
      }
      if (terms.size() > 1) m.AddRow(rho_min, kInfinity, terms);
    }
    if (lift && copies->second.size() == 1) return;
    terms = {{z, 1}};
    for (const auto& [column, time_us] : copies->second) {
      terms.emplace_back(column, -time_us);
    }
    m.AddRow(0, kInfinity, terms);
  }

  // Bounds on rho_k = constant + sum(rho) from KernelTime over kernel k's
  // usable configurations: {no more than its minimum, no less than its
  // maximum} (exact unless one tensor is several separable operands).
  std::pair<double, double> TimeRangeUs(int k,
                                        const std::vector<IlpModel::Term>& rho,
                                        double constant) const {
    if (rho.empty()) return {constant, constant};
    double low = 0, high = 0;
    if (costs_[k]->separable()) {
      // Terms are -penalty * D(t, k), each D in {0, 1}.
      for (const auto& [column, coefficient] : rho) {
        low += std::min(0.0, coefficient);
        high += std::max(0.0, coefficient);
      }
    } else {
      // One y column per usable configuration, exactly one of them 1.
      low = kInfinity;
      high = -kInfinity;
      for (const auto& [column, coefficient] : rho) {
        low = std::min(low, coefficient);
        high = std::max(high, coefficient);
      }
    }
    return {constant + low, constant + high};
  }

  // rho_k = constant + sum(terms), creating configuration variables and
  // their link rows as needed.
  void KernelTime(int k, std::vector<IlpModel::Term>& rho, double& constant) {
    const KernelInfo& kernel = graph_.kernel(k);
    const KernelCost& cost = *costs_[k];
    IlpModel& m = out_.model_;
    std::vector<IlpModel::Term> terms;
    double unused = 0;
    if (cost.separable()) {
      // time = base + sum_p penalty_p * (1 - D(t_p, k)); an OnlyFast
      // operand (of a collapsed table) is fast: D(t_p, k) = 1, once per
      // tensor (a fixed tensor is fast here already, see AnalyseKernels).
      constant += cost.all_fast_time_us();
      std::vector<int> pinned_fast;
      for (size_t p = 0; p < kernel.operands.size(); ++p) {
        const int t = kernel.operands[p];
        if (cost.OnlyFast(static_cast<int>(p))) {
          if (out_.fixed_tier_[t] == v1::TIER_UNSPECIFIED &&
              std::find(pinned_fast.begin(), pinned_fast.end(), t) ==
                  pinned_fast.end()) {
            pinned_fast.push_back(t);
            out_.only_fast_positions_[k].push_back(static_cast<int>(p));
            terms.clear();
            AppendFast(t, k, 1, terms, &unused);
            m.AddRow(1, 1, terms);
          }
          continue;
        }
        const double penalty = cost.slow_penalty_us()[p];
        constant += penalty;
        AppendFast(t, k, -penalty, rho, &constant);
      }
      return;
    }
    const std::vector<Option>& options = options_per_kernel_[k];
    // Free distinct operand tensors and a representative position of each.
    std::vector<std::pair<int, int>> free_operands;  // (tensor, position)
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const int t = kernel.operands[p];
      if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
      bool seen = false;
      for (const auto& [other, q] : free_operands) seen |= other == t;
      if (!seen) free_operands.emplace_back(t, static_cast<int>(p));
    }
    if (options.size() == 1) {
      // The time is fixed, and so is each free operand's tier at k.
      constant += options[0].time_us;
      for (const auto& [t, p] : free_operands) {
        const bool fast = !(options[0].mask >> p & 1);
        terms.clear();
        AppendFast(t, k, 1, terms, &unused);
        m.AddRow(fast ? 1 : 0, fast ? 1 : 0, terms);
      }
      return;
    }
    // y[k,c] with sum_c y = 1 and sum_{c: j fast} y = D(j,k).
    std::vector<int> y(options.size());
    for (size_t c = 0; c < options.size(); ++c) {
      y[c] = m.AddBinary(0);
      rho.emplace_back(y[c], options[c].time_us);
      terms.emplace_back(y[c], 1);
      out_.config_columns_[k].emplace_back(options[c].mask, y[c]);
    }
    m.AddRow(1, 1, terms);
    for (const auto& [t, p] : free_operands) {
      terms.clear();
      for (size_t c = 0; c < options.size(); ++c) {
        if (!(options[c].mask >> p & 1)) terms.emplace_back(y[c], 1);
      }
      AppendFast(t, k, -1, terms, &unused);
      m.AddRow(0, 0, terms);
    }
  }

  // Capacity: sum_{t live at k} size_t D(t,k) <= L_k at every kernel.
  // Written directly, each row lists every live tensor, so long-lived ones
  // (weights) appear in thousands of rows and the LP gets millions of
  // nonzeros. Telescoped, a continuous U_k bounded by the limit carries the
  // sum and each row adds only what changed since the previous row:
  // U_k = U_prev + sum(terms_k) - sum(terms_prev). Same LP, far fewer
  // nonzeros (tensors change at their decision points only).
  void AddCapacityRows() {
    IlpModel& m = out_.model_;
    std::vector<IlpModel::Term> terms, previous_terms, row;
    double previous_rhs = -1;
    int previous_u = -1;
    for (int k = 0; k < graph_.num_kernels(); ++k) {
      terms.clear();
      double fixed_fast = 0;
      double free_units = 0;
      for (int t : graph_.LiveAt(k)) {
        const double size = Units(Footprint(t));
        AppendFast(t, k, size, terms, &fixed_fast);
        if (out_.fixed_tier_[t] == v1::TIER_UNSPECIFIED) free_units += size;
      }
      const double rhs = Units(options_.kernel_limit_bytes[k]) - fixed_fast;
      // Rows that cannot bind, or that repeat the previous kernel's, add
      // nothing but LP work.
      if (free_units <= rhs) continue;
      std::sort(terms.begin(), terms.end());
      if (rhs == previous_rhs && terms == previous_terms) continue;
      if (!options_.telescope_capacity) {
        m.AddRow(-kInfinity, rhs, terms);
      } else {
        const int u = m.AddColumn(0, rhs, 0, /*integer=*/false);
        row.clear();
        row.emplace_back(u, 1);
        if (previous_u >= 0) row.emplace_back(previous_u, -1);
        // - (terms - previous_terms), merging the two sorted lists.
        size_t a = 0, b = 0;
        while (a < terms.size() || b < previous_terms.size()) {
          if (b == previous_terms.size() ||
              (a < terms.size() && terms[a].first < previous_terms[b].first)) {
            row.emplace_back(terms[a].first, -terms[a].second);
            ++a;
          } else if (a == terms.size() ||
                     previous_terms[b].first < terms[a].first) {
            row.emplace_back(previous_terms[b].first, previous_terms[b].second);
            ++b;
          } else {
            const double change = previous_terms[b].second - terms[a].second;
            if (change != 0) row.emplace_back(terms[a].first, change);
            ++a;
            ++b;
          }
        }
        m.AddRow(0, 0, row);
        previous_u = u;
      }
      previous_terms.swap(terms);
      previous_rhs = rhs;
    }
  }

  const GraphModel& graph_;
  const ProfileModel& profile_;
  const FormulationOptions& options_;
  Formulation& out_;
  std::vector<int> too_big_;
  // Per tensor: whether a candidate re-run may read it after its life, so
  // that its flow gets keep edges (FindKeepableInputs).
  std::vector<char> keepable_;
  std::vector<const KernelCost*> costs_;
  std::vector<double> max_time_us_;  // MaxTimeUs per kernel
  std::vector<std::vector<Option>> options_per_kernel_;
  // Asynchronous copy columns and their times, by the kernel they overlap.
  absl::flat_hash_map<int, std::vector<std::pair<int, double>>> async_copies_;
};

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
      continue;
    }
    enum class State {
      kF1,
      kF2,
      kS,
      kDropped
    } state = on(flow.source_f1) ? State::kF1 : State::kS;
    out.creation_tier = state == State::kF1 ? v1::TIER_FAST : v1::TIER_SLOW;
    for (size_t g = 0; g < flow.gadgets.size(); ++g) {
      const int kernel = flow.gadgets[g];
      const bool sync = !flow.async[g];
      if (state == State::kDropped) {
        // Flow conservation leaves X only by the re-run into F1(g).
        out.recomputes.push_back({flow.gadgets[g - 1], kernel});
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
  if (flow.static_fast >= 0) {
    if (!entry.moves.empty() || !entry.recomputes.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", graph_->tensor(t).id,
                       "' moves or is recomputed in a static plan"));
    }
    if (entry.creation_tier == v1::TIER_FAST) set(flow.static_fast);
    return absl::OkStatus();
  }
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
  for (size_t g = 0; g < flow.gadgets.size(); ++g) {
    const int kernel = flow.gadgets[g];
    if (state == State::kDropped) {
      // The drop's interval has a re-run into this gadget's F1.
      set(flow.intervals[g - 1].recompute);
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
      if (recompute.dropped_after != kernel || in.recompute < 0 ||
          g + 1 >= flow.gadgets.size() ||
          flow.gadgets[g + 1] != recompute.before || to_slow) {
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
