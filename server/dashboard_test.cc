// The dashboard's renderers (escaping, tables, JSON) and its handlers over a
// real SQLite store, in open mode and with an identities file.
#include "server/dashboard.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/text_count.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace autotm::server {
namespace {

using ::autotm::testing::CountOccurrences;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEvilId[] = "job-<script>alert(1)</script>";
constexpr char kEvilName[] = "\"><img src=x onerror=alert(1)>";

QueueRow Row(const std::string& id, const std::string& owner,
             v1::SolveJob::State state) {
  QueueRow row;
  row.job.set_id(id);
  row.job.set_owner(owner);
  row.job.set_state(state);
  row.job.set_host_class("xeon & co");
  row.job.add_budgets_bytes(64 << 20);
  row.job.add_budgets_bytes(128 << 20);
  row.graph_name = kEvilName;
  return row;
}

TEST(HtmlEscapeTest, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("plain-text_1.2"), "plain-text_1.2");
}

TEST(JsonStringTest, EscapesQuotesControlsAndMarkup) {
  EXPECT_EQ(JsonString("a\"b\\c\nd\x01<"), "\"a\\\"b\\\\c\\nd\\u0001\\u003c\"");
}

TEST(DashboardRenderTest, QueueTableEscapesStoreStrings) {
  QueueRow running = Row(kEvilId, "alice</td>", v1::SolveJob::RUNNING);
  running.job.set_incumbent_us(12345.6);
  running.job.set_bound_us(12000);
  running.job.set_relative_gap(0.0288);
  running.job.set_elapsed_seconds(3.25);
  running.job.set_budgets_done(1);
  const std::string html = RenderQueueBody(
      {running, Row("job-2", "bob", v1::SolveJob::QUEUED)}, "All jobs");
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("alice</td>")));
  EXPECT_THAT(html, HasSubstr("job-&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("&quot;&gt;&lt;img src=x"));
  EXPECT_THAT(html, HasSubstr("xeon &amp; co"));
  // The link's query value is percent-encoded.
  EXPECT_THAT(html,
              HasSubstr("/dashboard/job?id=job-%3Cscript%3Ealert%281%29"));
  // One row per job, with the live cells formatted.
  EXPECT_EQ(CountOccurrences(html, "<tr data-job="), 2);
  EXPECT_THAT(html, HasSubstr("data-f=\"incumbent\">12.346 ms<"));
  EXPECT_THAT(html, HasSubstr("data-f=\"gap\">2.88%<"));
  EXPECT_THAT(html, HasSubstr("data-f=\"elapsed\">3.2 s<"));
  EXPECT_THAT(html, HasSubstr("data-f=\"progress\">1 / 2<"));
  EXPECT_THAT(html, HasSubstr("s-RUNNING"));
  EXPECT_THAT(RenderQueueBody({}, "Your jobs"), HasSubstr("No jobs."));
}

TEST(DashboardRenderTest, QueueJsonIsValidAndHasNoMarkup) {
  QueueRow row = Row(kEvilId, "alice", v1::SolveJob::RUNNING);
  row.job.set_elapsed_seconds(7);
  const std::string json =
      QueueJson({row, Row("job-\"2\\", "bob", v1::SolveJob::QUEUED)});
  EXPECT_THAT(json, Not(HasSubstr("<")));
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok())
      << json;
  const auto& jobs = parsed.fields().at("jobs").list_value();
  ASSERT_EQ(jobs.values_size(), 2);
  const auto& first = jobs.values(0).struct_value().fields();
  EXPECT_EQ(first.at("id").string_value(), kEvilId);
  EXPECT_EQ(first.at("state").string_value(), "RUNNING");
  EXPECT_EQ(
      first.at("cells").struct_value().fields().at("elapsed").string_value(),
      "7.0 s");
  EXPECT_EQ(jobs.values(1).struct_value().fields().at("id").string_value(),
            "job-\"2\\");
}

TEST(DashboardRenderTest, HostClassesShowCoverageAndContributors) {
  HostClassRow row;
  row.info.host_class.set_name(kEvilName);
  row.info.host_class.set_fast_tier_name("DRAM");
  row.info.host_class.set_slow_tier_name("PMM");
  row.info.version = 7;
  row.info.signatures = 42;
  row.info.measurements = 4242;
  row.contributors = {{"agent-<1>", 4000, 40}, {"root", 242, 2}};
  const std::string html = RenderHostClassesBody({row});
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("agent-&lt;1&gt; (4000, 40)"));
  EXPECT_THAT(html, HasSubstr("root (242, 2)"));
  EXPECT_THAT(html, HasSubstr(">4242<"));
  EXPECT_THAT(html, HasSubstr("DRAM / PMM"));
  EXPECT_THAT(RenderHostClassesBody({}), HasSubstr("No host classes."));
}

