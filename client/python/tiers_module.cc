// autotm._tiers: the profiler agent's memory tiers for Python.
//
// Exposes profiler-agent/tier.h (allocation with verified placement) and the
// copy-bandwidth probe of profiler-agent/measure.h, so the PyTorch profiler
// (autotm.torch.profiler) places aten kernel operands exactly as
// autotm-agent places oneDNN operands and never re-implements the checks.
//
//   tier = _tiers.Tier("numa:0")            # or "file:/mnt/pmem0"
//   buf = tier.allocate(1 << 20)            # a Buffer: writable bytes
//   t = torch.frombuffer(buf, dtype=torch.float32)  # t keeps buf alive
//   tier.verify(buf)                        # raises TierError if misplaced
//
// Errors: absl::StatusCode::kInvalidArgument becomes ValueError; every other
// status becomes _tiers.TierError (a RuntimeError) carrying the status
// message, with `code` the status code's name (e.g. "FAILED_PRECONDITION").
// The GIL is released while pages are touched, checked or copied.
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profiler-agent/measure.h"
#include "profiler-agent/tier.h"

namespace py = pybind11;

namespace {

using autotm::agent::Tier;
using autotm::agent::TierBuffer;

// Raised for every non-InvalidArgument status; set in the module init.
PyObject* tier_error = nullptr;

// InvalidArgument -> ValueError; anything else -> TierError(message) with
// `code` = the status code's name ("FAILED_PRECONDITION", ...; the same
// names as grpc.StatusCode).
[[noreturn]] void Raise(const absl::Status& status) {
  const std::string message(status.message());
  if (absl::IsInvalidArgument(status)) throw py::value_error(message);
  py::object error = py::reinterpret_borrow<py::object>(tier_error)(message);
  error.attr("code") = absl::StatusCodeToString(status.code());
  PyErr_SetObject(tier_error, error.ptr());
  throw py::error_already_set();
}

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return *std::move(value);
}

// A TierBuffer owned by Python. The tier is kept alive with it, so a buffer
// (or a tensor made from it with torch.frombuffer) may outlive the Tier
// object the caller held.
class Buffer {
 public:
  Buffer(std::shared_ptr<Tier> tier, TierBuffer buffer)
      : tier_(std::move(tier)), buffer_(std::move(buffer)) {}

  uintptr_t address() const {
    return reinterpret_cast<uintptr_t>(buffer_.data());
  }
  size_t size() const { return buffer_.size(); }
  void* data() const { return buffer_.data(); }
  const std::shared_ptr<Tier>& tier() const { return tier_; }

 private:
  std::shared_ptr<Tier> tier_;
  TierBuffer buffer_;
};

std::shared_ptr<Tier> MakeTier(const std::string& spec) {
  std::unique_ptr<Tier> tier = ValueOrThrow(autotm::agent::MakeTier(spec));
  return std::shared_ptr<Tier>(std::move(tier));
}

std::unique_ptr<Buffer> Allocate(const std::shared_ptr<Tier>& tier,
                                 int64_t nbytes) {
  if (nbytes < 1) {
    throw py::value_error("allocate: nbytes must be >= 1, got " +
                          std::to_string(nbytes));
  }
  absl::StatusOr<TierBuffer> buffer;
  {
    py::gil_scoped_release release;
    buffer = tier->Allocate(static_cast<size_t>(nbytes));
  }
  return std::make_unique<Buffer>(tier, ValueOrThrow(std::move(buffer)));
}

// verify(buffer) checks the whole buffer; verify(address, nbytes) any range
// (e.g. a tensor's storage).
void Verify(const Tier& tier, const py::object& what, py::object nbytes) {
  const void* data = nullptr;
  int64_t bytes = 0;
  if (py::isinstance<Buffer>(what)) {
    const Buffer& buffer = what.cast<const Buffer&>();
    data = buffer.data();
    bytes = nbytes.is_none() ? static_cast<int64_t>(buffer.size())
                             : nbytes.cast<int64_t>();
    if (bytes > static_cast<int64_t>(buffer.size())) {
      throw py::value_error("verify: nbytes " + std::to_string(bytes) +
                            " exceeds the buffer's " +
                            std::to_string(buffer.size()));
    }
  } else if (py::isinstance<py::int_>(what)) {
    if (nbytes.is_none()) {
      throw py::value_error("verify(address, nbytes): nbytes is required");
    }
    data = reinterpret_cast<const void*>(what.cast<uintptr_t>());
    bytes = nbytes.cast<int64_t>();
  } else {
    throw py::type_error("verify: expected a Buffer or an int address, got " +
                         std::string(py::str(what.get_type())));
  }
  if (bytes < 1) {
    throw py::value_error("verify: nbytes must be >= 1, got " +
                          std::to_string(bytes));
  }
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = tier.VerifyPlacement(data, static_cast<size_t>(bytes));
  }
  ThrowIfError(status);
}

