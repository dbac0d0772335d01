// Protobuf messages as JSON text and files: the on-disk form of every
// autotm.v1 message (graphs, profiles, plans), so that any language can
// write them.
//
// The text is the standard protobuf JSON mapping (lowerCamelCase field names,
// enums by name, 64-bit integers as strings on output; both numbers and
// strings are accepted on input). Unknown fields are errors: a misspelled
// field silently ignored would make a plan for the wrong problem.
//
// All functions are thread-safe (they share no state) and never throw.
#ifndef AUTOTM_CLIENT_COMMON_PROTO_JSON_H_
#define AUTOTM_CLIENT_COMMON_PROTO_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace autotm::client {

// Parses `json` into `message` (cleared first). `source` names the text in
// errors, usually a file path. InvalidArgument, starting with `source`, for
// text that is not JSON ("source:LINE:COLUMN: invalid JSON: ..." when the
// position can be recovered from protobuf's message) or does not match the
// message type (unknown field, wrong value type), with protobuf's
// explanation.
absl::Status ParseProtoJson(std::string_view json, std::string_view source,
                            google::protobuf::Message* message);

// The message as indented JSON text, ending in a newline. Internal on the
// (practically impossible) failure of protobuf's printer.
absl::StatusOr<std::string> ProtoToJson(
    const google::protobuf::Message& message);

// Reads the file at `path` and parses it as ParseProtoJson() does.
// NotFound when the file does not exist, PermissionDenied when it cannot be
// read, another errno-derived code for other I/O failures, InvalidArgument
// for an empty file or bad content; every message starts with the path.
absl::Status ReadProtoJsonFile(const std::string& path,
                               google::protobuf::Message* message);

// Writes ProtoToJson(message) to `path` as WriteFileAtomically() does.
absl::Status WriteProtoJsonFile(const std::string& path,
                                const google::protobuf::Message& message);

// Writes `text` to `path`, the one writer of every output file (`--out`,
// `--svg`, `--csv`, `--plans-dir`, the profiler agent's output and cache).
// What happens depends on what is at `path`:
//  - nothing, or a regular file: atomically. The text goes to a temporary
//    file beside it, is flushed to disk, and is renamed over `path`, so
//    readers see the old file or the complete new one, never a torn write.
//    Permissions follow the umask. A symbolic link to a regular file keeps
//    the link and replaces its target the same way.
//  - a character device (/dev/null) or a FIFO (a pipe), directly or through
//    symbolic links (/dev/stdout): written straight through, never
//    replaced. Opening a FIFO waits for its reader. A regular file reached
//    through /dev or /proc is written in place, never replaced, since it is
//    a process's open file: through this process's own descriptor when the
//    path names one (/dev/stdout redirected to a file: the text follows
//    what was already written there), else opened and truncated.
//  - anything else (a directory, block device, socket, dangling symbolic
//    link): FailedPrecondition naming the path; nothing is written.
// Errno-derived codes (NotFound for a missing directory, PermissionDenied,
// ...) with the path in the message.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view text);

// Fails early, before a long computation, when WriteFileAtomically(path)
// would certainly fail: `path` is of a kind it refuses, or the directory
// (for an atomic replace) or the file itself (for a device or FIFO) is not
// writable. Never creates or changes anything.
absl::Status CheckOutputFile(const std::string& path);

// `text` as a JSON string literal, quotes included (for --json output that
// is not a protobuf message).
std::string JsonStringLiteral(absl::string_view text);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_PROTO_JSON_H_
