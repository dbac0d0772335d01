#include "client/common/proto_json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "client/common/json_strict.h"
#include "google/protobuf/util/json_util.h"

namespace autotm::client {
namespace {

// Debian's Abseil has its own absl::string_view (not std::string_view).
absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

// Where in `json` protobuf's parser stopped, recovered from its message.
// Protobuf 3.21 reports syntax errors as
//   "<problem>\n<up to 20 bytes before the error><up to 20 after>\n<k spaces>^"
// (json_stream_parser.cc, ReportFailure) with no line or column, which is
// useless in a multi-megabyte file. The context snippet locates the error:
// it is the text starting max(0, pos - 20) and the caret sits k = pos - start
// bytes into it.
struct SyntaxError {
  std::string problem;
  size_t line = 0;      // 1-based
  size_t column = 0;    // 1-based, in bytes
  std::string excerpt;  // the offending line (trimmed around the column)
  size_t excerpt_caret = 0;
};

bool RecoverSyntaxError(std::string_view json, std::string_view message,
                        SyntaxError* error) {
  const size_t first_newline = message.find('\n');
  const size_t last_newline = message.rfind('\n');
  if (first_newline == std::string_view::npos ||
      last_newline <= first_newline) {
    return false;
  }
  const std::string_view caret = message.substr(last_newline + 1);
  if (caret.empty() || caret.back() != '^' ||
      caret.find_first_not_of(' ') != caret.size() - 1) {
    return false;
  }
  const size_t k = caret.size() - 1;
  const std::string_view snippet =
      message.substr(first_newline + 1, last_newline - first_newline - 1);
  error->problem = std::string(message.substr(0, first_newline));

  size_t pos = std::string_view::npos;
  if (snippet.empty()) {
    // At the end of the input the parser has dropped its buffer and prints
    // no context: the error is just past the last meaningful byte.
    if (error->problem.rfind("Unexpected end of string", 0) != 0) return false;
    pos = json.find_last_not_of(" \t\r\n");
    pos = pos == std::string_view::npos ? 0 : pos + 1;
  } else {
    // Usually the snippet starts 20 bytes before the error (or at the start
    // of the input). After an incomplete token ("tru") the parser restarts
    // its buffer at the token instead; then only a unique match is trusted.
    constexpr size_t kContext = 20;  // protobuf's kContextLength
    size_t matches = 0;
    size_t only_match = std::string_view::npos;
    for (size_t start = json.find(snippet); start != std::string_view::npos;
         start = json.find(snippet, start + 1)) {
      if (k == kContext || (start == 0 && k < kContext)) {
        pos = start + k;
        break;
      }
      ++matches;
      only_match = start;
    }
    if (pos == std::string_view::npos && matches == 1) pos = only_match + k;
    if (pos == std::string_view::npos || pos > json.size()) return false;
  }

  size_t bol = 0;  // beginning of the line holding `pos`
  if (pos > 0) {
    const size_t newline = json.rfind('\n', pos - 1);
    if (newline != std::string_view::npos) bol = newline + 1;
  }
  size_t eol = json.find('\n', pos);
  if (eol == std::string_view::npos) eol = json.size();
  error->line = 1 + std::count(json.begin(), json.begin() + bol, '\n');
  error->column = pos - bol + 1;
  // Minified JSON is one long line: show at most 60 bytes either side.
  constexpr size_t kWindow = 60;
  const size_t from = std::max(bol, pos > kWindow ? pos - kWindow : 0);
  const size_t to = std::min(eol, pos + kWindow);
  error->excerpt = std::string(json.substr(from, to - from));
  error->excerpt_caret = pos - from;
  return true;
}

absl::Status ErrnoError(int error_number, std::string_view path,
                        std::string_view action) {
  return absl::ErrnoToStatus(error_number,
                             absl::StrCat(Absl(path), ": ", Absl(action)));
}

// Closes a file descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

absl::Status ParseProtoJson(std::string_view json, std::string_view source,
                            google::protobuf::Message* message) {
  const std::string& type = message->GetDescriptor()->full_name();
  message->Clear();
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        Absl(source), ": empty; expected a JSON object (", type, ")"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message,
      options);
  if (status.ok()) {
    // What protobuf's parser lets through: trailing commas, a single value
    // where a list belongs (client/common/json_strict.h).
    if (std::optional<StrictJsonError> strict =
            CheckStrictJson(json, message->GetDescriptor())) {
      message->Clear();
      return absl::InvalidArgumentError(
          absl::StrCat(Absl(source), ":", strict->line, ":", strict->column,
                       ": invalid JSON: ", strict->problem));
    }
    return absl::OkStatus();
  }

