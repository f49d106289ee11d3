// Fuzzes the ring wire format parser (ring/src/wire_format.cpp), what every
// proxy reads from the operator. Round trip: a ring that parses serializes to
// JSON that parses to the same ring, and serializing that gives the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ringlb/ring/wire_format.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto spec = ringlb::ring::parseRingJson(text);
  if (!spec) {
    FUZZ_CHECK(!spec.error().empty());
    return 0;
  }
  FUZZ_CHECK(ringlb::ring::validate(spec.value()).ok());
  const std::string serialized = ringlb::ring::serializeRing(spec.value());
  const auto again = ringlb::ring::parseRingJson(serialized);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.value() == spec.value());
  FUZZ_CHECK(ringlb::ring::serializeRing(again.value()) == serialized);
  return 0;
}
