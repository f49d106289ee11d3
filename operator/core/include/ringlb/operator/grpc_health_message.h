#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// grpc.health.v1.HealthCheckResponse.ServingStatus (health.proto).
enum class GrpcServingStatus : std::uint32_t { Unknown = 0, Serving = 1, NotServing = 2, ServiceUnknown = 3 };

/// "SERVING", "NOT_SERVING", …, or "status 7" for a value health.proto does not name.
std::string servingStatusName(std::uint32_t status);

/// The body of a grpc.health.v1.Health/Check call: one uncompressed gRPC
/// message (5-byte prefix) holding HealthCheckRequest{service}, encoded by
/// hand (it is one string field; no protobuf library). Pure.
std::string grpcHealthCheckRequestBody(std::string_view service);

/// Reads the ServingStatus out of a Check response body (the gRPC message
/// stream of one response). An Invalid Error names what is malformed: a
/// short or compressed message, bytes after it, a truncated protobuf field.
/// Unknown fields are skipped, as protobuf does. Pure.
Result<std::uint32_t> parseGrpcHealthCheckResponse(std::string_view body);

/// The name of a grpc-status code ("UNAVAILABLE"), or "" past the 17 gRPC defines.
std::string_view grpcStatusCodeName(int code);

}  // namespace ringlb::op