  const std::string_view detail(status.message().data(),
                                status.message().size());
  SyntaxError syntax;
  if (RecoverSyntaxError(json, detail, &syntax)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Absl(source), ":", syntax.line, ":", syntax.column,
                     ": invalid JSON: ", syntax.problem, "\n  ", syntax.excerpt,
                     "\n  ", std::string(syntax.excerpt_caret, ' '), "^"));
  }
  // Field-level errors ("kernelz: Cannot find field.") carry the field path
  // but no position; the message type tells the reader what was expected.
  return absl::InvalidArgumentError(
      absl::StrCat(Absl(source), ": not a valid ", type, ": ", Absl(detail)));
}

absl::StatusOr<std::string> ProtoToJson(
    const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat(
        "cannot print ", message.GetDescriptor()->full_name(), " as JSON: ",
        absl::string_view(status.message().data(), status.message().size())));
  }
  // Protobuf indents by one space; two read better and match what people
  // write by hand. Only leading spaces are indentation: JSON strings cannot
  // hold a raw newline, so every line starts outside a string.
  std::string indented;
  indented.reserve(json.size() + json.size() / 4);
  bool at_line_start = true;
  for (char c : json) {
    if (at_line_start && c == ' ') indented.push_back(' ');
    at_line_start = (c == '\n') || (at_line_start && c == ' ');
    indented.push_back(c);
  }
  if (indented.empty() || indented.back() != '\n') indented.push_back('\n');
  return indented;
}

absl::Status ReadProtoJsonFile(const std::string& path,
                               google::protobuf::Message* message) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return ErrnoError(error, path, "cannot open");
  }
  FdCloser closer(fd);
  std::string json;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "cannot read");  // EISDIR lands here
    }
    json.append(buffer, static_cast<size_t>(n));
  }
  return ParseProtoJson(json, path, message);
}

absl::Status WriteProtoJsonFile(const std::string& path,
                                const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ProtoToJson(message);
  if (!json.ok()) return json.status();
  return WriteFileAtomically(path, *json);
}

std::string JsonStringLiteral(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {

// How an output path is written (see WriteFileAtomically in the header).
struct OutputTarget {
  // Written in place through open(2) instead of a temporary file renamed
  // over it: a character device (/dev/null), a FIFO, or a file reached
  // through /dev or /proc (/dev/stdout redirected to a file by the shell).
  bool write_through = false;
  // Truncate on open (only for regular files written through).
  bool truncate = false;
  // The path to open (write-through) or to rename the temporary file over:
  // symbolic links to regular files are resolved, so the link survives and
  // its target is replaced.
  std::string path;
  // >= 0: this process's own descriptor named by the path (/dev/stdout,
  // /dev/fd/N, /proc/self/fd/N), written directly so that the output lands
  // at its current offset, after what the process already wrote there.
  int own_fd = -1;
};

// N for "/dev/stdout" (1), "/dev/stderr" (2), "/dev/fd/N" and
// "/proc/self/fd/N" when N is an open descriptor of this process; else -1.
int OwnDescriptor(std::string_view path) {
  int fd = -1;
  if (path == "/dev/stdout") {
    fd = STDOUT_FILENO;
  } else if (path == "/dev/stderr") {
    fd = STDERR_FILENO;
  } else {
    for (std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
      if (path.substr(0, prefix.size()) != prefix) continue;
      const std::string_view digits = path.substr(prefix.size());
      if (digits.empty() || digits.size() > 9 ||
          digits.find_first_not_of("0123456789") != std::string_view::npos) {
        return -1;
      }
      fd = std::stoi(std::string(digits));
    }
  }
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) return -1;
  return fd;
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

absl::Status NotReplaced(std::string_view path, mode_t mode) {
  return absl::FailedPreconditionError(absl::StrCat(
      Absl(path), ": is ", FileTypeName(mode),
      "; output goes only to a regular file (replaced atomically), a "
      "character device such as /dev/null, or a FIFO; not replaced"));
}

bool UnderDevOrProc(std::string_view path) {
  return path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0;
}

// Whether `path` or any symbolic link on the way from it to its final target
// lies under /dev or /proc: such a file is an open descriptor of some
// process (/dev/stdout -> /proc/self/fd/1 -> the shell's redirect target),
// which must be written in place, not swapped for a new inode.
bool ReachedThroughDevOrProc(const std::string& path) {
  std::string current = path;
  for (int hop = 0; hop < 40; ++hop) {  // 40: Linux's MAXSYMLINKS
    if (UnderDevOrProc(current)) return true;
    char target[4096];
    const ssize_t n = ::readlink(current.c_str(), target, sizeof(target) - 1);
    if (n < 0) return false;  // not a link (or unreadable): the end
    target[n] = '\0';
    if (target[0] == '/') {
      current = target;
    } else {
      const size_t slash = current.rfind('/');
      current = slash == std::string::npos
                    ? std::string(target)
                    : absl::StrCat(current.substr(0, slash + 1), target);
    }
  }
  return false;
}

absl::StatusOr<OutputTarget> ResolveOutput(const std::string& path) {
  OutputTarget out;
  out.path = path;
  struct stat link_info;
  if (::lstat(path.c_str(), &link_info) != 0) {
    // Absent: created atomically. Other errors (ENOTDIR, EACCES on the
    // directory, ...) surface the same way from open() of the temporary.
    return out;
  }
  if (S_ISREG(link_info.st_mode)) return out;
  if (S_ISCHR(link_info.st_mode) || S_ISFIFO(link_info.st_mode)) {
    out.write_through = true;
    return out;
  }
  if (!S_ISLNK(link_info.st_mode)) return NotReplaced(path, link_info.st_mode);

  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": is a symbolic link whose target cannot be reached (",
        std::strerror(error), "); not replaced"));
  }
  if (S_ISCHR(info.st_mode) || S_ISFIFO(info.st_mode)) {
    out.write_through = true;
    return out;
  }
  if (!S_ISREG(info.st_mode)) return NotReplaced(path, info.st_mode);
  if (ReachedThroughDevOrProc(path)) {
    out.write_through = true;
    out.own_fd = OwnDescriptor(path);
    out.truncate = out.own_fd < 0;
    return out;
  }
  std::unique_ptr<char, decltype(&std::free)> resolved(
      ::realpath(path.c_str(), nullptr), &std::free);
  if (resolved == nullptr) return ErrnoError(errno, path, "cannot resolve");
  out.path = resolved.get();
  return out;
}

