#include "client/common/svg_chart.h"

#include <string>
#include <vector>

#include "common/testing/text_count.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::client {
namespace {

using ::autotm::testing::CountOccurrences;
using ::testing::HasSubstr;
using ::testing::Not;

// A minimal well-formedness check of the XML we write: every element closed
// in order, attribute values quoted, no raw '<' or '&' in text. Returns the
// first problem, or "" when the document is fine.
std::string XmlProblem(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = 0;
  if (xml.rfind("<?xml", 0) == 0) i = xml.find("?>") + 2;
  int roots = 0;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      const std::string entity = xml.substr(i, semi - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" &&
          entity != "&quot;") {
        return "bad entity at " + std::to_string(i);
      }
      i = semi + 1;
      continue;
    }
    if (xml[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(xml[i]))) {
        return "text outside the root at " + std::to_string(i);
      }
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return "unterminated tag";
    std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    if (CountOccurrences(tag, "\"") % 2 != 0) {
      return "unbalanced quotes: " + tag;
    }
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) {
        return "unexpected </" + tag.substr(1) + ">";
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (open.empty()) ++roots;
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  if (roots != 1) return "want one root element";
  return "";
}

LineChart SampleChart() {
  LineChart chart;
  chart.title = "time <vs> memory & more";
  chart.x_label = "fast memory (MiB)";
  chart.y_label = "predicted time (ms)";
  chart.series.push_back({"sync", {{1, 30}, {2, 20}, {4, 12}}});
  chart.series.push_back({"empty", {}});
  chart.y_references.push_back({10, "all-fast 10 ms"});
  chart.y_references.push_back({40, "all-slow \"40\" ms"});
  return chart;
}

TEST(SvgChartTest, DocumentIsWellFormedAndEscaped) {
  const std::string svg = RenderLineChartSvg(SampleChart());
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_THAT(svg, HasSubstr("time &lt;vs&gt; memory &amp; more"));
  EXPECT_THAT(svg, HasSubstr("all-slow &quot;40&quot; ms"));
  EXPECT_THAT(svg, HasSubstr(">fast memory (MiB)</text>"));
  EXPECT_THAT(svg, HasSubstr(">predicted time (ms)</text>"));
  // The checker itself rejects broken documents.
  EXPECT_NE(XmlProblem("<svg><g></svg>"), "");
  EXPECT_NE(XmlProblem("<svg>a & b</svg>"), "");
}

TEST(SvgChartTest, DrawsOneLinePerSeriesWithPointsAndEveryReference) {
  const std::string svg = RenderLineChartSvg(SampleChart());
  EXPECT_EQ(CountOccurrences(svg, "<polyline"), 1);
  EXPECT_EQ(CountOccurrences(svg, "stroke-dasharray"), 2);
  EXPECT_THAT(svg, HasSubstr(">all-fast 10 ms</text>"));
  // Both series are in the legend, the empty one too.
  EXPECT_THAT(svg, HasSubstr(">empty</text>"));

  LineChart unlabeled = SampleChart();
  unlabeled.y_references = {{1.0, ""}};
  const std::string plain = RenderLineChartSvg(unlabeled);
  EXPECT_EQ(CountOccurrences(plain, "stroke-dasharray"), 1);
  EXPECT_THAT(plain, Not(HasSubstr("all-fast")));
  EXPECT_EQ(XmlProblem(plain), "");
}

TEST(SvgChartTest, IsDeterministicAndSurvivesNoData) {
  EXPECT_EQ(RenderLineChartSvg(SampleChart()),
            RenderLineChartSvg(SampleChart()));
  const std::string empty = RenderLineChartSvg(LineChart{});
  EXPECT_EQ(XmlProblem(empty), "");
  EXPECT_THAT(empty, Not(HasSubstr("nan")));
  EXPECT_THAT(empty, Not(HasSubstr("inf")));
}

TEST(PlotAreaTest, MapsDataToPixelsWithYUpwards) {
  const PlotArea area{100, 50, 500, 250, 0, 10, -1, 1};
  EXPECT_DOUBLE_EQ(area.X(0), 100);
  EXPECT_DOUBLE_EQ(area.X(10), 500);
  EXPECT_DOUBLE_EQ(area.X(2.5), 200);
  EXPECT_DOUBLE_EQ(area.Y(-1), 250);  // the bottom
  EXPECT_DOUBLE_EQ(area.Y(1), 50);    // the top
  EXPECT_DOUBLE_EQ(area.Y(0), 150);
  const PlotArea flat{100, 50, 500, 250, 3, 3, 2, 2};
  EXPECT_DOUBLE_EQ(flat.X(7), 100);  // degenerate: the left/bottom edge
  EXPECT_DOUBLE_EQ(flat.Y(7), 250);
}

