#include "profiler-agent/tier.h"

#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace autotm::agent {
namespace {

size_t PageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

size_t RoundUpToPages(size_t bytes) {
  const size_t page = PageSize();
  return (bytes + page - 1) / page * page;
}

std::string ErrnoText(int err) { return std::strerror(err); }

// First line of a small sysfs file, or "" when it cannot be read.
std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  return line;
}

std::vector<int> ExistingNumaNodes() {
  std::vector<int> nodes;
  for (int n = 0; n <= numa_max_node(); ++n) {
    if (numa_bitmask_isbitset(numa_all_nodes_ptr, n)) nodes.push_back(n);
  }
  return nodes;
}

class NumaTier : public Tier {
 public:
  explicit NumaTier(int node) : node_(node) {}

  std::string spec() const override { return absl::StrCat("numa:", node_); }

  std::string Description() const override {
    std::string text = absl::StrCat("DRAM NUMA node ", node_);
    const bool has_cpus =
        !ReadFirstLine(
             absl::StrCat("/sys/devices/system/node/node", node_, "/cpulist"))
             .empty();
    if (!has_cpus) absl::StrAppend(&text, " (CPU-less)");
    // What firmware (ACPI HMAT) states about the node, when it states it.
    const std::string hmat = absl::StrCat("/sys/devices/system/node/node",
                                          node_, "/access0/initiators/");
    const std::string latency = ReadFirstLine(hmat + "read_latency");
    const std::string bandwidth = ReadFirstLine(hmat + "read_bandwidth");
    if (!latency.empty() || !bandwidth.empty()) {
      absl::StrAppend(&text, " [HMAT read_latency=", latency,
                      " read_bandwidth=", bandwidth, "]");
    }
    return text;
  }

  absl::StatusOr<TierBuffer> Allocate(size_t bytes) override {
    if (bytes == 0) {
      return absl::InvalidArgumentError("cannot allocate 0 bytes");
    }
    const size_t size = RoundUpToPages(bytes);
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "mmap of ", size, " bytes for ", spec(), ": ", ErrnoText(errno)));
    }
    TierBuffer buffer(data, size, [data, size] { munmap(data, size); });
    // Bind before the first touch so that the pages are born on the node.
    std::vector<unsigned long> mask(node_ / (8 * sizeof(unsigned long)) + 1);
    mask[node_ / (8 * sizeof(unsigned long))] |=
        1UL << (node_ % (8 * sizeof(unsigned long)));
    if (mbind(data, size, MPOL_BIND, mask.data(),
              mask.size() * 8 * sizeof(unsigned long) + 1,
              MPOL_MF_STRICT | MPOL_MF_MOVE) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("mbind to NUMA node ", node_, ": ", ErrnoText(errno)));
    }
    std::memset(data, 0, size);
    if (absl::Status s = VerifyPlacement(data, size); !s.ok()) return s;
    return buffer;
  }

  absl::Status VerifyPlacement(const void* data, size_t bytes) const override {
    absl::StatusOr<std::vector<int>> nodes = PageNodes(data, bytes);
    if (!nodes.ok()) return nodes.status();
    for (size_t i = 0; i < nodes->size(); ++i) {
      const int where = (*nodes)[i];
      if (where != node_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "page ", i, " of a buffer meant for NUMA node ", node_, " is ",
            where < 0 ? absl::StrCat("not placed (", ErrnoText(-where), ")")
                      : absl::StrCat("on node ", where)));
      }
    }
    return absl::OkStatus();
  }

 private:
  const int node_;
};

struct MountInfo {
  std::string mount_point;
  std::string fs_type;
  std::string options;
};

// The mount holding `path` (a real path): the longest matching mount point.
MountInfo FindMount(const std::string& path) {
  MountInfo best;
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 4) continue;
    const std::string& mnt = f[1];
    const bool inside =
        path == mnt ||
        (absl::StartsWith(path, mnt) &&
         (mnt == "/" || path.size() > mnt.size() && path[mnt.size()] == '/'));
    if (inside && mnt.size() >= best.mount_point.size()) {
      best = {mnt, f[2], f[3]};
    }
  }
  return best;
}

class FileTier : public Tier {
 public:
  FileTier(std::string spec_directory, std::string directory, MountInfo mount)
      : spec_directory_(std::move(spec_directory)),
        directory_(std::move(directory)),
        mount_(std::move(mount)) {}

  std::string spec() const override {
    return absl::StrCat("file:", spec_directory_);
  }

  bool dax() const {
    for (absl::string_view option : absl::StrSplit(mount_.options, ',')) {
      if (option == "dax" || option == "dax=always") return true;
    }
    return false;
  }

  std::string Description() const override {
    if (dax()) {
      return absl::StrCat("fsdax file tier (", mount_.fs_type, " -o dax at ",
                          mount_.mount_point, ")");
    }
    return absl::StrCat("file-backed emulated tier (", mount_.fs_type, " at ",
                        mount_.mount_point, "; page cache, not PMM)");
  }

