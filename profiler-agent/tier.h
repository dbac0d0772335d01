// Memory tiers the profiler agent places kernel operands on, and the buffers
// it allocates from them.
//
// A tier is either a DRAM NUMA node ("numa:N": anonymous memory bound to node
// N with mbind, every page checked with move_pages) or a file-backed tier
// ("file:DIR": a file created in DIR and mapped MAP_SHARED, every page checked
// resident with mincore and the range checked in /proc/self/maps to be backed
// by that file). Placement is verified, never assumed: Allocate() fails with
// FailedPrecondition when a page is not where the tier says.
//
// Thread safety: a Tier may be used from several threads at once (it holds
// no mutable state besides an atomic counter). A TierBuffer is a value owned
// by one thread at a time.
#ifndef AUTOTM_PROFILER_AGENT_TIER_H_
#define AUTOTM_PROFILER_AGENT_TIER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace autotm::agent {

// A page-aligned, zero-filled buffer on one tier; frees itself (unmaps, and
// for a file tier removes the backing file) on destruction. Move-only.
class TierBuffer {
 public:
  TierBuffer() = default;
  TierBuffer(void* data, size_t size, std::function<void()> release)
      : data_(data), size_(size), release_(std::move(release)) {}
  TierBuffer(TierBuffer&& other) noexcept { *this = std::move(other); }
  TierBuffer& operator=(TierBuffer&& other) noexcept;
  TierBuffer(const TierBuffer&) = delete;
  TierBuffer& operator=(const TierBuffer&) = delete;
  ~TierBuffer() { Reset(); }

  void* data() const { return data_; }
  // The usable size (>= the size asked for: whole pages).
  size_t size() const { return size_; }
  void Reset();

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  std::function<void()> release_;
};

class Tier {
 public:
  virtual ~Tier() = default;

  // The spec it was made from, e.g. "numa:0" or "file:/mnt/pmem0".
  virtual std::string spec() const = 0;
  // What the measurements depend on, for the host-class fingerprint and the
  // tier name of a profile, e.g. "DRAM NUMA node 0" or "file-backed emulated
  // tier (tmpfs at /tmp)". Never claims PMM for a file that is not on a DAX
  // mount.
  virtual std::string Description() const = 0;

  // A buffer of at least `bytes` (> 0), page aligned, every page touched
  // (zero-filled) and verified to be on this tier. InvalidArgument for 0
  // bytes; ResourceExhausted when the memory or file cannot be had;
  // FailedPrecondition when a page landed elsewhere.
  virtual absl::StatusOr<TierBuffer> Allocate(size_t bytes) = 0;

  // Checks that every page of [data, data + bytes) is placed on this tier
  // (the pages must be touched). FailedPrecondition naming the first page
  // that is not, with where it is.
  virtual absl::Status VerifyPlacement(const void* data,
                                       size_t bytes) const = 0;
};

// A DRAM (or CPU-less memory) NUMA node. InvalidArgument when the node does
// not exist on this host (the message lists the nodes that do);
// FailedPrecondition when the kernel has no NUMA support.
absl::StatusOr<std::unique_ptr<Tier>> MakeNumaTier(int node);

// A file-backed tier whose buffers are files created in `directory` (which
// must exist and be writable) and mapped MAP_SHARED. On a DAX mount this is
// the fsdax (PMM App Direct) tier; elsewhere it is labelled "file-backed
// emulated". NotFound / PermissionDenied / InvalidArgument (not a directory).
absl::StatusOr<std::unique_ptr<Tier>> MakeFileTier(
    const std::string& directory);

// Parses "numa:N" or "file:DIR" and makes the tier. InvalidArgument for any
// other form, with the accepted forms in the message.
absl::StatusOr<std::unique_ptr<Tier>> MakeTier(absl::string_view spec);

// The NUMA node of each page of [data, data + bytes) as move_pages reports it
// (a negative errno for a page that is not present). For tests and errors.
absl::StatusOr<std::vector<int>> PageNodes(const void* data, size_t bytes);

// The path of the file that backs the mapping containing `address`, from
// /proc/self/maps ("" for anonymous memory). NotFound when unmapped.
absl::StatusOr<std::string> MappedFile(const void* address);

}  // namespace autotm::agent

#endif  // AUTOTM_PROFILER_AGENT_TIER_H_
