#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringlb::proxy {

/// gRPC status codes the proxy produces (grpc/doc/statuscodes.md).
enum class GrpcStatus : std::uint8_t {
  Ok = 0,
  Unknown = 2,
  DeadlineExceeded = 4,
  NotFound = 5,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  Unauthenticated = 16,
};

/// Whether a content-type names a gRPC request (application/grpc, +proto, ;params).
bool isGrpcContentType(std::string_view contentType) noexcept;

/// The gRPC status for an answer the proxy makes itself with HTTP status
/// `httpStatus`: no Ready member or a member failure is UNAVAILABLE, a
/// timeout DEADLINE_EXCEEDED, an oversized request RESOURCE_EXHAUSTED.
GrpcStatus grpcStatusForHttp(unsigned httpStatus) noexcept;

/// Parses a grpc-timeout value (1 to 8 digits and a unit: H M S m u n).
/// Returns nanoseconds, or nothing when the value is malformed.
std::optional<std::int64_t> parseGrpcTimeout(std::string_view value) noexcept;

/// Appends `message` to `out` percent-encoded as grpc-message requires
/// (bytes outside printable ASCII, and '%').
void appendGrpcMessage(std::string_view message, std::string& out);

}  // namespace ringlb::proxy
