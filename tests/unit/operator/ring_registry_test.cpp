#include "ringlb/operator/ring_registry.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "ringlb/ring/hash.h"

namespace ringlb::op {
namespace {

namespace fs = std::filesystem;

ring::RingSpec spec(int members, ring::MemberState state = ring::MemberState::Ready) {
  ring::RingSpec s;
  s.name = "apod";
  for (int i = 0; i < members; ++i) {
    s.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), 1, state});
  }
  return s;
}

class RingRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("ringlb-registry-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(RingRegistryTest, PublishesOnlyRealChangesWithIncreasingVersions) {
  RingRegistry registry(dir);
  int notified = 0;
  registry.onChange([&](const std::string& name) {
    EXPECT_EQ(name, "default/apod");
    ++notified;
  });
  auto first = registry.publish("default/apod", spec(3));
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_TRUE(first->changed);
  EXPECT_EQ(first->version, 1u);
  auto same = registry.publish("default/apod", spec(3));
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->version, 1u);
  EXPECT_EQ(notified, 1);

  auto stateOnly = spec(3);
  stateOnly.members[1].state = ring::MemberState::NotReady;
  auto second = registry.publish("default/apod", stateOnly);
  EXPECT_TRUE(second->changed);
  EXPECT_EQ(second->version, 2u);
  EXPECT_EQ(second->movedKeyspace, 0.0) << "a state change moves no ring positions";
  EXPECT_EQ(second->summary, "apod-1 Ready→NotReady");

  auto grown = registry.publish("default/apod", spec(6));
  EXPECT_EQ(grown->version, 3u);
  EXPECT_NEAR(grown->movedKeyspace, 0.5, 0.08) << "3 → 6 members moves about half the keyspace";
  EXPECT_EQ(registry.get("default/apod")->version(), 3u);
  EXPECT_EQ(registry.get("default/apod")->members().size(), 6u);
  const auto history = registry.history("default/apod");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history.back().version, 3u);
  EXPECT_EQ(notified, 3);
}

TEST_F(RingRegistryTest, AProtocolChangeIsPublishedAndSummarized) {
  RingRegistry registry(dir);
  ASSERT_TRUE(registry.publish("default/apod", spec(3)).ok());
  auto h2c = spec(3);
  h2c.protocol = ring::UpstreamProtocol::H2c;
  auto changed = registry.publish("default/apod", h2c);
  ASSERT_TRUE(changed.ok()) << changed.error();
  EXPECT_TRUE(changed->changed) << "proxies must learn how to speak to the members";
  EXPECT_EQ(changed->version, 2u);
  EXPECT_EQ(changed->movedKeyspace, 0.0);
  EXPECT_EQ(changed->summary, "protocol h2c");
  EXPECT_EQ(registry.get("default/apod")->spec().protocol, ring::UpstreamProtocol::H2c);
}

TEST_F(RingRegistryTest, VersionsSurviveARestartAndARemoval) {
  {
    RingRegistry registry(dir);
    for (int members = 1; members <= 4; ++members) ASSERT_TRUE(registry.publish("default/apod", spec(members)).ok());
    EXPECT_EQ(registry.get("default/apod")->version(), 4u);
  }
  {
    RingRegistry registry(dir);
    EXPECT_TRUE(registry.load().empty());
    ASSERT_NE(registry.get("default/apod"), nullptr) << "the persisted ring is served again at once";
    EXPECT_EQ(registry.get("default/apod")->version(), 4u);
    EXPECT_EQ(registry.get("default/apod")->members().size(), 4u);
    EXPECT_FALSE(registry.publish("default/apod", spec(4))->changed) << "same ring after restart: no new version";
    EXPECT_EQ(registry.publish("default/apod", spec(5))->version, 5u);
    ASSERT_TRUE(registry.remove("default/apod").ok());
    EXPECT_EQ(registry.get("default/apod"), nullptr);
    EXPECT_TRUE(registry.list().empty());
  }
  {
    RingRegistry registry(dir);
    registry.load();
    EXPECT_EQ(registry.get("default/apod"), nullptr);
    EXPECT_EQ(registry.publish("default/apod", spec(2))->version, 6u) << "a re-created ring continues after the removed one";
  }
}

TEST_F(RingRegistryTest, RejectsInvalidRingsAndUnreadableState) {
  RingRegistry registry(dir);
  auto bad = spec(2);
  bad.members[1].id = bad.members[0].id;
  const auto result = registry.publish("default/apod", bad);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().find("duplicate id"), std::string::npos) << result.error();
  EXPECT_EQ(registry.get("default/apod"), nullptr);

  fs::create_directories(dir / "rings");
  std::ofstream(dir / "rings" / "junk.json") << "not json";
  RingRegistry reloaded(dir);
  const auto errors = reloaded.load();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("junk.json"), std::string::npos);
}