TEST(DashboardRenderTest, JobPageHidesPlansFromThoseWhoMayNotSeeThem) {
  JobView view;
  view.row = Row(kEvilId, "alice", v1::SolveJob::SUCCEEDED);
  view.row.job.set_error("<b>bad</b>");
  JobPlanView plan;
  plan.key = "key<1>";
  plan.plan.emplace();
  plan.plan->set_budget_bytes(64 << 20);
  plan.plan->set_predicted_time_us(2e6);
  plan.svg = "<svg id=\"plan1-x\"></svg>";
  view.plans.push_back(plan);
  view.sweep_svg = "<svg id=\"sweep-svg\"></svg>";

  view.plans_visible = false;
  std::string html = RenderJobBody(view);
  EXPECT_THAT(html, Not(HasSubstr("<svg")));
  EXPECT_THAT(html, HasSubstr("shown to its owner"));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;bad&lt;/b&gt;"));

  view.plans_visible = true;
  html = RenderJobBody(view);
  EXPECT_THAT(html, AllOf(HasSubstr("<svg id=\"plan1-x\">"),
                          HasSubstr("<svg id=\"sweep-svg\">"),
                          HasSubstr("key&lt;1&gt;"), HasSubstr("64.0 MiB"),
                          HasSubstr("2.000 s")));
  EXPECT_EQ(CountOccurrences(html, "<tr><td class=\"num\">"), 1);
  // The script polls only while the job can still change.
  EXPECT_THAT(JobScript(kEvilId), HasSubstr("\\u003cscript"));
  EXPECT_THAT(JobScript(kEvilId), Not(HasSubstr("<script")));
  // The scripts write text, never markup.
  EXPECT_THAT(JobScript("j"), Not(HasSubstr("innerHTML")));
  EXPECT_THAT(QueueScript(), Not(HasSubstr("innerHTML")));
  EXPECT_THAT(QueueScript(), HasSubstr("textContent"));
}

TEST(DashboardRenderTest, SweepNeedsTwoBudgetsAndGraphPageEscapes) {
  EXPECT_EQ(RenderSweepSvg("t", "s", {{"h", {{1 << 20, 10.0}}}}), "");
  const std::string svg = RenderSweepSvg(
      "Sweep: <g>", "s", {{"h<1>", {{2 << 20, 5e3}, {1 << 20, 9e3}}}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 80);
  EXPECT_THAT(svg, HasSubstr("Sweep: &lt;g&gt;"));
  EXPECT_THAT(svg, HasSubstr("h&lt;1&gt;"));
  EXPECT_THAT(svg, HasSubstr("fast memory budget (MiB)"));
  const std::string html = RenderGraphBody(
      kEvilName, "sha256:<x>", {Row("job-1", "alice", v1::SolveJob::SUCCEEDED)},
      svg, "no sweep");
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("sha256:&lt;x&gt;"));
  EXPECT_THAT(html, HasSubstr("<figure id=\"sweep\">"));
  EXPECT_EQ(CountOccurrences(html, "<tr data-job="), 1);
  EXPECT_THAT(RenderGraphBody("g", "d", {}, "", "no <sweep>"),
              HasSubstr("no &lt;sweep&gt;"));
}

TEST(DashboardViewerTest, FollowsTheGrpcApiRules) {
  DashboardViewer reader{{"r", kRoleReader}};
  DashboardViewer planner{{"p", kRolePlanner}};
  DashboardViewer op{{"o", kRoleOperator}};
  EXPECT_TRUE(reader.MayListAll());
  EXPECT_TRUE(reader.MaySeeJob("p"));
  EXPECT_FALSE(reader.MaySeePlans("p"));
  EXPECT_FALSE(planner.MayListAll());
  EXPECT_TRUE(planner.MaySeeJob("p"));
  EXPECT_FALSE(planner.MaySeeJob("q"));
  EXPECT_TRUE(planner.MaySeePlans("p"));
  EXPECT_FALSE(planner.MaySeePlans("q"));
  EXPECT_TRUE(op.MaySeePlans("q"));
  EXPECT_TRUE(op.MayListAll());
}

