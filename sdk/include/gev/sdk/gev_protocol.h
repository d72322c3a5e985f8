/* gev_protocol.h: a protocol turns input bytes into frames (decode) and frames into
 * output bytes (encode): gev's UnPacket and Packet. All calls run on the connection's
 * loop thread. */
#ifndef GEV_SDK_PROTOCOL_H
#define GEV_SDK_PROTOCOL_H

#include "gev_host.h"

GEV_EXTERN_C_BEGIN

#define GEV_DECODE_NEED_MORE 0 /* not enough input for a frame (consumed may still be > 0) */
#define GEV_DECODE_FRAME 1     /* one frame; consumed > 0 */
#define GEV_DECODE_ERROR 2     /* malformed input: the host closes this connection */

typedef struct gev_decode_result {
  uint32_t size; /* sizeof(gev_decode_result), set by the host */
  int32_t status;
  uint64_t consumed;
  gev_frame frame;   /* with FRAME: views into the input or into protocol state, valid
                        until the handler's on_message returns */
  const char* error; /* with ERROR: a static string saying why (logged by the host) */
} gev_decode_result;

typedef struct gev_protocol_vtable {
  uint32_t size; /* sizeof(gev_protocol_vtable) */
  uint32_t reserved;
  /* Optional. Per-connection state: the returned pointer comes back as conn_state. */
  void* (*conn_open)(void* module_state, gev_conn* c);
  /* Optional. Frees what conn_open made. */
  void (*conn_close)(void* module_state, gev_conn* c, void* conn_state);
  /* Decodes at most one frame from the front of `in` (contiguous; valid during the
   * call and, for frame views into it, until on_message returns). `in` is the host's
   * own read buffer (every 1.x host): decode may rewrite in place the bytes of the frame
   * it returns, never others (a WebSocket payload is unmasked where it lies). A reply
   * that is a view into the input is sent from there, not copied. */
  void (*decode)(void* module_state, gev_conn* c, void* conn_state, gev_bytes in,
                 gev_decode_result* out);
  /* Appends the wire form of `msg` to `w` with writer_append/writer_reserve. */
  gev_status (*encode)(void* module_state, gev_conn* c, void* conn_state, const gev_frame* msg,
                       gev_writer* w);
  /* ---- ABI 1.1 ---- */
  /* Optional. Runs right after the handler's on_message for a frame this protocol
   * decoded, before the host encodes the reply: sees the handler's status and may
   * rewrite or clear *reply (data.ptr = NULL: no reply). For steps that wait on the
   * handler's verdict, such as a WebSocket handshake the handler may refuse. */
  void (*after_message)(void* module_state, gev_conn* c, void* conn_state, const gev_frame* msg,
                        gev_frame* reply, gev_status handler_status);
  /* ---- ABI 1.2 ---- */
  /* Optional. The server is stopping (SIGTERM, a hand-off's or reload's drain deadline)
   * and this connection is to end: say goodbye in the protocol's own words (WebSocket:
   * a close frame 1001 Going Away). Runs after the handler's on_stopping. Return GEV_OK
   * if the protocol closes the connection itself once the peer has answered (the
   * host's stop deadline still bounds the wait); anything else and the host closes it
   * once its output is flushed. */
  gev_status (*conn_stopping)(void* module_state, gev_conn* c, void* conn_state);
  /* ---- ABI 1.3 ---- */
  /* Optional. The ALPN protocol ids this protocol speaks, comma-separated, preferred
   * first (WebSocket: "http/1.1"); NULL: none. A TLS listener offers these, then its own
   * tls-alpn; a client offering none of them gets no ALPN answer (not a refusal). */
  const char* alpn;
} gev_protocol_vtable;

GEV_EXTERN_C_END

#endif /* GEV_SDK_PROTOCOL_H */
