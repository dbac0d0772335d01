// The strictness that protobuf's JSON parser (libprotobuf 3.21) lacks.
//
// google::protobuf::util::JsonStringToMessage accepts, without a word:
//   - trailing commas: {"a": 1,} and [1, 2,];
//   - a single value where a list belongs: {"kernels": {...}} or
//     {"dependency": "x"} for a repeated field is read as a one-element
//     list.
// Both hide mistakes in hand-edited files (a list cut short, a field that
// was meant to be something else), so autotm's JSON readers (ParseProtoJson)
// run this check as well and refuse them (issue 18 finding 6).
#ifndef AUTOTM_CLIENT_COMMON_JSON_STRICT_H_
#define AUTOTM_CLIENT_COMMON_JSON_STRICT_H_

#include <optional>
#include <string>
#include <string_view>

#include "google/protobuf/descriptor.h"

namespace autotm::client {

struct StrictJsonError {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
  std::string problem;
};

// Checks `json` against strict JSON (RFC 8259: no trailing commas, no
// control characters in strings, one value) and against `type`: every
// repeated field that appears is a JSON array (or null), every map field an
// object (or null), every message field an object (or null). Fields `type`
// does not know, and the contents of google.protobuf.* well-known types,
// are left to protobuf's parser. Nesting deeper than 100 is refused, as
// protobuf does. nullopt when `json` passes.
std::optional<StrictJsonError> CheckStrictJson(
    std::string_view json, const google::protobuf::Descriptor* type);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_JSON_STRICT_H_
