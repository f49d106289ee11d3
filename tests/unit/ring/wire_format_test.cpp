#include "ringlb/ring/wire_format.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {
namespace {

constexpr const char* kValid = R"({
  "name": "apod", "version": 17, "algorithm": "ring", "virtualNodes": 160, "loadFactor": 1.25,
  "key": {"source": "header", "name": "X-User"},
  "members": [
    {"id": "apod-0", "address": "127.0.0.1:9000", "weight": 1, "state": "Ready"},
    {"id": "apod-1", "address": "127.0.0.1:9001", "weight": 2, "state": "NotReady"},
    {"id": "apod-2", "address": "[::1]:9002", "weight": 1, "state": "Draining"}
  ]})";

TEST(WireFormat, ParsesEveryField) {
  const auto spec = parseRingJson(kValid);
  ASSERT_TRUE(spec.ok()) << spec.error();
  EXPECT_EQ(spec->name, "apod");
  EXPECT_EQ(spec->version, 17u);
  EXPECT_EQ(spec->algorithm, Algorithm::Ring);
  EXPECT_EQ(spec->loadFactor, 1.25);
  EXPECT_EQ(spec->key.source, KeySource::Header);
  EXPECT_EQ(spec->key.name, "X-User");
  ASSERT_EQ(spec->members.size(), 3u);
  EXPECT_EQ(spec->members[1].weight, 2u);
  EXPECT_EQ(spec->members[1].state, MemberState::NotReady);
  EXPECT_EQ(spec->members[2].address, "[::1]:9002");
}

TEST(WireFormat, DefaultsOptionalFields) {
  const auto spec = parseRingJson(R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1"}]})");
  ASSERT_TRUE(spec.ok()) << spec.error();
  EXPECT_EQ(spec->algorithm, Algorithm::Ring);
  EXPECT_EQ(spec->virtualNodes, kDefaultVirtualNodes);
  EXPECT_EQ(spec->key.source, KeySource::Path);
  EXPECT_EQ(spec->members[0].weight, 1u);
  EXPECT_EQ(spec->members[0].state, MemberState::Ready);
}

TEST(WireFormat, ProtocolIsHttp1UnlessTheRingSaysH2c) {
  auto spec = parseRingJson(kValid);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->protocol, UpstreamProtocol::Http1) << "a ring without the field is http1";
  EXPECT_FALSE(ringToJson(spec.value()).contains("protocol")) << "http1 is left out, for proxies that predate the field";
  spec->protocol = UpstreamProtocol::H2c;
  EXPECT_EQ(ringToJson(spec.value())["protocol"], "h2c");
  EXPECT_EQ(parseRingJson(serializeRing(spec.value())).value(), spec.value());
  const auto explicitHttp1 = parseRingJson(R"({"name":"a","version":1,"protocol":"http1","members":[]})");
  ASSERT_TRUE(explicitHttp1.ok()) << explicitHttp1.error();
  EXPECT_EQ(explicitHttp1->protocol, UpstreamProtocol::Http1);
}

TEST(WireFormat, RoundTripsBothAlgorithms) {
  auto spec = parseRingJson(kValid);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(parseRingJson(serializeRing(spec.value())).value(), spec.value());
  spec->algorithm = Algorithm::Maglev;
  spec->tableSize = 251;
  EXPECT_EQ(parseRingJson(serializeRing(spec.value())).value(), spec.value());
}

TEST(WireFormat, AnchorCarriesItsCapacity) {
  const auto spec = parseRingJson(
      R"({"name":"m","version":3,"algorithm":"anchor","capacity":64,"members":[{"id":"m-0","address":"h:1","weight":2}]})");
  ASSERT_TRUE(spec.ok()) << spec.error();
  EXPECT_EQ(spec->algorithm, Algorithm::Anchor);
  EXPECT_EQ(spec->capacity, 64u);
  EXPECT_EQ(ringToJson(spec.value())["capacity"], 64);
  EXPECT_EQ(parseRingJson(serializeRing(spec.value())).value(), spec.value());
  // Any other algorithm ignores it, so the spec round-trips.
  const auto ring = parseRingJson(R"({"name":"m","version":1,"capacity":64,"members":[]})");
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->capacity, kDefaultAnchorCapacity);
  EXPECT_FALSE(ringToJson(ring.value()).contains("capacity"));
}

// Found by tests/fuzz (ring_json): a ring spec kept the tableSize it was sent, which
// serializeRing leaves out, so parse -> serialize -> parse gave a different spec.
TEST(WireFormat, TableSizeOfARingSpecIsIgnoredSoItRoundTrips) {
  const auto spec = parseRingJson(R"({"name":"m","version":1,"tableSize":251,"members":[{"id":"a","address":"h:1"}]})");
  ASSERT_TRUE(spec.ok()) << spec.error();
  EXPECT_EQ(spec->tableSize, kDefaultMaglevTableSize);
  EXPECT_EQ(parseRingJson(serializeRing(spec.value())).value(), spec.value());
}

