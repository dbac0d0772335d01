#include "server/dashboard.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "client/common/plan_picture.h"
#include "client/common/svg_chart.h"
#include "solver/graph_model.h"

namespace autotm::server {
namespace {

constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kDash[] = "\xE2\x80\x94";  // an em dash: no value

// One small stylesheet for every page: readable tables, state colours.
constexpr char kStyle[] = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;
gap:24px;align-items:baseline}
header a{color:#cfd8ea;text-decoration:none}header a:hover{color:#fff}
header .brand{font-weight:600;color:#fff;font-size:16px}
header .who{margin-left:auto;color:#aab4c8;font-size:13px}
main{padding:16px 24px;max-width:1280px}
h1{font-size:20px;margin:8px 0 12px}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;
font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid #e3e6eb;text-align:left;
vertical-align:top}
th{background:#eef0f4;font-weight:600;font-size:13px}
td.num,th.num{text-align:right}
td.num,td.id,td.time{white-space:nowrap}
a{color:#1f5fbf}
.state{font-weight:600;font-size:12px;padding:2px 7px;border-radius:9px;
display:inline-block}
.s-QUEUED{background:#eceff4;color:#4a5568}
.s-RUNNING{background:#dbeafe;color:#1e4fa8}
.s-SUCCEEDED{background:#dcf5e3;color:#19663a}
.s-FAILED{background:#fde2e1;color:#a1261f}
.s-CANCELLED{background:#f6ecd2;color:#7a5a12}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;
background:#fff;padding:10px 14px;box-shadow:0 1px 2px #0002;margin:0}
dt{color:#5a6478}dd{margin:0}
code{font-size:12px;color:#3a4356}
figure{background:#fff;margin:12px 0;padding:8px;box-shadow:0 1px 2px #0002}
figure svg{max-width:100%;height:auto;display:block}
figcaption{color:#5a6478;font-size:13px;margin-top:4px}
.muted{color:#6b7488}.error{color:#a1261f}
.note{background:#fff8e1;padding:8px 12px;border-left:3px solid #e0b400}
form input{font:inherit;padding:6px;width:28em}
form button{font:inherit;padding:6px 14px}
)css";

std::string FormatUs(double us) {
  if (!(us > 0)) return kDash;
  if (us >= 1e6) return absl::StrFormat("%.3f s", us / 1e6);
  return absl::StrFormat("%.3f ms", us / 1e3);
}

std::string FormatBytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) {
    return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
  }
  if (b >= 1024.0 * 1024) return absl::StrFormat("%.1f MiB", b / 1048576.0);
  if (b >= 1024.0) return absl::StrFormat("%.1f KiB", b / 1024.0);
  return absl::StrCat(bytes, " B");
}

std::string FormatTimeUs(int64_t us) {
  if (us <= 0) return kDash;
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMicros(us),
                          absl::UTCTimeZone());
}

std::string StateName(v1::SolveJob::State state) {
  return v1::SolveJob::State_Name(state);
}

// Percent-encodes everything but unreserved characters, for query values.
std::string UrlEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

std::string UrlDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::ascii_isxdigit(text[i + 1]) &&
        absl::ascii_isxdigit(text[i + 2])) {
      out += static_cast<char>(
          std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string JobLink(const std::string& id) {
  return absl::StrCat("<a href=\"/dashboard/job?id=", UrlEncode(id), "\">",
                      HtmlEscape(id), "</a>");
}

// The graph's name linking to its page ("?" for an unknown name).
std::string GraphLink(const std::string& digest, const std::string& name) {
  return absl::StrCat("<a href=\"/dashboard/graph?digest=", UrlEncode(digest),
                      "\">", name.empty() ? "?" : HtmlEscape(name), "</a>");
}

std::string StateBadge(v1::SolveJob::State state) {
  const std::string name = StateName(state);
  return absl::StrCat("<span class=\"state s-", name, "\" data-f=\"state\">",
                      name, "</span>");
}

// Security headers of every answer: nothing cached (pages carry live,
// per-principal data), no framing, no sniffing, scripts and styles only
// inline, fetches only to this origin, and no form may submit anywhere
// (the sign-in form is handled by its script, so a token never lands in a
// URL).
void AddCommonHeaders(HttpResponse& response) {
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; style-src 'unsafe-inline'; script-src "
      "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
      "form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
}

HttpResponse Answer(int status, const char* content_type, std::string body) {
  HttpResponse response{.status = status,
                        .content_type = content_type,
                        .body = std::move(body),
                        .headers = {}};
  AddCommonHeaders(response);
  return response;
}

// The <svg ...>...</svg> element of a standalone SVG document, for inlining
// in HTML (the XML declaration has no place there).
std::string InlineSvg(const std::string& document) {
  const size_t start = document.find("<svg");
  return start == std::string::npos ? document : document.substr(start);
}

constexpr char kSignOutScript[] = R"js(
(function(){var a=document.getElementById('signout');if(!a)return;
a.addEventListener('click',function(e){e.preventDefault();
document.cookie='autotm_token=; path=/; max-age=0; SameSite=Strict'+
(location.protocol==='https:'?'; Secure':'');
location.href='/dashboard/login';});})();
)js";

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

std::map<std::string, std::string> LiveCells(const v1::SolveJob& job) {
  std::map<std::string, std::string> cells;
  const bool started = job.state() != v1::SolveJob::QUEUED;
  cells["state"] = StateName(job.state());
  cells["progress"] =
      absl::StrCat(job.budgets_done(), " / ", job.budgets_bytes_size());
  cells["incumbent"] = FormatUs(job.incumbent_us());
  cells["bound"] = FormatUs(job.bound_us());
  cells["gap"] = started && job.incumbent_us() > 0
                     ? absl::StrFormat("%.2f%%", job.relative_gap() * 100)
                     : kDash;
  cells["elapsed"] = started && job.elapsed_seconds() > 0
                         ? absl::StrFormat("%.1f s", job.elapsed_seconds())
                         : kDash;
  return cells;
}

std::string RenderDashboardPage(absl::string_view title,
                                const DashboardViewer& viewer,
                                absl::string_view body,
                                absl::string_view script) {
  std::string who;
  if (viewer.open) {
    who = "open mode (no authentication)";
  } else if (!viewer.principal.name.empty()) {
    who = absl::StrCat("signed in as ", HtmlEscape(viewer.principal.name), " (",
                       HtmlEscape(RoleNames(viewer.principal.roles)),
                       ") &middot; <a href=\"#\" id=\"signout\">sign out</a>");
  }
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>",
      HtmlEscape(title), " &middot; autotm</title><style>", kStyle,
      "</style></head><body><header><span class=\"brand\">autotm</span>"
      "<a href=\"/dashboard\">Queue</a>"
      "<a href=\"/dashboard/hosts\">Host classes</a>"
      "<span class=\"who\">",
      who, "</span></header><main><h1>", HtmlEscape(title), "</h1>", body,
      "</main><script>", kSignOutScript, script, "</script></body></html>\n");
}

std::string RenderQueueBody(const std::vector<QueueRow>& rows,
                            absl::string_view scope) {
  std::string out = absl::StrCat(
      "<p class=\"muted\">", HtmlEscape(scope), ", newest first; ", rows.size(),
      " shown. Live numbers refresh every 1.5 s. <span "
      "id=\"updated\"></span></p>");
  if (rows.empty()) {
    absl::StrAppend(&out, "<p id=\"empty\">No jobs.</p>");
    return out;
  }
  absl::StrAppend(&out,
                  "<table id=\"queue\"><thead><tr><th>Job</th><th>State</th>"
                  "<th>Owner</th><th class=\"num\">Priority</th><th>Graph</th>"
                  "<th>Host class</th><th class=\"num\">Budgets done</th>"
                  "<th class=\"num\">Incumbent</th><th class=\"num\">Bound</th>"
                  "<th class=\"num\">Gap</th><th class=\"num\">Elapsed</th>"
                  "<th>Created</th></tr></thead><tbody>");
  for (const QueueRow& row : rows) {
    const v1::SolveJob& job = row.job;
    std::map<std::string, std::string> cells = LiveCells(job);
    absl::StrAppend(
        &out, "<tr data-job=\"", HtmlEscape(job.id()), "\"><td class=\"id\">",
        JobLink(job.id()), "</td><td>", StateBadge(job.state()), "</td><td>",
        HtmlEscape(job.owner()), "</td><td class=\"num\">", job.priority(),
        "</td><td>", GraphLink(job.graph_digest(), row.graph_name), "</td><td>",
        HtmlEscape(job.host_class()), "</td>");
    for (const char* field :
         {"progress", "incumbent", "bound", "gap", "elapsed"}) {
      absl::StrAppend(&out, "<td class=\"num\" data-f=\"", field, "\">",
                      HtmlEscape(cells[field]), "</td>");
    }
    absl::StrAppend(&out, "<td class=\"time\">",
                    FormatTimeUs(job.create_time_us()), "</td></tr>");
  }
  absl::StrAppend(&out, "</tbody></table>");
  return out;
}

std::string QueueJson(const std::vector<QueueRow>& rows) {
  std::string out = "{\"jobs\":[";
  bool first = true;
  for (const QueueRow& row : rows) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, "{\"id\":", JsonString(row.job.id()),
                    ",\"state\":", JsonString(StateName(row.job.state())),
                    ",\"cells\":{");
    bool first_cell = true;
    for (const auto& [key, value] : LiveCells(row.job)) {
      if (!first_cell) out += ",";
      first_cell = false;
      absl::StrAppend(&out, JsonString(key), ":", JsonString(value));
    }
    out += "}}";
  }
  out += "]}\n";
  return out;
}

// Polls the JSON and writes each cell with textContent (never as HTML).
// Reloads when the set of jobs changed (a new job, one fell off the page).
std::string QueueScript(absl::string_view api) {
  return absl::StrCat("\n(function(){var api=", JsonString(api), ";", R"js(
var rows=new Map();
document.querySelectorAll('tr[data-job]').forEach(function(r){
  rows.set(r.getAttribute('data-job'),r);});
var updated=document.getElementById('updated');
function tick(){
  fetch(api,{credentials:'same-origin',cache:'no-store'})
  .then(function(r){
    if(r.status===401){location.href='/dashboard/login';throw 'signed out';}
    return r.json();})
  .then(function(d){
    var same=d.jobs.length===rows.size&&d.jobs.every(function(j){
      return rows.has(j.id);});
    if(!same){location.reload();return;}
    d.jobs.forEach(function(j){
      var row=rows.get(j.id);
      Object.keys(j.cells).forEach(function(k){
        var c=row.querySelector('[data-f="'+k+'"]');
        if(c)c.textContent=j.cells[k];});
      var s=row.querySelector('.state');
      if(s)s.className='state s-'+j.state;});
    updated.textContent='updated '+new Date().toLocaleTimeString();})
  .catch(function(e){updated.textContent='not updated: '+e;});
}
setInterval(tick,1500);
})();
)js");
}

std::string RenderHostClassesBody(const std::vector<HostClassRow>& rows) {
  if (rows.empty()) return "<p id=\"empty\">No host classes.</p>";
  std::string out =
      "<table id=\"hosts\"><thead><tr><th>Host class</th><th>Fast / slow "
      "tier</th><th>Fingerprint</th><th class=\"num\">Profile "
      "version</th><th class=\"num\">Signatures</th><th "
      "class=\"num\">Configurations</th><th class=\"num\">Measurements</th>"
      "<th>Contributors (measurements, signatures)</th></tr></thead><tbody>";
  for (const HostClassRow& row : rows) {
    const v1::HostClass& host = row.info.host_class;
    std::string contributors;
    if (!row.error.empty()) {
      contributors = absl::StrCat("<span class=\"error\">",
                                  HtmlEscape(row.error), "</span>");
    } else if (row.contributors.empty()) {
      contributors = "<span class=\"muted\">none</span>";
    } else {
      std::vector<std::string> items;
      for (const Contribution& c : row.contributors) {
        items.push_back(absl::StrCat("<li>", HtmlEscape(c.uploader), " (",
                                     c.measurements, ", ", c.signatures,
                                     ")</li>"));
      }
      contributors = absl::StrCat("<ul class=\"contributors\">",
                                  absl::StrJoin(items, ""), "</ul>");
    }
    absl::StrAppend(
        &out, "<tr data-host=\"", HtmlEscape(host.name()), "\"><td>",
        HtmlEscape(host.name()), "</td><td>", HtmlEscape(host.fast_tier_name()),
        " / ", HtmlEscape(host.slow_tier_name()), "</td><td><code>",
        HtmlEscape(host.fingerprint()), "</code></td><td class=\"num\">",
        row.info.version, "</td><td class=\"num\">", row.info.signatures,
        "</td><td class=\"num\">", row.info.configs, "</td><td class=\"num\">",
        row.info.measurements, "</td><td>", contributors, "</td></tr>");
  }
  absl::StrAppend(&out, "</tbody></table>");
  return out;
}

std::string RenderJobBody(const JobView& view) {
  const v1::SolveJob& job = view.row.job;
  std::map<std::string, std::string> cells = LiveCells(job);
  std::vector<std::string> budgets;
  for (uint64_t b : job.budgets_bytes()) budgets.push_back(FormatBytes(b));
  std::string out = absl::StrCat(
      "<dl id=\"job\" data-state=\"", StateName(job.state()), "\">",
      "<dt>State</dt><dd>", StateBadge(job.state()), "</dd>",
      "<dt>Owner</dt><dd>", HtmlEscape(job.owner()), "</dd>",
      "<dt>Priority</dt><dd>", job.priority(), "</dd>", "<dt>Graph</dt><dd>",
      GraphLink(job.graph_digest(), view.row.graph_name), " <code>",
      HtmlEscape(job.graph_digest()), "</code></dd>", "<dt>Host class</dt><dd>",
      HtmlEscape(job.host_class()), " (profile version ", job.profile_version(),
      ")</dd>", "<dt>Budgets</dt><dd>",
      HtmlEscape(absl::StrJoin(budgets, ", ")), "</dd><dt>Method</dt><dd>",
      v1::Method_Name(job.parameters().method()), ", time limit ",
      absl::StrFormat("%g", job.parameters().time_limit_seconds()),
      " s per budget</dd><dt>Created</dt><dd>",
      FormatTimeUs(job.create_time_us()), "</dd><dt>Started</dt><dd>",
      FormatTimeUs(job.start_time_us()), "</dd><dt>Ended</dt><dd>",
      FormatTimeUs(job.end_time_us()), "</dd>");
  if (!job.error().empty()) {
    absl::StrAppend(&out, "<dt>Error</dt><dd class=\"error\">",
                    HtmlEscape(job.error()), "</dd>");
  }
  absl::StrAppend(&out,
                  "</dl><h2>Progress</h2><p class=\"muted\">"
                  "Refreshes every 1.5 s while the job is queued or "
                  "running. <span id=\"updated\"></span></p>"
                  "<table id=\"live\"><thead><tr>"
                  "<th class=\"num\">Budgets done</th>"
                  "<th class=\"num\">Incumbent</th>"
                  "<th class=\"num\">Bound</th><th class=\"num\">Gap</th>"
                  "<th class=\"num\">Elapsed</th></tr></thead><tbody>"
                  "<tr>");
  for (const char* field :
       {"progress", "incumbent", "bound", "gap", "elapsed"}) {
    absl::StrAppend(&out, "<td class=\"num\" data-f=\"", field, "\">",
                    HtmlEscape(cells[field]), "</td>");
  }
  absl::StrAppend(&out, "</tr></tbody></table><h2>Plans</h2>");
  if (!view.note.empty()) {
    absl::StrAppend(&out, "<p class=\"note\">", HtmlEscape(view.note), "</p>");
  }
  if (!view.plans_visible) {
    absl::StrAppend(&out,
                    "<p class=\"muted\">A job's plans are shown to its owner "
                    "(with the planner role) and to operators.</p>");
    return out;
  }
  if (view.plans.empty()) {
    absl::StrAppend(&out, "<p class=\"muted\">No plans yet.</p>");
    return out;
  }
  absl::StrAppend(
      &out,
      "<table id=\"plans\"><thead><tr><th class=\"num\">#</th>"
      "<th class=\"num\">Budget</th><th class=\"num\">Predicted time</th>"
      "<th class=\"num\">Kernel time</th><th class=\"num\">Move time</th>"
      "<th class=\"num\">Peak fast</th><th class=\"num\">Moves</th>"
      "<th>Solver</th><th>Picture</th></tr></thead><tbody>");
  for (size_t i = 0; i < view.plans.size(); ++i) {
    const JobPlanView& p = view.plans[i];
    absl::StrAppend(&out, "<tr><td class=\"num\">", i + 1, "</td>");
    if (!p.plan.has_value()) {
      absl::StrAppend(&out, "<td colspan=\"8\" class=\"error\">",
                      HtmlEscape(p.error), "</td></tr>");
      continue;
    }
    const v1::Plan& plan = *p.plan;
    absl::StrAppend(
        &out, "<td class=\"num\">", FormatBytes(plan.budget_bytes()),
        "</td><td class=\"num\">", FormatUs(plan.predicted_time_us()),
        "</td><td class=\"num\">", FormatUs(plan.kernel_time_us()),
        "</td><td class=\"num\">", FormatUs(plan.move_time_us()),
        "</td><td class=\"num\">", FormatBytes(plan.peak_fast_bytes()),
        "</td><td class=\"num\">", plan.moves_size(), "</td><td>",
        HtmlEscape(v1::Termination_Name(plan.stats().termination())),
        "</td><td>",
        p.svg.empty()
            ? absl::StrCat("<a href=\"/dashboard/job?id=", UrlEncode(job.id()),
                           "&amp;plan=", i + 1, "\">show</a>")
            : absl::StrCat("<a href=\"#plan-", i + 1, "\">below</a>"),
        "</td></tr>");
  }
  absl::StrAppend(&out, "</tbody></table>");
  if (!view.sweep_svg.empty()) {
    absl::StrAppend(&out, "<h2>Sweep</h2><figure id=\"sweep\">", view.sweep_svg,
                    "<figcaption>Predicted iteration time against the fast "
                    "memory budget, one point per budget of this "
                    "job.</figcaption></figure>");
  }
  for (size_t i = 0; i < view.plans.size(); ++i) {
    const JobPlanView& p = view.plans[i];
    if (p.svg.empty() && p.error.empty()) continue;
    if (!p.plan.has_value()) continue;
    absl::StrAppend(&out, "<h2>Plan ", i + 1, ": budget ",
                    FormatBytes(p.plan->budget_bytes()), "</h2>");
    if (!p.error.empty()) {
      absl::StrAppend(&out, "<p class=\"error\">", HtmlEscape(p.error), "</p>");
      continue;
    }
    absl::StrAppend(&out, "<figure class=\"plan-picture\" id=\"plan-", i + 1,
                    "\">", p.svg, "<figcaption>Plan key <code>",
                    HtmlEscape(p.key), "</code></figcaption></figure>");
  }
  return out;
}

std::string JobScript(absl::string_view job_id) {
  return absl::StrCat("\n(function(){var id=", JsonString(job_id), ";", R"js(
var job=document.getElementById('job');
var live=document.getElementById('live');
var updated=document.getElementById('updated');
var first=job.getAttribute('data-state');
if(first!=='QUEUED'&&first!=='RUNNING')return;
function tick(){
  fetch('/dashboard/api/job?id='+encodeURIComponent(id),
        {credentials:'same-origin',cache:'no-store'})
  .then(function(r){
    if(r.status===401){location.href='/dashboard/login';throw 'signed out';}
    return r.json();})
  .then(function(j){
    if(j.state!==first){location.reload();return;}
    Object.keys(j.cells).forEach(function(k){
      var c=live.querySelector('[data-f="'+k+'"]');
      if(c)c.textContent=j.cells[k];});
    updated.textContent='updated '+new Date().toLocaleTimeString();})
  .catch(function(e){updated.textContent='not updated: '+e;});
}
setInterval(tick,1500);
})();
)js");
}

std::string RenderSweepSvg(
    absl::string_view title, absl::string_view subtitle,
    const std::map<std::string, std::vector<std::pair<uint64_t, double>>>&
        series) {
  client::LineChart chart;
  chart.title = std::string(title);
  chart.subtitle = std::string(subtitle);
  chart.x_label = "fast memory budget (MiB)";
  chart.y_label = "predicted iteration time (ms)";
  chart.width = 800;
  chart.height = 420;
  bool any = false;
  for (const auto& [name, raw] : series) {
    std::vector<std::pair<uint64_t, double>> sorted = raw;
    std::sort(sorted.begin(), sorted.end());
    client::ChartSeries line;
    line.name = name;
    for (const auto& [bytes, us] : sorted) {
      line.points.emplace_back(bytes / 1048576.0, us / 1e3);
    }
    any = any || line.points.size() >= 2;
    chart.series.push_back(std::move(line));
  }
  if (!any) return "";
  return InlineSvg(client::RenderLineChartSvg(chart));
}

std::string RenderGraphBody(absl::string_view name, absl::string_view digest,
                            const std::vector<QueueRow>& rows,
                            absl::string_view sweep_svg,
                            absl::string_view note) {
  std::string out =
      absl::StrCat("<dl id=\"graph\"><dt>Graph</dt><dd>", HtmlEscape(name),
                   "</dd><dt>Digest</dt><dd><code>", HtmlEscape(digest),
                   "</code></dd></dl><h2>Sweep</h2>");
  if (sweep_svg.empty()) {
    absl::StrAppend(&out, "<p class=\"muted\">", HtmlEscape(note), "</p>");
  } else {
    absl::StrAppend(&out, "<figure id=\"sweep\">", sweep_svg,
                    "<figcaption>Predicted iteration time against the fast "
                    "memory budget, per host class, from the plans of the "
                    "jobs below (the fastest plan per budget).</figcaption>"
                    "</figure>");
  }
  absl::StrAppend(&out, "<h2>Jobs</h2>",
                  RenderQueueBody(rows, "Jobs of this graph"));
  return out;
}

std::string RenderLoginBody(absl::string_view message) {
  return absl::StrCat(
      message.empty()
          ? ""
          : absl::StrCat("<p class=\"note\">", HtmlEscape(message), "</p>"),
      "<p>This server requires a token (the same token as for the autotm "
      "CLI, see docs/SECURITY.md). It is kept in a cookie of this browser "
      "for this site only; the dashboard is read-only.</p>"
      "<form id=\"login\"><input id=\"token\" type=\"password\" "
      "autocomplete=\"off\" placeholder=\"token\" autofocus> "
      "<button type=\"submit\">Sign in</button></form>"
      "<script>document.getElementById('login').addEventListener('submit',"
      "function(e){e.preventDefault();var t=document.getElementById('token')."
      "value.trim();document.cookie='autotm_token='+encodeURIComponent(t)+"
      "'; path=/; SameSite=Strict'+(location.protocol==='https:'?'; Secure':"
      "'');location.href='/dashboard';});</script>");
}

// --- Dashboard ---

absl::Status Dashboard::Register(HttpEndpoint& http) {
  const std::vector<std::pair<std::string, HttpGetHandler>> routes = {
      {"/",
       [](const HttpRequest&) {
         HttpResponse response =
             Answer(302, kHtml, "<a href=\"/dashboard\">dashboard</a>\n");
         response.headers.emplace_back("Location", "/dashboard");
         return response;
       }},
      {"/dashboard", [this](const HttpRequest& r) { return Queue(r); }},
      {"/dashboard/api/jobs",
       [this](const HttpRequest& r) { return QueueApi(r); }},
      {"/dashboard/job", [this](const HttpRequest& r) { return Job(r); }},
      {"/dashboard/api/job",
       [this](const HttpRequest& r) { return JobApi(r); }},
      {"/dashboard/hosts", [this](const HttpRequest& r) { return Hosts(r); }},
      {"/dashboard/graph", [this](const HttpRequest& r) { return Graph(r); }},
      {"/dashboard/login", [this](const HttpRequest& r) { return Login(r); }},
  };
  for (const auto& [path, handler] : routes) {
    if (absl::Status status = http.HandleGet(path, handler); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DashboardViewer> Dashboard::Authenticate(
    const HttpRequest& request) const {
  std::string token;
  if (auto it = request.headers.find("authorization");
      it != request.headers.end()) {
    absl::string_view value = it->second;
    if (absl::StartsWithIgnoreCase(value, "Bearer ")) {
      token = std::string(absl::StripAsciiWhitespace(value.substr(7)));
    }
  }
  if (token.empty()) {
    if (auto it = request.headers.find("cookie"); it != request.headers.end()) {
      for (absl::string_view part : absl::StrSplit(it->second, ';')) {
        part = absl::StripAsciiWhitespace(part);
        if (absl::ConsumePrefix(&part, kDashboardCookie) &&
            absl::ConsumePrefix(&part, "=")) {
          token = UrlDecode(part);
          break;
        }
      }
    }
  }
  absl::StatusOr<Principal> principal = authorizer_.Authenticate(token, "");
  if (!principal.ok()) return principal.status();
  DashboardViewer viewer;
  viewer.principal = *std::move(principal);
  viewer.open = authorizer_.open();
  return viewer;
}

HttpResponse Dashboard::Unauthenticated(const absl::Status& status,
                                        bool json) const {
  HttpResponse response =
      json ? Answer(401, kJson,
                    absl::StrCat("{\"error\":", JsonString(status.message()),
                                 "}\n"))
           : Answer(401, kHtml,
                    RenderDashboardPage(
                        "Sign in", DashboardViewer{},
                        RenderLoginBody(absl::StrCat("Not signed in: ",
                                                     status.message()))));
  response.headers.emplace_back("WWW-Authenticate",
                                "Bearer realm=\"autotm dashboard\"");
  return response;
}

absl::StatusOr<std::vector<QueueRow>> Dashboard::ListRows(
    const DashboardViewer& viewer) {
  JobFilter filter;
  filter.page_size = kMaxJobs;
  if (!viewer.MayListAll()) filter.owner = viewer.principal.name;
  absl::StatusOr<JobPage> page = store_.jobs().ListJobs(filter);
  if (!page.ok()) return page.status();
  std::vector<QueueRow> rows;
  for (v1::SolveJob& job : page->jobs) {
    QueueRow row;
    row.graph_name = GraphName(job.graph_digest());
    row.job = std::move(job);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string Dashboard::GraphName(const std::string& digest) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = graph_names_.find(digest); it != graph_names_.end()) {
      return it->second;
    }
  }
  absl::StatusOr<v1::Graph> graph = store_.graphs().GetGraph(digest);
  if (!graph.ok()) return "";
  absl::MutexLock lock(&mu_);
  // Bounded: a long-lived server sees many graphs.
  if (graph_names_.size() >= 10000) graph_names_.clear();
  graph_names_[digest] = graph->name();
  return graph->name();
}

HttpResponse Dashboard::Queue(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), false);
  absl::StatusOr<std::vector<QueueRow>> rows = ListRows(*viewer);
  if (!rows.ok()) {
    return Answer(
        500, kHtml,
        RenderDashboardPage(
            "Queue", *viewer,
            absl::StrCat("<p class=\"error\">",
                         HtmlEscape(rows.status().ToString()), "</p>")));
  }
  return Answer(200, kHtml,
                RenderDashboardPage(
                    "Queue", *viewer,
                    RenderQueueBody(
                        *rows, viewer->MayListAll() ? "All jobs" : "Your jobs"),
                    QueueScript()));
}

HttpResponse Dashboard::QueueApi(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), true);
  absl::StatusOr<std::vector<QueueRow>> rows = ListRows(*viewer);
  if (auto digest = request.params.find("digest");
      rows.ok() && digest != request.params.end()) {
    std::erase_if(*rows, [&](const QueueRow& row) {
      return row.job.graph_digest() != digest->second;
    });
  }
  if (!rows.ok()) {
    return Answer(500, kJson,
                  absl::StrCat("{\"error\":",
                               JsonString(rows.status().ToString()), "}\n"));
  }
  return Answer(200, kJson, QueueJson(*rows));
}

HttpResponse Dashboard::JobApi(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), true);
  auto id = request.params.find("id");
  if (id == request.params.end()) {
    return Answer(400, kJson, "{\"error\":\"missing ?id=\"}\n");
  }
  absl::StatusOr<v1::SolveJob> job = store_.jobs().GetJob(id->second);
  // Another principal's job reads as absent: the page must not tell which
  // ids exist.
  if (!job.ok() || !viewer->MaySeeJob(job->owner())) {
    return Answer(404, kJson, "{\"error\":\"no such job\"}\n");
  }
  std::string out = absl::StrCat(
      "{\"id\":", JsonString(job->id()),
      ",\"state\":", JsonString(StateName(job->state())), ",\"cells\":{");
  bool first = true;
  for (const auto& [key, value] : LiveCells(*job)) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, JsonString(key), ":", JsonString(value));
  }
  out += "}}\n";
  return Answer(200, kJson, std::move(out));
}

