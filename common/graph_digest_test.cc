#include "common/graph_digest.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "autotm/v1/graph.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace autotm {
namespace {

std::string SourceDir() {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return root == nullptr ? "." : root;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

v1::Graph GraphFromJson(const std::string& json) {
  v1::Graph graph;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &graph);
  EXPECT_TRUE(status.ok()) << status << " in " << json;
  return graph;
}

std::string ProtobufDeterministicBytes(const v1::Graph& graph) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    graph.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// The shared vectors (tests/testdata/graph_digest_vectors.json): the same
// bytes and digests the Python client computes.
TEST(GraphDigestTest, MatchesTheSharedTestVectors) {
  const std::string dir = SourceDir() + "/tests/testdata/";
  google::protobuf::Struct file;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadFile(dir + "graph_digest_vectors.json"), &file)
                  .ok());
  const auto& vectors = file.fields().at("vectors").list_value().values();
  ASSERT_GE(vectors.size(), 7);
  for (const google::protobuf::Value& vector : vectors) {
    const auto& fields = vector.struct_value().fields();
    const std::string name = fields.at("name").string_value();
    SCOPED_TRACE(name);
    v1::Graph graph;
    if (fields.contains("graph_file")) {
      graph =
          GraphFromJson(ReadFile(dir + fields.at("graph_file").string_value()));
    } else {
      std::string json;
      ASSERT_TRUE(
          google::protobuf::util::MessageToJsonString(fields.at("graph"), &json)
              .ok());
      graph = GraphFromJson(json);
    }
    const std::string canonical = CanonicalGraphBytes(graph);
    if (fields.contains("canonical_hex")) {
      EXPECT_EQ(absl::BytesToHexString(canonical),
                fields.at("canonical_hex").string_value());
    }
    EXPECT_EQ(CanonicalGraphDigest(graph), fields.at("digest").string_value());
    EXPECT_TRUE(IsWellFormedGraphDigest(CanonicalGraphDigest(graph)));
    // The canonical bytes are a protobuf encoding of the same graph (a
    // streamed upload sends exactly them) ...
    v1::Graph parsed;
    ASSERT_TRUE(parsed.ParseFromString(canonical));
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(parsed, graph));
    // ... and, for this runtime, equal to its deterministic serialization,
    // which keyed stored graphs before the digest was specified: their keys
    // stay valid.
    EXPECT_EQ(canonical, ProtobufDeterministicBytes(graph));
  }
}

TEST(GraphDigestTest, UnknownFieldsAreNotHashed) {
  v1::Graph graph;
  graph.set_name("g");
  graph.add_tensors()->set_id("t");
  const std::string digest = CanonicalGraphDigest(graph);
  // Field 15 (unknown to this schema): a newer client's addition.
  std::string with_unknown = graph.SerializeAsString() + "\x7a\x01x";
  v1::Graph parsed;
  ASSERT_TRUE(parsed.ParseFromString(with_unknown));
  EXPECT_NE(parsed.SerializeAsString(), graph.SerializeAsString());
  EXPECT_EQ(CanonicalGraphDigest(parsed), digest);
}

TEST(GraphDigestTest, MapOrderDoesNotMatterButContentDoes) {
  v1::Graph a;
  auto* attributes = a.add_kernels()->mutable_signature()->mutable_attributes();
  attributes->insert({"b", "2"});
  attributes->insert({"a", "1"});
  v1::Graph b;
  auto* other = b.add_kernels()->mutable_signature()->mutable_attributes();
  other->insert({"a", "1"});
  other->insert({"b", "2"});
  EXPECT_EQ(CanonicalGraphDigest(a), CanonicalGraphDigest(b));
  other->at("b").assign(1, '3');
  EXPECT_NE(CanonicalGraphDigest(a), CanonicalGraphDigest(b));
  // A set but empty signature differs from none.
  v1::Graph with_empty;
  with_empty.add_kernels()->mutable_signature();
  v1::Graph without;
  without.add_kernels();
  EXPECT_NE(CanonicalGraphDigest(with_empty), CanonicalGraphDigest(without));
}

TEST(GraphDigestTest, WellFormedDigests) {
  EXPECT_TRUE(IsWellFormedGraphDigest(
      "sha256:"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(IsWellFormedGraphDigest(
      "sha256:"
      "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  EXPECT_FALSE(IsWellFormedGraphDigest("sha256:e3b0"));
  EXPECT_FALSE(IsWellFormedGraphDigest(
      "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

}  // namespace
}  // namespace autotm
