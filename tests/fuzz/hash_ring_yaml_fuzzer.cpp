// Fuzzes the HashRing resource parser (operator/core/src/resource_parser.cpp),
// what the operator reads from a file or the Kubernetes API. The first byte
// picks file or Kubernetes rules. Properties: the parser reports errors rather
// than throwing, every accepted ring passes validation, every error names the
// origin, and a single document parses the same through both entry points.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ringlb/operator/resource_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ringlb::op::ParseOptions options{(data[0] & 1) != 0};
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string origin = "fuzz.yaml";

  const auto parsed = ringlb::op::parseHashRings(text, origin, options);
  for (const auto& ring : parsed.rings) {
    const auto status = ringlb::op::validateHashRing(ring);
    FUZZ_CHECK(status.ok());
  }
  for (const auto& error : parsed.errors) FUZZ_CHECK(error.message.rfind(origin, 0) == 0);

  const auto one = ringlb::op::parseHashRing(text, origin, options);
  FUZZ_CHECK(one.ok() == (parsed.errors.empty() && parsed.rings.size() == 1));
  if (one.ok()) {
    FUZZ_CHECK(one->metadata == parsed.rings.front().metadata && one->spec == parsed.rings.front().spec);
  } else {
    FUZZ_CHECK(one.error().rfind(origin, 0) == 0);
  }
  return 0;
}
