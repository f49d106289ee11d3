// Fuzzes the proxy's response head parser (proxy/src/head_parser.cpp) with what
// a member may send. The first byte picks the request method (HEAD changes the
// framing); the rest is the response. Properties: offsets stay inside the head,
// and the framing follows RFC 9112 §6.3 (no body for HEAD, 1xx, 204 and 304; a
// close-delimited body ends the connection).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "head_parser.h"

namespace {

using ringlb::proxy::BodyFraming;
using ringlb::proxy::HeadLimits;
using ringlb::proxy::HeadScanner;
using ringlb::proxy::HeaderField;
using ringlb::proxy::Method;
using ringlb::proxy::ResponseHead;

constexpr HeadLimits kLimits;
constexpr Method kMethods[] = {Method::Get, Method::Head, Method::Post, Method::Put, Method::Options};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Method method = kMethods[data[0] % std::size(kMethods)];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  HeadScanner scanner;
  if (scanner.scan(bytes, kLimits.maxBytes) != HeadScanner::Status::Complete) return 0;
  const std::string_view head = bytes.substr(scanner.skipped(), scanner.length());
  std::vector<HeaderField> fields(kLimits.maxFields);
  std::vector<std::string_view> tokens(32);
  ResponseHead parsed;
  const auto error = ringlb::proxy::parseResponseHead(head, kLimits, method, {fields, tokens}, parsed);
  if (error) {
    FUZZ_CHECK(error.status == 502 && !error.reason.empty());
    return 0;
  }
  FUZZ_CHECK(parsed.status >= 100 && parsed.status <= 599);
  FUZZ_CHECK(parsed.versionMinor <= 1);
  FUZZ_CHECK(parsed.length == head.size() && parsed.statusLineLength <= head.size());
  for (const HeaderField& field : parsed.fields) {
    FUZZ_CHECK(field.line <= head.size() && field.lineLength <= head.size() - field.line);
    FUZZ_CHECK(field.value >= field.line + field.nameLength + 1u);
    FUZZ_CHECK(field.value + field.valueLength <= field.line + field.lineLength - 2u);
  }
  const bool bodyless = method == Method::Head || parsed.status < 200 || parsed.status == 204 || parsed.status == 304;
  if (bodyless) FUZZ_CHECK(parsed.framing == BodyFraming::None);
  if (parsed.framing == BodyFraming::UntilClose) FUZZ_CHECK(!parsed.keepAlive);
  if (parsed.framing == BodyFraming::Length) FUZZ_CHECK(parsed.contentLength > 0);
  if (parsed.upgrade >= 0) FUZZ_CHECK(parsed.status == 101 && parsed.upgrade < static_cast<int>(parsed.fields.size()));
  return 0;
}
