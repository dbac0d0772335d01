#include "solver/repetition.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace autotm::solver {
namespace {

// One integer per kernel, equal for kernels that are interchangeable in a
// block: same profile key (hence the same timing entries), operand counts,
// and per operand its size, fixed tier, role and whether it is a graph
// argument.
std::vector<int> KernelKeys(const GraphModel& graph) {
  absl::flat_hash_map<std::string, int> ids;
  std::vector<int> keys(graph.num_kernels());
  std::string text;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    text.clear();
    absl::StrAppend(&text, kernel.signature_key, "|", kernel.num_inputs, "|",
                    kernel.num_outputs);
    for (int t : kernel.operands) {
      const TensorInfo& tensor = graph.tensor(t);
      absl::StrAppend(&text, "|", tensor.size_bytes, ",",
                      static_cast<int>(tensor.fixed_tier), ",",
                      static_cast<int>(tensor.role), ",",
                      tensor.producer < 0 ? 1 : 0);
    }
    keys[k] = ids.try_emplace(text, static_cast<int>(ids.size())).first->second;
  }
  return keys;
}

// Every maximal stretch of period `period` with at least `min_repeats`
// blocks, as candidate runs.
void PeriodicStretches(const std::vector<int>& keys, int period,
                       int min_repeats, std::vector<RepeatedRun>& out) {
  const int n = static_cast<int>(keys.size());
  int k = 0;
  while (k + period < n) {
    if (keys[k] != keys[k + period]) {
      ++k;
      continue;
    }
    const int begin = k;
    while (k + period < n && keys[k] == keys[k + period]) ++k;
    // keys[begin, k + period) has period `period`.
    const int repeats = (k + period - begin) / period;
    if (repeats >= min_repeats) {
      out.push_back(
          {.first_kernel = begin, .block_kernels = period, .repeats = repeats});
    }
  }
}

}  // namespace

Repetition FindRepetition(const GraphModel& graph,
                          const RepetitionOptions& options) {
  const int n = graph.num_kernels();
  const int min_block = std::max(1, options.min_block_kernels);
  const int min_repeats = std::max(2, options.min_repeats);
  Repetition repetition;
  repetition.kernel_representative.resize(n);
  for (int k = 0; k < n; ++k) repetition.kernel_representative[k] = k;
  repetition.tensor_representative.resize(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    repetition.tensor_representative[t] = t;
  }

  const std::vector<int> keys = KernelKeys(graph);
  std::vector<RepeatedRun> candidates;
  for (int period = min_block; period * min_repeats <= n; ++period) {
    PeriodicStretches(keys, period, min_repeats, candidates);
  }
  // Most kernels covered first; on ties the shortest period (its multiples
  // cover the same stretch with fewer, longer blocks).
  std::sort(candidates.begin(), candidates.end(),
            [](const RepeatedRun& a, const RepeatedRun& b) {
              const int64_t ca = int64_t{a.block_kernels} * a.repeats;
              const int64_t cb = int64_t{b.block_kernels} * b.repeats;
              return std::tie(cb, a.block_kernels, a.first_kernel) <
                     std::tie(ca, b.block_kernels, b.first_kernel);
            });
  std::vector<int> run_of(n, -1);
  for (const RepeatedRun& run : candidates) {
    bool free = true;
    for (int k = run.first_kernel; k < run.end_kernel() && free; ++k) {
      free = run_of[k] < 0;
    }
    if (!free) continue;
    for (int k = run.first_kernel; k < run.end_kernel(); ++k) {
      run_of[k] = 0;  // numbered below, once the runs are sorted
    }
    repetition.runs.push_back(run);
  }
  std::sort(repetition.runs.begin(), repetition.runs.end(),
            [](const RepeatedRun& a, const RepeatedRun& b) {
              return a.first_kernel < b.first_kernel;
            });
  for (size_t r = 0; r < repetition.runs.size(); ++r) {
    const RepeatedRun& run = repetition.runs[r];
    for (int k = run.first_kernel; k < run.end_kernel(); ++k) {
      run_of[k] = static_cast<int>(r);
      repetition.kernel_representative[k] =
          run.first_kernel + (k - run.first_kernel) % run.block_kernels;
    }
    repetition.covered_kernels += run.block_kernels * run.repeats;
  }
  if (repetition.runs.empty()) return repetition;

  // Each tensor's anchor: the operand slot that creates it (its producer's
  // output) or, for a graph argument, its first use.
  std::vector<std::pair<int, int>> anchor(graph.num_tensors(), {-1, -1});
  for (int k = 0; k < n; ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    for (int p = 0; p < static_cast<int>(kernel.operands.size()); ++p) {
      const int t = kernel.operands[p];
      if (anchor[t].first >= 0) continue;
      if (p >= kernel.num_inputs || graph.tensor(t).producer < 0) {
        anchor[t] = {k, p};
      }
    }
  }
  // Tensors anchored in a run group by (anchor offset, slot, size, role,
  // tier, the representative kernels of every lifetime event); the first
  // (lowest block) of a group represents it.
  absl::flat_hash_map<std::string, int> representative_of;
  std::string text;
  for (int k = 0; k < n; ++k) {
    if (run_of[k] < 0) continue;
    const KernelInfo& kernel = graph.kernel(k);
    for (int p = 0; p < static_cast<int>(kernel.operands.size()); ++p) {
      const int t = kernel.operands[p];
      if (anchor[t] != std::make_pair(k, p)) continue;
      const TensorInfo& tensor = graph.tensor(t);
      text.clear();
      absl::StrAppend(&text, repetition.kernel_representative[k], ",", p, ",",
                      tensor.size_bytes, ",", static_cast<int>(tensor.role),
                      ",", static_cast<int>(tensor.fixed_tier), "|");
      for (int user : tensor.users) {
        absl::StrAppend(&text, repetition.kernel_representative[user], ",");
      }
      absl::StrAppend(&text, "|",
                      repetition.kernel_representative[tensor.first_live], ",",
                      repetition.kernel_representative[tensor.last_live]);
      const auto [it, inserted] = representative_of.try_emplace(text, t);
      if (!inserted) {
        repetition.tensor_representative[t] = it->second;
        ++repetition.tied_tensors;
      }
    }
  }
  return repetition;
}

