#include "ringlb/operator/grpc_health_message.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using namespace std::string_literals;

TEST(GrpcHealthMessage, RequestIsOneUncompressedMessageWithTheServiceAsField1) {
  // protoc --encode=grpc.health.v1.HealthCheckRequest: service "echo" is 0a 04 'e' 'c' 'h' 'o'.
  EXPECT_EQ(grpcHealthCheckRequestBody("echo"), "\x00\x00\x00\x00\x06\x0a\x04" "echo"s);
  EXPECT_EQ(grpcHealthCheckRequestBody(""), "\x00\x00\x00\x00\x00"s) << "proto3 leaves the empty string out";
  const std::string longName(300, 'n');  // a two-byte varint length: 300 = ac 02
  EXPECT_EQ(grpcHealthCheckRequestBody(longName), "\x00\x00\x00\x01\x2f\x0a\xac\x02"s + longName);
}

TEST(GrpcHealthMessage, ReadsTheServingStatus) {
  EXPECT_EQ(parseGrpcHealthCheckResponse("\x00\x00\x00\x00\x02\x08\x01"s).value(), 1u);
  EXPECT_EQ(parseGrpcHealthCheckResponse("\x00\x00\x00\x00\x02\x08\x02"s).value(), 2u);
  EXPECT_EQ(parseGrpcHealthCheckResponse("\x00\x00\x00\x00\x00"s).value(), 0u) << "absent: UNKNOWN";
  // Unknown fields of every wire type are skipped: 2 (varint), 3 (bytes), 4 (fixed64), 5 (fixed32).
  EXPECT_EQ(parseGrpcHealthCheckResponse("\x00\x00\x00\x00\x16\x10\x07\x1a\x02hi\x21\x01\x02\x03\x04\x05\x06\x07\x08"
                                         "\x2d\x01\x02\x03\x04\x08\x01"s)
                .value(),
            1u);
  EXPECT_EQ(servingStatusName(1), "SERVING");
  EXPECT_EQ(servingStatusName(2), "NOT_SERVING");
  EXPECT_EQ(servingStatusName(3), "SERVICE_UNKNOWN");
  EXPECT_EQ(servingStatusName(9), "status 9");
}

TEST(GrpcHealthMessage, NamesWhatIsMalformed) {
  const auto error = [](const std::string& body) {
    const auto parsed = parseGrpcHealthCheckResponse(body);
    EXPECT_FALSE(parsed.ok()) << "parsed " << (parsed.ok() ? parsed.value() : 0);
    return parsed.ok() ? std::string() : parsed.error();
  };
  EXPECT_EQ(error("\x00\x00\x00"s), "response has 3 bytes, less than a gRPC message prefix");
  EXPECT_EQ(error("\x01\x00\x00\x00\x02\x08\x01"s), "response message is compressed (none was offered)");
  EXPECT_EQ(error("\x00\x00\x00\x00\x03\x08\x01"s), "response message prefix says 3 bytes, 2 followed");
  EXPECT_EQ(error("\x00\x00\x00\x00\x01\x08"s), "response message has a truncated varint");
  EXPECT_EQ(error("\x00\x00\x00\x00\x03\x1a\x05h"s), "response message has a truncated length-delimited field");
  EXPECT_EQ(error("\x00\x00\x00\x00\x02\x21\x01"s), "response message has a truncated fixed-width field");
  EXPECT_EQ(error("\x00\x00\x00\x00\x01\x0b"s), "response message has a field of wire type 3");
}

TEST(GrpcHealthMessage, NamesGrpcStatusCodes) {
  EXPECT_EQ(grpcStatusCodeName(0), "OK");
  EXPECT_EQ(grpcStatusCodeName(5), "NOT_FOUND");
  EXPECT_EQ(grpcStatusCodeName(12), "UNIMPLEMENTED");
  EXPECT_EQ(grpcStatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(grpcStatusCodeName(17), "");
  EXPECT_EQ(grpcStatusCodeName(-1), "");
}

}  // namespace
}  // namespace ringlb::op
