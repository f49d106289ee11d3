#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "head_parser.h"

namespace ringlb::proxy {

/// What the proxy adds to a forwarded request.
struct RequestRewriteContext {
  std::string_view clientIp;   // appended to X-Forwarded-For
  std::string_view proto = "http";
  std::string_view viaName = "ringlb";
  std::uint64_t requestIdHigh = 0;  // random bits for a generated X-Request-Id
  std::uint64_t requestIdLow = 0;
  bool forwardExpect = false;  // keep `Expect: 100-continue`: the member answers it
};

/// Result of rewriting a head in place. The forwarded head is
/// `head[0, length)` followed by `extra[0, extraLength)` (which ends with the
/// blank line). `length` is 0 when `extra` was too small.
struct Rewrite {
  std::uint32_t length = 0;
  std::uint32_t extraLength = 0;
};

/// Edits a request head for forwarding, moving only what must move: drops
/// hop-by-hop fields (RFC 9110 §7.6.1) and those named in Connection (never
/// Host or the framing fields), drops client-supplied X-Forwarded-Proto/Host,
/// folds X-Forwarded-For and Via into single fields with the proxy's entry
/// appended, adds X-Request-Id when missing, and for HTTP/1.0 asks the
/// upstream to keep the connection alive. A request that may switch
/// protocols (`parsed.upgrade`) keeps its Upgrade field and says
/// `Connection: upgrade`. `head` is the parsed head's bytes;
/// the field index in `parsed` is invalid afterwards. Allocates nothing.
Rewrite rewriteRequestHead(std::span<char> head, const RequestHead& parsed, const RequestRewriteContext& context,
                           std::span<char> extra) noexcept;

/// Edits a response head for the client: drops hop-by-hop fields, appends
/// the proxy to Via and sets the client connection's persistence:
/// `Connection: close` when `closeClient`, `Connection: keep-alive` for a
/// persistent HTTP/1.0 client. A 101 keeps its Upgrade field and says
/// `Connection: upgrade`. An HTTP/1.0 client does not get Transfer-Encoding:
/// the caller relays a chunked body de-chunked, with `closeClient`.
Rewrite rewriteResponseHead(std::span<char> head, const ResponseHead& parsed, std::uint8_t clientVersionMinor,
                            bool closeClient, std::string_view viaName, std::span<char> extra) noexcept;

/// Formats a random UUID (version 4) into `out` (36 bytes).
void formatRequestId(std::uint64_t high, std::uint64_t low, char* out) noexcept;

}  // namespace ringlb::proxy
