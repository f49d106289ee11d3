#include "ringlb/operator/docker_client.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

TEST(DockerErrorKind, FollowsTheHttpStatus) {
  EXPECT_EQ(dockerErrorKind(400), ErrorKind::Invalid);
  EXPECT_EQ(dockerErrorKind(404), ErrorKind::NotFound);
  EXPECT_EQ(dockerErrorKind(409), ErrorKind::Conflict);
  EXPECT_EQ(dockerErrorKind(500), ErrorKind::Unavailable);
  EXPECT_EQ(dockerErrorKind(429), ErrorKind::Transient);
}

TEST(DockerErrorKind, AnAnswerBecomesAnErrorOfItsKindWithTheDaemonsMessage) {
  const DockerResponse conflict{409, R"({"message":"Conflict. The container name \"/apod-0\" is already in use"})"};
  const Error error = conflict.error("DockerApiError: creating container apod-0");
  EXPECT_EQ(error.kind, ErrorKind::Conflict);
  EXPECT_EQ(error.message,
            "DockerApiError: creating container apod-0: Conflict. The container name \"/apod-0\" is already in use");
  const DockerResponse missing{404, ""};
  EXPECT_EQ(missing.error("inspect").message, "inspect: HTTP 404");
  EXPECT_EQ(missing.error("inspect").kind, ErrorKind::NotFound);
}

}  // namespace
}  // namespace ringlb::op