  absl::StatusOr<TierBuffer> Allocate(size_t bytes) override {
    if (bytes == 0) {
      return absl::InvalidArgumentError("cannot allocate 0 bytes");
    }
    const size_t size = RoundUpToPages(bytes);
    static std::atomic<uint64_t> counter{0};
    const std::string path =
        absl::StrCat(directory_, "/autotm-agent-", getpid(), "-",
                     counter.fetch_add(1), ".buf");
    const int fd =
        open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      const std::string message =
          absl::StrCat("create ", path, ": ", ErrnoText(err));
      return err == EACCES ? absl::PermissionDeniedError(message)
                           : absl::ResourceExhaustedError(message);
    }
    if (const int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
        err != 0) {
      close(fd);
      unlink(path.c_str());
      return absl::ResourceExhaustedError(absl::StrCat(
          "reserve ", size, " bytes in ", path, ": ", ErrnoText(err)));
    }
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int mmap_errno = errno;
    close(fd);  // The mapping keeps the file open.
    if (data == MAP_FAILED) {
      unlink(path.c_str());
      return absl::ResourceExhaustedError(
          absl::StrCat("mmap ", path, ": ", ErrnoText(mmap_errno)));
    }
    TierBuffer buffer(data, size, [data, size, path] {
      munmap(data, size);
      unlink(path.c_str());
    });
    std::memset(data, 0, size);
    if (absl::Status s = VerifyPlacement(data, size); !s.ok()) return s;
    return buffer;
  }

  absl::Status VerifyPlacement(const void* data, size_t bytes) const override {
    // Backed by a file of this tier's directory...
    const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
    for (uintptr_t address : {begin, begin + bytes - 1}) {
      absl::StatusOr<std::string> file =
          MappedFile(reinterpret_cast<const void*>(address));
      if (!file.ok()) return file.status();
      const size_t slash = file->rfind('/');
      if (file->empty() || slash == std::string::npos ||
          file->substr(0, slash) != directory_) {
        return absl::FailedPreconditionError(
            absl::StrCat("buffer meant for ", spec(), " is backed by '",
                         file->empty() ? "anonymous memory" : *file,
                         "', not a file in ", directory_));
      }
    }
    // ... and every page present (in the page cache, or the DAX device).
    const size_t page = PageSize();
    const uintptr_t first = begin / page * page;
    const size_t length = begin + bytes - first;
    std::vector<unsigned char> resident((length + page - 1) / page);
    if (mincore(reinterpret_cast<void*>(first), length, resident.data()) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("mincore: ", ErrnoText(errno)));
    }
    for (size_t i = 0; i < resident.size(); ++i) {
      if (!(resident[i] & 1)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "page ", i, " of a buffer on ", spec(), " is not resident"));
      }
    }
    return absl::OkStatus();
  }

 private:
  const std::string spec_directory_;
  const std::string directory_;  // realpath
  const MountInfo mount_;
};

}  // namespace

TierBuffer& TierBuffer::operator=(TierBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    release_ = std::exchange(other.release_, nullptr);
  }
  return *this;
}

void TierBuffer::Reset() {
  if (release_) release_();
  release_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

absl::StatusOr<std::vector<int>> PageNodes(const void* data, size_t bytes) {
  const size_t page = PageSize();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + bytes;
  std::vector<void*> pages;
  for (uintptr_t p = begin; p < end; p += page) {
    pages.push_back(reinterpret_cast<void*>(p));
  }
  std::vector<int> status(pages.size(), INT_MIN);
  if (move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0) !=
      0) {
    return absl::FailedPreconditionError(
        absl::StrCat("move_pages: ", ErrnoText(errno)));
  }
  return status;
}

absl::StatusOr<std::string> MappedFile(const void* address) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(address);
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    // start-end perms offset dev inode [path]
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode;
    std::getline(fields, path);
    const size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    const uintptr_t start = std::strtoull(range.c_str(), nullptr, 16);
    const uintptr_t end = std::strtoull(range.c_str() + dash + 1, nullptr, 16);
    if (a < start || a >= end) continue;
    return std::string(absl::StripAsciiWhitespace(path));
  }
  return absl::NotFoundError(
      absl::StrCat("address 0x", absl::Hex(a), " is not mapped"));
}

absl::StatusOr<std::unique_ptr<Tier>> MakeNumaTier(int node) {
  if (numa_available() < 0) {
    return absl::FailedPreconditionError(
        "this kernel has no NUMA support (numa_available() < 0)");
  }
  const std::vector<int> nodes = ExistingNumaNodes();
  if (node < 0 || node > numa_max_node() ||
      !numa_bitmask_isbitset(numa_all_nodes_ptr, node)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NUMA node ", node, " does not exist on this host (it has node",
        nodes.size() == 1 ? " " : "s ", absl::StrJoin(nodes, ","), ")"));
  }
  return std::make_unique<NumaTier>(node);
}

absl::StatusOr<std::unique_ptr<Tier>> MakeFileTier(
    const std::string& directory) {
  struct stat st;
  if (stat(directory.c_str(), &st) != 0) {
    const int err = errno;
    const std::string message =
        absl::StrCat("file tier directory ", directory, ": ", ErrnoText(err));
    return err == ENOENT ? absl::NotFoundError(message)
                         : absl::PermissionDeniedError(message);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("file tier ", directory, " is not a directory"));
  }
  if (access(directory.c_str(), W_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("file tier directory ", directory, " is not writable"));
  }
  char real[PATH_MAX];
  if (realpath(directory.c_str(), real) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("realpath ", directory, ": ", ErrnoText(errno)));
  }
  return std::make_unique<FileTier>(directory, real, FindMount(real));
}

absl::StatusOr<std::unique_ptr<Tier>> MakeTier(absl::string_view spec) {
  absl::string_view rest = spec;
  if (absl::ConsumePrefix(&rest, "numa:")) {
    int node = 0;
    if (!absl::SimpleAtoi(rest, &node) || node < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tier '", spec, "': 'numa:' needs a node number, e.g. numa:0"));
    }
    return MakeNumaTier(node);
  }
  if (absl::ConsumePrefix(&rest, "file:")) {
    if (rest.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tier '", spec,
                       "': 'file:' needs a directory, e.g. file:/mnt/pmem0"));
    }
    return MakeFileTier(std::string(rest));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tier '", spec,
                   "' is neither numa:NODE (e.g. numa:0) nor file:DIR (e.g. "
                   "file:/mnt/pmem0)"));
}

}  // namespace autotm::agent
