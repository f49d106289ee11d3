#include "grpc_status.h"

#include <gtest/gtest.h>

namespace ringlb::proxy {
namespace {

TEST(GrpcStatusTest, ContentTypesThatNameGrpc) {
  EXPECT_TRUE(isGrpcContentType("application/grpc"));
  EXPECT_TRUE(isGrpcContentType("application/grpc+proto"));
  EXPECT_TRUE(isGrpcContentType("Application/GRPC;charset=utf-8"));
  EXPECT_FALSE(isGrpcContentType("application/grpc-web"));
  EXPECT_FALSE(isGrpcContentType("application/json"));
  EXPECT_FALSE(isGrpcContentType("application/grp"));
}

TEST(GrpcStatusTest, ProxyAnswersMapToGrpcCodes) {
  EXPECT_EQ(grpcStatusForHttp(503), GrpcStatus::Unavailable);  // no Ready member
  EXPECT_EQ(grpcStatusForHttp(502), GrpcStatus::Unavailable);  // the member failed
  EXPECT_EQ(grpcStatusForHttp(504), GrpcStatus::DeadlineExceeded);
  EXPECT_EQ(grpcStatusForHttp(408), GrpcStatus::DeadlineExceeded);
  EXPECT_EQ(grpcStatusForHttp(431), GrpcStatus::ResourceExhausted);
  EXPECT_EQ(grpcStatusForHttp(413), GrpcStatus::ResourceExhausted);
  EXPECT_EQ(grpcStatusForHttp(400), GrpcStatus::Internal);
  EXPECT_EQ(grpcStatusForHttp(501), GrpcStatus::Unimplemented);
  EXPECT_EQ(grpcStatusForHttp(418), GrpcStatus::Unknown);
}

TEST(GrpcStatusTest, TimeoutUnits) {
  EXPECT_EQ(parseGrpcTimeout("1H"), 3'600'000'000'000);
  EXPECT_EQ(parseGrpcTimeout("2M"), 120'000'000'000);
  EXPECT_EQ(parseGrpcTimeout("3S"), 3'000'000'000);
  EXPECT_EQ(parseGrpcTimeout("300m"), 300'000'000);
  EXPECT_EQ(parseGrpcTimeout("7u"), 7'000);
  EXPECT_EQ(parseGrpcTimeout("99999999n"), 99'999'999);
}

TEST(GrpcStatusTest, MalformedTimeoutsAreIgnored) {
  EXPECT_FALSE(parseGrpcTimeout(""));
  EXPECT_FALSE(parseGrpcTimeout("S"));
  EXPECT_FALSE(parseGrpcTimeout("10"));
  EXPECT_FALSE(parseGrpcTimeout("10s"));         // units are case-sensitive: s is not a unit
  EXPECT_FALSE(parseGrpcTimeout("123456789S"));  // at most 8 digits
  EXPECT_FALSE(parseGrpcTimeout("-1S"));
  EXPECT_FALSE(parseGrpcTimeout("1.5S"));
}

TEST(GrpcStatusTest, MessagePercentEncodesWhatHeadersCannotCarry) {
  std::string out;
  appendGrpcMessage("no member is Ready: 100% down\n\xc3\xa9", out);
  EXPECT_EQ(out, "no member is Ready: 100%25 down%0A%C3%A9");
}

}  // namespace
}  // namespace ringlb::proxy
