// Fuzzes the proxy's YAML config loader (proxy/src/config.cpp, parseConfigYaml,
// what loadConfigFile applies to a --config file). Properties: bad input is an
// error naming the file, never a throw or a crash; a config that loads passes
// the cross-field check or fails it with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ringlb/proxy/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = ringlb::proxy::parseConfigYaml(text, "fuzz.yaml", ringlb::proxy::ProxyConfig{});
  if (!config) {
    FUZZ_CHECK(config.error().rfind("fuzz.yaml: ", 0) == 0);
    return 0;
  }
  const auto status = ringlb::proxy::validateConfig(config.value());
  if (!status) FUZZ_CHECK(!status.error().empty());
  return 0;
}