HttpResponse Dashboard::Job(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), false);
  auto id = request.params.find("id");
  absl::StatusOr<v1::SolveJob> job =
      id == request.params.end() ? absl::InvalidArgumentError("missing ?id=")
                                 : store_.jobs().GetJob(id->second);
  if (!job.ok() || !viewer->MaySeeJob(job->owner())) {
    return Answer(404, kHtml,
                  RenderDashboardPage("No such job", *viewer,
                                      "<p>No job with this id is visible to "
                                      "you.</p>"));
  }
  JobView view;
  view.row.graph_name = GraphName(job->graph_digest());
  view.row.job = *job;
  view.plans_visible = viewer->MaySeePlans(job->owner());
  if (view.plans_visible && job->plan_keys_size() > 0) {
    for (const std::string& key : job->plan_keys()) {
      JobPlanView p;
      p.key = key;
      absl::StatusOr<v1::Plan> plan = store_.plans().GetPlan(key);
      if (plan.ok()) {
        p.plan = *std::move(plan);
      } else {
        p.error = absl::StrCat("plan not readable: ", plan.status().message());
      }
      view.plans.push_back(std::move(p));
    }
    // Which pictures: all of a few plans, else the one asked for.
    int chosen = 0;
    if (auto it = request.params.find("plan"); it != request.params.end()) {
      chosen = std::atoi(it->second.c_str());
    }
    std::vector<bool> draw(view.plans.size(), false);
    if (static_cast<int>(view.plans.size()) <= kMaxPictures) {
      std::fill(draw.begin(), draw.end(), true);
    } else {
      const int index = chosen >= 1 && chosen <= static_cast<int>(draw.size())
                            ? chosen - 1
                            : 0;
      draw[index] = true;
      view.note = absl::StrCat(
          "This job has ", view.plans.size(),
          " plans; one picture is drawn at a time (choose with \"show\").");
    }
    absl::StatusOr<v1::Graph> graph =
        store_.graphs().GetGraph(job->graph_digest());
    absl::StatusOr<solver::GraphModel> model =
        graph.ok() ? solver::GraphModel::Create(*graph)
                   : absl::StatusOr<solver::GraphModel>(graph.status());
    if (!model.ok()) {
      view.note = absl::StrCat("No pictures: the graph cannot be read (",
                               model.status().message(), ")");
    } else {
      for (size_t i = 0; i < view.plans.size(); ++i) {
        JobPlanView& p = view.plans[i];
        if (!draw[i] || !p.plan.has_value()) continue;
        client::PlanPictureOptions options;
        options.width = 1180;
        options.id_prefix = absl::StrCat("plan", i + 1, "-");
        absl::StatusOr<std::string> svg =
            client::RenderPlanSvg(*p.plan, *model, options);
        if (svg.ok()) {
          p.svg = InlineSvg(*svg);
        } else {
          p.error = absl::StrCat("no picture: ", svg.status().message());
        }
      }
    }
    // This job's sweep: its budgets, time against memory.
    std::map<std::string, std::vector<std::pair<uint64_t, double>>> series;
    for (const JobPlanView& p : view.plans) {
      if (!p.plan.has_value()) continue;
      series[job->host_class()].emplace_back(p.plan->budget_bytes(),
                                             p.plan->predicted_time_us());
    }
    view.sweep_svg =
        RenderSweepSvg(absl::StrCat("Sweep: ", view.row.graph_name),
                       absl::StrCat("the budgets of job ", job->id()), series);
  }
  return Answer(200, kHtml,
                RenderDashboardPage(absl::StrCat("Job ", job->id()), *viewer,
                                    RenderJobBody(view), JobScript(job->id())));
}