TEST_F(RingRegistryTest, SameNamedRingsInTwoNamespacesNeverMeet) {
  RingRegistry registry(dir);
  auto a = spec(2);
  auto b = spec(3);
  b.members[0].address = "127.0.2.1:8080";
  ASSERT_TRUE(registry.publish("a/apod", a).ok());
  ASSERT_TRUE(registry.publish("b/apod", b).ok());
  EXPECT_EQ(registry.get("a/apod")->members().size(), 2u);
  EXPECT_EQ(registry.get("b/apod")->members().size(), 3u);
  EXPECT_EQ(registry.get("b/apod")->members()[0].address, "127.0.2.1:8080");
  EXPECT_EQ(registry.get("a/apod")->version(), 1u) << "each ring counts its own versions";
  EXPECT_EQ(registry.keys(), (std::vector<std::string>{"a/apod", "b/apod"}));

  EXPECT_EQ(registry.resolve("a/apod").value(), "a/apod");
  const auto ambiguous = registry.resolve("apod");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.errorKind(), ErrorKind::Conflict);
  EXPECT_NE(ambiguous.error().find("a, b"), std::string::npos) << ambiguous.error();
  EXPECT_EQ(registry.resolve("c/apod").errorKind(), ErrorKind::NotFound);
  ASSERT_TRUE(registry.remove("a/apod").ok());
  EXPECT_EQ(registry.resolve("apod").value(), "b/apod") << "unique again once a's ring is withdrawn";

  RingRegistry reloaded(dir);
  EXPECT_TRUE(reloaded.load().empty());
  EXPECT_EQ(reloaded.get("a/apod"), nullptr);
  EXPECT_EQ(reloaded.get("b/apod")->members().size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "rings" / "b_apod.json"));
}

TEST_F(RingRegistryTest, AFileFromBeforeNamespacesIsTheDefaultNamespacesRing) {
  {
    RingRegistry registry(dir);
    auto s = spec(2);
    ASSERT_TRUE(registry.publish("default/apod", s).ok());
  }
  fs::rename(dir / "rings" / "default_apod.json", dir / "rings" / "apod.json");
  RingRegistry registry(dir);
  EXPECT_TRUE(registry.load().empty());
  ASSERT_NE(registry.get("default/apod"), nullptr);
  EXPECT_EQ(registry.publish("default/apod", spec(3))->version, 2u);
  EXPECT_FALSE(fs::exists(dir / "rings" / "apod.json")) << "replaced by default_apod.json";
}

TEST_F(RingRegistryTest, NeverPublishesAtOrBelowAVersionFloorEvenForAnUnchangedRing) {
  RingRegistry registry(dir);
  ASSERT_EQ(registry.publish("default/apod", spec(3))->version, 1u);
  registry.raiseVersionFloor("default/apod", 17);
  EXPECT_EQ(registry.lastVersion("default/apod"), 17u);
  const auto republished = registry.publish("default/apod", spec(3));
  EXPECT_TRUE(republished->changed) << "v1 must not be served once v17 was published elsewhere";
  EXPECT_EQ(republished->version, 18u);
  EXPECT_FALSE(registry.publish("default/apod", spec(3))->changed);
  registry.raiseVersionFloor("default/apod", 5);
  EXPECT_EQ(registry.publish("default/apod", spec(4))->version, 19u) << "a lower floor changes nothing";
}

TEST_F(RingRegistryTest, MirrorServesExactlyTheRecordedVersionAndNeverGoesBack) {
  RingRegistry registry(dir);
  auto recorded = spec(3);
  recorded.version = 17;
  EXPECT_TRUE(registry.mirror("default/apod", recorded)->changed);
  EXPECT_EQ(registry.get("default/apod")->version(), 17u);
  recorded.version = 12;
  EXPECT_FALSE(registry.mirror("default/apod", recorded)->changed) << "an older status";
  EXPECT_EQ(registry.get("default/apod")->version(), 17u);
  EXPECT_EQ(registry.publish("default/apod", spec(4))->version, 18u) << "a follower that starts leading continues";
}

TEST(RingRegistryFiles, NamesCarryTheNamespace) {
  EXPECT_EQ(ringFileName("team-a/apod"), "team-a_apod.json");
  EXPECT_EQ(ringKeyOfFile("team-a_apod"), "team-a/apod");
  EXPECT_EQ(ringKeyOfFile("apod"), "default/apod");
  EXPECT_EQ(ringKeyOfFile("ns_my.ring"), "ns/my.ring");
}

TEST(RingChangeSummary, NamesAddedRemovedAndMovedMembers) {
  auto before = spec(3);
  auto after = spec(2);
  after.members.push_back({"apod-7", "127.0.0.1:1", 1, ring::MemberState::NotReady});
  after.members[0].address = "127.0.0.1:1234";
  EXPECT_EQ(describeRingChange(&before, after), "apod-0 at 127.0.0.1:1234, +apod-7 (NotReady), -apod-2");
  EXPECT_EQ(describeRingChange(nullptr, after), "created with 3 members");
}

}  // namespace
}  // namespace ringlb::op
