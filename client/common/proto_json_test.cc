#include "client/common/proto_json.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace autotm::client {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A fresh directory per test, removed (with its files) afterwards.
class ProtoJsonFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "proto_json_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& name : ListDir()) {
      const std::string path = dir_ + "/" + name;
      if (::unlink(path.c_str()) != 0) ::rmdir(path.c_str());
    }
    ::rmdir(dir_.c_str());
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  void WriteText(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
  }

  std::string ReadText(const std::string& name) const {
    std::ifstream in(Path(name), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::vector<std::string> ListDir() const {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(dir_.c_str())) {
      while (dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      ::closedir(dir);
    }
    return names;
  }

  std::string dir_;
};

v1::Plan SamplePlan() {
  v1::Plan plan;
  plan.set_graph_name("tiny");
  plan.set_budget_bytes(uint64_t{24} << 30);  // > 2^32: exercises uint64
  plan.set_method(v1::METHOD_SYNCHRONOUS);
  v1::TensorPlacement* placement = plan.add_tensors();
  placement->set_tensor_id("a");
  placement->set_creation_tier(v1::TIER_SLOW);
  placement->add_move_indices(0);
  v1::Move* move = plan.add_moves();
  move->set_tensor_id("a");
  move->set_kernel_id("k1");
  move->set_kernel_index(1);
  move->set_direction(v1::MOVE_DIRECTION_TO_FAST);
  move->set_sync(true);
  move->set_bytes_copied(4096);
  move->set_time_us(0.125);
  v1::KernelChoice* kernel = plan.add_kernels();
  kernel->set_kernel_id("k1");
  kernel->set_config("F|S");
  kernel->set_time_us(12.5);
  plan.set_predicted_time_us(12.625);
  plan.mutable_stats()->set_termination(v1::TERMINATION_OPTIMAL);
  plan.mutable_stats()->set_relative_gap(0.0);
  return plan;
}

TEST_F(ProtoJsonFileTest, RoundTripsAPlan) {
  const v1::Plan plan = SamplePlan();
  ASSERT_TRUE(WriteProtoJsonFile(Path("plan.json"), plan).ok());
  v1::Plan read;
  read.set_graph_name("stale content that must be cleared");
  read.add_moves()->set_tensor_id("stale");
  const absl::Status status = ReadProtoJsonFile(Path("plan.json"), &read);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(MessageDifferencer::Equals(plan, read))
      << plan.DebugString() << "\nvs\n"
      << read.DebugString();
}

TEST_F(ProtoJsonFileTest, WritesIndentedCamelCaseJson) {
  ASSERT_TRUE(WriteProtoJsonFile(Path("plan.json"), SamplePlan()).ok());
  const std::string text = ReadText("plan.json");
  EXPECT_THAT(text, AllOf(HasSubstr("\n  \"graphName\": \"tiny\""),
                          HasSubstr("\"method\": \"METHOD_SYNCHRONOUS\""),
                          HasSubstr("\"budgetBytes\": \"25769803776\"")));
  EXPECT_EQ(text.back(), '\n');
}

TEST_F(ProtoJsonFileTest, OverwritesAtomicallyLeavingNoTemporaryFiles) {
  WriteText("plan.json", "old content");
  ASSERT_TRUE(WriteProtoJsonFile(Path("plan.json"), SamplePlan()).ok());
  EXPECT_THAT(ListDir(), ::testing::ElementsAre("plan.json"));
  v1::Plan read;
  ASSERT_TRUE(ReadProtoJsonFile(Path("plan.json"), &read).ok());
  EXPECT_EQ(read.graph_name(), "tiny");
}

// A scratch character device with /dev/null's numbers (1, 3): what
// `--out /dev/null` meets, without risking the real one. Needs root
// (CAP_MKNOD); the caller skips when it is not permitted.
bool MakeNullDevice(const std::string& path, std::string* why) {
  if (::mknod(path.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0) return true;
  *why = std::string("mknod ") + path + ": " + std::strerror(errno);
  return false;
}

bool IsNullDevice(const std::string& path) {
  struct stat info;
  return ::lstat(path.c_str(), &info) == 0 && S_ISCHR(info.st_mode) &&
         major(info.st_rdev) == 1 && minor(info.st_rdev) == 3;
}

TEST_F(ProtoJsonFileTest, WritesThroughACharacterDeviceAndKeepsIt) {
  const std::string node = Path("null");
  std::string why;
  if (!MakeNullDevice(node, &why)) GTEST_SKIP() << why;
  ASSERT_TRUE(WriteProtoJsonFile(node, SamplePlan()).ok());
  ASSERT_TRUE(WriteFileAtomically(node, "second write").ok());
  EXPECT_TRUE(IsNullDevice(node)) << node << " is no longer a device";
  EXPECT_THAT(ListDir(), ::testing::ElementsAre("null"));  // no temporaries
  EXPECT_TRUE(CheckOutputFile(node).ok());
}

TEST_F(ProtoJsonFileTest, WritesThroughASymlinkToADeviceKeepingBoth) {
  const std::string node = Path("null");
  std::string why;
  if (!MakeNullDevice(node, &why)) GTEST_SKIP() << why;
  ASSERT_EQ(::symlink("null", Path("stdout").c_str()), 0);
  ASSERT_TRUE(WriteProtoJsonFile(Path("stdout"), SamplePlan()).ok());
  EXPECT_TRUE(IsNullDevice(node));
  struct stat info;
  ASSERT_EQ(::lstat(Path("stdout").c_str(), &info), 0);
  EXPECT_TRUE(S_ISLNK(info.st_mode));
}

TEST_F(ProtoJsonFileTest, WritesThroughAFifoToItsReader) {
  const std::string fifo = Path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);  // waits for the writer
    std::stringstream text;
    text << in.rdbuf();
    received = text.str();
  });
  const absl::Status status = WriteProtoJsonFile(fifo, SamplePlan());
  reader.join();
  ASSERT_TRUE(status.ok()) << status;
  v1::Plan read;
  ASSERT_TRUE(ParseProtoJson(received, "fifo", &read).ok()) << received;
  EXPECT_TRUE(MessageDifferencer::Equals(read, SamplePlan()));
  struct stat info;
  ASSERT_EQ(::lstat(fifo.c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode)) << fifo << " is no longer a FIFO";
  EXPECT_THAT(ListDir(), ::testing::ElementsAre("pipe"));
}

