#include "profiler-agent/discovery.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace autotm::agent {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

uint64_t ReadNumber(const fs::path& path) {
  uint64_t value = 0;
  if (std::optional<std::string> text = ReadFile(path)) {
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) {
      value = 0;
    }
  }
  return value;
}

// "0-3,8,10-11" -> 7.
int CountCpuList(absl::string_view list) {
  int count = 0;
  for (absl::string_view range : absl::StrSplit(
           absl::StripAsciiWhitespace(list), ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> ends =
        absl::StrSplit(range, absl::MaxSplits('-', 1));
    int lo = 0, hi = 0;
    if (!absl::SimpleAtoi(ends.first, &lo)) continue;
    hi = lo;
    if (!ends.second.empty() && !absl::SimpleAtoi(ends.second, &hi)) continue;
    count += std::max(0, hi - lo + 1);
  }
  return count;
}

// "Node 0 MemTotal:       24671932 kB" -> bytes.
uint64_t MemTotalBytes(absl::string_view meminfo) {
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    const size_t at = line.find("MemTotal:");
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = absl::StripAsciiWhitespace(line.substr(at + 9));
    absl::ConsumeSuffix(&rest, "kB");
    uint64_t kib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) {
      return kib * 1024;
    }
  }
  return 0;
}

std::string Gib(uint64_t bytes) {
  return absl::StrFormat("%.1f GiB", bytes / double(uint64_t{1} << 30));
}

}  // namespace

absl::StatusOr<HostTiers> DiscoverTiers(const std::string& sysfs_root,
                                        const std::string& mounts) {
  const fs::path node_dir = fs::path(sysfs_root) / "devices/system/node";
  std::error_code ec;
  if (!fs::is_directory(node_dir, ec)) {
    return absl::NotFoundError(absl::StrCat(
        node_dir.string(), " does not exist: the kernel shows no NUMA nodes"));
  }
  HostTiers tiers;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(node_dir, ec)) {
    absl::string_view name = entry.path().filename().native();
    int id = 0;
    if (!absl::ConsumePrefix(&name, "node") || !absl::SimpleAtoi(name, &id)) {
      continue;
    }
    NumaNode node;
    node.id = id;
    node.cpus = CountCpuList(ReadFile(entry.path() / "cpulist").value_or(""));
    node.memory_bytes =
        MemTotalBytes(ReadFile(entry.path() / "meminfo").value_or(""));
    if (node.memory_bytes == 0) continue;  // CPU-only node
    for (absl::string_view d :
         absl::StrSplit(absl::StripAsciiWhitespace(
                            ReadFile(entry.path() / "distance").value_or("")),
                        ' ', absl::SkipEmpty())) {
      int distance = 0;
      if (absl::SimpleAtoi(d, &distance)) node.distances.push_back(distance);
    }
    const fs::path initiators = entry.path() / "access0/initiators";
    std::error_code absent;
    if (fs::is_directory(initiators, absent)) {
      HmatAttributes hmat;
      hmat.read_bandwidth_mb_per_s = ReadNumber(initiators / "read_bandwidth");
      hmat.write_bandwidth_mb_per_s =
          ReadNumber(initiators / "write_bandwidth");
      hmat.read_latency_ns = ReadNumber(initiators / "read_latency");
      hmat.write_latency_ns = ReadNumber(initiators / "write_latency");
      node.hmat = hmat;
    }
    tiers.nodes.push_back(std::move(node));
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("reading ", node_dir.string(), ": ", ec.message()));
  }
  std::sort(tiers.nodes.begin(), tiers.nodes.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });

  // DAX mounts: the fsdax (App Direct) tier.
  std::ifstream in(mounts);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 4) continue;
    for (absl::string_view option : absl::StrSplit(f[3], ',')) {
      if (option == "dax" || option == "dax=always") {
        tiers.dax_mounts.push_back({f[0], f[1], f[2]});
        break;
      }
    }
  }

  // The suggestion. Fast: a node with CPUs (the best HMAT read bandwidth,
  // else the lowest id). Slow: a memory-only node (CXL memory, PMM in KMEM
  // mode; the lowest HMAT read bandwidth, else the highest id), else a DAX
  // mount, else nothing.
  auto bandwidth = [](const NumaNode& n) {
    return n.hmat ? n.hmat->read_bandwidth_mb_per_s : 0;
  };
  const NumaNode* fast = nullptr;
  const NumaNode* slow = nullptr;
  for (const NumaNode& n : tiers.nodes) {
    if (n.cpus > 0) {
      if (fast == nullptr || bandwidth(n) > bandwidth(*fast)) fast = &n;
    } else if (slow == nullptr || (bandwidth(n) > 0 && bandwidth(*slow) > 0
                                       ? bandwidth(n) < bandwidth(*slow)
                                       : n.id > slow->id)) {
      slow = &n;
    }
  }
  if (fast != nullptr) tiers.fast = absl::StrCat("numa:", fast->id);
  if (slow != nullptr) {
    tiers.slow = absl::StrCat("numa:", slow->id);
    tiers.reasoning = absl::StrCat(
        "node ", slow->id, " has memory but no CPUs (CXL memory or PMM in ",
        "KMEM mode)",
        slow->hmat ? absl::StrFormat("; HMAT: %d MB/s read, %d ns",
                                     slow->hmat->read_bandwidth_mb_per_s,
                                     slow->hmat->read_latency_ns)
                   : std::string("; no HMAT attributes published"),
        ".");
  } else if (!tiers.dax_mounts.empty()) {
    tiers.slow = absl::StrCat("file:", tiers.dax_mounts[0].mount_point);
    tiers.reasoning =
        absl::StrCat(tiers.dax_mounts[0].mount_point, " is mounted with DAX (",
                     tiers.dax_mounts[0].device, "): PMM in App Direct mode.");
  } else {
    tiers.reasoning =
        "no memory-only NUMA node and no DAX mount: this host has one memory "
        "tier. To exercise the agent anyway, use --slow file:DIR (labelled a "
        "file-backed emulated tier; it proves the mechanics, not the speed "
        "of slow memory).";
  }
  return tiers;
}

