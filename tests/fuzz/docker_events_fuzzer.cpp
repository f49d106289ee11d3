// Fuzzes the Docker /events stream parser
// (operator/runtimes/docker/src/docker_event_parser.cpp), which splits the body
// into JSON objects and decodes each. The first byte sets the size of the
// pieces the body arrives in. Property: the same events and errors, in order,
// whether the body arrives at once or in pieces.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringlb/operator/docker_event_parser.h"

namespace {

using ringlb::Result;
using ringlb::op::DockerEvent;
using ringlb::op::DockerEventParser;

std::vector<Result<DockerEvent>> parseInPieces(std::string_view body, std::size_t piece) {
  DockerEventParser parser;
  std::vector<Result<DockerEvent>> events;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    for (auto& event : parser.feed(body.substr(at, piece))) events.push_back(std::move(event));
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const auto whole = parseInPieces(body, body.size() + 1);
  const auto pieces = parseInPieces(body, piece);
  FUZZ_CHECK(whole.size() == pieces.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    FUZZ_CHECK(whole[i].ok() == pieces[i].ok());
    if (!whole[i].ok()) {
      FUZZ_CHECK(whole[i].error() == pieces[i].error() && !whole[i].error().empty());
      continue;
    }
    const DockerEvent& a = whole[i].value();
    const DockerEvent& b = pieces[i].value();
    FUZZ_CHECK(!a.type.empty() && !a.action.empty());
    FUZZ_CHECK(a.type == b.type && a.action == b.action && a.id == b.id && a.attributes == b.attributes &&
               a.timeNano == b.timeNano);
  }
  return 0;
}
