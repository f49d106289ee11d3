#include "key_extractor.h"

namespace ringlb::proxy {

namespace {

std::string_view trimSpaces(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Finds `name` in a list of `name=value` pairs separated by `separator`.
std::string_view findPair(std::string_view list, std::string_view name, char separator) noexcept {
  while (!list.empty()) {
    const auto end = list.find(separator);
    auto pair = separator == ';' ? trimSpaces(list.substr(0, end)) : list.substr(0, end);
    const auto eq = pair.find('=');
    const auto pairName = pair.substr(0, eq);
    if (pairName == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace

std::string_view originTarget(std::string_view target) noexcept {
  if (target.empty() || target.front() == '/' || target == "*") return target;
  const auto scheme = target.find("://");
  if (scheme == std::string_view::npos) return target;
  const auto rest = target.substr(scheme + 3);
  const auto slash = rest.find_first_of("/?");
  if (slash == std::string_view::npos) return "/";
  if (rest[slash] == '?') return rest.substr(slash);  // "http://h?q": path is empty
  return rest.substr(slash);
}

std::string_view targetPath(std::string_view target) noexcept {
  auto origin = originTarget(target);
  const auto query = origin.find('?');
  origin = origin.substr(0, query);
  return origin.empty() ? std::string_view("/") : origin;
}

RequestKey extractKey(std::string_view head, const RequestHead& parsed, const ring::KeySpec& spec,
                      std::string_view clientIp) noexcept {
  const std::string_view target = head.substr(parsed.target, parsed.targetLength);
  std::string_view key;
  switch (spec.source) {
    case ring::KeySource::Path:
      return {targetPath(target), false};
    case ring::KeySource::PathAndQuery:
      return {originTarget(target), false};
    case ring::KeySource::SourceIp:
      return {clientIp, false};
    case ring::KeySource::Header:
      for (const auto& field : parsed.fields) {
        if (equalsIgnoreCase(fieldName(head, field), spec.name)) {
          key = fieldValue(head, field);
          break;
        }
      }
      break;
    case ring::KeySource::Cookie:
      for (const auto& field : parsed.fields) {
        if (static_cast<FieldKind>(field.kind) != FieldKind::Cookie) continue;
        key = findPair(fieldValue(head, field), spec.name, ';');
        if (!key.empty()) break;
      }
      break;
    case ring::KeySource::Query: {
      const auto origin = originTarget(target);
      const auto question = origin.find('?');
      if (question != std::string_view::npos) key = findPair(origin.substr(question + 1), spec.name, '&');
      break;
    }
  }
  if (key.empty()) return {targetPath(target), true};
  return {key, false};
}

}  // namespace ringlb::proxy
