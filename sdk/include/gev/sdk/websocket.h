/* websocket.h: how the `websocket` protocol module talks to handlers (gev_frame.type
 * values and what data/meta hold). Pure constants: no symbol is linked.
 *
 * Messages (both directions): type is the WebSocket opcode.
 *   GEV_WS_TEXT / GEV_WS_BINARY  a whole message (fragments reassembled, permessage-
 *                                deflate undone, text already checked to be UTF-8).
 *   Handlers may also send GEV_WS_PING (payload <= 125 bytes), GEV_WS_PONG, and
 *   GEV_WS_CLOSE (data = 2-byte big-endian code + UTF-8 reason, at most 125 bytes in
 *   all; empty data sends a close without a code). After a close no more messages go
 *   out; the module finishes the close handshake and the TCP close. Pings from the
 *   client are answered by the module (pong with the same payload) and never reach the
 *   handler; neither do pongs or the client's close (on_close follows it).
 *
 * Requests (client to handler only), before any WebSocket frame:
 *   GEV_WS_OPEN  an upgrade request that passed the RFC 6455 checks. data is empty;
 *                meta is the request head: the request line and the header lines, each
 *                ending in CRLF (gev/sdk/cpp/websocket.h parses it). The handler accepts
 *                by returning GEV_OK and leaving reply->type alone (reply->data is
 *                ignored); it refuses by setting reply->type to an HTTP status 400-599
 *                (reply->data is the body, reply->meta an optional Content-Type). It may
 *                send messages while handling OPEN: they follow the 101 response.
 *   GEV_WS_HTTP  a plain GET without Upgrade (e.g. a browser fetching a page). Same
 *                data/meta. The handler answers with reply->type = an HTTP status
 *                200-599, reply->data = body, reply->meta = Content-Type (default
 *                text/plain; charset=utf-8). Left alone, the answer is 426 Upgrade
 *                Required. The connection closes after the response.
 *
 * Close codes the module sends on its own: 1002 protocol error, 1007 invalid UTF-8,
 * 1009 message too big. A handler returning an error from on_message aborts the
 * connection (no close frame). */
#ifndef GEV_SDK_WEBSOCKET_H
#define GEV_SDK_WEBSOCKET_H

#define GEV_WS_TEXT 1u
#define GEV_WS_BINARY 2u
#define GEV_WS_CLOSE 8u
#define GEV_WS_PING 9u
#define GEV_WS_PONG 10u
#define GEV_WS_OPEN 0x100u
#define GEV_WS_HTTP 0x101u

#define GEV_WS_CLOSE_NORMAL 1000u
#define GEV_WS_CLOSE_GOING_AWAY 1001u
#define GEV_WS_CLOSE_PROTOCOL_ERROR 1002u
#define GEV_WS_CLOSE_UNSUPPORTED 1003u
#define GEV_WS_CLOSE_INVALID_DATA 1007u
#define GEV_WS_CLOSE_POLICY 1008u
#define GEV_WS_CLOSE_TOO_BIG 1009u
#define GEV_WS_CLOSE_INTERNAL_ERROR 1011u

#endif /* GEV_SDK_WEBSOCKET_H */
