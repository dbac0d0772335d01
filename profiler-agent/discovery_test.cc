#include "profiler-agent/discovery.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir =
        (fs::temp_directory_path() / "autotm_discovery_XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    root_ = dir;
    mounts_ = root_ / "mounts";
    Write(mounts_, "/dev/vda / ext4 rw,relatime 0 0\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  void Node(int id, const std::string& cpulist, uint64_t mem_kib,
            const std::string& distances, int read_mbs = -1, int read_ns = -1) {
    const fs::path n =
        root_ / "devices/system/node" / ("node" + std::to_string(id));
    Write(n / "cpulist", cpulist + "\n");
    Write(n / "meminfo", "Node " + std::to_string(id) + " MemTotal:  " +
                             std::to_string(mem_kib) + " kB\nNode " +
                             std::to_string(id) + " MemFree: 1 kB\n");
    Write(n / "distance", distances + "\n");
    if (read_mbs >= 0) {
      Write(n / "access0/initiators/read_bandwidth",
            std::to_string(read_mbs) + "\n");
      Write(n / "access0/initiators/write_bandwidth",
            std::to_string(read_mbs / 2) + "\n");
      Write(n / "access0/initiators/read_latency",
            std::to_string(read_ns) + "\n");
      Write(n / "access0/initiators/write_latency",
            std::to_string(read_ns * 2) + "\n");
    }
  }

  fs::path root_;
  fs::path mounts_;
};

TEST_F(DiscoveryTest, CxlNodeWithHmatIsTheSlowTier) {
  Node(0, "0-15", 64 << 20, "10 21", 200000, 80);
  Node(1, "", 128 << 20, "21 10", 30000, 250);  // CPU-less: CXL
  absl::StatusOr<HostTiers> tiers = DiscoverTiers(root_, mounts_);
  ASSERT_TRUE(tiers.ok()) << tiers.status();
  ASSERT_EQ(tiers->nodes.size(), 2u);
  EXPECT_EQ(tiers->nodes[0].cpus, 16);
  EXPECT_EQ(tiers->nodes[0].memory_bytes, uint64_t{64} << 30);
  ASSERT_TRUE(tiers->nodes[1].hmat.has_value());
  EXPECT_EQ(tiers->nodes[1].hmat->read_bandwidth_mb_per_s, 30000u);
  EXPECT_EQ(tiers->nodes[1].hmat->read_latency_ns, 250u);
  EXPECT_EQ(tiers->nodes[1].hmat->write_latency_ns, 500u);
  EXPECT_EQ(tiers->nodes[1].distances, (std::vector<int>{21, 10}));
  EXPECT_EQ(tiers->fast, "numa:0");
  EXPECT_EQ(tiers->slow, "numa:1");
  EXPECT_THAT(tiers->reasoning, HasSubstr("30000 MB/s"));
  EXPECT_THAT(FormatHostTiers(*tiers), HasSubstr("--slow numa:1"));
}

TEST_F(DiscoveryTest, SlowestOfSeveralMemoryOnlyNodesByHmat) {
  Node(0, "0-3,8-11", 64 << 20, "10 20 20", 200000, 80);
  Node(2, "", 64 << 20, "20 10 20", 9000, 400);   // PMM KMEM
  Node(3, "", 64 << 20, "20 20 10", 40000, 200);  // CXL
  absl::StatusOr<HostTiers> tiers = DiscoverTiers(root_, mounts_);
  ASSERT_TRUE(tiers.ok()) << tiers.status();
  EXPECT_EQ(tiers->nodes[0].cpus, 8);
  EXPECT_EQ(tiers->slow, "numa:2");
}

TEST_F(DiscoveryTest, DaxMountWhenThereIsNoMemoryOnlyNode) {
  Node(0, "0-1", 16 << 20, "10");
  Write(mounts_,
        "/dev/vda / ext4 rw 0 0\n/dev/pmem0 /mnt/pmem0 xfs rw,dax=always 0 "
        "0\n");
  absl::StatusOr<HostTiers> tiers = DiscoverTiers(root_, mounts_);
  ASSERT_TRUE(tiers.ok()) << tiers.status();
  ASSERT_EQ(tiers->dax_mounts.size(), 1u);
  EXPECT_EQ(tiers->dax_mounts[0].device, "/dev/pmem0");
  EXPECT_FALSE(tiers->nodes[0].hmat.has_value());
  EXPECT_EQ(tiers->slow, "file:/mnt/pmem0");
}

TEST_F(DiscoveryTest, OneTierHostSuggestsNoSlowTierAndSaysWhy) {
  Node(0, "0-1", 16 << 20, "10");
  Node(1, "2-3", 0, "20 10");  // memoryless CPU node: not a tier
  absl::StatusOr<HostTiers> tiers = DiscoverTiers(root_, mounts_);
  ASSERT_TRUE(tiers.ok()) << tiers.status();
  EXPECT_EQ(tiers->nodes.size(), 1u);
  EXPECT_EQ(tiers->fast, "numa:0");
  EXPECT_EQ(tiers->slow, "");
  EXPECT_THAT(tiers->reasoning, HasSubstr("one memory tier"));
}

TEST_F(DiscoveryTest, MissingNodeDirectoryIsNotFound) {
  EXPECT_EQ(
      DiscoverTiers((root_ / "nowhere").string(), mounts_).status().code(),
      absl::StatusCode::kNotFound);
}

TEST(DiscoveryOnThisHostTest, FindsNodeZeroWithCpusAndMemory) {
  absl::StatusOr<HostTiers> tiers = DiscoverTiers();
  if (absl::IsNotFound(tiers.status())) GTEST_SKIP() << tiers.status();
  ASSERT_TRUE(tiers.ok()) << tiers.status();
  ASSERT_FALSE(tiers->nodes.empty());
  EXPECT_GT(tiers->nodes[0].cpus, 0);
  EXPECT_GT(tiers->nodes[0].memory_bytes, 0u);
  EXPECT_FALSE(tiers->fast.empty());
}

}  // namespace
}  // namespace autotm::agent
