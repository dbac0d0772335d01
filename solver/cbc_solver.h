// The COIN-OR CBC 2.10 backend.
#ifndef AUTOTM_SOLVER_CBC_SOLVER_H_
#define AUTOTM_SOLVER_CBC_SOLVER_H_

#include <memory>

#include "solver/solver.h"

namespace autotm::solver {

// Returns a Solver that runs CBC through CbcMain0/CbcMain1 (stock cbc
// strength: heuristics, cuts) with the settings that suit placement ILPs
// (no preprocessing, no zero-half cuts, Gomory and two-MIR cuts at the root
// of models below SolveParams::root_cuts_max_columns only, and on request a
// second root with reduce-and-split for the bound, SolveParams::bound_probe;
// see docs/FORMULATION.md, "Solving with CBC"), a wall-clock limit, a
// relative gap, progress and cancellation.
//
// Thread safety: CbcMain1 uses process-wide state, so solves are serialised
// by a process-wide mutex: concurrent Solve() calls wait for each other.
// Run solves in worker processes for real concurrency. The process's stdin
// should be /dev/null (CbcMain1 can fall back to reading commands from it).
std::unique_ptr<Solver> MakeCbcSolver();

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_CBC_SOLVER_H_
