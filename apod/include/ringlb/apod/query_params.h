#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringlb::apod {

/// The decoded parameters of a URL query string, in order of appearance.
///
/// Decoding follows the usual form rules (and Python's parse_qs, which the real API uses):
/// '+' is a space, %XX is a byte, a malformed escape is kept literally, a parameter without
/// '=' has an empty value. Never throws for any input; immutable after parse.
class QueryParams {
 public:
  QueryParams() = default;

  /// Decodes `query` (the part after '?', without it).
  static QueryParams parse(std::string_view query);

  /// Splits a request target ("/path?query") into the path and its decoded query.
  static std::pair<std::string_view, QueryParams> splitTarget(std::string_view target);

  /// The first value given for `name`, or nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> first(std::string_view name) const;

  /// Like the real API's `args.get(name)` truthiness: the first value, or nullopt when the
  /// parameter is absent or empty ("date=" counts as not given).
  [[nodiscard]] std::optional<std::string_view> nonEmpty(std::string_view name) const;

  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& items() const noexcept { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

}  // namespace ringlb::apod
