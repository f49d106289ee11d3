#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http_message.h"

namespace ringlb::proxy {

/// Limits applied while parsing a head.
struct HeadLimits {
  std::size_t maxBytes = 16 * 1024;  // request/status line plus fields plus the blank line
  std::size_t maxFields = 100;
};

/// Where a head ends. A head is complete once its blank line was seen; until
/// then `scan` asks for more bytes. It rejects a bare LF as soon as it sees one
/// (a head made of bare LFs would otherwise never end).
class HeadScanner {
 public:
  enum class Status : std::uint8_t { NeedMore, Complete, Error };

  /// Continues scanning `data` (which only ever grows between calls, from the
  /// same start). On Complete, `skipped()` bytes of leading blank lines precede
  /// the head and `length()` is the head size including the final CRLF.
  Status scan(std::string_view data, std::size_t maxBytes) noexcept;

  std::size_t skipped() const noexcept { return skipped_; }
  std::size_t length() const noexcept { return end_ - skipped_; }
  HttpError error() const noexcept { return error_; }
  void reset() noexcept { *this = HeadScanner{}; }

 private:
  std::size_t cursor_ = 0;     // next byte to look at
  std::size_t lineStart_ = 0;  // first byte of the current line
  std::size_t skipped_ = 0;    // leading empty lines (RFC 9112 §2.2 allows them before a request)
  std::size_t end_ = 0;
  std::size_t firstLineLength_ = 0;
  bool sawLine_ = false;
  HttpError error_;
};

/// A parsed request head; string offsets are from the head's first byte.
struct RequestHead {
  Method method = Method::Other;
  std::uint8_t versionMinor = 1;
  std::uint32_t methodLength = 0;
  std::uint32_t target = 0;
  std::uint32_t targetLength = 0;
  std::uint32_t requestLineLength = 0;  // including CRLF
  std::uint32_t length = 0;             // whole head including the final blank line
  BodyFraming framing = BodyFraming::None;
  std::uint64_t contentLength = 0;
  bool keepAlive = true;
  bool expectContinue = false;
  bool absoluteForm = false;
  std::int16_t host = -1;        // field index or -1
  std::int16_t xRequestId = -1;  // field index or -1
  std::int16_t upgrade = -1;     // the Upgrade field of a request that may switch protocols, or -1
  std::span<HeaderField> fields;
  std::span<std::string_view> connectionTokens;  // names listed in Connection (other than close/keep-alive)
};

/// A parsed response head.
struct ResponseHead {
  std::uint16_t status = 0;
  std::uint8_t versionMinor = 1;
  std::uint32_t statusLineLength = 0;
  std::uint32_t length = 0;
  BodyFraming framing = BodyFraming::None;
  std::uint64_t contentLength = 0;
  bool keepAlive = true;  // the upstream allows reusing the connection
  std::int16_t upgrade = -1;  // for a 101: index of the first Upgrade field, or -1
  std::span<HeaderField> fields;
  std::span<std::string_view> connectionTokens;
};

/// Scratch space a parse writes its index into (owned by a pooled buffer).
struct FieldStorage {
  std::span<HeaderField> fields;
  std::span<std::string_view> connectionTokens;
};

/// Parses a complete request head `head` (the bytes HeadScanner delimited)
/// strictly: request-smuggling shapes (Transfer-Encoding with Content-Length,
/// duplicate Content-Length, obs-fold, whitespace before a colon, bare CR,
/// control bytes) are errors. Returns an HttpError with status 0 on success.
/// A request may switch protocols (`upgrade` is set) when it is HTTP/1.1,
/// has no body, carries one Upgrade field that does not offer h2c (the proxy
/// speaks HTTP/1.1 to members) and lists `upgrade` in Connection; any other
/// Upgrade is dropped as hop-by-hop.
HttpError parseRequestHead(std::string_view head, const HeadLimits& limits, FieldStorage storage,
                           RequestHead& out) noexcept;

/// Parses a complete response head. `requestMethod` decides whether a body
/// follows (HEAD never has one). Errors mean the upstream sent invalid framing.
HttpError parseResponseHead(std::string_view head, const HeadLimits& limits, Method requestMethod,
                            FieldStorage storage, ResponseHead& out) noexcept;

/// Case-insensitive ASCII comparison for field names and tokens.
bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

/// The field's name and value as views into `head`.
inline std::string_view fieldName(std::string_view head, const HeaderField& field) noexcept {
  return head.substr(field.line, field.nameLength);
}
inline std::string_view fieldValue(std::string_view head, const HeaderField& field) noexcept {
  return head.substr(field.value, field.valueLength);
}

}  // namespace ringlb::proxy
