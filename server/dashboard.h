// The read-only web dashboard (issue 23), served beside /metrics on the
// --metrics-listen HTTP port: server-rendered HTML with inline SVG, and two
// small JSON endpoints that an inline script polls for the live parts. No
// JavaScript toolchain, no external assets; GET only, nothing on a page
// changes anything on the server.
//
//   /dashboard                  the queue: jobs with state, owner, priority
//                               and live progress (polls /dashboard/api/jobs)
//   /dashboard/job?id=JOB       one job: parameters, live progress (polls
//                               /dashboard/api/job?id=JOB), its plans, the
//                               plan pictures (client/common/plan_picture.h)
//                               and, for a multi-budget job, the graph's sweep
//                               curve (time against fast memory)
//   /dashboard/graph?digest=D   one graph: its jobs and its sweep curve per
//                               host class, from the plans of its jobs
//   /dashboard/hosts            host classes: profile coverage, contributors
//   /dashboard/login            the sign-in form (no credential needed)
//   /dashboard/api/jobs         JSON: the queue's live numbers (?digest=D:
//                               the jobs of one graph)
//   /dashboard/api/job?id=JOB   JSON: one job's live numbers
//   /                           redirects to /dashboard
//
// Authentication (docs/OPERATIONS.md "Dashboard"): with an identities file
// (--tokens) every page but the sign-in form needs a token, as
// "Authorization: Bearer TOKEN" or the cookie "autotm_token" (which the
// sign-in form sets in the browser; the server never sets or sees it
// otherwise). None, or an unknown one: 401 with the sign-in form. Without
// --tokens (open mode) every viewer is the principal "local". The roles are
// the gRPC API's (docs/SECURITY.md): reader and operator see every job,
// anyone else only its own; a job's plans and pictures (GetSolveJob,
// GetPlan) are for operators and the job's owner with the planner role;
// host classes for every role.
//
// Because a token must not cross the network in clear text, the
// composition root registers the dashboard on a loopback --metrics-listen
// address, or on another one only when the port serves HTTPS
// (--metrics-tls) and --tokens is given.
//
// Every string that comes from the store (job ids, owners, graph and host
// class names, error messages) is escaped: HtmlEscape for HTML text and
// attributes, JsonString for JSON, and the script writes with textContent.
//
// Thread safety: the handlers may run concurrently (HttpEndpoint's worker
// threads); the renderers are pure functions.
#ifndef AUTOTM_SERVER_DASHBOARD_H_
#define AUTOTM_SERVER_DASHBOARD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "server/auth.h"
#include "server/http_endpoint.h"
#include "server/store/store.h"

namespace autotm::server {

// The cookie the sign-in form sets.
inline constexpr char kDashboardCookie[] = "autotm_token";

// Who is looking, and what the gRPC API's rules let them see.
struct DashboardViewer {
  Principal principal;
  bool open = false;  // open mode: nobody signed in

