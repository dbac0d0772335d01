#include "client/common/units.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace autotm::client {
namespace {

// A number as typed: "12.5 GiB" -> {"12", "5", "GiB"}.
// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so the public std::string_view arguments are converted
// once, here, and everything below works on absl::string_view.
absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

struct SplitQuantity {
  absl::string_view number;       // "12.5"
  absl::string_view int_digits;   // "12"
  absl::string_view frac_digits;  // "5"
  absl::string_view unit;         // "GiB"
};

absl::Status Invalid(absl::string_view what, absl::string_view text,
                     absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", what, " \"", text, "\": ", problem));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits `text` into an unsigned decimal number and a unit made of letters
// (or `extra_unit_chars`). Rejects signs, exponents and anything else, so
// that "1e3", "0x10" or "5 GiB of RAM" never parse to a surprising value.
// `text` is quoted in messages; `s` (a part of it) is parsed.
absl::StatusOr<SplitQuantity> Split(absl::string_view what,
                                    absl::string_view text, absl::string_view s,
                                    absl::string_view example) {
  s = absl::StripAsciiWhitespace(s);
  if (s.empty()) {
    return Invalid(what, text, absl::StrCat("empty; expected e.g. ", example));
  }
  if (s.front() == '-') return Invalid(what, text, "must not be negative");
  SplitQuantity q;
  size_t i = 0;
  while (i < s.size() && IsDigit(s[i])) ++i;
  q.int_digits = s.substr(0, i);
  if (i < s.size() && s[i] == '.') {
    size_t frac_start = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    q.frac_digits = s.substr(frac_start, i - frac_start);
  }
  q.number = s.substr(0, i);
  if (q.int_digits.empty() && q.frac_digits.empty()) {
    return Invalid(what, text,
                   absl::StrCat("expected a number first, e.g. ", example));
  }
  q.unit = absl::StripLeadingAsciiWhitespace(s.substr(i));
  for (char c : q.unit) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) {
      return Invalid(what, text,
                     absl::StrCat("unexpected characters after the number; "
                                  "expected e.g. ",
                                  example));
    }
  }
  return q;
}

absl::StatusOr<double> ToDouble(absl::string_view what, absl::string_view text,
                                absl::string_view number) {
  double value = 0;
  auto [end, ec] =
      std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(value)) {
    return Invalid(what, text, "the number is out of range");
  }
  return value;
}

struct ByteUnit {
  const char* name;
  uint64_t multiplier;
};

constexpr uint64_t kKi = 1024;
constexpr uint64_t kK = 1000;
constexpr ByteUnit kByteUnits[] = {
    {"", 1},
    {"b", 1},
    {"kib", kKi},
    {"mib", kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
    {"pib", kKi* kKi* kKi* kKi* kKi},
    {"kb", kK},
    {"mb", kK* kK},
    {"gb", kK* kK* kK},
    {"tb", kK* kK* kK* kK},
    {"pb", kK* kK* kK* kK* kK},
};

constexpr char kBytesExample[] = "\"512MiB\", \"24GiB\" or \"10GB\"";
constexpr char kUnitAdvice[] =
    "use B, KiB, MiB, GiB, TiB, PiB (powers of 1024) or KB, MB, GB, TB, PB "
    "(powers of 1000)";

}  // namespace

absl::StatusOr<uint64_t> ParseBytes(std::string_view std_text) {
  const absl::string_view text = Absl(std_text);
  constexpr absl::string_view kWhat = "byte count";
  absl::StatusOr<SplitQuantity> q = Split(kWhat, text, text, kBytesExample);
  if (!q.ok()) return q.status();

  const std::string unit = absl::AsciiStrToLower(q->unit);
  uint64_t multiplier = 0;
  for (const ByteUnit& u : kByteUnits) {
    if (unit == u.name) multiplier = u.multiplier;
  }
  if (multiplier == 0) {
    return Invalid(
        kWhat, text,
        absl::StrCat("unknown unit \"", q->unit, "\"; ", kUnitAdvice));
  }
  const absl::Status too_large = Invalid(
      kWhat, text,
      absl::StrCat("too large; the maximum is ",
                   std::numeric_limits<uint64_t>::max(), " bytes (16 EiB)"));

  uint64_t whole = 0;
  if (!q->int_digits.empty()) {
    auto [end, ec] =
        std::from_chars(q->int_digits.data(),
                        q->int_digits.data() + q->int_digits.size(), whole);
    if (ec == std::errc::result_out_of_range) return too_large;
    if (ec != std::errc()) return Invalid(kWhat, text, "not a number");
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(whole, multiplier, &bytes)) return too_large;

  // The fraction is summed digit by digit in long double (64-bit mantissa on
  // x86-64): exact enough for any unit up to PiB, and free of the rounding a
  // trip through "double(12.5) * 2^30" would add for large integer parts.
  long double fraction = 0;
  long double scale = 0.1L;
  bool fraction_is_zero = true;
  for (char c : q->frac_digits) {
    fraction += (c - '0') * scale;
    scale /= 10;
    if (c != '0') fraction_is_zero = false;
  }
  if (!fraction_is_zero) {
    if (multiplier == 1) {
      return Invalid(kWhat, text,
                     "a count of plain bytes must be a whole number");
    }
    const auto extra =
        static_cast<uint64_t>(std::llround(fraction * multiplier));
    if (__builtin_add_overflow(bytes, extra, &bytes)) return too_large;
  }
  return bytes;
}

