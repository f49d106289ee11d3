#pragma once

#include <cstdint>
#include <string_view>

namespace ringlb::proxy {

/// Request methods the proxy tells apart; everything else is Other.
enum class Method : std::uint8_t { Get, Head, Post, Put, Delete, Options, Patch, Trace, Connect, Other };

/// RFC 9110 §9.2.2 idempotent methods the proxy retries on a successor
/// (TRACE is idempotent too but never worth replaying).
constexpr bool isRetryable(Method method) noexcept {
  return method == Method::Get || method == Method::Head || method == Method::Options || method == Method::Put ||
         method == Method::Delete;
}

/// How a message body is delimited (RFC 9112 §6.3).
enum class BodyFraming : std::uint8_t { None, Length, Chunked, UntilClose };

/// One field line of a parsed head. Offsets are from the first byte of the
/// head (the request or status line), so the index stays valid while the head
/// bytes stay put. Kept small and trivial: the index lives in pooled buffers,
/// whose untouched pages cost no memory.
struct HeaderField {
  std::uint32_t line;        // offset of the field name
  std::uint32_t lineLength;  // name through the terminating CRLF
  std::uint32_t value;       // offset of the value, without surrounding whitespace
  std::uint32_t valueLength;
  std::uint16_t nameLength;
  std::uint16_t kind;        // a FieldKind
};

/// Fields the proxy acts on, recognised once while parsing.
enum class FieldKind : std::uint16_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Upgrade,
  Http2Settings,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  Via,
  XRequestId,
  Cookie,
};

/// A locally generated error: the status to answer and a short reason that
/// goes in the body. `reason` is a static string.
struct HttpError {
  std::uint16_t status = 0;
  std::string_view reason;

  explicit operator bool() const noexcept { return status != 0; }
};

/// Standard reason phrase for the statuses the proxy generates.
std::string_view reasonPhrase(unsigned status) noexcept;

}  // namespace ringlb::proxy