HttpResponse Dashboard::Graph(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), false);
  auto digest = request.params.find("digest");
  absl::StatusOr<std::vector<QueueRow>> all =
      digest == request.params.end()
          ? absl::InvalidArgumentError("missing ?digest=")
          : ListRows(*viewer);
  std::vector<QueueRow> rows;
  if (all.ok()) {
    for (QueueRow& row : *all) {
      if (row.job.graph_digest() == digest->second) {
        rows.push_back(std::move(row));
      }
    }
  }
  // Only graphs of jobs the viewer may see: the page must not tell which
  // other graphs are stored.
  if (rows.empty()) {
    return Answer(404, kHtml,
                  RenderDashboardPage("No such graph", *viewer,
                                      "<p>No job of yours (among the newest "
                                      "jobs) plans this graph.</p>"));
  }
  // Per host class and budget the fastest plan of the jobs whose plans
  // the viewer may see.
  std::map<std::string, std::map<uint64_t, double>> best;
  int hidden = 0;
  for (const QueueRow& row : rows) {
    if (!viewer->MaySeePlans(row.job.owner())) {
      ++hidden;
      continue;
    }
    for (const std::string& key : row.job.plan_keys()) {
      absl::StatusOr<v1::Plan> plan = store_.plans().GetPlan(key);
      if (!plan.ok()) continue;
      auto [it, fresh] = best[row.job.host_class()].emplace(
          plan->budget_bytes(), plan->predicted_time_us());
      if (!fresh) {
        it->second = std::min(it->second, plan->predicted_time_us());
      }
    }
  }
  std::map<std::string, std::vector<std::pair<uint64_t, double>>> series;
  for (const auto& [host, points] : best) {
    series[host].assign(points.begin(), points.end());
  }
  const std::string name = rows.front().graph_name;
  const std::string sweep = RenderSweepSvg(absl::StrCat("Sweep: ", name),
                                           "fastest plan per budget", series);
  std::string note =
      "No sweep: fewer than two budgets of this graph have plans yet.";
  if (hidden > 0) {
    absl::StrAppend(&note, " Plans of ", hidden,
                    " job(s) are not yours and are left out.");
  }
  return Answer(200, kHtml,
                RenderDashboardPage(
                    absl::StrCat("Graph ", name), *viewer,
                    RenderGraphBody(name, digest->second, rows, sweep, note),
                    QueueScript(absl::StrCat("/dashboard/api/jobs?digest=",
                                             UrlEncode(digest->second)))));
}

