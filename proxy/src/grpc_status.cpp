#include "grpc_status.h"

namespace ringlb::proxy {

bool isGrpcContentType(std::string_view contentType) noexcept {
  constexpr std::string_view kGrpc = "application/grpc";
  if (contentType.size() < kGrpc.size()) return false;
  for (std::size_t i = 0; i < kGrpc.size(); ++i) {
    const char c = contentType[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kGrpc[i]) return false;
  }
  return contentType.size() == kGrpc.size() || contentType[kGrpc.size()] == '+' || contentType[kGrpc.size()] == ';';
}

GrpcStatus grpcStatusForHttp(unsigned httpStatus) noexcept {
  switch (httpStatus) {
    case 400:
      return GrpcStatus::Internal;
    case 401:
      return GrpcStatus::Unauthenticated;
    case 403:
      return GrpcStatus::PermissionDenied;
    case 404:
      return GrpcStatus::Unimplemented;
    case 408:
    case 504:
      return GrpcStatus::DeadlineExceeded;
    case 413:
    case 431:
      return GrpcStatus::ResourceExhausted;
    case 501:
      return GrpcStatus::Unimplemented;
    case 429:
    case 502:
    case 503:
      return GrpcStatus::Unavailable;
    default:
      return GrpcStatus::Unknown;
  }
}

std::optional<std::int64_t> parseGrpcTimeout(std::string_view value) noexcept {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  std::int64_t amount = 0;
  for (std::size_t i = 0; i + 1 < value.size(); ++i) {
    const char c = value[i];
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + (c - '0');
  }
  constexpr std::int64_t kMaxNanos = INT64_MAX / 4;  // far beyond any deadline; keeps sums from overflowing
  std::int64_t unit = 0;
  switch (value.back()) {
    case 'H': unit = 3'600'000'000'000; break;
    case 'M': unit = 60'000'000'000; break;
    case 'S': unit = 1'000'000'000; break;
    case 'm': unit = 1'000'000; break;
    case 'u': unit = 1'000; break;
    case 'n': unit = 1; break;
    default: return std::nullopt;
  }
  if (amount > kMaxNanos / unit) return kMaxNanos;
  return amount * unit;
}

void appendGrpcMessage(std::string_view message, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
}

}  // namespace ringlb::proxy