std::string FormatHostTiers(const HostTiers& tiers) {
  std::string out =
      "NODE  CPUS  MEMORY      HMAT READ MB/s  WRITE MB/s  READ ns  WRITE ns  "
      "DISTANCES\n";
  for (const NumaNode& n : tiers.nodes) {
    std::string hmat =
        absl::StrFormat("%14s  %10s  %7s  %8s", "-", "-", "-", "-");
    if (n.hmat) {
      hmat = absl::StrFormat("%14d  %10d  %7d  %8d",
                             n.hmat->read_bandwidth_mb_per_s,
                             n.hmat->write_bandwidth_mb_per_s,
                             n.hmat->read_latency_ns, n.hmat->write_latency_ns);
    }
    absl::StrAppend(&out, absl::StrFormat("%4d  %4d  %-10s %s  %s\n", n.id,
                                          n.cpus, Gib(n.memory_bytes), hmat,
                                          absl::StrJoin(n.distances, " ")));
  }
  if (tiers.dax_mounts.empty()) {
    absl::StrAppend(&out, "DAX mounts: none\n");
  } else {
    for (const DaxMount& m : tiers.dax_mounts) {
      absl::StrAppend(&out, "DAX mount: ", m.mount_point, " (", m.device, ", ",
                      m.filesystem, ")\n");
    }
  }
  absl::StrAppend(&out, "suggested: --fast ",
                  tiers.fast.empty() ? "?" : tiers.fast, " --slow ",
                  tiers.slow.empty() ? "(none)" : tiers.slow, "\n",
                  tiers.reasoning, "\n");
  return out;
}

}  // namespace autotm::agent
