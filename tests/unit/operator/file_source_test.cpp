#include "ringlb/operator/file_source.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "ringlb/operator/desired_state.h"

namespace ringlb::op {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ringYaml(const std::string& name, int replicas) {
  return "apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: " + name + "}\nspec:\n  replicas: " +
         std::to_string(replicas) + "\n  template: {command: [x]}\n";
}

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("ringlb-filesource-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  // Rewrites atomically (as editors do) so every write changes the inode.
  void write(const std::string& name, const std::string& text) {
    const fs::path temporary = dir / ("." + name + ".tmp");
    std::ofstream(temporary) << text;
    fs::rename(temporary, dir / name);
  }

  std::vector<ResourceEvent> drain() {
    std::lock_guard lock(mutex);
    return std::exchange(events, {});
  }

  FileSource::EventHandler handler() {
    return [this](const ResourceEvent& event) {
      std::lock_guard lock(mutex);
      events.push_back(event);
    };
  }

  fs::path dir;
  std::mutex mutex;
  std::vector<ResourceEvent> events;
};

TEST_F(FileSourceTest, DeliversEveryResourceOfADirectoryOnStart) {
  write("a.yaml", ringYaml("a", 1) + "---\n" + ringYaml("b", 2));
  write("c.yml", ringYaml("c", 3));
  write("notes.txt", "ignored");
  FileSource source(dir, 20ms);
  source.start(handler());
  source.stop();
  const auto seen = drain();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& event : seen) EXPECT_EQ(event.kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(seen[0].key, "default/a");
  EXPECT_EQ(seen[1].key, "default/b");
  EXPECT_EQ(seen[2].key, "default/c");
  EXPECT_EQ(seen[2].ring->spec.replicas, 3);
  EXPECT_EQ(seen[2].ring->metadata.generation, 1);
}

TEST_F(FileSourceTest, ChangesBumpTheGenerationAndRemovalDeletes) {
  write("a.yaml", ringYaml("a", 1));
  FileSource source(dir, 20ms);
  source.start(handler());
  source.stop();  // drive scans by hand from here
  drain();
  write("a.yaml", ringYaml("a", 1) + "# a comment changes the file, not the spec\n");
  source.scanOnce();
  EXPECT_TRUE(drain().empty()) << "no event when the spec is unchanged";
  write("a.yaml", ringYaml("a", 4));
  source.scanOnce();
  auto seen = drain();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(seen[0].ring->spec.replicas, 4);
  EXPECT_EQ(seen[0].ring->metadata.generation, 2);
  fs::remove(dir / "a.yaml");
  source.scanOnce();
  seen = drain();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ResourceEvent::Kind::Deleted);
  EXPECT_EQ(seen[0].key, "default/a");
}

TEST_F(FileSourceTest, InvalidFileKeepsItsRingsAndReportsTheError) {
  write("apod.yaml", ringYaml("apod", 3));
  FileSource source(dir, 20ms);
  source.start(handler());
  source.stop();
  drain();
  write("apod.yaml", ringYaml("apod", -1));
  source.scanOnce();
  auto seen = drain();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ResourceEvent::Kind::Invalid);
  EXPECT_EQ(seen[0].key, "default/apod");
  EXPECT_EQ(seen[0].error, (dir / "apod.yaml").string() + ": spec.replicas: must be >= 0, got -1");

  write("apod.yaml", "this: [is not closed\n");
  source.scanOnce();
  seen = drain();
  ASSERT_FALSE(seen.empty());
  for (const auto& event : seen) EXPECT_NE(event.kind, ResourceEvent::Kind::Deleted) << event.key;
  bool apodInvalid = false;
  for (const auto& event : seen) apodInvalid = apodInvalid || (event.kind == ResourceEvent::Kind::Invalid && event.key == "default/apod");
  EXPECT_TRUE(apodInvalid) << "unparseable YAML still attaches the error to the rings the file defined";

  write("apod.yaml", ringYaml("apod", 3));
  source.scanOnce();
  seen = drain();
  bool upserted = false;
  for (const auto& event : seen) upserted = upserted || (event.kind == ResourceEvent::Kind::Upserted && event.key == "default/apod");
  EXPECT_TRUE(upserted) << "fixing the file clears the error";
}

TEST_F(FileSourceTest, BrokenFileThatNamesNoRingIsKeyedByFileAndClearedWhenFixed) {
  write("new.yaml", "{{{");
  FileSource source(dir, 20ms);
  DesiredState state;
  source.start([&state](const ResourceEvent& event) { state.apply(event); });
  source.stop();
  ASSERT_EQ(state.errors().size(), 1u);
  EXPECT_EQ(state.errors().begin()->first, "file:" + (dir / "new.yaml").string());
  EXPECT_FALSE(state.mayTearDown("default/somebody")) << "unattributed error: no garbage collection";
  write("new.yaml", ringYaml("fresh", 1));
  source.scanOnce();
  EXPECT_TRUE(state.errors().empty());
  EXPECT_NE(state.desired("default/fresh"), nullptr);
}

TEST_F(FileSourceTest, DuplicateNamesAcrossFilesAreRejected) {
  write("a.yaml", ringYaml("same", 1));
  write("b.yaml", ringYaml("same", 2));
  FileSource source(dir, 20ms);
  source.start(handler());
  source.stop();
  const auto seen = drain();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(seen[0].ring->spec.replicas, 1);
  EXPECT_EQ(seen[1].kind, ResourceEvent::Kind::Invalid);
  EXPECT_NE(seen[1].error.find("already defined in"), std::string::npos) << seen[1].error;
}

TEST_F(FileSourceTest, PollingThreadPicksUpEdits) {
  write("a.yaml", ringYaml("a", 1));
  FileSource source(dir, 20ms);
  source.start(handler());
  drain();
  write("a.yaml", ringYaml("a", 5));
  std::vector<ResourceEvent> seen;
  for (int i = 0; i < 100 && seen.empty(); ++i) {
    std::this_thread::sleep_for(10ms);
    seen = drain();
  }
  source.stop();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ring->spec.replicas, 5);
}

TEST_F(FileSourceTest, MissingPathIsAnErrorNotADeletion) {
  FileSource source(dir / "nope.yaml", 20ms);
  source.start(handler());
  source.stop();
  const auto seen = drain();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ResourceEvent::Kind::Invalid);
  EXPECT_NE(seen[0].error.find("nope.yaml: no such file or directory"), std::string::npos);
}

}  // namespace
}  // namespace ringlb::op
