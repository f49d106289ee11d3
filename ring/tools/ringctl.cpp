// ringctl: offline tools for ringlb rings (simulate an algorithm, validate or explain a ring file).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_simulator.h"
#include "ringlb/ring/ring_snapshot.h"
#include "ringlb/ring/wire_format.h"

namespace {

using namespace ringlb::ring;

int runSim(const SimulationOptions& options, bool asJson) {
  const SimulationReport report = simulate(options);
  nlohmann::json out = {{"share_stddev_rel", report.shareStddevRel},
                        {"max_over_mean", report.maxOverMean},
                        {"keys_peak_over_mean", report.keysPeakOverMean},
                        {"moved_on_add", report.movedOnAdd},
                        {"moved_on_remove", report.movedOnRemove},
                        {"moved_unaffected", report.movedUnaffected}};
  if (report.boundedPeakOverMean) out["bounded_peak_over_mean"] = *report.boundedPeakOverMean;
  if (asJson) {
    std::cout << out.dump() << '\n';
    return 0;
  }
  std::string size;
  switch (options.algorithm) {
    case Algorithm::Ring: size = "V=" + std::to_string(options.virtualNodes); break;
    case Algorithm::Maglev: size = "M=" + std::to_string(options.tableSize); break;
    case Algorithm::Anchor:
      size = "a=" + std::to_string(options.capacity != 0 ? options.capacity : 2 * (options.members + 1));
      break;
  }
  std::printf("algorithm %s, %u members, %s, %llu keys\n", std::string(toString(options.algorithm)).c_str(),
              options.members, size.c_str(), static_cast<unsigned long long>(options.keys));
  for (const auto& [name, value] : out.items()) std::printf("  %-24s %.6f\n", name.c_str(), value.get<double>());
  return 0;
}

ringlb::Result<std::shared_ptr<const RingSnapshot>> loadRing(const std::string& path) {
  std::ifstream file(path);
  if (!file) return ringlb::Error{path + ": cannot open"};
  std::stringstream text;
  text << file.rdbuf();
  auto spec = parseRingJson(text.str());
  if (!spec) return ringlb::Error{path + ": " + spec.error()};
  return RingSnapshot::build(std::move(spec).value());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringctl: simulate, validate and explain ringlb consistent-hash rings"};
  app.require_subcommand(1);

  SimulationOptions options;
  bool asJson = false;
  std::string algorithm = "ring";
  auto* sim = app.add_subcommand("sim", "Report balance and disruption figures for N members m-0 … m-(N-1)");
  sim->add_option("--algorithm", algorithm, "ring, maglev or anchor")->check(CLI::IsMember({"ring", "maglev", "anchor"}));
  sim->add_option("--members", options.members, "number of members N")->required()->check(CLI::Range(1u, 100000u));
  sim->add_option("--vnodes", options.virtualNodes, "ring points per member (ring)")->check(CLI::Range(1u, 100000u));
  sim->add_option("--table-size", options.tableSize, "maglev table size M (prime)");
  sim->add_option("--capacity", options.capacity, "anchor buckets a (default 2 × (N + 1))")
      ->check(CLI::Range(1u, kMaxAnchorCapacity));
  sim->add_option("--keys", options.keys, "sampled keys K for movement and load figures")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  sim->add_option("--load-factor", options.loadFactor, "bounded-loads factor c; adds bounded_peak_over_mean")
      ->check(CLI::Range(1.0, 100.0));
  sim->add_flag("--json", asJson, "print exactly the figures as one JSON object");

  std::string ringPath;
  auto* check = app.add_subcommand("validate", "Check a ring JSON file; prints the error naming the field");
  check->add_option("ring", ringPath, "ring JSON file")->required();

  std::string key;
  auto* explain = app.add_subcommand("explain", "Show the owner and successor chain of a key in a ring JSON file");
  explain->add_option("ring", ringPath, "ring JSON file")->required();
  explain->add_option("--key", key, "request key")->required();

  std::string afterPath;
  auto* moved = app.add_subcommand("moved", "Print the fraction of the keyspace whose owner differs between two ring JSON files");
  moved->add_option("before", ringPath, "ring JSON file")->required();
  moved->add_option("after", afterPath, "ring JSON file")->required();

  CLI11_PARSE(app, argc, argv);

  try {
    if (*sim) {
      options.algorithm = *parseAlgorithm(algorithm);
      if (options.algorithm == Algorithm::Maglev && !isPrime(options.tableSize)) {
        std::cerr << "--table-size: " << options.tableSize << " is not prime\n";
        return 2;
      }
      return runSim(options, asJson);
    }
    auto ring = loadRing(ringPath);
    if (!ring) {
      std::cerr << ring.error() << '\n';
      return 1;
    }
    if (*moved) {
      auto after = loadRing(afterPath);
      if (!after) {
        std::cerr << after.error() << '\n';
        return 1;
      }
      std::printf("%.6f\n", movedKeyspace(*ring.value(), *after.value()));
      return 0;
    }
    if (*check) {
      std::cout << ringPath << ": ok, version " << ring.value()->version() << ", " << ring.value()->members().size()
                << " members, protocol " << toString(ring.value()->spec().protocol) << '\n';
      return 0;
    }
    const auto& snapshot = *ring.value();
    const std::uint64_t hash = hashKey(key);
    std::printf("key %s hash %016llx\n", key.c_str(), static_cast<unsigned long long>(hash));
    auto walk = snapshot.walk(hash);
    while (auto index = walk.next()) {
      const auto& member = snapshot.members()[*index];
      std::printf("  %-20s %-22s %-9s share %.4f\n", member.id.c_str(), member.address.c_str(),
                  std::string(toString(member.state)).c_str(), snapshot.shares()[*index]);
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "ringctl: " << error.what() << '\n';
    return 1;
  }
}
