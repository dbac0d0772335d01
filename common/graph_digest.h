// The canonical graph digest: the name under which the server stores a
// graph and the key the clients ask by ("digest first", issue 19). The C++
// server, the C++ client library and the Python client
// (client/python/autotm/_digest.py) compute it identically; the shared test
// vectors in tests/testdata/graph_digest_vectors.json hold them to it.
//
// Why not protobuf's deterministic serialization: it is documented as
// stable only within one build of one library (it keeps unknown fields and
// leaves map-entry and packing details to the implementation), so the C++
// and Python runtimes, or two protobuf versions, may disagree. The bytes
// hashed here are specified field by field (proto/autotm/v1/graph.proto,
// "Canonical digest"); they are a valid protobuf encoding of the Graph, so
// a streamed upload can carry exactly them and the server parse them.
#ifndef AUTOTM_COMMON_GRAPH_DIGEST_H_
#define AUTOTM_COMMON_GRAPH_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"

namespace autotm {

// The canonical encoding of `graph` (see graph.proto, "Canonical digest"):
// fields in field-number order, scalars at their zero value left out,
// packed dims, map entries sorted by key with key and value always
// written, unknown fields dropped.
std::string CanonicalGraphBytes(const v1::Graph& graph);

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// "sha256:" + Sha256Hex(CanonicalGraphBytes(graph)).
std::string CanonicalGraphDigest(const v1::Graph& graph);

// True when `digest` has the form CanonicalGraphDigest returns:
// "sha256:" and 64 lower-case hex digits.
bool IsWellFormedGraphDigest(absl::string_view digest);

}  // namespace autotm

#endif  // AUTOTM_COMMON_GRAPH_DIGEST_H_
