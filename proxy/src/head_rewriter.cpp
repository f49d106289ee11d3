#include "head_rewriter.h"

#include <cstring>

namespace ringlb::proxy {

namespace {

// Appends to a fixed buffer; remembers overflow instead of failing each call.
class Appender {
 public:
  explicit Appender(std::span<char> out) : out_(out) {}
  Appender& operator<<(std::string_view text) noexcept {
    if (size_ + text.size() > out_.size()) {
      overflow_ = true;
      return *this;
    }
    std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
    return *this;
  }
  char* reserve(std::size_t n) noexcept {
    if (size_ + n > out_.size()) {
      overflow_ = true;
      return nullptr;
    }
    char* p = out_.data() + size_;
    size_ += n;
    return p;
  }
  std::size_t size() const noexcept { return size_; }
  bool overflow() const noexcept { return overflow_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

bool namedByConnection(std::string_view name, std::span<const std::string_view> tokens) noexcept {
  for (auto token : tokens) {
    if (equalsIgnoreCase(name, token)) return true;
  }
  return false;
}

// Hop-by-hop in both directions; framing fields are never dropped, even when Connection names them.
bool isHopByHop(FieldKind kind, std::string_view name, std::span<const std::string_view> tokens) noexcept {
  switch (kind) {
    case FieldKind::Connection:
    case FieldKind::KeepAlive:
    case FieldKind::ProxyConnection:
    case FieldKind::Te:
    case FieldKind::Upgrade:
    case FieldKind::Http2Settings:
      return true;
    case FieldKind::Host:
    case FieldKind::ContentLength:
    case FieldKind::TransferEncoding:
      return false;
    default:
      return namedByConnection(name, tokens);
  }
}

// Appends every value of `kind` fields as one comma list.
void appendValues(Appender& out, std::string_view head, std::span<const HeaderField> fields, FieldKind kind,
                  bool& any) noexcept {
  for (const auto& field : fields) {
    if (static_cast<FieldKind>(field.kind) != kind) continue;
    const auto value = fieldValue(head, field);
    if (value.empty()) continue;
    if (any) out << ", ";
    out << value;
    any = true;
  }
}

// Moves kept field lines down over dropped ones. Returns the new end of the fields.
template <class Drop>
std::uint32_t compact(std::span<char> head, std::uint32_t firstField, std::span<const HeaderField> fields,
                      Drop&& drop) noexcept {
  std::uint32_t write = firstField;
  for (const auto& field : fields) {
    if (drop(field)) continue;
    if (write != field.line) std::memmove(head.data() + write, head.data() + field.line, field.lineLength);
    write += field.lineLength;
  }
  return write;
}

const char kHex[] = "0123456789abcdef";

}  // namespace

void formatRequestId(std::uint64_t high, std::uint64_t low, char* out) noexcept {
  // Version 4, variant 10xx.
  high = (high & ~0xf000ULL) | 0x4000ULL;
  low = (low & ~(0xcULL << 60)) | (0x8ULL << 60);
  char* p = out;
  for (int nibble = 15; nibble >= 0; --nibble) {
    *p++ = kHex[(high >> (nibble * 4)) & 0xf];
    if (nibble == 8 || nibble == 4) *p++ = '-';
  }
  *p++ = '-';
  for (int nibble = 15; nibble >= 0; --nibble) {
    *p++ = kHex[(low >> (nibble * 4)) & 0xf];
    if (nibble == 12) *p++ = '-';
  }
}

Rewrite rewriteRequestHead(std::span<char> head, const RequestHead& parsed, const RequestRewriteContext& context,
                           std::span<char> extra) noexcept {
  const std::string_view text(head.data(), parsed.length);
  Appender out(extra);

  bool any = false;
  out << "X-Forwarded-For: ";
  appendValues(out, text, parsed.fields, FieldKind::XForwardedFor, any);
  if (any) out << ", ";
  out << context.clientIp << "\r\nX-Forwarded-Proto: " << context.proto << "\r\n";
  if (parsed.host >= 0) out << "X-Forwarded-Host: " << fieldValue(text, parsed.fields[parsed.host]) << "\r\n";
  any = false;
  out << "Via: ";
  appendValues(out, text, parsed.fields, FieldKind::Via, any);
  if (any) out << ", ";
  out << (parsed.versionMinor == 1 ? "1.1 " : "1.0 ") << context.viaName << "\r\n";
  // An X-Request-Id the client named in Connection is hop-by-hop and dropped below; the
  // member still gets one, so every forwarded request stays traceable.
  const bool keepsRequestId = parsed.xRequestId >= 0 && !namedByConnection("x-request-id", parsed.connectionTokens);
  if (!keepsRequestId) {
    out << "X-Request-Id: ";
    if (char* id = out.reserve(36)) formatRequestId(context.requestIdHigh, context.requestIdLow, id);
    out << "\r\n";
  }
  if (parsed.upgrade >= 0) {
    out << "Connection: upgrade\r\n";
  } else if (parsed.versionMinor == 0) {
    out << "Connection: keep-alive\r\n";
  }
  out << "\r\n";
  if (out.overflow()) return {};

  const auto tokens = parsed.connectionTokens;
  const HeaderField* const upgrade = parsed.upgrade >= 0 ? &parsed.fields[static_cast<std::size_t>(parsed.upgrade)] : nullptr;
  const std::uint32_t length = compact(head, parsed.requestLineLength, parsed.fields, [&](const HeaderField& field) {
    const auto kind = static_cast<FieldKind>(field.kind);
    if (&field == upgrade) return false;  // the member may switch protocols
    switch (kind) {
      case FieldKind::Expect:
        return !context.forwardExpect;
      case FieldKind::XForwardedFor:
      case FieldKind::XForwardedProto:
      case FieldKind::XForwardedHost:
      case FieldKind::Via:
        return true;
      default:
        return isHopByHop(kind, fieldName(text, field), tokens);
    }
  });
  return {length, static_cast<std::uint32_t>(out.size())};
}

Rewrite rewriteResponseHead(std::span<char> head, const ResponseHead& parsed, std::uint8_t clientVersionMinor,
                            bool closeClient, std::string_view viaName, std::span<char> extra) noexcept {
  const std::string_view text(head.data(), parsed.length);
  Appender out(extra);
  bool any = false;
  out << "Via: ";
  appendValues(out, text, parsed.fields, FieldKind::Via, any);
  if (any) out << ", ";
  out << (parsed.versionMinor == 1 ? "1.1 " : "1.0 ") << viaName << "\r\n";
  const bool switching = parsed.status == 101;
  if (switching) {
    out << "Connection: upgrade\r\n";
  } else if (closeClient) {
    out << "Connection: close\r\n";
  } else if (clientVersionMinor == 0) {
    out << "Connection: keep-alive\r\n";
  }
  out << "\r\n";
  if (out.overflow()) return {};
  const auto tokens = parsed.connectionTokens;
  // An HTTP/1.0 client gets a chunked body de-chunked, delimited by the close.
  const bool dechunk = clientVersionMinor == 0 && parsed.framing == BodyFraming::Chunked;
  const std::uint32_t length = compact(head, parsed.statusLineLength, parsed.fields, [&](const HeaderField& field) {
    const auto kind = static_cast<FieldKind>(field.kind);
    if (switching && kind == FieldKind::Upgrade) return false;  // names the protocol switched to
    if (dechunk && kind == FieldKind::TransferEncoding) return true;
    return kind == FieldKind::Via || isHopByHop(kind, fieldName(text, field), tokens);
  });
  return {length, static_cast<std::uint32_t>(out.size())};
}

}  // namespace ringlb::proxy
