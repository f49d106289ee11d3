// Fuzzes the proxy's request head scanner and parser (proxy/src/head_parser.cpp)
// with raw client bytes. Properties: the scanner finds the same head whether the
// bytes arrive at once or one at a time, and a parsed head's offsets stay inside it.
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
using ringlb::proxy::RequestHead;

constexpr HeadLimits kLimits;  // the proxy's defaults: 16 KiB, 100 fields

bool inside(std::string_view head, std::size_t offset, std::size_t length) {
  return offset <= head.size() && length <= head.size() - offset;
}

void checkParsed(std::string_view head, const RequestHead& parsed) {
  FUZZ_CHECK(parsed.length == head.size());
  FUZZ_CHECK(parsed.methodLength > 0 && parsed.methodLength < parsed.requestLineLength);
  FUZZ_CHECK(inside(head, parsed.target, parsed.targetLength) && parsed.targetLength > 0);
  FUZZ_CHECK(parsed.requestLineLength <= head.size());
  FUZZ_CHECK(parsed.fields.size() <= kLimits.maxFields);
  for (const HeaderField& field : parsed.fields) {
    FUZZ_CHECK(inside(head, field.line, field.lineLength));
    FUZZ_CHECK(field.nameLength > 0 && field.nameLength < field.lineLength);
    FUZZ_CHECK(inside(head, field.value, field.valueLength));
    FUZZ_CHECK(head.substr(field.line + field.lineLength - 2, 2) == "\r\n");
  }
  for (std::string_view token : parsed.connectionTokens) {
    FUZZ_CHECK(!token.empty() && token.data() >= head.data() && token.data() + token.size() <= head.data() + head.size());
  }
  FUZZ_CHECK(parsed.host < static_cast<std::int64_t>(parsed.fields.size()));
  FUZZ_CHECK(parsed.xRequestId < static_cast<std::int64_t>(parsed.fields.size()));
  FUZZ_CHECK(parsed.upgrade < static_cast<std::int64_t>(parsed.fields.size()));
  FUZZ_CHECK((parsed.framing == BodyFraming::Length) == (parsed.contentLength > 0));
  FUZZ_CHECK(parsed.framing != BodyFraming::UntilClose);  // a request body is never close-delimited
  FUZZ_CHECK(parsed.versionMinor <= 1);
  if (parsed.versionMinor == 1) FUZZ_CHECK(parsed.host >= 0);
  if (parsed.upgrade >= 0) FUZZ_CHECK(parsed.framing == BodyFraming::None && parsed.versionMinor == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  HeadScanner whole;
  const auto status = whole.scan(bytes, kLimits.maxBytes);

  // The session scans again after every read, over bytes that only grow.
  HeadScanner piecewise;
  auto stepStatus = HeadScanner::Status::NeedMore;
  for (std::size_t end = 1; end <= size && stepStatus == HeadScanner::Status::NeedMore; ++end) {
    stepStatus = piecewise.scan(bytes.substr(0, end), kLimits.maxBytes);
  }
  if (size == 0) stepStatus = piecewise.scan(bytes, kLimits.maxBytes);
  FUZZ_CHECK(stepStatus == status);
  if (status == HeadScanner::Status::Error) {
    FUZZ_CHECK(piecewise.error().status == whole.error().status && whole.error().status >= 400);
    return 0;
  }
  if (status != HeadScanner::Status::Complete) return 0;
  FUZZ_CHECK(piecewise.skipped() == whole.skipped() && piecewise.length() == whole.length());
  FUZZ_CHECK(whole.skipped() + whole.length() <= size && whole.length() <= kLimits.maxBytes);

  const std::string_view head = bytes.substr(whole.skipped(), whole.length());
  FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
  std::vector<HeaderField> fields(kLimits.maxFields);
  std::vector<std::string_view> tokens(32);
  RequestHead parsed;
  const auto error = ringlb::proxy::parseRequestHead(head, kLimits, {fields, tokens}, parsed);
  if (error) {
    FUZZ_CHECK(error.status >= 400 && error.status <= 505 && !error.reason.empty());
    return 0;
  }
  checkParsed(head, parsed);
  return 0;
}