// `--out /dev/stdout > file`: the file is the shell's open descriptor; the
// text goes through it, after what was written there, and the file is
// neither replaced nor truncated.
TEST_F(ProtoJsonFileTest, OwnDescriptorOfARegularFileIsWrittenAtItsOffset) {
  const std::string file = Path("out.txt");
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::write(fd, "head\n", 5), 5);
  struct stat before;
  ASSERT_EQ(::fstat(fd, &before), 0);
  EXPECT_TRUE(
      WriteFileAtomically("/dev/fd/" + std::to_string(fd), "text\n").ok());
  EXPECT_TRUE(
      WriteFileAtomically("/proc/self/fd/" + std::to_string(fd), "more\n")
          .ok());
  ::close(fd);
  EXPECT_EQ(ReadText("out.txt"), "head\ntext\nmore\n");
  struct stat after;
  ASSERT_EQ(::stat(file.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the file was replaced";
  EXPECT_THAT(ListDir(), ::testing::ElementsAre("out.txt"));
}

TEST_F(ProtoJsonFileTest, SymlinkToARegularFileReplacesTheTargetKeepsTheLink) {
  WriteText("real.json", "old content");
  ASSERT_EQ(::symlink("real.json", Path("link.json").c_str()), 0);
  ASSERT_TRUE(WriteProtoJsonFile(Path("link.json"), SamplePlan()).ok());
  struct stat info;
  ASSERT_EQ(::lstat(Path("link.json").c_str(), &info), 0);
  EXPECT_TRUE(S_ISLNK(info.st_mode)) << "the link was replaced";
  v1::Plan read;
  ASSERT_TRUE(ReadProtoJsonFile(Path("real.json"), &read).ok());
  EXPECT_EQ(read.graph_name(), "tiny");
  EXPECT_THAT(ListDir(),
              ::testing::UnorderedElementsAre("real.json", "link.json"));
}

TEST_F(ProtoJsonFileTest, NeverReplacesADirectorySocketOrDanglingLink) {
  ASSERT_EQ(::mkdir(Path("dir").c_str(), 0755), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  const std::string socket_path = Path("sock");
  ASSERT_LT(socket_path.size(), sizeof(address.sun_path));
  std::strcpy(address.sun_path, socket_path.c_str());
  ASSERT_EQ(
      ::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0)
      << std::strerror(errno);
  ::close(sock);
  ASSERT_EQ(::symlink("nowhere", Path("dangling").c_str()), 0);

  for (const std::string& name : {"dir", "sock", "dangling"}) {
    const std::string path = Path(name);
    const absl::Status status = WriteFileAtomically(path, "text");
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition)
        << name << ": " << status;
    EXPECT_THAT(std::string(status.message()),
                AllOf(StartsWith(path), HasSubstr("not replaced")));
    EXPECT_EQ(CheckOutputFile(path).code(),
              absl::StatusCode::kFailedPrecondition)
        << name;
  }
  struct stat info;
  ASSERT_EQ(::lstat(Path("dir").c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  ASSERT_EQ(::lstat(Path("sock").c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  ASSERT_EQ(::lstat(Path("dangling").c_str(), &info), 0);
  EXPECT_TRUE(S_ISLNK(info.st_mode));
  EXPECT_THAT(ListDir(),
              ::testing::UnorderedElementsAre("dir", "sock", "dangling"));
}

TEST_F(ProtoJsonFileTest, CheckOutputFileCreatesNothing) {
  EXPECT_TRUE(CheckOutputFile(Path("new.json")).ok());
  EXPECT_EQ(CheckOutputFile(Path("no/such/dir/x.json")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(ListDir(), ::testing::IsEmpty());
}

TEST_F(ProtoJsonFileTest, WriteIntoMissingDirectoryIsNotFound) {
  const std::string path = Path("no/such/dir/plan.json");
  const absl::Status status = WriteProtoJsonFile(path, SamplePlan());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith(path));
}

TEST_F(ProtoJsonFileTest, MissingFileIsNotFoundNamingThePath) {
  v1::Graph graph;
  const std::string path = Path("missing.json");
  const absl::Status status = ReadProtoJsonFile(path, &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(path), HasSubstr("cannot open")));
}

TEST_F(ProtoJsonFileTest, DirectoryIsAnErrorNamingThePath) {
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(dir_, &graph);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), StartsWith(dir_));
}

TEST_F(ProtoJsonFileTest, MalformedJsonGivesLineAndColumn) {
  // The missing comma after "b" is on line 3; the parser stops at the next
  // token, column 5 of line 4.
  WriteText(
      "bad.json",
      "{\n"
      "  \"name\": \"g\",\n"
      "  \"tensors\": [{\"id\": \"a\", \"sizeBytes\": 4}, {\"id\": \"b\"}\n"
      "    {\"id\": \"c\"}]\n"
      "}\n");
  v1::Graph graph;
  const std::string path = Path("bad.json");
  const absl::Status status = ReadProtoJsonFile(path, &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(path + ":4:5: invalid JSON: "),
                    HasSubstr("Expected , or ]"),
                    HasSubstr("\n      {\"id\": \"c\"}]\n      ^")));
}

TEST_F(ProtoJsonFileTest, MalformedJsonOnTheFirstLine) {
  WriteText("bad.json", "{\"name\": tru}");
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(Path("bad.json"), &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              StartsWith(Path("bad.json") + ":1:10: "));
}

TEST_F(ProtoJsonFileTest, TruncatedJsonPointsAtTheEnd) {
  WriteText("bad.json", "{\n  \"name\": \"g\",\n  \"tensors\": [\n");
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(Path("bad.json"), &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(Path("bad.json") + ":3:15: invalid JSON: "),
                    HasSubstr("Unexpected end of string")));
}

TEST_F(ProtoJsonFileTest, UnknownFieldIsInvalidArgumentNamingField) {
  WriteText("graph.json", "{\"name\": \"g\", \"kernelz\": []}");
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(Path("graph.json"), &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(StartsWith(Path("graph.json")),
            HasSubstr("not a valid autotm.v1.Graph"), HasSubstr("kernelz")));
}

TEST_F(ProtoJsonFileTest, WrongValueTypeIsInvalidArgument) {
  WriteText("graph.json",
            "{\"tensors\": [{\"id\": \"a\", \"sizeBytes\": \"lots\"}]}");
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(Path("graph.json"), &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(Path("graph.json")), HasSubstr("size_bytes"),
                    HasSubstr("lots")));
}

