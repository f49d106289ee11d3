#pragma once

#include <nghttp2/nghttp2.h>

namespace ringlb::proxy {

/// The nghttp2 callbacks both HTTP/2 sides register (the server session facing clients, the client
/// session facing h2c members), bound to Side's static handlers. Null when nghttp2 cannot allocate;
/// the caller deletes them once its session is made. Side befriends it: the handlers are private.
template <class Side>
nghttp2_session_callbacks* newSessionCallbacks() noexcept {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return nullptr;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Side::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Side::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Side::onFrameReceived);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &Side::onFrameSent);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Side::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Side::onStreamClose);
  return callbacks;
}

}  // namespace ringlb::proxy
