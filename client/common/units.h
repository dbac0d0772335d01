// Parsing and formatting of the quantities users type on the command line:
// byte counts, fast-memory budgets and durations.
//
// All parsers are pure functions of their arguments, thread-safe, and return
// InvalidArgument with a message that quotes the offending text and says what
// would have been accepted, so callers can print it as is.
#ifndef AUTOTM_CLIENT_COMMON_UNITS_H_
#define AUTOTM_CLIENT_COMMON_UNITS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace autotm::client {

// The accepted spellings, for --help texts.
inline constexpr char kBytesHelp[] =
    "a byte count: a plain number of bytes (\"123\", \"123B\"), binary units "
    "KiB MiB GiB TiB PiB (powers of 1024) or decimal units KB MB GB TB PB "
    "(powers of 1000), case-insensitive, fractions allowed (\"1.5GiB\")";
inline constexpr char kBudgetHelp[] =
    "a byte count (\"24GiB\", \"512MB\") or a percentage of the graph's peak "
    "live bytes, i.e. of the fast memory that holds every tensor "
    "(\"20%\", \"12.5%\", \"110%\"; 0 < p <= 1000)";
inline constexpr char kDurationHelp[] =
    "\"500ms\", \"60s\", \"1.5s\", \"2min\", \"1h\" or a plain number of "
    "seconds (units us, ms, s, min, h; case-insensitive)";

// Parses a non-negative byte count: an integer or decimal number followed by
// an optional unit. Units are case-insensitive: "B" (or none), binary
// "KiB" "MiB" "GiB" "TiB" "PiB" (1024^n) and decimal "KB" "MB" "GB" "TB" "PB"
// (1000^n); whitespace may separate number and unit. Fractions are rounded
// to the nearest byte ("1.5KiB" = 1536), but a count of plain bytes must be
// whole. Bare prefixes ("4G") are rejected as ambiguous.
// InvalidArgument for empty text, negatives, garbage, unknown units and
// values above 2^64 - 1.
absl::StatusOr<uint64_t> ParseBytes(std::string_view text);

// Parses a fast-memory budget: either ParseBytes() text, or a percentage
// "p%" with 0 < p <= 1000 (fractions allowed) of `peak_live_bytes`, the
// fast memory the whole graph needs at its busiest kernel (above 100% leaves
// headroom, e.g. for pool fragmentation). A percentage is
// rounded down to whole bytes so the budget never exceeds what was asked.
// InvalidArgument as for ParseBytes, or for a percentage out of range.
absl::StatusOr<uint64_t> ParseBudget(std::string_view text,
                                     uint64_t peak_live_bytes);

// Parses a non-negative duration into seconds: a number followed by an
// optional unit "us", "ms", "s" (also "sec"), "min" (also "m") or "h",
// case-insensitive; no unit means seconds. InvalidArgument for empty text,
// negatives, garbage, unknown units and non-finite values.
absl::StatusOr<double> ParseDuration(std::string_view text);

// "0 B", "512 B", "1.00 KiB", "1.50 GiB": two decimals in the largest binary
// unit that keeps the number >= 1. 2^64 - 1, the value at which the
// solver's byte sums saturate (solver/checked_math.h), prints as "more than
// 16 EiB (overflow)" instead of a number that looks exact.
std::string FormatBytes(uint64_t bytes);

// "850 us", "12.3 ms", "4.56 s", "2 min 05 s", "1 h 02 min". Negative or
// non-finite inputs are printed as numbers of seconds ("-1 s", "inf s").
std::string FormatDuration(double seconds);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_UNITS_H_
