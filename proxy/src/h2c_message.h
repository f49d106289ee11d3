#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_message.h"

namespace ringlb::proxy {

/// A request as an HTTP/2 member gets it: the pseudo-header fields first
/// (:method, :scheme, :path, :authority), then the rest, names lower-cased.
struct H2cRequestFields {
  std::vector<std::pair<std::string, std::string>> fields;
};

/// Translates the HTTP/1.1 request head the exchange forwards (`head`, as
/// the rewrite left it: request line, fields, blank line) into HTTP/2
/// fields: Host becomes :authority, and the connection-specific fields
/// HTTP/2 forbids (RFC 9113 §8.2.2: Connection, Keep-Alive, Proxy-Connection,
/// Transfer-Encoding, Upgrade, and TE other than "trailers") are dropped; a
/// gRPC request (content-type application/grpc…) gets "te: trailers", which
/// gRPC servers require. 
/// Returns an HttpError (status 0 on success). Pure.
HttpError toH2cRequest(std::string_view head, std::string_view scheme, H2cRequestFields& out);

/// Builds the HTTP/1.1 response head the exchange relays from an HTTP/2
/// response: `fields` are "name: value\r\n" lines as the member sent them.
/// Without a content-length the body is chunked (so trailers can follow),
/// unless `bodiless` (HEAD, 1xx, 204, 304). Pure.
std::string http1HeadFromH2c(std::uint16_t status, std::string_view fields, bool hasContentLength, bool bodiless);

/// Appends `data` as one HTTP/1.1 chunk (nothing for empty data).
void appendChunk(std::string& out, std::string_view data);
/// Appends the last chunk with `trailers` ("name: value\r\n" lines) and the final CRLF.
void appendLastChunk(std::string& out, std::string_view trailers);

}  // namespace ringlb::proxy
