#include "ringlb/operator/grpc_health_message.h"

#include <algorithm>
#include <array>
#include <optional>

namespace ringlb::op {

namespace {

constexpr std::size_t kGrpcPrefixBytes = 5;  // compressed flag, 4-byte big-endian length
constexpr std::uint8_t kServiceFieldTag = (1 << 3) | 2;  // field 1, length-delimited
constexpr std::uint32_t kStatusFieldNumber = 1;

void appendVarint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A varint at `at`, advancing it; nullopt when truncated or over 10 bytes.
std::optional<std::uint64_t> readVarint(std::string_view bytes, std::size_t& at) {
  std::uint64_t value = 0;
  for (unsigned shift = 0; shift < 70 && at < bytes.size(); shift += 7) {
    const auto byte = static_cast<std::uint8_t>(bytes[at++]);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string servingStatusName(std::uint32_t status) {
  switch (static_cast<GrpcServingStatus>(status)) {
    case GrpcServingStatus::Unknown: return "UNKNOWN";
    case GrpcServingStatus::Serving: return "SERVING";
    case GrpcServingStatus::NotServing: return "NOT_SERVING";
    case GrpcServingStatus::ServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "status " + std::to_string(status);
}

std::string grpcHealthCheckRequestBody(std::string_view service) {
  std::string message;
  if (!service.empty()) {  // proto3 leaves a default (empty) string out
    message.push_back(static_cast<char>(kServiceFieldTag));
    appendVarint(message, service.size());
    message.append(service);
  }
  std::string body(kGrpcPrefixBytes, '\0');
  const auto length = static_cast<std::uint32_t>(message.size());
  for (int i = 0; i < 4; ++i) body[1 + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
  return body + message;
}

Result<std::uint32_t> parseGrpcHealthCheckResponse(std::string_view body) {
  if (body.size() < kGrpcPrefixBytes) {
    return Error::invalid("response has " + std::to_string(body.size()) + " bytes, less than a gRPC message prefix");
  }
  if (body[0] != 0) return Error::invalid("response message is compressed (none was offered)");
  std::uint32_t length = 0;
  for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<std::uint8_t>(body[i]);
  const std::string_view message = body.substr(kGrpcPrefixBytes);
  if (message.size() != length) {
    return Error::invalid("response message prefix says " + std::to_string(length) + " bytes, " +
                          std::to_string(message.size()) + " followed");
  }
  std::uint32_t status = 0;  // proto3: an absent enum is its zero value, UNKNOWN
  std::size_t at = 0;
  while (at < message.size()) {
    const auto key = readVarint(message, at);
    if (!key) return Error::invalid("response message has a truncated field key");
    const auto fieldNumber = *key >> 3;
    switch (*key & 7) {
      case 0: {
        const auto value = readVarint(message, at);
        if (!value) return Error::invalid("response message has a truncated varint");
        if (fieldNumber == kStatusFieldNumber) status = static_cast<std::uint32_t>(*value);
        break;
      }
      case 1: at += 8; break;
      case 5: at += 4; break;
      case 2: {
        const auto size = readVarint(message, at);
        if (!size || *size > message.size() - std::min(at, message.size())) {
          return Error::invalid("response message has a truncated length-delimited field");
        }
        at += *size;
        break;
      }
      default: return Error::invalid("response message has a field of wire type " + std::to_string(*key & 7));
    }
    if (at > message.size()) return Error::invalid("response message has a truncated fixed-width field");
  }
  return status;
}

std::string_view grpcStatusCodeName(int code) {
  static constexpr std::array<std::string_view, 17> kNames = {
      "OK",           "CANCELLED",          "UNKNOWN",   "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED",      "INTERNAL",  "UNAVAILABLE",      "DATA_LOSS",         "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[static_cast<std::size_t>(code)] : std::string_view{};
}

}  // namespace ringlb::op
