// Profiler work lists: which kernel signatures of some graphs a profile still
// lacks, and which IO configurations of each the graphs can ever use.
#ifndef AUTOTM_SOLVER_WORK_LIST_H_
#define AUTOTM_SOLVER_WORK_LIST_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "solver/signature.h"

namespace autotm::solver {

// Collects one v1::WorkItem per signature key not in `known`, over any number
// of graphs: items in order of first use (graph order, then kernel order),
// each with the distinct OperandUsages of its kernels and the number of
// graphs that use it. The graphs are taken as given (validate them first).
class WorkListBuilder {
 public:
  explicit WorkListBuilder(absl::flat_hash_set<std::string> known = {})
      : known_(std::move(known)) {}

  void AddGraph(const v1::Graph& graph);
  // Graphs added so far.
  int graphs() const { return graphs_; }
  // The items; the builder is left empty.
  std::vector<v1::WorkItem> Take();

 private:
  absl::flat_hash_set<std::string> known_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<v1::WorkItem> items_;
  int graphs_ = 0;
};

// The configurations (slow masks over n = inputs + outputs operands, bit p set
// = operand p slow) worth measuring for `item`: those at least one of its
// usages allows, in increasing order; all 2^n when it lists no usage.
// Requires n < 63.
std::vector<uint64_t> UsableConfigs(const v1::WorkItem& item);

OperandUsage FromProto(const v1::OperandUsage& usage);
v1::OperandUsage ToProto(const OperandUsage& usage);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_WORK_LIST_H_
