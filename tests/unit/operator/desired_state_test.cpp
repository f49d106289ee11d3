#include "ringlb/operator/desired_state.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

HashRing ring(const std::string& name, int replicas) {
  HashRing r;
  r.metadata.name = name;
  r.spec.replicas = replicas;
  r.spec.templ.command = {"x"};
  return r;
}

TEST(DesiredState, UpsertReportsOnlyRealChanges) {
  DesiredState state;
  EXPECT_TRUE(state.apply({ResourceEvent::Kind::Upserted, "default/a", ring("a", 1), {}}));
  EXPECT_FALSE(state.apply({ResourceEvent::Kind::Upserted, "default/a", ring("a", 1), {}}));
  EXPECT_TRUE(state.apply({ResourceEvent::Kind::Upserted, "default/a", ring("a", 2), {}}));
  EXPECT_EQ(state.desired("default/a")->spec.replicas, 2);
}

TEST(DesiredState, DeletionAllowsTeardownAndForgetEndsIt) {
  DesiredState state;
  state.apply({ResourceEvent::Kind::Upserted, "default/a", ring("a", 1), {}});
  EXPECT_FALSE(state.mayTearDown("default/a"));
  EXPECT_TRUE(state.apply({ResourceEvent::Kind::Deleted, "default/a", std::nullopt, {}}));
  EXPECT_EQ(state.desired("default/a"), nullptr);
  EXPECT_TRUE(state.mayTearDown("default/a"));
  EXPECT_TRUE(state.keys().count("default/a"));
  state.forget("default/a");
  EXPECT_FALSE(state.keys().count("default/a"));
}

TEST(DesiredState, AnyUnattributedErrorBlocksGarbageCollectionOfUnknownRings) {
  DesiredState state;
  EXPECT_TRUE(state.mayTearDown("default/orphan")) << "unknown ring, no errors: its replicas are garbage";
  state.apply({ResourceEvent::Kind::Invalid, "file:rings/broken.yaml", std::nullopt, "rings/broken.yaml: invalid YAML"});
  EXPECT_FALSE(state.mayTearDown("default/orphan")) << "the broken file may be the one that defines it";
  EXPECT_FALSE(state.keys().count("file:rings/broken.yaml"));
  EXPECT_TRUE(state.apply({ResourceEvent::Kind::Deleted, "file:rings/broken.yaml", std::nullopt, {}}));
  EXPECT_TRUE(state.errors().empty());
  EXPECT_TRUE(state.mayTearDown("default/orphan"));
  EXPECT_FALSE(state.deleted("file:rings/broken.yaml"));
}

}  // namespace
}  // namespace ringlb::op