// A second, independent build of the same JSON must route every key identically.
TEST(WireFormat, IndependentBuildsRouteOneHundredThousandKeysIdentically) {
  for (const char* algorithm : {"ring", "maglev"}) {
    std::string json = R"({"name":"g","version":3,"algorithm":")" + std::string(algorithm) + R"(","members":[)";
    for (int i = 0; i < 50; ++i) {
      json += (i ? "," : "") + std::string(R"({"id":"apod-)") + std::to_string(i) + R"(","address":"127.0.0.1:)" +
              std::to_string(10000 + i) + R"(","weight":)" + std::to_string(1 + i % 3) + "}";
    }
    json += "]}";
    const auto first = RingSnapshot::build(parseRingJson(json).value());
    const auto second = RingSnapshot::build(parseRingJson(serializeRing(parseRingJson(json).value())).value());
    ASSERT_TRUE(first.ok() && second.ok());
    for (int i = 0; i < 100000; ++i) {
      const auto hash = hashKey("/planetary/apod?date=" + std::to_string(i));
      ASSERT_EQ(first.value()->members()[*first.value()->owner(hash)].id,
                second.value()->members()[*second.value()->owner(hash)].id);
    }
  }
}

struct BadInput {
  const char* name;
  const char* json;
  const char* field;  // must appear in the error
};

class WireFormatRejects : public ::testing::TestWithParam<BadInput> {};

TEST_P(WireFormatRejects, WithErrorNamingTheField) {
  const auto result = parseRingJson(GetParam().json);
  ASSERT_FALSE(result.ok()) << GetParam().name;
  EXPECT_NE(result.error().find(GetParam().field), std::string::npos)
      << GetParam().name << ": error was '" << result.error() << "'";
}

const BadInput kBadInputs[] = {
    {"NotJson", "{name: apod", "not valid JSON"},
    {"NotAnObject", "[1,2]", "must be a JSON object"},
    {"MissingName", R"({"version":1,"members":[]})", "name"},
    {"MissingVersion", R"({"name":"a","members":[]})", "version"},
    {"NegativeVersion", R"({"name":"a","version":-1,"members":[]})", "version"},
    {"VersionIsString", R"({"name":"a","version":"1","members":[]})", "version"},
    {"MissingMembers", R"({"name":"a","version":1})", "members"},
    {"MembersNotArray", R"({"name":"a","version":1,"members":{}})", "members"},
    {"UnknownAlgorithm", R"({"name":"a","version":1,"algorithm":"rendezvous","members":[]})", "algorithm"},
    {"DuplicateIds",
     R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1"},{"id":"x","address":"h:2"}]})",
     "members[1].id"},
    {"ZeroWeight", R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1","weight":0}]})",
     "members[0].weight"},
    {"NegativeWeight", R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1","weight":-3}]})",
     "members[0].weight"},
    {"FractionalWeight", R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1","weight":1.5}]})",
     "members[0].weight"},
    {"MissingAddress", R"({"name":"a","version":1,"members":[{"id":"x"}]})", "members[0].address"},
    {"AddressWithoutPort", R"({"name":"a","version":1,"members":[{"id":"x","address":"localhost"}]})",
     "members[0].address"},
    {"UnknownState", R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1","state":"Sick"}]})",
     "members[0].state"},
    {"MissingId", R"({"name":"a","version":1,"members":[{"address":"h:1"}]})", "members[0].id"},
    {"BadIdCharacters", R"({"name":"a","version":1,"members":[{"id":"a b","address":"h:1"}]})", "members[0].id"},
    {"UnknownMemberField", R"({"name":"a","version":1,"members":[{"id":"x","address":"h:1","colour":"red"}]})",
     "members[0].colour"},
    {"UnknownTopLevelField", R"({"name":"a","version":1,"members":[],"points":[1,2]})", "points"},
    {"NonPrimeTable", R"({"name":"a","version":1,"algorithm":"maglev","tableSize":65536,"members":[]})",
     "tableSize"},
    {"AnchorIdWithoutSlot",
     R"({"name":"a","version":1,"algorithm":"anchor","members":[{"id":"m-0","address":"h:1"},{"id":"cache","address":"h:2"}]})",
     "members[1].id"},
    {"AnchorRepeatedSlot",
     R"({"name":"a","version":1,"algorithm":"anchor","members":[{"id":"a-1","address":"h:1"},{"id":"b-1","address":"h:2"}]})",
     "members[1].id"},
    {"AnchorOverCapacity",
     R"({"name":"a","version":1,"algorithm":"anchor","capacity":4,"members":[{"id":"m-0","address":"h:1","weight":5}]})",
     "capacity"},
    {"AnchorZeroCapacity", R"({"name":"a","version":1,"algorithm":"anchor","capacity":0,"members":[]})", "capacity"},
    {"ZeroVirtualNodes", R"({"name":"a","version":1,"virtualNodes":0,"members":[]})", "virtualNodes"},
    {"LoadFactorBelowOne", R"({"name":"a","version":1,"loadFactor":0.5,"members":[]})", "loadFactor"},
    {"UnknownKeySource", R"({"name":"a","version":1,"key":{"source":"body"},"members":[]})", "key.source"},
    {"UnknownProtocol", R"({"name":"a","version":1,"protocol":"h3","members":[]})", "protocol: 'h3' is not one of http1, h2c"},
    {"ProtocolNotAString", R"({"name":"a","version":1,"protocol":2,"members":[]})", "protocol: must be a string"},
    {"HeaderKeyWithoutName", R"({"name":"a","version":1,"key":{"source":"header"},"members":[]})", "key.name"},
    {"TooManyPoints",
     R"({"name":"a","version":1,"virtualNodes":100000,"members":[{"id":"x","address":"h:1","weight":1000}]})",
     "virtualNodes"},
};

INSTANTIATE_TEST_SUITE_P(BadInputs, WireFormatRejects, ::testing::ValuesIn(kBadInputs),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ringlb::ring