TEST(PlotFrameTest, DrawsEveryTickLabelAndBothTitles) {
  const PlotArea area{80, 40, 480, 240, 0, 4, 0, 10};
  std::string svg =
      SvgDocumentStart(500, 300) +
      RenderPlotFrame(
          area, Axis{{0, 2, 4}, {}, "kernel (execution order)"},
          Axis{{0, 5, 10}, {"zero", "5 & 5", "ten"}, "bytes (MiB)"}) +
      SvgDocumentEnd();
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_THAT(svg, HasSubstr(">kernel (execution order)</text>"));
  EXPECT_THAT(svg, HasSubstr("rotate(-90)\">bytes (MiB)</text>"));
  EXPECT_THAT(svg, HasSubstr(">zero</text>"));
  EXPECT_THAT(svg, HasSubstr(">5 &amp; 5</text>"));
  EXPECT_THAT(svg, HasSubstr(">4</text>"));  // default label of tick 4
  // One grid line and one tick mark per tick, and the frame.
  EXPECT_EQ(CountOccurrences(svg, "<line"), 2 * 6);
  EXPECT_EQ(CountOccurrences(svg, "fill=\"none\" stroke=\"#222\""), 1);
  // No title, no title element.
  const std::string bare =
      RenderPlotFrame(area, Axis{{0, 4}, {}, ""}, Axis{{0, 10}, {}, ""});
  EXPECT_THAT(bare, Not(HasSubstr("font-size=\"14\"")));
}

TEST(LegendRowTest, WrapsBeforeTheRightEdgeAndReportsItsHeight) {
  const std::vector<LegendEntry> entries = {
      {Swatch::kBox, SvgColor(0), "fast <memory>"},
      {Swatch::kDashedLine, "#888", "budget"},
      {Swatch::kUpTick, SvgColor(2), "to fast"},
      {Swatch::kTriangleDown, SvgColor(1), "to slow"}};
  double one_row = 0;
  const std::string wide = RenderLegendRow(0, 0, 2000, entries, &one_row);
  EXPECT_DOUBLE_EQ(one_row, 18);
  EXPECT_THAT(wide, HasSubstr(">fast &lt;memory&gt;</text>"));
  EXPECT_EQ(CountOccurrences(wide, "<text"), 4);
  double rows = 0;
  RenderLegendRow(0, 0, 150, entries, &rows);
  EXPECT_DOUBLE_EQ(rows, 4 * 18) << "one entry per row when narrow";
  double none = 0;
  RenderLegendRow(0, 0, 150, {}, &none);
  EXPECT_EQ(none, 0);
  EXPECT_EQ(XmlProblem("<svg>" + wide + "</svg>"), "");
}

TEST(SvgColorTest, WrapsAroundThePalette) {
  EXPECT_STREQ(SvgColor(0), "#0072B2");
  EXPECT_STREQ(SvgColor(8), SvgColor(0));
  EXPECT_STREQ(SvgColor(-1), SvgColor(7));
}

TEST(NiceTicksTest, CoverTheRangeInRoundSteps) {
  struct Case {
    double lo, hi;
    int target;
    std::vector<double> want;
  };
  const Case cases[] = {
      {0, 10, 5, {0, 2, 4, 6, 8, 10}},
      {0.1, 0.95, 4, {0, 0.5, 1.0}},
      {12, 88, 4, {0, 20, 40, 60, 80, 100}},
      {5, 5, 4, {4.5, 5, 5.5}},
  };
  for (const Case& c : cases) {
    const std::vector<double> ticks = NiceTicks(c.lo, c.hi, c.target);
    ASSERT_EQ(ticks.size(), c.want.size()) << c.lo << ".." << c.hi;
    for (size_t i = 0; i < ticks.size(); ++i) {
      EXPECT_NEAR(ticks[i], c.want[i], 1e-9) << c.lo << ".." << c.hi;
    }
  }
}

}  // namespace
}  // namespace autotm::client
