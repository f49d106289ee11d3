// Fuzzes the proxy's chunked body decoder (proxy/src/chunked_decoder.cpp). The
// first byte sets the size of the pieces the body arrives in. Properties: the
// same verdict, end and payload size whether the body arrives at once or in
// pieces, and decoding in place yields exactly the payload bytes feed() counted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chunked_decoder.h"
#include "fuzz_check.h"

namespace {

using ringlb::proxy::ChunkedDecoder;

struct Outcome {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::Incomplete;
  std::size_t consumed = 0;
  std::uint64_t payloadBytes = 0;
  std::string payload;  // decodeInPlace only
};

Outcome feedInPieces(std::string_view body, std::size_t piece) {
  ChunkedDecoder decoder;
  Outcome outcome;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const auto step = decoder.feed(body.substr(at, piece));
    outcome.consumed += step.consumed;
    outcome.status = step.status;
    if (step.status != ChunkedDecoder::Status::Incomplete) break;
    FUZZ_CHECK(step.consumed == std::min(piece, body.size() - at));
  }
  outcome.payloadBytes = decoder.payloadBytes();
  FUZZ_CHECK(decoder.done() == (outcome.status == ChunkedDecoder::Status::Done));
  if (outcome.status == ChunkedDecoder::Status::Error) FUZZ_CHECK(!decoder.error().empty());
  return outcome;
}

Outcome decodeInPieces(std::string_view body, std::size_t piece) {
  ChunkedDecoder decoder;
  Outcome outcome;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    std::string chunk(body.substr(at, piece));
    std::size_t payload = 0;
    const auto step = decoder.decodeInPlace(chunk, payload);
    FUZZ_CHECK(payload <= step.consumed);
    outcome.payload.append(chunk, 0, payload);
    outcome.consumed += step.consumed;
    outcome.status = step.status;
    if (step.status != ChunkedDecoder::Status::Incomplete) break;
  }
  outcome.payloadBytes = decoder.payloadBytes();
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 16;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const Outcome whole = feedInPieces(body, body.size() + 1);
  const Outcome pieces = feedInPieces(body, piece);
  FUZZ_CHECK(pieces.status == whole.status);
  FUZZ_CHECK(pieces.consumed == whole.consumed);
  FUZZ_CHECK(pieces.payloadBytes == whole.payloadBytes);
  if (whole.status == ChunkedDecoder::Status::Done) {
    FUZZ_CHECK(whole.consumed >= 5 && body.substr(whole.consumed - 2, 2) == "\r\n");
  }

  const Outcome decoded = decodeInPieces(body, piece);
  FUZZ_CHECK(decoded.status == whole.status);
  FUZZ_CHECK(decoded.consumed == whole.consumed);
  FUZZ_CHECK(decoded.payloadBytes == whole.payloadBytes);
  FUZZ_CHECK(decoded.payload.size() == decoded.payloadBytes);
  FUZZ_CHECK(decodeInPieces(body, body.size() + 1).payload == decoded.payload);
  return 0;
}
