// The one place an attempt's outcome turns into an upstream error, a
// passive-health effect, a retry decision and the client's answer.
#include "attempt_verdict.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringlb::proxy {
namespace {

using enum AttemptOutcome;

constexpr RetryContext kIdempotent{true, true, false};
constexpr RetryContext kPost{false, true, false};
constexpr RetryContext kStreamedBody{true, false, false};

AttemptResult outcome(AttemptOutcome o, bool reused = false) { return {o, {}, 0, reused}; }

struct Expected {
  AttemptOutcome outcome;
  std::optional<UpstreamError> error;
  HealthEffect health;
  Retry idempotentRetry;  // a GET whose request is still buffered
  Retry postRetry;        // a POST
  std::uint16_t status;   // of the answer if no later attempt answers; 0 for none
};

// Every outcome class on a fresh connection.
const std::vector<Expected> kTable = {
    {ConnectFailed, UpstreamError::Connect, HealthEffect::Failure, Retry::NextMember, Retry::NextMember, 502},
    {ConnectTimedOut, UpstreamError::Connect, HealthEffect::Failure, Retry::NextMember, Retry::NextMember, 502},
    // An HTTP/2 member's REFUSED_STREAM (or a GOAWAY below the stream): never processed, so a POST moves on too.
    {StreamRefused, UpstreamError::Reset, HealthEffect::Failure, Retry::NextMember, Retry::NextMember, 502},
    {SendReset, UpstreamError::Reset, HealthEffect::Failure, Retry::NextMember, Retry::Stop, 502},
    {SendTimedOut, UpstreamError::Timeout, HealthEffect::Failure, Retry::NextMember, Retry::Stop, 504},
    {UploadTimedOut, UpstreamError::Timeout, HealthEffect::Failure, Retry::Stop, Retry::Stop, 504},
    {UploadReset, UpstreamError::Reset, HealthEffect::Failure, Retry::Stop, Retry::Stop, 502},
    {ResetBeforeResponse, UpstreamError::Reset, HealthEffect::Failure, Retry::NextMember, Retry::Stop, 502},
    {ResetInResponse, UpstreamError::Reset, HealthEffect::Failure, Retry::NextMember, Retry::Stop, 502},
    {ResponseTimedOut, UpstreamError::Timeout, HealthEffect::Failure, Retry::NextMember, Retry::Stop, 504},
    {InvalidResponse, UpstreamError::Protocol, HealthEffect::Failure, Retry::Stop, Retry::Stop, 0},
    {DownstreamFailed, std::nullopt, HealthEffect::None, Retry::Stop, Retry::Stop, 0},
    {ResponseStarted, std::nullopt, HealthEffect::Success, Retry::Stop, Retry::Stop, 0},
    {RelayTimedOut, UpstreamError::Timeout, HealthEffect::None, Retry::Stop, Retry::Stop, 0},
    {RelayReset, UpstreamError::Reset, HealthEffect::None, Retry::Stop, Retry::Stop, 0},
    {RelayInvalid, UpstreamError::Protocol, HealthEffect::None, Retry::Stop, Retry::Stop, 0},
};

TEST(AttemptVerdict, EveryOutcomeClassHasItsErrorHealthEffectRetryAndAnswer) {
  ASSERT_EQ(kTable.size(), static_cast<std::size_t>(RelayInvalid) + 1);  // a new class needs a row
  for (const auto& row : kTable) {
    SCOPED_TRACE(static_cast<int>(row.outcome));
    const auto get = judgeAttempt(outcome(row.outcome), kIdempotent);
    EXPECT_EQ(get.error, row.error);
    EXPECT_EQ(get.health, row.health);
    EXPECT_EQ(get.retry, row.idempotentRetry);
    EXPECT_EQ(get.reply.status, row.status);
    EXPECT_TRUE(get.chargeMember || row.outcome == DownstreamFailed);
    const auto post = judgeAttempt(outcome(row.outcome), kPost);
    EXPECT_EQ(post.retry, row.postRetry);
    EXPECT_EQ(post.error, row.error);
    EXPECT_EQ(post.health, row.health);
  }
}

TEST(AttemptVerdict, AStreamedBodyIsNeverReplayed) {
  for (const auto& row : kTable) {
    if (row.outcome == ConnectFailed || row.outcome == ConnectTimedOut) continue;  // nothing was sent
    EXPECT_NE(judgeAttempt(outcome(row.outcome), kStreamedBody).retry, Retry::NextMember) << static_cast<int>(row.outcome);
  }
  EXPECT_EQ(judgeAttempt(outcome(ConnectFailed), kStreamedBody).retry, Retry::NextMember);
  EXPECT_EQ(judgeAttempt(outcome(StreamRefused), kStreamedBody).retry, Retry::Stop)
      << "a refused stream's body already streamed from the client: nothing to send again";
}

TEST(AttemptVerdict, AStalePooledConnectionIsRetriedOnceOnTheSameMemberWithoutBlame) {
  for (const auto o : {SendReset, SendTimedOut, ResetBeforeResponse}) {
    SCOPED_TRACE(static_cast<int>(o));
    const auto stale = judgeAttempt(outcome(o, true), kIdempotent);
    EXPECT_EQ(stale.retry, Retry::SameMember);
    EXPECT_FALSE(stale.error);
    EXPECT_EQ(stale.health, HealthEffect::None);
    // Only once per request, only for methods that may be sent twice, only while the request is whole.
    EXPECT_EQ(judgeAttempt(outcome(o, true), {true, true, true}).retry, Retry::NextMember);
    EXPECT_EQ(judgeAttempt(outcome(o, true), kPost).retry, Retry::Stop);
    EXPECT_NE(judgeAttempt(outcome(o, true), kStreamedBody).retry, Retry::SameMember);
  }
  // Bytes of a response came: the member was alive, so it is to blame.
  EXPECT_EQ(judgeAttempt(outcome(ResetInResponse, true), kIdempotent).retry, Retry::NextMember);
  EXPECT_EQ(judgeAttempt(outcome(ResponseTimedOut, true), kIdempotent).retry, Retry::NextMember);
}

TEST(AttemptVerdict, AServerErrorCountsAgainstPassiveHealth) {
  AttemptResult result = outcome(ResponseStarted);
  result.status = 503;
  EXPECT_EQ(judgeAttempt(result, kIdempotent).health, HealthEffect::Failure);
  result.status = 404;
  EXPECT_EQ(judgeAttempt(result, kIdempotent).health, HealthEffect::Success);
  EXPECT_EQ(judgeAttempt(result, kIdempotent).retry, Retry::Stop);  // a 5xx answer is relayed, not retried
}

TEST(AttemptVerdict, TheAnswerCarriesTheOutcomesDetail) {
  AttemptResult invalid = outcome(InvalidResponse);
  invalid.error = {502, "malformed response head from the member"};
  EXPECT_EQ(judgeAttempt(invalid, kIdempotent).reply.reason, "malformed response head from the member");
  AttemptResult client = outcome(DownstreamFailed);
  client.error = {408, "request body not received in time"};
  const auto verdict = judgeAttempt(client, kIdempotent);
  EXPECT_EQ(verdict.reply.status, 408);
  EXPECT_FALSE(verdict.chargeMember);  // the client's failure is a local reply
  EXPECT_EQ(judgeAttempt(outcome(ConnectTimedOut), kIdempotent).reply.reason, "connecting to the member timed out");
  EXPECT_EQ(judgeAttempt(outcome(UploadReset), kIdempotent).reply.reason,
            "the member failed while receiving the request body");
}

TEST(AttemptVerdict, RecordingCountsTheErrorAndAppliesTheHealthEffect) {
  MemberStats stats("m");
  MemberHealth health("m");
  const EjectionPolicy policy{2, 1'000'000'000, 8'000'000'000};
  const auto failure = judgeAttempt(outcome(ResponseTimedOut), kIdempotent);
  recordVerdict(failure, stats, health, policy, 10);
  EXPECT_EQ(stats.upstreamErrors[static_cast<std::size_t>(UpstreamError::Timeout)].get(), 1u);
  EXPECT_FALSE(health.ejected(10));
  // A success in between resets the streak: two failures apart do not eject.
  recordVerdict(judgeAttempt(outcome(ResponseStarted), kIdempotent), stats, health, policy, 11);
  recordVerdict(failure, stats, health, policy, 12);
  EXPECT_FALSE(health.ejected(12));
  // A verdict without a health effect neither resets nor extends the streak.
  recordVerdict(judgeAttempt(outcome(RelayReset), kIdempotent), stats, health, policy, 13);
  EXPECT_FALSE(health.ejected(13));
  EXPECT_EQ(stats.upstreamErrors[static_cast<std::size_t>(UpstreamError::Reset)].get(), 1u);
  recordVerdict(failure, stats, health, policy, 14);
  EXPECT_TRUE(health.ejected(14));
  EXPECT_EQ(stats.upstreamErrors[static_cast<std::size_t>(UpstreamError::Timeout)].get(), 3u);
}

}  // namespace
}  // namespace ringlb::proxy