HttpResponse Dashboard::Hosts(const HttpRequest& request) {
  absl::StatusOr<DashboardViewer> viewer = Authenticate(request);
  if (!viewer.ok()) return Unauthenticated(viewer.status(), false);
  absl::StatusOr<std::vector<HostClassInfo>> hosts =
      store_.profiles().ListHostClasses();
  if (!hosts.ok()) {
    return Answer(
        500, kHtml,
        RenderDashboardPage(
            "Host classes", *viewer,
            absl::StrCat("<p class=\"error\">",
                         HtmlEscape(hosts.status().ToString()), "</p>")));
  }
  std::vector<HostClassRow> rows;
  for (HostClassInfo& info : *hosts) {
    HostClassRow row;
    absl::StatusOr<std::vector<Contribution>> contributions =
        store_.profiles().ListContributions(info.host_class.name());
    if (contributions.ok()) {
      row.contributors = *std::move(contributions);
    } else {
      row.error = std::string(contributions.status().message());
    }
    row.info = std::move(info);
    rows.push_back(std::move(row));
  }
  return Answer(200, kHtml,
                RenderDashboardPage("Host classes", *viewer,
                                    RenderHostClassesBody(rows)));
}

HttpResponse Dashboard::Login(const HttpRequest&) {
  DashboardViewer nobody;
  nobody.open = authorizer_.open();
  return Answer(200, kHtml,
                RenderDashboardPage(
                    "Sign in", nobody,
                    RenderLoginBody(authorizer_.open()
                                        ? "This server runs without "
                                          "authentication: no token needed."
                                        : "")));
}

}  // namespace autotm::server
