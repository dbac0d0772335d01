// Discovers a host's memory tiers from sysfs: the NUMA nodes (with and
// without CPUs), their memory, their ACPI HMAT performance attributes (read
// and write bandwidth and latency from the nearest initiator, when firmware
// publishes them), and filesystems mounted with DAX (PMM App Direct), and
// suggests a fast and a slow tier for `autotm-agent profile`.
//
// Nothing here allocates or measures; the profiler verifies placement
// itself. Paths are parameters so tests can point at a fake sysfs tree.
#ifndef AUTOTM_PROFILER_AGENT_DISCOVERY_H_
#define AUTOTM_PROFILER_AGENT_DISCOVERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace autotm::agent {

// ACPI HMAT attributes of a memory node as seen from its nearest initiator
// (sysfs nodeN/access0/initiators/*). Zero when firmware leaves one out.
struct HmatAttributes {
  uint64_t read_bandwidth_mb_per_s = 0;
  uint64_t write_bandwidth_mb_per_s = 0;
  uint64_t read_latency_ns = 0;
  uint64_t write_latency_ns = 0;
};

struct NumaNode {
  int id = 0;
  int cpus = 0;               // CPUs in nodeN/cpulist; 0 for a memory-only node
  uint64_t memory_bytes = 0;  // MemTotal from nodeN/meminfo
  std::optional<HmatAttributes> hmat;
  std::vector<int> distances;  // SLIT row, nodeN/distance
};

struct DaxMount {
  std::string device;       // e.g. /dev/pmem0
  std::string mount_point;  // e.g. /mnt/pmem0
  std::string filesystem;   // e.g. ext4, xfs
};

struct HostTiers {
  std::vector<NumaNode> nodes;  // by id; only nodes with memory
  std::vector<DaxMount> dax_mounts;
  // Suggested --fast / --slow specs ("numa:N", "file:DIR"); `slow` is empty
  // when the host shows no second tier.
  std::string fast;
  std::string slow;
  // Why these were suggested, in one or two sentences for the operator.
  std::string reasoning;
};

// Reads `sysfs_root`/devices/system/node and `mounts` (a /proc/mounts
// file). NotFound when the node directory is missing (no NUMA support);
// other read errors as they come.
absl::StatusOr<HostTiers> DiscoverTiers(
    const std::string& sysfs_root = "/sys",
    const std::string& mounts = "/proc/mounts");

// A table of the nodes, the DAX mounts and the suggestion, for `autotm-agent
// tiers`.
std::string FormatHostTiers(const HostTiers& tiers);

}  // namespace autotm::agent

#endif  // AUTOTM_PROFILER_AGENT_DISCOVERY_H_
