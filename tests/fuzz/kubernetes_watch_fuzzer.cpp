// Fuzzes the Kubernetes watch-stream parser
// (operator/runtimes/kubernetes/src/kubernetes_watch_parser.cpp), which splits
// a watch response body into events. The first byte sets the size of the
// pieces the body arrives in. Property: the same events, in order, whether the
// body arrives at once or in pieces.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringlb/operator/kubernetes_watch_parser.h"

namespace {

using ringlb::op::WatchEvent;
using ringlb::op::WatchStreamParser;

std::vector<WatchEvent> parseInPieces(std::string_view body, std::size_t piece, std::size_t& errors) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  errors = 0;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const auto status = parser.feed(body.substr(at, piece), events);
    if (!status) {
      FUZZ_CHECK(status.error().rfind("watch stream: ", 0) == 0);
      ++errors;
    }
  }
  FUZZ_CHECK(parser.hasPartialLine() == (!body.empty() && body.back() != '\n'));
  for (const auto& event : events) FUZZ_CHECK(event.object.is_object());
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  std::size_t wholeErrors = 0;
  std::size_t pieceErrors = 0;
  const auto whole = parseInPieces(body, body.size() + 1, wholeErrors);
  const auto pieces = parseInPieces(body, piece, pieceErrors);
  FUZZ_CHECK(whole.size() == pieces.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    FUZZ_CHECK(whole[i].type == pieces[i].type);
    FUZZ_CHECK(whole[i].object == pieces[i].object);
  }
  // feed() reports the first bad line of each call, so pieces see at least as many.
  FUZZ_CHECK(wholeErrors <= 1 && pieceErrors >= wholeErrors);
  return 0;
}
