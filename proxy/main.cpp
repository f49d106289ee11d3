// ringlb-proxy: parses the command line and the YAML config, then runs the proxy.
#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "ringlb/proxy/config.h"
#include "ringlb/proxy/logging.h"
#include "ringlb/proxy/proxy_server.h"

int main(int argc, char** argv) {
  using namespace ringlb::proxy;
  CLI::App app{
      "ringlb-proxy: HTTP/1.1 reverse proxy that routes each request to the owner of its key on a consistent-hash ring.\n"
      "Give exactly one ring source: --backends, --ring-file or --ring-url. Every flag has a YAML twin for --config\n"
      "(the dotted name in brackets); flags override the file.\n"
      "Durations: " + std::string(ringlb::kDurationForms) + ".",
      "ringlb-proxy"};
  app.set_help_flag("-h,--help", "show this help and exit");
  app.get_formatter()->column_width(34);

  std::string configPath;
  app.add_option("--config", configPath, "YAML config file mirroring the flags; a bad file fails at start naming the field");
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  for (const auto& setting : settings()) {
    const std::string name(setting.flag);
    const std::string help = std::string(setting.help) + " [" + std::string(setting.path) + "]";
    if (setting.boolean) {
      app.add_flag(name, flags[name], help);
    } else {
      app.add_option(name, values[name], help);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  ProxyConfig config;
  if (!configPath.empty()) {
    auto loaded = loadConfigFile(configPath, config);
    if (!loaded) {
      std::fprintf(stderr, "ringlb-proxy: %s\n", loaded.error().c_str());
      return 2;
    }
    config = std::move(loaded).value();
  }
  for (const auto& setting : settings()) {
    const std::string name(setting.flag);
    ringlb::Status status = ringlb::ok();
    if (setting.boolean) {
      if (app.count(name) > 0) status = setting.apply(config, flags[name] ? "true" : "false");
    } else if (app.count(name) > 0) {
      status = setting.apply(config, values[name]);
    }
    if (!status) {
      std::fprintf(stderr, "ringlb-proxy: %s: %s\n", name.c_str(), status.error().c_str());
      return 2;
    }
  }
  if (auto status = validateConfig(config); !status) {
    std::fprintf(stderr, "ringlb-proxy: %s\n", status.error().c_str());
    return 2;
  }
  setupLogging(config.log);
  return ProxyServer(std::move(config)).run();
}
