// Fuzzes the proxy's head rewriter (proxy/src/head_rewriter.cpp) on heads the
// parser accepted. The first byte picks request or response and the rewrite's
// options; the rest is the head. Round trip: the forwarded head parses again,
// with the same semantic fields (method, target, version, Host, framing, status),
// no hop-by-hop field left, and the fields the proxy adds present once.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "head_parser.h"
#include "head_rewriter.h"

namespace {

using namespace ringlb::proxy;

constexpr HeadLimits kLimits;
// A forwarded head has the proxy's fields on top (X-Forwarded-Host repeats Host).
constexpr HeadLimits kForwardedLimits{2 * kLimits.maxBytes + 1024, kLimits.maxFields + 8};
// The proxy's aux space for the appended fields (worker_state_impl.h: maxHeaderBytes + 1024).
constexpr std::size_t kExtraBytes = kLimits.maxBytes + 1024;

struct Index {
  std::vector<HeaderField> fields = std::vector<HeaderField>(kForwardedLimits.maxFields);
  std::vector<std::string_view> tokens = std::vector<std::string_view>(32);
  FieldStorage storage() { return {fields, tokens}; }
};

std::size_t countFields(std::span<const HeaderField> fields, FieldKind kind) {
  std::size_t n = 0;
  for (const auto& field : fields) n += static_cast<FieldKind>(field.kind) == kind ? 1 : 0;
  return n;
}

std::string_view valueOf(std::string_view head, std::span<const HeaderField> fields, std::int16_t index) {
  return index < 0 ? std::string_view() : fieldValue(head, fields[static_cast<std::size_t>(index)]);
}

// The forwarded head: the compacted original bytes, then the appended block.
std::string forwarded(const std::string& buffer, const Rewrite& rewrite, const std::vector<char>& extra) {
  return buffer.substr(0, rewrite.length) + std::string(extra.data(), rewrite.extraLength);
}

void rewriteRequest(std::string_view head, std::uint8_t options) {
  Index index;
  RequestHead parsed;
  if (parseRequestHead(head, kLimits, index.storage(), parsed)) return;
  const RequestHead before = parsed;
  const std::string method(head.substr(0, parsed.methodLength));
  const std::string target(head.substr(parsed.target, parsed.targetLength));
  const std::string host(valueOf(head, parsed.fields, parsed.host));

  std::string buffer(head);
  std::vector<char> extra(kExtraBytes);
  const RequestRewriteContext context{"127.0.0.9", "http", "ringlb", 0x1234, 0x5678, (options & 2) != 0};
  const Rewrite rewrite = rewriteRequestHead(buffer, parsed, context, extra);
  if (rewrite.length == 0) return;  // the added fields do not fit: the proxy answers 431
  FUZZ_CHECK(rewrite.length <= head.size() - 2);
  const std::string out = forwarded(buffer, rewrite, extra);

  Index again;
  RequestHead reparsed;
  const auto error = parseRequestHead(out, kForwardedLimits, again.storage(), reparsed);
  FUZZ_CHECK(!error);
  FUZZ_CHECK(std::string_view(out).substr(0, reparsed.methodLength) == method);
  FUZZ_CHECK(std::string_view(out).substr(reparsed.target, reparsed.targetLength) == target);
  FUZZ_CHECK(reparsed.versionMinor == before.versionMinor);
  FUZZ_CHECK(valueOf(out, reparsed.fields, reparsed.host) == host);
  FUZZ_CHECK(reparsed.framing == before.framing && reparsed.contentLength == before.contentLength);
  FUZZ_CHECK(reparsed.keepAlive);  // the proxy keeps its member connections alive
  FUZZ_CHECK((reparsed.upgrade >= 0) == (before.upgrade >= 0));
  for (auto kind : {FieldKind::KeepAlive, FieldKind::ProxyConnection, FieldKind::Te, FieldKind::Http2Settings}) {
    FUZZ_CHECK(countFields(reparsed.fields, kind) == 0);
  }
  if (before.upgrade < 0) FUZZ_CHECK(countFields(reparsed.fields, FieldKind::Upgrade) == 0);
  for (auto kind : {FieldKind::XForwardedFor, FieldKind::XForwardedProto, FieldKind::Via}) {
    FUZZ_CHECK(countFields(reparsed.fields, kind) == 1);
  }
  FUZZ_CHECK(countFields(reparsed.fields, FieldKind::XForwardedHost) == (before.host >= 0 ? 1u : 0u));
  // Every forwarded request is traceable: it carries an X-Request-Id.
  FUZZ_CHECK(reparsed.xRequestId >= 0);
}

void rewriteResponse(std::string_view head, std::uint8_t options) {
  const Method method = (options & 2) != 0 ? Method::Head : Method::Get;
  const std::uint8_t clientMinor = (options & 4) != 0 ? 0 : 1;
  const bool closeClient = (options & 8) != 0;
  Index index;
  ResponseHead parsed;
  if (parseResponseHead(head, kLimits, method, index.storage(), parsed)) return;
  const ResponseHead before = parsed;

  std::string buffer(head);
  std::vector<char> extra(kExtraBytes);
  const Rewrite rewrite = rewriteResponseHead(buffer, parsed, clientMinor, closeClient, "ringlb", extra);
  if (rewrite.length == 0) return;  // the added fields do not fit: the proxy answers 502
  const std::string out = forwarded(buffer, rewrite, extra);

  Index again;
  ResponseHead reparsed;
  FUZZ_CHECK(!parseResponseHead(out, kForwardedLimits, method, again.storage(), reparsed));
  FUZZ_CHECK(reparsed.status == before.status && reparsed.versionMinor == before.versionMinor);
  FUZZ_CHECK(countFields(reparsed.fields, FieldKind::Via) == 1);
  for (auto kind : {FieldKind::KeepAlive, FieldKind::ProxyConnection, FieldKind::Te, FieldKind::Http2Settings}) {
    FUZZ_CHECK(countFields(reparsed.fields, kind) == 0);
  }
  if (before.status != 101) FUZZ_CHECK(countFields(reparsed.fields, FieldKind::Upgrade) == 0);
  if (clientMinor == 0 && before.framing == BodyFraming::Chunked) {
    // An HTTP/1.0 client never sees chunked; the body is relayed de-chunked until the close.
    FUZZ_CHECK(countFields(reparsed.fields, FieldKind::TransferEncoding) == 0);
    FUZZ_CHECK(closeClient ? !reparsed.keepAlive : true);
  } else {
    FUZZ_CHECK(reparsed.framing == before.framing && reparsed.contentLength == before.contentLength);
  }
  if (closeClient && before.status != 101) FUZZ_CHECK(!reparsed.keepAlive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t options = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  HeadScanner scanner;
  if (scanner.scan(bytes, kLimits.maxBytes) != HeadScanner::Status::Complete) return 0;
  const std::string_view head = bytes.substr(scanner.skipped(), scanner.length());
  if ((options & 1) == 0) {
    rewriteRequest(head, options);
  } else {
    rewriteResponse(head, options);
  }
  return 0;
}
