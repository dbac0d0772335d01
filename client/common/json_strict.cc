#include "client/common/json_strict.h"

#include <cctype>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace autotm::client {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

constexpr int kMaxDepth = 100;

bool IsWellKnown(const Descriptor* type) {
  return absl::StartsWith(type->full_name(), "google.protobuf.");
}

// A recursive-descent checker; the first problem wins and stops it.
class Checker {
 public:
  explicit Checker(std::string_view json) : json_(json) {}

  std::optional<StrictJsonError> Run(const Descriptor* type) {
    SkipSpace();
    Message(type, 0);
    if (!failed_) {
      SkipSpace();
      if (pos_ < json_.size()) Fail("more after the end of the JSON value");
    }
    if (!failed_) return std::nullopt;
    return error_;
  }

 private:
  bool AtEnd() const { return pos_ >= json_.size(); }
  char Peek() const { return AtEnd() ? '\0' : json_[pos_]; }

  void Fail(std::string problem) { FailAt(pos_, std::move(problem)); }
  void FailAt(size_t at, std::string problem) {
    if (failed_) return;
    failed_ = true;
    error_.problem = std::move(problem);
    error_.line = 1;
    error_.column = 1;
    for (size_t i = 0; i < at && i < json_.size(); ++i) {
      if (json_[i] == '\n') {
        ++error_.line;
        error_.column = 1;
      } else {
        ++error_.column;
      }
    }
  }

  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' ||
                        Peek() == '\r')) {
      ++pos_;
    }
  }

  bool Expect(char c) {
    if (Peek() != c) {
      Fail(AtEnd() ? absl::StrCat("expected '", std::string(1, c),
                                  "', found the end of the input")
                   : absl::StrCat("expected '", std::string(1, c), "'"));
      return false;
    }
    ++pos_;
    return true;
  }

  // A JSON string; its decoded value is not needed beyond ASCII keys, so
  // escapes are checked but \u sequences are kept as written.
  std::string String() {
    std::string out;
    if (!Expect('"')) return out;
    while (!failed_) {
      if (AtEnd()) {
        Fail("unterminated string");
        break;
      }
      const char c = json_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        Fail("control character in a string (escape it)");
        break;
      }
      if (c == '\\') {
        ++pos_;
        const char e = Peek();
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            const char h = pos_ + i < json_.size() ? json_[pos_ + i] : '\0';
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
              Fail("\\u needs four hex digits");
              return out;
            }
          }
          out.append(json_.substr(pos_ - 1, 6));
          pos_ += 5;
          continue;
        }
        static constexpr std::string_view kEscapes = "\"\\/bfnrt";
        if (kEscapes.find(e) == std::string_view::npos || AtEnd()) {
          Fail("invalid escape in a string");
          break;
        }
        out.push_back(e);
        ++pos_;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    return out;
  }

  void Number() {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (!AtEnd() && std::isdigit(static_cast<unsigned char>(Peek()))) {
        ++pos_;
      }
      return pos_ > from;
    };
    if (Peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      FailAt(start, "invalid value");
      return;
    }
    if (Peek() == '.') {
      ++pos_;
      if (!digits()) {
        FailAt(start, "invalid number");
        return;
      }
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!digits()) FailAt(start, "invalid number");
    }
  }

  bool Literal(std::string_view word) {
    if (json_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool Null() {
    SkipSpace();
    return Literal("null");
  }

  // Any JSON value, without a schema.
  void Value(int depth) {
    if (depth > kMaxDepth) {
      Fail(absl::StrCat("nested deeper than ", kMaxDepth));
      return;
    }
    SkipSpace();
    switch (Peek()) {
      case '{':
        Object(depth, [&](const std::string&) { Value(depth + 1); });
        return;
      case '[':
        Array(depth, [&] { Value(depth + 1); });
        return;
      case '"':
        String();
        return;
      default:
        if (Literal("true") || Literal("false") || Literal("null")) return;
        Number();
    }
  }

  // {"key": value, ...}; `member` parses each value (the key is passed).
  template <typename Member>
  void Object(int depth, Member member) {
    if (!Expect('{')) return;
    SkipSpace();
    if (Peek() == '}') {
      ++pos_;
      return;
    }
    while (!failed_) {
      SkipSpace();
      if (Peek() != '"') {
        Fail("expected a member name in double quotes");
        return;
      }
      const std::string key = String();
      SkipSpace();
      if (!Expect(':')) return;
      member(key);
      if (failed_) return;
      SkipSpace();
      if (Peek() == ',') {
        const size_t comma = pos_;
        ++pos_;
        SkipSpace();
        if (Peek() == '}') {
          FailAt(comma, "trailing comma before '}'");
          return;
        }
        continue;
      }
      Expect('}');
      return;
    }
  }

  template <typename Element>
  void Array(int depth, Element element) {
    if (!Expect('[')) return;
    SkipSpace();
    if (Peek() == ']') {
      ++pos_;
      return;
    }
    while (!failed_) {
      element();
      if (failed_) return;
      SkipSpace();
      if (Peek() == ',') {
        const size_t comma = pos_;
        ++pos_;
        SkipSpace();
        if (Peek() == ']') {
          FailAt(comma, "trailing comma before ']'");
          return;
        }
        continue;
      }
      Expect(']');
      return;
    }
  }

  void Message(const Descriptor* type, int depth) {
    if (depth > kMaxDepth) {
      Fail(absl::StrCat("nested deeper than ", kMaxDepth));
      return;
    }
    SkipSpace();
    if (IsWellKnown(type)) {
      Value(depth);
      return;
    }
    if (Peek() != '{') {
      Fail(absl::StrCat("expected a JSON object (", type->full_name(), ")"));
      return;
    }
    Object(depth, [&](const std::string& key) {
      const FieldDescriptor* field = type->FindFieldByName(key);
      for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == key) field = type->field(i);
      }
      Field(field, key, depth + 1);
    });
  }

  // The value of one field; `field` is null for names the type lacks
  // (protobuf's parser reports those).
  void Field(const FieldDescriptor* field, const std::string& key, int depth) {
    SkipSpace();
    if (field == nullptr) {
      Value(depth);
      return;
    }
    const size_t start = pos_;
    if (Null()) return;
    pos_ = start;
    if (field->is_map()) {
      if (Peek() != '{') {
        Fail(absl::StrCat("field \"", key, "\" is a map; give a JSON object"));
        return;
      }
      const FieldDescriptor* value = field->message_type()->map_value();
      Object(depth, [&](const std::string&) { Single(value, depth + 1); });
      return;
    }
    if (field->is_repeated()) {
      if (Peek() != '[') {
        Fail(absl::StrCat("field \"", key,
                          "\" is a list; give a JSON array, even for one "
                          "element"));
        return;
      }
      Array(depth, [&] { Single(field, depth + 1); });
      return;
    }
    Single(field, depth);
  }

  // One value of `field` (an element when it is repeated).
  void Single(const FieldDescriptor* field, int depth) {
    SkipSpace();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const size_t start = pos_;
      if (Null()) return;
      pos_ = start;
      Message(field->message_type(), depth);
      return;
    }
    Value(depth);
  }

  std::string_view json_;
  size_t pos_ = 0;
  bool failed_ = false;
  StrictJsonError error_;
};

}  // namespace

std::optional<StrictJsonError> CheckStrictJson(std::string_view json,
                                               const Descriptor* type) {
  return Checker(json).Run(type);
}

}  // namespace autotm::client
