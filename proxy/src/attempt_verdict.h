#pragma once

#include <cstdint>
#include <optional>

#include "attempt_outcome.h"
#include "member_health.h"
#include "proxy_metrics.h"

namespace ringlb::proxy {

/// What the exchange does after an attempt.
enum class Retry : std::uint8_t {
  Stop,        // relay the response, or answer the client with the verdict's reply
  SameMember,  // a pooled connection had gone stale: the same member on a new connection
  NextMember,  // the next distinct member on the ring, if the retry budget allows
};

/// The effect of an attempt on its member's passive health.
enum class HealthEffect : std::uint8_t { None, Success, Failure };

/// Everything an attempt's outcome leads to, decided in one place: the
/// upstream error to count, the passive-health effect, the retry decision
/// and what the client gets if no later attempt answers.
struct AttemptVerdict {
  std::optional<UpstreamError> error;  // the `reason` of ringlb_proxy_upstream_errors_total, if any
  HealthEffect health = HealthEffect::None;
  Retry retry = Retry::Stop;
  HttpError reply;           // status 0: close without an answer (or none needed)
  bool chargeMember = true;  // the reply counts for the member, not for the local-reply member
};

/// What the retry decision depends on besides the outcome.
struct RetryContext {
  bool idempotent = false;    // the method may be sent twice
  bool replayable = true;     // the whole request is still buffered (its body did not stream)
  bool staleRetried = false;  // this request already retried a stale pooled connection once
};

/// Judges an attempt. Pure; allocates nothing.
AttemptVerdict judgeAttempt(const AttemptResult& result, const RetryContext& context) noexcept;

/// Counts the verdict's upstream error in `stats` and applies its health
/// effect to `health` at `nowNanos`. Only the worker owning `stats` calls it.
void recordVerdict(const AttemptVerdict& verdict, MemberStats& stats, MemberHealth& health, const EjectionPolicy& policy,
                   std::int64_t nowNanos) noexcept;

}  // namespace ringlb::proxy