absl::Status WriteAll(int fd, std::string_view text, std::string_view path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "cannot write");
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Straight through: a device or FIFO cannot be replaced atomically, and
// renaming over it would destroy it (as root, /dev/null for every program).
absl::Status WriteThrough(const OutputTarget& target, std::string_view text) {
  if (target.own_fd >= 0) {
    // What stdio still buffers for this descriptor goes first.
    if (target.own_fd == STDOUT_FILENO) std::fflush(stdout);
    if (target.own_fd == STDERR_FILENO) std::fflush(stderr);
    return WriteAll(target.own_fd, text, target.path);
  }
  // No O_CREAT: the file exists, and if it vanished since ResolveOutput we
  // must not create a regular file under /dev. A FIFO's open waits for a
  // reader, as a shell redirect does.
  const int fd =
      ::open(target.path.c_str(),
             O_WRONLY | O_CLOEXEC | O_NOCTTY | (target.truncate ? O_TRUNC : 0));
  if (fd < 0) return ErrnoError(errno, target.path, "cannot open for writing");
  FdCloser closer(fd);
  if (absl::Status written = WriteAll(fd, text, target.path); !written.ok()) {
    return written;
  }
  if (::close(closer.release()) != 0) {
    return ErrnoError(errno, target.path, "cannot close");
  }
  return absl::OkStatus();
}

absl::Status ReplaceAtomically(const std::string& path, std::string_view text) {
  // The temporary file sits in the target's directory so that rename() is
  // atomic (same file system). open(O_EXCL) instead of mkstemp() so the
  // file gets the umask-derived mode a plain open would give, not 0600.
  static std::atomic<unsigned> counter{0};
  std::string temp_path;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp_path = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter++);
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0666);
    if (fd < 0 && errno != EEXIST) {
      return ErrnoError(errno, path, "cannot create a file beside it");
    }
  }
  if (fd < 0) return ErrnoError(EEXIST, path, "cannot create a temporary file");

  auto discard = [&](absl::Status status) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
    return status;
  };
  if (absl::Status written = WriteAll(fd, text, path); !written.ok()) {
    return discard(written);
  }
  // Without fsync a crash after the rename could leave an empty file where
  // the old, complete one used to be.
  if (::fsync(fd) != 0) return discard(ErrnoError(errno, path, "cannot flush"));
  const int closed = ::close(std::exchange(fd, -1));
  if (closed != 0) return discard(ErrnoError(errno, path, "cannot close"));
  // Narrows (cannot close) the window in which something other than a
  // regular file appeared at `path` since ResolveOutput looked.
  struct stat info;
  if (::lstat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    return discard(NotReplaced(path, info.st_mode));
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    return discard(ErrnoError(errno, path, "cannot replace"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckOutputFile(const std::string& path) {
  absl::StatusOr<OutputTarget> target = ResolveOutput(path);
  if (!target.ok()) return target.status();
  if (target->write_through) {
    if (::access(target->path.c_str(), W_OK) != 0) {
      return ErrnoError(errno, path, "cannot write");
    }
    return absl::OkStatus();
  }
  const std::string& file = target->path;
  const size_t slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : file.substr(0, slash);
  if (::access(dir.c_str(), W_OK) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(path, ": cannot write into directory ", dir));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view text) {
  absl::StatusOr<OutputTarget> target = ResolveOutput(path);
  if (!target.ok()) return target.status();
  if (target->write_through) return WriteThrough(*target, text);
  return ReplaceAtomically(target->path, text);
}

}  // namespace autotm::client