std::vector<int> TieColumns(const GraphModel& graph,
                            const Formulation& formulation,
                            const Repetition& repetition) {
  using Role = Formulation::ColumnRole;
  const std::vector<Role> roles = formulation.ColumnRoles();
  const int columns = static_cast<int>(roles.size());
  std::vector<int> tie(columns);
  for (int j = 0; j < columns; ++j) tie[j] = j;
  if (repetition.runs.empty()) return tie;

  std::vector<std::vector<int>> tensor_columns(graph.num_tensors());
  std::vector<std::vector<int>> kernel_columns(graph.num_kernels());
  for (int j = 0; j < columns; ++j) {
    if (roles[j].kind == Role::kConfiguration) {
      kernel_columns[roles[j].kernel].push_back(j);
    } else if (roles[j].tensor >= 0) {
      tensor_columns[roles[j].tensor].push_back(j);
    }
  }
  // What makes two columns of corresponding owners the same decision: a
  // flow column's gadget, edge and overlap, and where its decision point
  // lies relative to the tensor's own uses (its signed distance to the
  // nearest: asynchronous windows reach past a run's blocks, so kernels
  // there are compared by distance, not identity); a
  // configuration column's mask.
  auto shape = [&](int j) {
    const Role& role = roles[j];
    int offset = 0;
    if (role.tensor >= 0) {
      // Signed distance to the nearest use (the later one on a tie).
      const std::vector<int>& users = graph.tensor(role.tensor).users;
      auto next = std::lower_bound(users.begin(), users.end(), role.kernel);
      if (next == users.end()) {
        offset = role.kernel - users.back();
      } else if (next == users.begin()) {
        offset = role.kernel - *next;
      } else {
        const int after = *next - role.kernel;
        const int before = role.kernel - *(next - 1);
        offset = after <= before ? -after : before;
      }
    }
    return std::make_tuple(role.gadget, static_cast<int>(role.kind), role.async,
                           role.mask, offset);
  };
  auto by_shape = [&](int a, int b) { return shape(a) < shape(b); };
  for (auto* owners : {&tensor_columns, &kernel_columns}) {
    for (std::vector<int>& list : *owners) {
      std::sort(list.begin(), list.end(), by_shape);
    }
  }
  // Within each class of corresponding owners, owners whose columns match
  // one to one tie to the first such owner; the first of each different
  // shape (a block at a run's end, whose windows differ) leads its own.
  absl::flat_hash_map<std::string, int> leaders;
  std::string key;
  auto tie_owner = [&](char what, int representative,
                       const std::vector<int>& mine,
                       const std::vector<std::vector<int>>& owners, int owner) {
    if (mine.empty()) return;
    key.clear();
    absl::StrAppend(&key, std::string(1, what), representative, ":");
    for (int j : mine) {
      const auto [gadget, kind, async, mask, offset] = shape(j);
      absl::StrAppend(&key, gadget, ",", kind, ",", async ? 1 : 0, ",", mask,
                      ",", offset, ";");
    }
    const auto [it, inserted] = leaders.try_emplace(key, owner);
    if (inserted) return;
    const std::vector<int>& theirs = owners[it->second];
    for (size_t i = 0; i < mine.size(); ++i) tie[mine[i]] = theirs[i];
  };
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const int r = repetition.tensor_representative[t];
    tie_owner('t', r, tensor_columns[t], tensor_columns, t);
  }
  for (int k = 0; k < graph.num_kernels(); ++k) {
    tie_owner('k', repetition.kernel_representative[k], kernel_columns[k],
              kernel_columns, k);
  }
  return tie;
}