// The handlers over a real store.
class DashboardHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir =
        (std::filesystem::temp_directory_path() / "autotm_dash_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    absl::StatusOr<std::unique_ptr<Store>> store =
        OpenSqliteStore(dir_ + "/db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    for (const char* owner : {"alice", "bob"}) {
      v1::SolveJob job;
      job.set_owner(owner);
      job.set_graph_digest("sha256:unknown");
      job.set_host_class("h");
      job.add_budgets_bytes(1 << 20);
      ASSERT_TRUE(store_->jobs().CreateJob(job, 0).ok());
    }
    std::ofstream(dir_ + "/tokens")
        << HashToken("alice-token") << " alice planner\n"
        << HashToken("reader-token") << " rita reader\n";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  static HttpRequest Get(const std::string& path, const std::string& header,
                         const std::string& value) {
    HttpRequest request;
    request.path = path;
    if (!header.empty()) request.headers[header] = value;
    return request;
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(DashboardHandlerTest, OpenModeShowsEveryJob) {
  Authorizer open;
  Dashboard dashboard(*store_, open);
  HttpResponse page = dashboard.Queue(Get("/dashboard", "", ""));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(CountOccurrences(page.body, "<tr data-job="), 2);
  EXPECT_THAT(page.body, HasSubstr("open mode"));
  HttpResponse json = dashboard.QueueApi(Get("/dashboard/api/jobs", "", ""));
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.content_type, "application/json; charset=utf-8");
}

TEST_F(DashboardHandlerTest, TokensDecideWhoSeesWhat) {
  absl::StatusOr<std::unique_ptr<Authorizer>> authorizer =
      Authorizer::FromFile(dir_ + "/tokens");
  ASSERT_TRUE(authorizer.ok()) << authorizer.status();
  Dashboard dashboard(*store_, **authorizer);

  for (const auto& [header, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"", ""},
           {"authorization", "Bearer wrong"},
           {"cookie", "autotm_token=wrong"}}) {
    HttpResponse page = dashboard.Queue(Get("/dashboard", header, value));
    EXPECT_EQ(page.status, 401) << header;
    EXPECT_THAT(page.body, HasSubstr("id=\"login\""));
    EXPECT_THAT(page.body, Not(HasSubstr("data-job")));
    EXPECT_EQ(dashboard.QueueApi(Get("/", header, value)).status, 401);
    EXPECT_EQ(dashboard.Hosts(Get("/", header, value)).status, 401);
  }
  EXPECT_EQ(dashboard.Login(Get("/dashboard/login", "", "")).status, 200);

  // A planner sees its own jobs only; a reader every job.
  HttpResponse alice =
      dashboard.Queue(Get("/dashboard", "authorization", "Bearer alice-token"));
  EXPECT_EQ(alice.status, 200);
  EXPECT_EQ(CountOccurrences(alice.body, "<tr data-job="), 1);
  EXPECT_THAT(alice.body, HasSubstr("signed in as alice (planner)"));
  HttpResponse rita = dashboard.Queue(
      Get("/dashboard", "cookie", "x=1; autotm_token=reader-token"));
  EXPECT_EQ(rita.status, 200);
  EXPECT_EQ(CountOccurrences(rita.body, "<tr data-job="), 2);

  // bob's job: invisible to alice, listed for rita but without plans.
  absl::StatusOr<JobPage> page = store_->jobs().ListJobs(JobFilter{});
  ASSERT_TRUE(page.ok());
  std::string bob_job;
  for (const v1::SolveJob& job : page->jobs) {
    if (job.owner() == "bob") bob_job = job.id();
  }
  HttpRequest request =
      Get("/dashboard/job", "authorization", "Bearer alice-token");
  request.params["id"] = bob_job;
  EXPECT_EQ(dashboard.Job(request).status, 404);
  EXPECT_EQ(dashboard.JobApi(request).status, 404);
  request.headers["authorization"] = "Bearer reader-token";
  HttpResponse job = dashboard.Job(request);
  EXPECT_EQ(job.status, 200);
  EXPECT_THAT(job.body, HasSubstr("shown to its owner"));
  EXPECT_EQ(dashboard.JobApi(request).status, 200);

  // The graph page: only through jobs one may see; the queue API filters.
  request = Get("/dashboard/graph", "authorization", "Bearer alice-token");
  request.params["digest"] = "sha256:unknown";
  HttpResponse graph = dashboard.Graph(request);
  EXPECT_EQ(graph.status, 200);
  EXPECT_EQ(CountOccurrences(graph.body, "<tr data-job="), 1);
  request.params["digest"] = "sha256:other";
  EXPECT_EQ(dashboard.Graph(request).status, 404);
  request = Get("/dashboard/api/jobs", "authorization", "Bearer reader-token");
  request.params["digest"] = "sha256:other";
  HttpResponse none = dashboard.QueueApi(request);
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, "{\"jobs\":[]}\n");
}

}  // namespace
}  // namespace autotm::server
