#include "attempt_verdict.h"

namespace ringlb::proxy {

namespace {

AttemptVerdict failed(UpstreamError error, Retry retry, HttpError reply) noexcept {
  return {error, HealthEffect::Failure, retry, reply, true};
}

// The member is blamed and nothing reached the client: a request that can be
// replayed goes to the next member.
AttemptVerdict failedBeforeResponse(UpstreamError error, const RetryContext& context, HttpError reply) noexcept {
  return failed(error, context.idempotent && context.replayable ? Retry::NextMember : Retry::Stop, reply);
}

// A pooled connection the member had closed meanwhile looks like a reset
// before any response byte; it says nothing about the member's health.
bool staleConnection(const AttemptResult& result, const RetryContext& context) noexcept {
  return result.reused && !context.staleRetried && context.idempotent && context.replayable;
}

AttemptVerdict countOnly(UpstreamError error) noexcept { return {error, HealthEffect::None, Retry::Stop, {}, true}; }

}  // namespace

AttemptVerdict judgeAttempt(const AttemptResult& result, const RetryContext& context) noexcept {
  using enum AttemptOutcome;
  switch (result.outcome) {
    case ConnectFailed:
      // Nothing was sent: any method may go to the next member.
      return failed(UpstreamError::Connect, Retry::NextMember, {502, "could not connect to the member"});
    case ConnectTimedOut:
      return failed(UpstreamError::Connect, Retry::NextMember, {502, "connecting to the member timed out"});
    case StreamRefused:
      // RFC 9113 §8.7: the member did not process it, so any method may go to the next
      // member, as long as the body is still whole to send again.
      return failed(UpstreamError::Reset, context.replayable ? Retry::NextMember : Retry::Stop,
                    {502, "the member refused the stream"});
    case SendReset:
      if (staleConnection(result, context)) return {std::nullopt, HealthEffect::None, Retry::SameMember, {}, true};
      return failedBeforeResponse(UpstreamError::Reset, context, {502, "the member reset the connection"});
    case SendTimedOut:
      if (staleConnection(result, context)) return {std::nullopt, HealthEffect::None, Retry::SameMember, {}, true};
      return failedBeforeResponse(UpstreamError::Timeout, context, {504, "sending the request to the member timed out"});
    case UploadTimedOut:
      return failed(UpstreamError::Timeout, Retry::Stop, {504, "sending the request body to the member timed out"});
    case UploadReset:
      return failed(UpstreamError::Reset, Retry::Stop, {502, "the member failed while receiving the request body"});
    case ResetBeforeResponse:
      if (staleConnection(result, context)) return {std::nullopt, HealthEffect::None, Retry::SameMember, {}, true};
      return failedBeforeResponse(UpstreamError::Reset, context, {502, "the member closed the connection without a response"});
    case ResetInResponse:
      return failedBeforeResponse(UpstreamError::Reset, context, {502, "the member closed the connection without a response"});
    case ResponseTimedOut:
      return failedBeforeResponse(UpstreamError::Timeout, context, {504, "the member did not respond in time"});
    case InvalidResponse:
      // A member that answers garbage would most likely do it again: not retried.
      return failed(UpstreamError::Protocol, Retry::Stop, result.error);
    case DownstreamFailed:
      return {std::nullopt, HealthEffect::None, Retry::Stop, result.error, false};
    case ResponseStarted:
      return {std::nullopt, result.status >= 500 ? HealthEffect::Failure : HealthEffect::Success, Retry::Stop, {}, true};
    // Once forwarding began, the response is cut short (the client connection
    // closes) and only the error is counted.
    case RelayTimedOut:
      return countOnly(UpstreamError::Timeout);
    case RelayReset:
      return countOnly(UpstreamError::Reset);
    case RelayInvalid:
      return countOnly(UpstreamError::Protocol);
  }
  return {};
}

void recordVerdict(const AttemptVerdict& verdict, MemberStats& stats, MemberHealth& health, const EjectionPolicy& policy,
                   std::int64_t nowNanos) noexcept {
  if (verdict.error) stats.upstreamErrors[static_cast<std::size_t>(*verdict.error)].add();
  if (verdict.health == HealthEffect::Failure) {
    health.recordFailure(nowNanos, policy);
  } else if (verdict.health == HealthEffect::Success) {
    health.recordSuccess(nowNanos, policy);
  }
}

}  // namespace ringlb::proxy
