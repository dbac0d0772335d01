// Human-readable summaries of plans and verification results, for terminals
// and logs. The machine-readable form of a plan is its JSON (proto_json.h);
// these texts are for people and may change between versions.
#ifndef AUTOTM_CLIENT_CLI_PLAN_REPORT_H_
#define AUTOTM_CLIENT_CLI_PLAN_REPORT_H_

#include <cstdint>
#include <string>

#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/verifier.h"

namespace autotm::client {

struct PlanReportOptions {
  // Rows in the table of the largest moves (by bytes copied). Default 10;
  // 0 leaves the table out.
  int top_moves = 10;
  // Rows in the table of the largest re-runs (by time), likewise.
  int top_recomputes = 10;
};

// A multi-line summary of `plan`: method and termination, predicted
// iteration time split into kernel and move time, peak fast bytes against
// the budget, tensors fast vs slow at creation, moves by direction with the
// bytes they copy, re-runs (how many, their total time and share, the bytes
// they re-make and the inputs kept slow for them; only when there are any),
// the solver's model size, timings, objective, bound and gap, and tables of
// the largest moves and re-runs. Ends with a newline.
//
// `graph` is optional: when given (it must be the graph the plan is for) the
// report adds tensor sizes and the graph's all-fast footprint (peak live
// bytes) for scale. Never fails: fields the plan lacks are shown as absent.
std::string FormatPlanReport(const v1::Plan& plan,
                             const solver::GraphModel* graph,
                             const PlanReportOptions& options = {});

// A short summary of what VerifyPlan() recomputed for `plan` under
// `budget_bytes`: times and peak fast bytes. Ends with a newline.
std::string FormatVerifyReport(const solver::VerifyReport& report,
                               const v1::Plan& plan, uint64_t budget_bytes);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_PLAN_REPORT_H_