absl::StatusOr<uint64_t> ParseBudget(std::string_view std_text,
                                     uint64_t peak_live_bytes) {
  const absl::string_view text = Absl(std_text);
  constexpr absl::string_view kWhat = "budget";
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (s.empty() || s.back() != '%') {
    absl::StatusOr<uint64_t> bytes = ParseBytes(std_text);
    if (!bytes.ok()) {
      // Say that percentages exist too: the byte parser does not know.
      return absl::InvalidArgumentError(
          absl::StrCat(bytes.status().message(),
                       "; a budget may also be a percentage of the peak "
                       "live bytes, e.g. \"20%\""));
    }
    return bytes;
  }
  s.remove_suffix(1);
  absl::StatusOr<SplitQuantity> q = Split(kWhat, text, s, "\"20%\"");
  if (!q.ok()) return q.status();
  if (!q->unit.empty()) {
    return Invalid(kWhat, text, "expected a percentage such as \"20%\"");
  }
  absl::StatusOr<double> percent = ToDouble(kWhat, text, q->number);
  if (!percent.ok()) return percent.status();
  // Above 100% leaves headroom (for pool fragmentation, say); 1000% is far
  // past any use and keeps the product from overflowing.
  if (!(*percent > 0 && *percent <= 1000)) {
    return Invalid(kWhat, text, "a percentage must be in (0, 1000]");
  }
  if (*percent == 100) return peak_live_bytes;
  const long double bytes =
      std::floor(static_cast<long double>(peak_live_bytes) * *percent / 100);
  if (bytes >= static_cast<long double>(UINT64_MAX)) return UINT64_MAX;
  return static_cast<uint64_t>(bytes);
}

absl::StatusOr<double> ParseDuration(std::string_view std_text) {
  const absl::string_view text = Absl(std_text);
  constexpr absl::string_view kWhat = "duration";
  absl::StatusOr<SplitQuantity> q =
      Split(kWhat, text, text, "\"500ms\", \"60s\" or \"2min\"");
  if (!q.ok()) return q.status();
  const std::string unit = absl::AsciiStrToLower(q->unit);
  double scale = 0;
  if (unit.empty() || unit == "s" || unit == "sec") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1e-6;
  } else if (unit == "ms") {
    scale = 1e-3;
  } else if (unit == "m" || unit == "min") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else {
    return Invalid(kWhat, text,
                   absl::StrCat("unknown unit \"", q->unit,
                                "\"; use us, ms, s, min or h"));
  }
  absl::StatusOr<double> value = ToDouble(kWhat, text, q->number);
  if (!value.ok()) return value.status();
  const double seconds = *value * scale;
  if (!std::isfinite(seconds)) {
    return Invalid(kWhat, text, "the number is out of range");
  }
  return seconds;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B",   "KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  // Sums of sizes saturate (solver/checked_math.h): the true value is larger.
  if (bytes == std::numeric_limits<uint64_t>::max())
    return "more than 16 EiB (overflow)";
  if (bytes < 1024) return absl::StrFormat("%d B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.2f %s", value, kUnits[unit]);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return absl::StrFormat("%g s", seconds);
  }
  if (seconds < 1e-3) return absl::StrFormat("%.0f us", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.1f ms", seconds * 1e3);
  if (seconds < 60) return absl::StrFormat("%.2f s", seconds);
  const auto total = static_cast<int64_t>(std::llround(seconds));
  if (total < 3600) {
    return absl::StrFormat("%d min %02d s", total / 60, total % 60);
  }
  return absl::StrFormat("%d h %02d min", total / 3600, (total % 3600) / 60);
}

}  // namespace autotm::client
