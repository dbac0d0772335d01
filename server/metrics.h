// A small metrics registry rendered in the Prometheus text exposition
// format (version 0.0.4): counters, gauges and histograms, each a family of
// series keyed by label values. No global state: the composition root owns
// one MetricsRegistry and hands references to the families to whoever
// records (server/server_main.cc).
//
//   MetricsRegistry registry;
//   CounterFamily& rpcs = registry.AddCounter(
//       "autotm_rpcs_total", "RPCs handled", {"method", "code"});
//   rpcs.Increment({"/autotm.v1.PlacementService/GetPlan", "OK"});
//   std::string text = registry.Render();
//
// Contracts:
//   - Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
//     [a-zA-Z_][a-zA-Z0-9_]*; Add* CHECK-fails (aborts) on a bad or
//     duplicate name, since that is a programming error found at start-up.
//   - Every recording call passes exactly one value per label name of its
//     family (in the order given at registration); a wrong count aborts.
//   - Label values are escaped on output (\\, \" and \n), so any string is
//     safe as a value.
//   - Families live as long as the registry; references to them stay valid.
//
// Thread safety: every method of every class here may be called from any
// thread. Each family has its own mutex; Render() locks one family at a
// time, so a scrape never blocks recording for long. Collectors run in
// Render() before any family is locked. Renders are serialized (two
// concurrent scrapes never interleave their collectors).
#ifndef AUTOTM_SERVER_METRICS_H_
#define AUTOTM_SERVER_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace autotm::server {

// One value per label name of the family, in registration order.
using LabelValues = std::vector<std::string>;

// Shared by the three kinds: name, help, label names, text rendering.
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  const std::string& name() const { return name_; }
  // Appends "# HELP", "# TYPE" and every series to `out`.
  virtual void Render(std::string& out) const = 0;

 protected:
  MetricFamily(std::string name, std::string help,
               std::vector<std::string> label_names);
  // Aborts unless `values` has one entry per label name.
  void CheckArity(const LabelValues& values) const;
  // `{a="x",b="y"}` (empty string without labels); `extra` is appended as
  // one more pair when its name is non-empty (a histogram's `le`).
  std::string LabelText(const LabelValues& values,
                        const std::string& extra_name = "",
                        const std::string& extra_value = "") const;
  void RenderHeader(const char* type, std::string& out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

// Monotonic counts. Increment by a negative amount aborts.
class CounterFamily final : public MetricFamily {
 public:
  CounterFamily(std::string name, std::string help,
                std::vector<std::string> label_names);
  void Increment(const LabelValues& labels, double by = 1);
  // 0 for a series never incremented.
  double Value(const LabelValues& labels) const;
  void Render(std::string& out) const override;

 private:
  mutable absl::Mutex mu_;
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

// Values that go up and down. Collectors that mirror a changing set of
// series (host classes, priorities) Clear() and re-Set() them.
class GaugeFamily final : public MetricFamily {
 public:
  GaugeFamily(std::string name, std::string help,
              std::vector<std::string> label_names);
  void Set(const LabelValues& labels, double value);
  void Add(const LabelValues& labels, double by);
  // Removes every series.
  void Clear();
  // 0 for an unknown series.
  double Value(const LabelValues& labels) const;
  void Render(std::string& out) const override;

 private:
  mutable absl::Mutex mu_;
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

// Cumulative histograms with fixed upper bounds (`le`), plus _sum and
// _count; the +Inf bucket is implicit. Bounds must be strictly increasing
// and finite (aborts otherwise).
class HistogramFamily final : public MetricFamily {
 public:
  HistogramFamily(std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds);
  void Observe(const LabelValues& labels, double value);
  // Observations of the series so far (0 for an unknown series).
  uint64_t Count(const LabelValues& labels) const;
  void Render(std::string& out) const override;

 private:
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<LabelValues, Series> series_ ABSL_GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(const std::string& name,
                                const std::string& help,
                                std::vector<std::string> label_names,
                                std::vector<double> bounds);

  // `collect` runs at the start of every Render(), on the scraping thread,
  // to refresh gauges whose truth lives elsewhere (the store, the queue).
  // It must not call Render() or AddCollector().
  void AddCollector(std::function<void()> collect);

  // Runs the collectors, then renders every family in registration order.
  std::string Render() const;

 private:
  MetricFamily& Add(std::unique_ptr<MetricFamily> family);

  // Held for a whole Render(), collectors included; taken before mu_.
  mutable absl::Mutex render_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Bounds in seconds for RPC and solve latencies: 1 ms to ~17 min.
std::vector<double> LatencyBoundsSeconds();

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_METRICS_H_
