#include "chunked_decoder.h"

#include <gtest/gtest.h>

#include <string>

namespace ringlb::proxy {
namespace {

TEST(ChunkedDecoder, ConsumesAWholeBodyAndStopsAtItsEnd) {
  ChunkedDecoder decoder;
  const std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  const auto step = decoder.feed(body + "GET /next");
  EXPECT_EQ(step.status, ChunkedDecoder::Status::Done);
  EXPECT_EQ(step.consumed, body.size());
  EXPECT_EQ(decoder.payloadBytes(), 11u);
}

TEST(ChunkedDecoder, WorksByteByByte) {
  ChunkedDecoder decoder;
  const std::string body = "A\r\n0123456789\r\n1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n";
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto step = decoder.feed(body.substr(i, 1));
    ASSERT_EQ(step.consumed, 1u) << i;
    ASSERT_EQ(step.status, i + 1 == body.size() ? ChunkedDecoder::Status::Done : ChunkedDecoder::Status::Incomplete) << i;
  }
  EXPECT_EQ(decoder.payloadBytes(), 41u);
}

TEST(ChunkedDecoder, DecodesInPlaceInAnyPieces) {
  const std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (std::size_t piece = 1; piece <= body.size(); ++piece) {
    ChunkedDecoder decoder;
    std::string payload;
    std::string input = body + "GET /next";
    std::size_t at = 0;
    ChunkedDecoder::Step step;
    while (step.status == ChunkedDecoder::Status::Incomplete) {
      std::string chunk = input.substr(at, piece);
      std::size_t n = 0;
      step = decoder.decodeInPlace({chunk.data(), chunk.size()}, n);
      payload.append(chunk.data(), n);
      at += step.consumed;
    }
    EXPECT_EQ(step.status, ChunkedDecoder::Status::Done) << piece;
    EXPECT_EQ(at, body.size()) << piece;
    EXPECT_EQ(payload, "hello world") << piece;
  }
}

TEST(ChunkedDecoder, DecodesInPlaceAndCollectsTheTrailersInAnyPieces) {
  const std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n";
  for (std::size_t piece = 1; piece <= body.size(); ++piece) {
    ChunkedDecoder decoder;
    std::string payload;
    std::string trailers;
    std::string input = body + "GET /next";
    std::size_t at = 0;
    ChunkedDecoder::Step step;
    while (step.status == ChunkedDecoder::Status::Incomplete) {
      std::string chunk = input.substr(at, piece);
      std::size_t n = 0;
      step = decoder.decodeInPlace({chunk.data(), chunk.size()}, n, trailers);
      payload.append(chunk.data(), n);
      at += step.consumed;
    }
    EXPECT_EQ(step.status, ChunkedDecoder::Status::Done) << piece;
    EXPECT_EQ(at, body.size()) << piece;
    EXPECT_EQ(payload, "hello world") << piece;
    EXPECT_EQ(trailers, "grpc-status: 0\r\ngrpc-message: ok\r\n") << piece;
  }
}

TEST(ChunkedDecoder, NoTrailersCollectsNothing) {
  ChunkedDecoder decoder;
  std::string input = "3\r\nabc\r\n0\r\n\r\n";
  std::string trailers;
  std::size_t n = 0;
  EXPECT_EQ(decoder.decodeInPlace({input.data(), input.size()}, n, trailers).status, ChunkedDecoder::Status::Done);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(trailers, "");
}

TEST(ChunkedDecoder, RefusesMalformedChunks) {
  const char* bad[] = {
      "x\r\n",                    // not hex
      "\r\n",                     // empty size
      "-5\r\n",                   // sign
      "0x5\r\n",                  // prefix
      " 5\r\n",                   // leading space
      "5 \r\n",                   // trailing space without an extension
      "5\n",                      // bare LF
      "5\rx",                     // bare CR
      "11111111111111111\r\n",    // 17 digits
      "5\r\nhelloX\r\n",          // data longer than the size
      "5\r\nhello\n",             // bare LF after data
      "0\r\nbad trailer\r\n\r\n", // trailer without colon
      "0\r\n folded: x\r\n\r\n",  // obs-fold in trailer
      "0\r\n\rx",                 // bad final line
      "5;a\x01\r\n",              // control byte in extension
  };
  for (const char* text : bad) {
    ChunkedDecoder decoder;
    const auto step = decoder.feed(text);
    EXPECT_EQ(step.status, ChunkedDecoder::Status::Error) << text;
    EXPECT_FALSE(decoder.error().empty());
  }
}

TEST(ChunkedDecoder, AcceptsWhitespaceBeforeAnExtension) {
  ChunkedDecoder decoder;
  EXPECT_EQ(decoder.feed("3 ;name=\"v\"\r\nabc\r\n0\r\n\r\n").status, ChunkedDecoder::Status::Done);
}

TEST(ChunkedDecoder, LimitsExtensionsAndTrailers) {
  ChunkedDecoder a;
  EXPECT_EQ(a.feed("1;" + std::string(2000, 'e') + "\r\n").status, ChunkedDecoder::Status::Error);
  ChunkedDecoder b;
  EXPECT_EQ(b.feed("0\r\nX: " + std::string(10000, 'v') + "\r\n\r\n").status, ChunkedDecoder::Status::Error);
}

}  // namespace
}  // namespace ringlb::proxy