  // ListSolveJobs: readers and operators list every job.
  bool MayListAll() const {
    return principal.IsOperator() || principal.Has(kRoleReader);
  }
  bool MaySeeJob(const std::string& owner) const {
    return MayListAll() || owner == principal.name;
  }
  // GetSolveJob/GetPlan: operators any job, planners their own.
  bool MaySeePlans(const std::string& owner) const {
    return principal.IsOperator() ||
           (principal.Has(kRolePlanner) && owner == principal.name);
  }
};

// --- Pure renderers (tested in dashboard_test.cc). ---

// `text` with & < > " ' escaped: safe in HTML text and quoted attributes.
std::string HtmlEscape(absl::string_view text);
// `text` as a JSON string literal, quotes included; <, >, & and non-ASCII
// control characters as \u escapes, so that it is also safe inside HTML.
std::string JsonString(absl::string_view text);

// One job as the queue shows it.
struct QueueRow {
  v1::SolveJob job;
  std::string graph_name;  // "" when unknown
};

// The whole HTML document of a page: title, navigation, who is signed in,
// the stylesheet, then `body` (already HTML) and `script` (JavaScript,
// empty for none).
std::string RenderDashboardPage(absl::string_view title,
                                const DashboardViewer& viewer,
                                absl::string_view body,
                                absl::string_view script = "");

// The queue table (rows newest first, as given) and its polling script.
// `scope` says whose jobs they are ("all jobs", "your jobs").
std::string RenderQueueBody(const std::vector<QueueRow>& rows,
                            absl::string_view scope);
// `api` is the JSON endpoint to poll (a path of this server).
std::string QueueScript(absl::string_view api = "/dashboard/api/jobs");
// {"jobs":[{"id":..,"state":..,"cells":{"progress":..,...}}]}: the live
// cells of each row, formatted as the table shows them.
std::string QueueJson(const std::vector<QueueRow>& rows);

struct HostClassRow {
  HostClassInfo info;
  std::vector<Contribution> contributors;
  std::string error;  // why contributors are missing, "" when none
};
std::string RenderHostClassesBody(const std::vector<HostClassRow>& rows);

// One plan of a job, as the job page shows it.
struct JobPlanView {
  std::string key;
  std::optional<v1::Plan> plan;  // nullopt: could not be read (error says)
  std::string svg;               // the picture, "" when not drawn
  std::string error;
};
struct JobView {
  QueueRow row;
  bool plans_visible = false;  // DashboardViewer::MaySeePlans
  std::vector<JobPlanView> plans;
  std::string sweep_svg;  // "" unless at least two budgets have plans
  std::string note;       // e.g. why pictures are missing
};
std::string RenderJobBody(const JobView& view);
std::string JobScript(absl::string_view job_id);

// A graph's page: its jobs (rows, as the queue shows them) and its sweep
// curve (`sweep_svg`, "" for none; `note` says why there is none).
std::string RenderGraphBody(absl::string_view name, absl::string_view digest,
                            const std::vector<QueueRow>& rows,
                            absl::string_view sweep_svg,
                            absl::string_view note);

// The sweep chart (an inline <svg>) of time against fast memory: one series
// per entry of `series` (name -> (budget bytes, predicted us) points, drawn
// in MiB and ms, sorted by budget). "" when no series has two points.
std::string RenderSweepSvg(
    absl::string_view title, absl::string_view subtitle,
    const std::map<std::string, std::vector<std::pair<uint64_t, double>>>&
        series);

// The sign-in form; `message` (may be empty) says why it is shown.
std::string RenderLoginBody(absl::string_view message);

// The live cells of a job as text: "progress" (budgets done/total),
// "incumbent", "bound", "gap", "elapsed", "state".
std::map<std::string, std::string> LiveCells(const v1::SolveJob& job);

// --- The handlers. ---

class Dashboard {
 public:
  // Queue pages list at most this many jobs (newest first).
  static constexpr int kMaxJobs = 200;
  // A job page draws at most this many plan pictures at once; with more
  // plans it draws the one chosen by ?plan=N (default the first).
  static constexpr int kMaxPictures = 3;

  // `store` and `authorizer` must outlive the dashboard.
  Dashboard(Store& store, const Authorizer& authorizer)
      : store_(store), authorizer_(authorizer) {}

  // Registers every path above on `http` (before http.Start()).
  absl::Status Register(HttpEndpoint& http);

  // The viewer of `request`: UNAUTHENTICATED (no or unknown token) in
  // authenticated mode; the local principal in open mode.
  absl::StatusOr<DashboardViewer> Authenticate(
      const HttpRequest& request) const;

  HttpResponse Queue(const HttpRequest& request);
  HttpResponse QueueApi(const HttpRequest& request);
  HttpResponse Job(const HttpRequest& request);
  HttpResponse JobApi(const HttpRequest& request);
  HttpResponse Hosts(const HttpRequest& request);
  HttpResponse Graph(const HttpRequest& request);
  HttpResponse Login(const HttpRequest& request);

 private:
  absl::StatusOr<std::vector<QueueRow>> ListRows(const DashboardViewer& viewer);
  // The graph's name, cached (a digest names immutable content); "" when
  // it cannot be read.
  // (Graphs are read whole; names are cached so a queue does not re-read.)
  std::string GraphName(const std::string& digest);
  HttpResponse Unauthenticated(const absl::Status& status, bool json) const;

  Store& store_;
  const Authorizer& authorizer_;
  absl::Mutex mu_;
  std::map<std::string, std::string> graph_names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_DASHBOARD_H_