py::dict MeasurementDict(const autotm::agent::Measurement& m) {
  py::dict d;
  d["median_us"] = m.median_us;
  d["spread"] = m.spread;
  d["repetitions"] = m.repetitions;
  return d;
}

py::dict MeasureCopyBandwidth(Tier& from, Tier& to, int64_t nbytes, int threads,
                              int warmup, int min_reps, int max_reps,
                              double max_spread, double max_time_ms) {
  if (nbytes < 1) {
    throw py::value_error("measure_copy_bandwidth: nbytes must be >= 1");
  }
  autotm::agent::MeasureOptions options;
  options.warmup = warmup;
  options.min_repetitions = min_reps;
  options.max_repetitions = max_reps;
  options.max_spread = max_spread;
  options.max_time = absl::Milliseconds(max_time_ms);
  absl::StatusOr<autotm::agent::CopyBandwidth> bw;
  {
    py::gil_scoped_release release;
    bw = autotm::agent::MeasureCopyBandwidth(
        from, to, static_cast<size_t>(nbytes), threads, options);
  }
  ThrowIfError(bw.status());
  py::dict d;
  d["sync_gb_per_s"] = bw->sync_gb_per_s;
  d["async_gb_per_s"] = bw->async_gb_per_s;
  d["sync"] = MeasurementDict(bw->sync);
  d["async"] = MeasurementDict(bw->async);
  return d;
}

}  // namespace

PYBIND11_MODULE(_tiers, m) {
  m.doc() =
      "The profiler agent's memory tiers (profiler-agent/tier.h): buffers "
      "allocated on a NUMA node ('numa:N') or in a file ('file:DIR') with "
      "verified placement, and the tier-to-tier copy-bandwidth probe.";

  tier_error = PyErr_NewExceptionWithDoc(
      "autotm._tiers.TierError",
      "A tier could not be made, could not allocate, or a buffer is not "
      "where its tier says (the message names the first misplaced page).",
      PyExc_RuntimeError, nullptr);
  if (tier_error == nullptr) throw py::error_already_set();
  m.attr("TierError") = py::handle(tier_error);

  py::class_<Tier, std::shared_ptr<Tier>>(m, "Tier")
      .def(py::init(&MakeTier), py::arg("spec"),
           "A tier from 'numa:N' or 'file:DIR'. ValueError for another "
           "form or a node that does not exist; TierError when the host "
           "cannot provide it.")
      .def_property_readonly("spec", &Tier::spec,
                             "The spec it was made from, e.g. 'numa:0'.")
      .def_property_readonly(
          "description", &Tier::Description,
          "What the measurements depend on, e.g. 'DRAM NUMA node 0'.")
      .def("allocate", &Allocate, py::arg("nbytes"),
           "A zero-filled, page-aligned Buffer of at least nbytes on this "
           "tier, every page verified to be here.")
      .def("verify", &Verify, py::arg("buffer_or_address"),
           py::arg("nbytes") = py::none(),
           "Raises TierError naming the first page of the range that is not "
           "on this tier. Takes a Buffer (nbytes defaults to its size) or "
           "an int address and nbytes.")
      .def("__repr__", [](const Tier& t) {
        return "<autotm._tiers.Tier " + t.spec() + ">";
      });

  py::class_<Buffer>(m, "Buffer", py::buffer_protocol(),
                     "Memory on one tier; writable bytes through the buffer "
                     "protocol (torch.frombuffer, memoryview). Freed when "
                     "the last reference goes.")
      .def_buffer([](Buffer& b) {
        return py::buffer_info(b.data(), 1,
                               py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(b.size())}, {1},
                               /*readonly=*/false);
      })
      .def_property_readonly("address", &Buffer::address)
      .def_property_readonly("size", &Buffer::size,
                             "Usable bytes (whole pages).")
      .def_property_readonly("tier", &Buffer::tier)
      .def("__len__", &Buffer::size)
      .def("__repr__", [](const Buffer& b) {
        return "<autotm._tiers.Buffer " + std::to_string(b.size()) +
               " bytes on " + b.tier()->spec() + ">";
      });

  m.def("measure_copy_bandwidth", &MeasureCopyBandwidth, py::arg("from_tier"),
        py::arg("to_tier"), py::arg("nbytes"), py::arg("threads"),
        py::arg("warmup") = 2, py::arg("min_reps") = 5,
        py::arg("max_reps") = 50, py::arg("max_spread") = 0.05,
        py::arg("max_time_ms") = 2000.0,
        "Copies an nbytes buffer from one tier to the other, split over "
        "`threads` threads (sync) and on one thread (async); returns "
        "{'sync_gb_per_s', 'async_gb_per_s', 'sync', 'async'} (GB = 1e9 "
        "bytes; sync/async: median_us, spread, repetitions).");
}