TEST_F(ProtoJsonFileTest, EmptyFileIsInvalidArgument) {
  WriteText("empty.json", " \n");
  v1::Graph graph;
  const absl::Status status = ReadProtoJsonFile(Path("empty.json"), &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith(Path("empty.json")), HasSubstr("empty")));
}

TEST(ParseProtoJsonTest, AcceptsNumbersForUint64AndEnumNames) {
  v1::Graph graph;
  const absl::Status status = ParseProtoJson(
      R"({"tensors": [{"id": "w", "sizeBytes": 4096, "role": "TENSOR_ROLE_WEIGHT"}]})",
      "inline", &graph);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(graph.tensors_size(), 1);
  EXPECT_EQ(graph.tensors(0).size_bytes(), 4096u);
  EXPECT_EQ(graph.tensors(0).role(), v1::TENSOR_ROLE_WEIGHT);
}

TEST(ParseProtoJsonTest, RootMustBeAnObject) {
  v1::Graph graph;
  const absl::Status status = ParseProtoJson("[1, 2]", "inline", &graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("inline: "));
}

// Issue 18 finding 6: protobuf 3.21's parser accepts these silently
// (checked: JsonStringToMessage returns OK for each); the readers refuse
// them with the position.
TEST(ParseProtoJsonTest, RefusesTrailingCommas) {
  v1::Graph graph;
  const absl::Status in_array =
      ParseProtoJson("{\"tensors\": [{\"id\": \"w\", \"sizeBytes\": 4},\n  ]}",
                     "g.json", &graph);
  EXPECT_EQ(in_array.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(in_array.message()),
              AllOf(StartsWith("g.json:1:41: invalid JSON"),
                    HasSubstr("trailing comma before ']'")));
  EXPECT_EQ(graph.tensors_size(), 0);  // nothing half-read is left
  const absl::Status in_object =
      ParseProtoJson(R"({"name": "g",})", "g.json", &graph);
  EXPECT_THAT(std::string(in_object.message()),
              HasSubstr("1:13: invalid JSON: trailing comma before '}'"));
  const absl::Status nested = ParseProtoJson(
      R"({"kernels": [{"id": "k", "signature": {"op": "mul",}}]})", "g.json",
      &graph);
  EXPECT_THAT(std::string(nested.message()),
              HasSubstr("trailing comma before '}'"));
}

