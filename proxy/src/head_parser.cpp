#include "head_parser.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace ringlb::proxy {

namespace {

constexpr std::array<bool, 256> makeTokenTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr auto kToken = makeTokenTable();

// Field values: HTAB, SP, VCHAR and obs-text (RFC 9110 §5.5). No CR, LF, NUL or other controls.
constexpr std::array<bool, 256> makeValueTable() {
  std::array<bool, 256> table{};
  table['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) table[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) table[c] = true;
  return table;
}
constexpr auto kValue = makeValueTable();

// Host: reg-name, IP-literal and port characters.
constexpr std::array<bool, 256> makeHostTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%:[]")) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr auto kHost = makeHostTable();

inline bool isToken(unsigned char c) noexcept { return kToken[c]; }
inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool isOws(char c) noexcept { return c == ' ' || c == '\t'; }

bool allToken(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (!isToken(c)) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view text) noexcept {
  while (!text.empty() && isOws(text.front())) text.remove_prefix(1);
  while (!text.empty() && isOws(text.back())) text.remove_suffix(1);
  return text;
}

FieldKind classify(std::string_view name) noexcept {
  switch (name.size()) {
    case 2:
      if (equalsIgnoreCase(name, "te")) return FieldKind::Te;
      break;
    case 3:
      if (equalsIgnoreCase(name, "via")) return FieldKind::Via;
      break;
    case 4:
      if (equalsIgnoreCase(name, "host")) return FieldKind::Host;
      break;
    case 6:
      if (equalsIgnoreCase(name, "expect")) return FieldKind::Expect;
      if (equalsIgnoreCase(name, "cookie")) return FieldKind::Cookie;
      break;
    case 7:
      if (equalsIgnoreCase(name, "upgrade")) return FieldKind::Upgrade;
      break;
    case 10:
      if (equalsIgnoreCase(name, "connection")) return FieldKind::Connection;
      if (equalsIgnoreCase(name, "keep-alive")) return FieldKind::KeepAlive;
      break;
    case 12:
      if (equalsIgnoreCase(name, "x-request-id")) return FieldKind::XRequestId;
      break;
    case 14:
      if (equalsIgnoreCase(name, "content-length")) return FieldKind::ContentLength;
      if (equalsIgnoreCase(name, "http2-settings")) return FieldKind::Http2Settings;
      break;
    case 15:
      if (equalsIgnoreCase(name, "x-forwarded-for")) return FieldKind::XForwardedFor;
      break;
    case 16:
      if (equalsIgnoreCase(name, "proxy-connection")) return FieldKind::ProxyConnection;
      if (equalsIgnoreCase(name, "x-forwarded-host")) return FieldKind::XForwardedHost;
      break;
    case 17:
      if (equalsIgnoreCase(name, "transfer-encoding")) return FieldKind::TransferEncoding;
      if (equalsIgnoreCase(name, "x-forwarded-proto")) return FieldKind::XForwardedProto;
      break;
    default:
      break;
  }
  return FieldKind::Other;
}

// 1*DIGIT with no sign, spaces or list; at most 18 digits so it never overflows.
bool parseContentLength(std::string_view value, std::uint64_t& out) noexcept {
  if (value.empty() || value.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : value) {
    if (!isDigit(c)) return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

// Splits a comma list into trimmed elements; returns false on an empty or non-token element.
template <class Visit>
bool forEachToken(std::string_view value, Visit&& visit) {
  bool any = false;
  while (true) {
    const auto comma = value.find(',');
    const auto element = trimOws(value.substr(0, comma));
    if (!element.empty()) {
      if (!allToken(element)) return false;
      if (!visit(element)) return false;
      any = true;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return any;
}

// Whether a comma list of protocols (`name[/version]`, RFC 9110 §7.8) offers `name`.
bool offersProtocol(std::string_view value, std::string_view name) noexcept {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto element = trimOws(value.substr(0, comma));
    if (equalsIgnoreCase(element.substr(0, element.find('/')), name)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool listsToken(std::span<const std::string_view> tokens, std::string_view token) noexcept {
  return std::any_of(tokens.begin(), tokens.end(), [&](std::string_view t) { return equalsIgnoreCase(t, token); });
}

Method parseMethod(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::Get;
      if (m == "PUT") return Method::Put;
      break;
    case 4:
      if (m == "HEAD") return Method::Head;
      if (m == "POST") return Method::Post;
      break;
    case 5:
      if (m == "PATCH") return Method::Patch;
      if (m == "TRACE") return Method::Trace;
      break;
    case 6:
      if (m == "DELETE") return Method::Delete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::Options;
      if (m == "CONNECT") return Method::Connect;
      break;
    default:
      break;
  }
  return Method::Other;
}

// Shared field-line parsing. `bad` is the status for malformed lines (400 for
// requests, 502 for responses).
struct FieldParse {
  HttpError error;
  std::size_t count = 0;
  std::size_t tokens = 0;
};

FieldParse parseFields(std::string_view head, std::size_t begin, const HeadLimits& limits, FieldStorage storage,
                       std::uint16_t bad, std::uint16_t tooMany) noexcept {
  FieldParse result;
  const std::size_t end = head.size() - 2;  // the final blank line
  std::size_t pos = begin;
  const std::size_t maxFields = std::min(limits.maxFields, storage.fields.size());
  while (pos < end) {
    const char* lineStart = head.data() + pos;
    const auto* lf = static_cast<const char*>(std::memchr(lineStart, '\n', end + 1 - pos));
    // HeadScanner guarantees every LF is preceded by CR.
    const std::size_t lineEnd = static_cast<std::size_t>(lf - head.data()) - 1;  // at the CR
    const std::string_view line(lineStart, lineEnd - pos);
    if (isOws(line.front())) return {{bad, "obsolete line folding in header"}};
    std::size_t colon = 0;
    while (colon < line.size() && isToken(static_cast<unsigned char>(line[colon]))) ++colon;
    if (colon == line.size() || line[colon] != ':') {
      if (colon < line.size() && isOws(line[colon])) return {{bad, "whitespace between header name and colon"}};
      return {{bad, "invalid header field name"}};
    }
    if (colon == 0) return {{bad, "empty header field name"}};
    for (std::size_t i = colon + 1; i < line.size(); ++i) {
      if (!kValue[static_cast<unsigned char>(line[i])]) {
        return {{bad, line[i] == '\r' ? std::string_view("bare CR in header") : std::string_view("invalid byte in header value")}};
      }
    }
    if (result.count >= maxFields) return {{tooMany, "too many header fields"}};
    std::size_t vBegin = colon + 1;
    std::size_t vEnd = line.size();
    while (vBegin < vEnd && isOws(line[vBegin])) ++vBegin;
    while (vEnd > vBegin && isOws(line[vEnd - 1])) --vEnd;
    HeaderField& field = storage.fields[result.count++];
    field.line = static_cast<std::uint32_t>(pos);
    field.lineLength = static_cast<std::uint32_t>(lineEnd + 2 - pos);
    field.nameLength = static_cast<std::uint16_t>(colon);
    field.value = static_cast<std::uint32_t>(pos + vBegin);
    field.valueLength = static_cast<std::uint32_t>(vEnd - vBegin);
    field.kind = static_cast<std::uint16_t>(classify(line.substr(0, colon)));
    pos = lineEnd + 2;
  }
  return result;
}

// Common handling of the framing and connection fields of either direction.
struct Framing {
  HttpError error;
  bool hasLength = false;
  bool chunked = false;
  bool close = false;
  bool keepAliveToken = false;
  std::uint64_t length = 0;
  std::size_t tokens = 0;
};

Framing readFraming(std::string_view head, std::span<HeaderField> fields, FieldStorage storage, bool request,
                    std::uint16_t bad) noexcept {
  Framing f;
  bool sawTe = false;
  for (const auto& field : fields) {
    const auto kind = static_cast<FieldKind>(field.kind);
    const auto value = fieldValue(head, field);
    if (kind == FieldKind::ContentLength) {
      if (f.hasLength) return {{bad, request ? "duplicate Content-Length" : "conflicting Content-Length from upstream"}};
      if (!parseContentLength(value, f.length)) {
        return {{bad, request ? "invalid Content-Length" : "invalid Content-Length from upstream"}};
      }
      f.hasLength = true;
    } else if (kind == FieldKind::TransferEncoding) {
      if (sawTe) return {{bad, request ? "duplicate Transfer-Encoding" : "duplicate Transfer-Encoding from upstream"}};
      sawTe = true;
      std::string_view last;
      std::size_t count = 0;
      std::size_t chunked = 0;
      const bool ok = forEachToken(value, [&](std::string_view token) {
        last = token;
        ++count;
        if (equalsIgnoreCase(token, "chunked")) ++chunked;
        return true;
      });
      // Chunked exactly once, and last (RFC 9112 §6.3).
      if (!ok || !equalsIgnoreCase(last, "chunked") || chunked != 1) {
        return {{bad, request ? "unsupported Transfer-Encoding" : "invalid Transfer-Encoding from upstream"}};
      }
      // Requests: only plain chunked. Responses may carry codings before chunked, forwarded untouched.
      if (request && count != 1) return {{bad, "unsupported Transfer-Encoding"}};
      f.chunked = true;
    } else if (kind == FieldKind::Connection) {
      const bool ok = forEachToken(value, [&](std::string_view token) {
        if (equalsIgnoreCase(token, "close")) {
          f.close = true;
        } else if (equalsIgnoreCase(token, "keep-alive")) {
          f.keepAliveToken = true;
        } else {
          if (f.tokens >= storage.connectionTokens.size()) return false;
          storage.connectionTokens[f.tokens++] = token;
        }
        return true;
      });
      if (!ok) return {{bad, request ? "invalid Connection header" : "invalid Connection header from upstream"}};
    }
  }
  if (f.chunked && f.hasLength) {
    return {{bad, request ? "Transfer-Encoding together with Content-Length"
                          : "Transfer-Encoding together with Content-Length from upstream"}};
  }
  return f;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view reasonPhrase(unsigned status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

HeadScanner::Status HeadScanner::scan(std::string_view data, std::size_t maxBytes) noexcept {
  constexpr std::size_t kMaxLeadingBlank = 64;
  while (cursor_ < data.size()) {
    const auto* lf = static_cast<const char*>(std::memchr(data.data() + cursor_, '\n', data.size() - cursor_));
    if (lf == nullptr) {
      cursor_ = data.size();
      break;
    }
    const auto pos = static_cast<std::size_t>(lf - data.data());
    if (pos == 0 || data[pos - 1] != '\r' || pos - 1 < lineStart_) {
      error_ = {400, "bare LF in head"};
      return Status::Error;
    }
    const bool empty = pos - 1 == lineStart_;
    cursor_ = lineStart_ = pos + 1;
    if (!empty) {
      if (!sawLine_) firstLineLength_ = lineStart_ - skipped_;
      sawLine_ = true;
      if (lineStart_ - skipped_ > maxBytes) break;
      continue;
    }
    if (!sawLine_) {
      skipped_ = lineStart_;
      if (skipped_ > kMaxLeadingBlank) {
        error_ = {400, "too many blank lines before the request"};
        return Status::Error;
      }
      continue;
    }
    end_ = pos + 1;
    if (end_ - skipped_ > maxBytes) break;
    return Status::Complete;
  }
  if (data.size() - skipped_ > maxBytes) {
    const bool lineTooLong = !sawLine_ || firstLineLength_ > maxBytes;
    error_ = lineTooLong ? HttpError{414, "request line too long"} : HttpError{431, "request head too large"};
    return Status::Error;
  }
  return Status::NeedMore;
}

HttpError parseRequestHead(std::string_view head, const HeadLimits& limits, FieldStorage storage,
                           RequestHead& out) noexcept {
  out = RequestHead{};
  out.length = static_cast<std::uint32_t>(head.size());
  const auto lineEnd = head.find("\r\n");
  const std::string_view line = head.substr(0, lineEnd);
  out.requestLineLength = static_cast<std::uint32_t>(lineEnd + 2);

  std::size_t i = 0;
  while (i < line.size() && isToken(static_cast<unsigned char>(line[i]))) ++i;
  if (i == 0 || i == line.size() || line[i] != ' ') return {400, "invalid request line"};
  out.methodLength = static_cast<std::uint32_t>(i);
  out.method = parseMethod(line.substr(0, i));
  const std::size_t targetBegin = ++i;
  while (i < line.size() && line[i] > 0x20 && line[i] < 0x7f && line[i] != '#') ++i;
  if (i == targetBegin || i == line.size() || line[i] != ' ') {
    if (i < line.size() && line[i] == '\r') return {400, "bare CR in request line"};
    return {400, "invalid request target"};
  }
  out.target = static_cast<std::uint32_t>(targetBegin);
  out.targetLength = static_cast<std::uint32_t>(i - targetBegin);
  const std::string_view version = line.substr(i + 1);
  if (version == "HTTP/1.1") {
    out.versionMinor = 1;
  } else if (version == "HTTP/1.0") {
    out.versionMinor = 0;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && isDigit(version[5]) && version[6] == '.' &&
             isDigit(version[7])) {
    return {505, "only HTTP/1.0 and HTTP/1.1 are supported"};
  } else {
    return {400, "invalid HTTP version"};
  }

  const std::string_view target = head.substr(out.target, out.targetLength);
  if (out.method == Method::Connect) return {501, "CONNECT is not supported"};
  if (target.front() == '/') {
    // origin-form
  } else if (target == "*") {
    if (out.method != Method::Options) return {400, "asterisk-form is only allowed with OPTIONS"};
  } else if ((target.size() > 7 && equalsIgnoreCase(target.substr(0, 7), "http://")) ||
             (target.size() > 8 && equalsIgnoreCase(target.substr(0, 8), "https://"))) {
    out.absoluteForm = true;
  } else {
    return {400, "invalid request target"};
  }

  const auto fields = parseFields(head, out.requestLineLength, limits, storage, 400, 431);
  if (fields.error) return fields.error;
  out.fields = storage.fields.first(fields.count);

  int hosts = 0;
  int upgrades = 0;
  std::int16_t upgrade = -1;
  for (std::size_t f = 0; f < out.fields.size(); ++f) {
    const auto& field = out.fields[f];
    const auto kind = static_cast<FieldKind>(field.kind);
    if (kind == FieldKind::Host) {
      if (++hosts > 1) return {400, "duplicate Host header"};
      out.host = static_cast<std::int16_t>(f);
      const auto value = fieldValue(head, field);
      for (unsigned char c : value) {
        if (!kHost[c]) return {400, "invalid Host header"};
      }
    } else if (kind == FieldKind::Expect) {
      if (!equalsIgnoreCase(fieldValue(head, field), "100-continue")) return {417, "unsupported Expect value"};
      out.expectContinue = true;
    } else if (kind == FieldKind::XRequestId && out.xRequestId < 0) {
      out.xRequestId = static_cast<std::int16_t>(f);
    } else if (kind == FieldKind::Upgrade && ++upgrades == 1) {
      upgrade = static_cast<std::int16_t>(f);
    }
  }
  if (out.versionMinor == 1 && hosts == 0) return {400, "missing Host header"};

  const auto framing = readFraming(head, out.fields, storage, /*request=*/true, 400);
  if (framing.error) return framing.error;
  if (framing.chunked && out.versionMinor == 0) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
  out.connectionTokens = storage.connectionTokens.first(framing.tokens);
  out.keepAlive = out.versionMinor == 1 ? !framing.close : (framing.keepAliveToken && !framing.close);
  if (framing.chunked) {
    out.framing = BodyFraming::Chunked;
  } else if (framing.hasLength && framing.length > 0) {
    out.framing = BodyFraming::Length;
    out.contentLength = framing.length;
  }
  if (out.framing == BodyFraming::None) out.expectContinue = false;
  if (upgrades == 1 && out.versionMinor == 1 && out.framing == BodyFraming::None &&
      listsToken(out.connectionTokens, "upgrade")) {
    const auto value = fieldValue(head, out.fields[static_cast<std::size_t>(upgrade)]);
    if (!value.empty() && !offersProtocol(value, "h2c")) out.upgrade = upgrade;
  }
  return {};
}

HttpError parseResponseHead(std::string_view head, const HeadLimits& limits, Method requestMethod,
                            FieldStorage storage, ResponseHead& out) noexcept {
  out = ResponseHead{};
  out.length = static_cast<std::uint32_t>(head.size());
  const auto lineEnd = head.find("\r\n");
  const std::string_view line = head.substr(0, lineEnd);
  out.statusLineLength = static_cast<std::uint32_t>(lineEnd + 2);
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || line[9] < '1' || line[9] > '5') {
    return {502, "invalid status line from upstream"};
  }
  if (line.size() > 12) {
    if (line[12] != ' ') return {502, "invalid status line from upstream"};
    for (std::size_t i = 13; i < line.size(); ++i) {
      if (!kValue[static_cast<unsigned char>(line[i])]) return {502, "invalid status line from upstream"};
    }
  }
  out.versionMinor = static_cast<std::uint8_t>(line[7] - '0');
  out.status = static_cast<std::uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));

  const auto fields = parseFields(head, out.statusLineLength, limits, storage, 502, 502);
  if (fields.error) {
    return {502, fields.error.reason == "too many header fields" ? std::string_view("too many header fields from upstream")
                                                                  : std::string_view("invalid header from upstream")};
  }
  out.fields = storage.fields.first(fields.count);
  const auto framing = readFraming(head, out.fields, storage, /*request=*/false, 502);
  if (framing.error) return framing.error;
  out.connectionTokens = storage.connectionTokens.first(framing.tokens);
  out.keepAlive = out.versionMinor == 1 ? !framing.close : (framing.keepAliveToken && !framing.close);
  for (std::size_t f = 0; out.status == 101 && f < out.fields.size() && out.upgrade < 0; ++f) {
    if (static_cast<FieldKind>(out.fields[f].kind) == FieldKind::Upgrade) out.upgrade = static_cast<std::int16_t>(f);
  }

  const bool bodyless = requestMethod == Method::Head || out.status < 200 || out.status == 204 || out.status == 304;
  if (bodyless) {
    out.framing = BodyFraming::None;
  } else if (framing.chunked) {
    out.framing = BodyFraming::Chunked;
  } else if (framing.hasLength) {
    out.framing = framing.length > 0 ? BodyFraming::Length : BodyFraming::None;
    out.contentLength = framing.length;
  } else {
    out.framing = BodyFraming::UntilClose;
    out.keepAlive = false;
  }
  return {};
}

}  // namespace ringlb::proxy
