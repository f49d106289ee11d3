#pragma once

#include <cstdint>

#include "http_message.h"

namespace ringlb::proxy {

/// How one try of a request at one member ended, as far as failure
/// accounting cares. The first group ends an attempt before anything reaches
/// the client; the relay outcomes end the response after forwarding began.
enum class AttemptOutcome : std::uint8_t {
  ConnectFailed,        // no connection (refused, unreachable, no address): nothing was sent
  ConnectTimedOut,      // no connection within the connect timeout
  SendReset,            // the connection failed while the request head went out
  SendTimedOut,         // the member did not take the request head in time
  UploadTimedOut,       // the member stopped taking the request body
  UploadReset,          // the member failed while taking the body, and sent no usable answer
  StreamRefused,        // an HTTP/2 member never processed the stream (REFUSED_STREAM, a GOAWAY below it, never sent)
  ResetBeforeResponse,  // closed or reset before any response byte
  ResetInResponse,      // closed or reset within the response head or a body that fits the buffer
  ResponseTimedOut,     // no complete response head in time
  InvalidResponse,      // a malformed head, invalid framing, an unexpected 101, or a head too large to forward
  DownstreamFailed,     // the client failed, was too slow or sent a bad body mid-upload: not the member's fault
  ResponseStarted,      // a valid response head is ready to be relayed
  RelayTimedOut,        // the member stalled after part of the response was forwarded
  RelayReset,           // the member closed or reset after part of the response was forwarded
  RelayInvalid,         // invalid chunked framing after part of the response was forwarded
};

/// An attempt's outcome with what accounting needs to know about it.
struct AttemptResult {
  AttemptOutcome outcome = AttemptOutcome::ResetBeforeResponse;
  HttpError error{};        // InvalidResponse: what was wrong; DownstreamFailed: what to answer
  std::uint16_t status = 0;  // ResponseStarted: the response status
  bool reused = false;      // the attempt ran on a pooled connection
};

}  // namespace ringlb::proxy
