#include "ringlb/apod/query_params.h"

#include "ringlb/base/percent_encoding.h"

namespace ringlb::apod {
namespace {

std::string decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hexDigitValue(text[i + 1]) >= 0 && hexDigitValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexDigitValue(text[i + 1]) * 16 + hexDigitValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

QueryParams QueryParams::parse(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      params.items_.emplace_back(decode(pair), std::string{});
    } else {
      params.items_.emplace_back(decode(pair.substr(0, eq)), decode(pair.substr(eq + 1)));
    }
  }
  return params;
}

std::pair<std::string_view, QueryParams> QueryParams::splitTarget(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, QueryParams{}};
  return {target.substr(0, q), parse(target.substr(q + 1))};
}

std::optional<std::string_view> QueryParams::first(std::string_view name) const {
  for (const auto& [key, value] : items_) {
    if (key == name) return std::string_view{value};
  }
  return std::nullopt;
}

std::optional<std::string_view> QueryParams::nonEmpty(std::string_view name) const {
  auto value = first(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

}  // namespace ringlb::apod
