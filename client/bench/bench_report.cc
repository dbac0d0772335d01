#include "client/bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace autotm::bench {

std::string RenderTextTable(const TextTable& table) {
  std::vector<size_t> widths(table.header.size(), 0);
  auto widen = [&widths](const std::vector<std::string>& row) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  };
  widen(table.header);
  for (const std::vector<std::string>& row : table.rows) widen(row);
  size_t total = 0;
  for (size_t w : widths) total += w + 2;
  total = total >= 2 ? total - 2 : 0;

  auto is_right = [&table](size_t c) {
    return std::find(table.right_aligned.begin(), table.right_aligned.end(),
                     static_cast<int>(c)) != table.right_aligned.end();
  };
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < widths.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(widths[c] - cell.size(), ' ');
      if (c > 0) line += "  ";
      line += is_right(c) ? pad + cell : cell + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };

  std::string out = render_row(table.header);
  out += std::string(total, '-') + "\n";
  for (const std::vector<std::string>& row : table.rows) {
    out += row.empty() ? std::string(total, '-') + "\n" : render_row(row);
  }
  return out;
}

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\n\r") == absl::string_view::npos) {
    return std::string(field);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(field, {{"\"", "\"\""}}), "\"");
}

std::string CsvRow(const std::vector<std::string>& fields) {
  std::vector<std::string> quoted;
  quoted.reserve(fields.size());
  for (const std::string& f : fields) quoted.push_back(CsvField(f));
  return absl::StrCat(absl::StrJoin(quoted, ","), "\n");
}

std::optional<double> GeometricMean(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v) || v <= 0) return std::nullopt;
    sum += std::log(v);
  }
  return std::exp(sum / static_cast<double>(values.size()));
}

}  // namespace autotm::bench
