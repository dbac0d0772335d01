#include "server/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace autotm::server {
namespace {

// Registration errors are programming errors: fail loudly at start-up.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Label values may hold anything; the format escapes \, " and newline.
std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text escapes only \ and newline.
std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers (every counter) print without an exponent or fraction.
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  // The shortest of 15 or 17 significant digits that reads back exactly.
  std::string text = absl::StrFormat("%.15g", value);
  if (std::strtod(text.c_str(), nullptr) != value) {
    text = absl::StrFormat("%.17g", value);
  }
  return text;
}

}  // namespace

MetricFamily::MetricFamily(std::string name, std::string help,
                           std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {
  if (!ValidName(name_, /*allow_colon=*/true)) {
    Die(absl::StrCat("bad metric name \"", name_, "\""));
  }
  for (const std::string& label : label_names_) {
    if (!ValidName(label, /*allow_colon=*/false) || label == "le") {
      Die(absl::StrCat(name_, ": bad label name \"", label, "\""));
    }
  }
}

void MetricFamily::CheckArity(const LabelValues& values) const {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat(name_, ": ", values.size(), " label values for ",
                     label_names_.size(), " labels"));
  }
}

std::string MetricFamily::LabelText(const LabelValues& values,
                                    const std::string& extra_name,
                                    const std::string& extra_value) const {
  if (values.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, label_names_[i], "=\"", EscapeLabel(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!values.empty()) out += ",";
    absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
  }
  out += "}";
  return out;
}

void MetricFamily::RenderHeader(const char* type, std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n",
                  "# TYPE ", name_, " ", type, "\n");
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)) {}

void CounterFamily::Increment(const LabelValues& labels, double by) {
  CheckArity(labels);
  if (!(by >= 0)) Die(absl::StrCat(name_, ": counters only go up"));
  absl::MutexLock lock(&mu_);
  values_[labels] += by;
}

double CounterFamily::Value(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void CounterFamily::Render(std::string& out) const {
  RenderHeader("counter", out);
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(value),
                    "\n");
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help,
                         std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)) {}

void GaugeFamily::Set(const LabelValues& labels, double value) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  values_[labels] = value;
}

void GaugeFamily::Add(const LabelValues& labels, double by) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  values_[labels] += by;
}

void GaugeFamily::Clear() {
  absl::MutexLock lock(&mu_);
  values_.clear();
}

double GaugeFamily::Value(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void GaugeFamily::Render(std::string& out) const {
  RenderHeader("gauge", out);
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(value),
                    "\n");
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Die(absl::StrCat(name_, ": bounds must be finite and increasing"));
    }
  }
}

void HistogramFamily::Observe(const LabelValues& labels, double value) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  Series& series = series_[labels];
  if (series.buckets.empty()) series.buckets.assign(bounds_.size(), 0);
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++series.buckets[i];
      break;
    }
  }
  ++series.count;
  series.sum += value;
}

uint64_t HistogramFamily::Count(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

void HistogramFamily::Render(std::string& out) const {
  RenderHeader("histogram", out);
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, series] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += series.buckets[i];
      absl::StrAppend(&out, name_, "_bucket",
                      LabelText(labels, "le", FormatValue(bounds_[i])), " ",
                      cumulative, "\n");
    }
    absl::StrAppend(&out, name_, "_bucket", LabelText(labels, "le", "+Inf"),
                    " ", series.count, "\n");
    absl::StrAppend(&out, name_, "_sum", LabelText(labels), " ",
                    FormatValue(series.sum), "\n");
    absl::StrAppend(&out, name_, "_count", LabelText(labels), " ", series.count,
                    "\n");
  }
}

MetricFamily& MetricsRegistry::Add(std::unique_ptr<MetricFamily> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    if (existing->name() == family->name()) {
      Die(absl::StrCat("metric \"", family->name(), "\" registered twice"));
    }
  }
  families_.push_back(std::move(family));
  return *families_.back();
}

CounterFamily& MetricsRegistry::AddCounter(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return static_cast<CounterFamily&>(
      Add(std::make_unique<CounterFamily>(name, help, std::move(label_names))));
}

GaugeFamily& MetricsRegistry::AddGauge(const std::string& name,
                                       const std::string& help,
                                       std::vector<std::string> label_names) {
  return static_cast<GaugeFamily&>(
      Add(std::make_unique<GaugeFamily>(name, help, std::move(label_names))));
}

HistogramFamily& MetricsRegistry::AddHistogram(
    const std::string& name, const std::string& help,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  return static_cast<HistogramFamily&>(Add(std::make_unique<HistogramFamily>(
      name, help, std::move(label_names), std::move(bounds))));
}

void MetricsRegistry::AddCollector(std::function<void()> collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock render_lock(&render_mu_);
  std::vector<std::function<void()>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  // Outside the registry's lock: collectors set gauges of this registry.
  for (const auto& collect : collectors) collect();
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

std::vector<double> LatencyBoundsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
          2.5,   5,      10,    25,   60,    120,  300, 600,  1024};
}

}  // namespace autotm::server
