// Fuzzes the proxy's key extractor (proxy/src/key_extractor.cpp) on request
// heads the parser accepted. The first byte picks the key source, the next
// bytes up to a NUL its name; the rest is the request. Properties: the key is a
// view into the head (or the client address), the path sources never include a
// query, and a named source that found nothing falls back to the path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "head_parser.h"
#include "key_extractor.h"

namespace {

using namespace ringlb::proxy;
using ringlb::ring::KeySource;

constexpr KeySource kSources[] = {KeySource::Path, KeySource::PathAndQuery, KeySource::Header,
                                  KeySource::Cookie, KeySource::Query, KeySource::SourceIp};
constexpr std::string_view kClientIp = "127.0.0.9";

bool within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nul = bytes.find('\0');
  if (nul == std::string_view::npos) return 0;
  ringlb::ring::KeySpec spec{kSources[data[0] % std::size(kSources)], std::string(bytes.substr(0, nul))};
  bytes.remove_prefix(nul + 1);

  HeadScanner scanner;
  if (scanner.scan(bytes, HeadLimits{}.maxBytes) != HeadScanner::Status::Complete) return 0;
  const std::string_view head = bytes.substr(scanner.skipped(), scanner.length());
  std::vector<HeaderField> fields(HeadLimits{}.maxFields);
  std::vector<std::string_view> tokens(32);
  RequestHead parsed;
  if (parseRequestHead(head, {}, {fields, tokens}, parsed)) return 0;

  const RequestKey key = extractKey(head, parsed, spec, kClientIp);
  const std::string_view target = head.substr(parsed.target, parsed.targetLength);
  const std::string_view path = targetPath(target);
  FUZZ_CHECK(!path.empty() && path.find('?') == std::string_view::npos);
  FUZZ_CHECK(path == "/" || within(path, target));
  const std::string_view origin = originTarget(target);
  FUZZ_CHECK(!origin.empty() && (origin == "/" || within(origin, target)));
  FUZZ_CHECK(origin.substr(0, path.size()) == path || path == "/");

  switch (spec.source) {
    case KeySource::Path:
      FUZZ_CHECK(key.key == path && !key.fallback);
      break;
    case KeySource::PathAndQuery:
      FUZZ_CHECK(key.key == origin && !key.fallback);
      break;
    case KeySource::SourceIp:
      FUZZ_CHECK(key.key == kClientIp && !key.fallback);
      break;
    case KeySource::Header:
    case KeySource::Cookie:
    case KeySource::Query:
      if (key.fallback) {
        FUZZ_CHECK(key.key == path);
      } else {
        FUZZ_CHECK(!key.key.empty() && within(key.key, head));
      }
      break;
  }
  if (spec.source == KeySource::Header && !key.fallback) {
    bool named = false;
    for (const auto& field : parsed.fields) {
      named = named || (equalsIgnoreCase(fieldName(head, field), spec.name) && fieldValue(head, field) == key.key);
    }
    FUZZ_CHECK(named);
  }
  if (spec.source == KeySource::Query && !key.fallback) FUZZ_CHECK(within(key.key, origin));
  return 0;
}