TEST(ParseProtoJsonTest, RefusesAScalarOrObjectWhereAListBelongs) {
  v1::Graph graph;
  const absl::Status object = ParseProtoJson(
      R"({"tensors": {"id": "w", "sizeBytes": 4}})", "g.json", &graph);
  EXPECT_EQ(object.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(object.message()),
              AllOf(HasSubstr("g.json:1:13"),
                    HasSubstr("field \"tensors\" is a list; give a JSON "
                              "array")));
  const absl::Status scalar = ParseProtoJson(
      R"({"kernels": [{"id": "k", "inputs": "x"}]})", "g.json", &graph);
  EXPECT_THAT(std::string(scalar.message()),
              HasSubstr("field \"inputs\" is a list"));
  // Arrays, empty arrays, null and the proto field names stay fine.
  EXPECT_TRUE(ParseProtoJson(R"({"tensors": [], "kernels": null, "name": "g"})",
                             "g.json", &graph)
                  .ok());
  EXPECT_TRUE(ParseProtoJson(R"({"tensors": [{"id": "w", "size_bytes": "4"}]})",
                             "g.json", &graph)
                  .ok());
}

TEST(JsonStringLiteralTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonStringLiteral("plain"), "\"plain\"");
  EXPECT_EQ(JsonStringLiteral("a\"b\\c\nd\te"), "\"a\\\"b\\\\c\\nd\\u0009e\"");
}

}  // namespace
}  // namespace autotm::client