TiedModel TieModel(const IlpModel& model, std::span<const int> tie) {
  TiedModel tied;
  const int columns = model.num_columns();
  tied.column.assign(columns, -1);
  for (int j = 0; j < columns; ++j) {
    if (tie[j] != j) continue;
    tied.column[j] = tied.model.AddColumn(
        model.col_lower[j], model.col_upper[j], 0, model.is_integer[j] != 0);
  }
  for (int j = 0; j < columns; ++j) {
    const int c = tied.column[tie[j]];
    tied.column[j] = c;
    tied.model.objective[c] += model.objective[j];
    tied.model.col_lower[c] =
        std::max(tied.model.col_lower[c], model.col_lower[j]);
    tied.model.col_upper[c] =
        std::min(tied.model.col_upper[c], model.col_upper[j]);
  }
  tied.model.objective_offset = model.objective_offset;

  absl::flat_hash_map<std::string, int> seen_rows;
  std::vector<IlpModel::Term> terms;
  std::string key;
  for (int i = 0; i < model.num_rows(); ++i) {
    terms.clear();
    for (int64_t e = model.row_start[i]; e < model.row_start[i + 1]; ++e) {
      terms.emplace_back(tied.column[model.row_column[e]], model.row_value[e]);
    }
    std::sort(terms.begin(), terms.end());
    // Merge terms on one column; drop those that cancel.
    size_t out = 0;
    for (size_t in = 0; in < terms.size(); ++in) {
      if (out > 0 && terms[out - 1].first == terms[in].first) {
        terms[out - 1].second += terms[in].second;
      } else {
        terms[out++] = terms[in];
      }
    }
    terms.resize(out);
    std::erase_if(terms, [](const IlpModel::Term& t) { return t.second == 0; });
    if (terms.empty() && model.row_lower[i] <= 0 && 0 <= model.row_upper[i]) {
      continue;  // always satisfied
    }
    key.assign(reinterpret_cast<const char*>(&model.row_lower[i]),
               sizeof(double));
    key.append(reinterpret_cast<const char*>(&model.row_upper[i]),
               sizeof(double));
    for (const auto& [column, value] : terms) {  // no padding bytes
      key.append(reinterpret_cast<const char*>(&column), sizeof(column));
      key.append(reinterpret_cast<const char*>(&value), sizeof(value));
    }
    if (!seen_rows.try_emplace(key, i).second) continue;
    tied.model.AddRow(model.row_lower[i], model.row_upper[i], terms);
  }
  return tied;
}

std::vector<double> TiedModel::Expand(std::span<const double> values) const {
  std::vector<double> full(column.size());
  for (size_t j = 0; j < column.size(); ++j) full[j] = values[column[j]];
  return full;
}

std::vector<double> TiedModel::Restrict(
    std::span<const double> full_values) const {
  std::vector<double> values(model.num_columns(), 0);
  std::vector<char> set(model.num_columns(), 0);
  for (size_t j = 0; j < column.size(); ++j) {
    if (!set[column[j]]) {
      set[column[j]] = 1;
      values[column[j]] = full_values[j];
    }
  }
  return values;
}

}  // namespace autotm::solver
