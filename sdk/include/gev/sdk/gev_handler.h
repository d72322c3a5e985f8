/* gev_handler.h: a handler is the application: gev's OnConnect / OnMessage / OnClose.
 * All calls run on the connection's loop thread. */
#ifndef GEV_SDK_HANDLER_H
#define GEV_SDK_HANDLER_H

#include "gev_host.h"

GEV_EXTERN_C_BEGIN

/* ABI 1.4: what on_connect_failed is told; valid during the call. */
typedef struct gev_dial_failure {
  uint32_t size;   /* sizeof(gev_dial_failure) as the host was built */
  int32_t reason;  /* GEV_DIAL_* */
  int32_t error;   /* errno (or getaddrinfo's EAI_* for GEV_DIAL_RESOLVE_FAILED); 0: none */
  uint32_t reserved;
  gev_bytes address;
  void* context;   /* gev_dial_options::context */
  uint64_t dial_id;
} gev_dial_failure;

typedef struct gev_handler_vtable {
  uint32_t size; /* sizeof(gev_handler_vtable) */
  uint32_t reserved;
  /* Optional. Return GEV_OK to accept; anything else closes the connection (on_close
   * still follows, so per-connection state has one place to be freed). */
  gev_status (*on_connect)(void* module_state, gev_conn* c);
  /* A decoded message. Reply by filling *reply (type and meta default to the request's)
   * or by calling host->send; leave reply->data.ptr NULL for no reply (a non-NULL
   * pointer with length 0 is an empty message, e.g. echoing an empty frame). The host encodes
   * *reply after on_message returns, so its view must outlive the call: point into msg,
   * or into module or connection state (never a local). Write only members that fit in
   * reply->size (a newer module on an older host). A status other than GEV_OK closes
   * the connection. */
  gev_status (*on_message)(void* module_state, gev_conn* c, const gev_frame* msg, gev_frame* reply);
  /* Optional. Exactly once for every on_connect, whatever closed the connection. */
  void (*on_close)(void* module_state, gev_conn* c);

  /* ---- ABI 1.2 ---- */
  /* Optional. The server is stopping, or a drain deadline reached this connection: a
   * last message in the handler's own words (host->send). The connection then closes
   * (see the protocol's conn_stopping); on_close follows as always. */
  void (*on_stopping)(void* module_state, gev_conn* c);

  /* Live migration. With GEV_HANDLER_ADOPTS in flags, a reload that replaces this
   * instance by a newer one of the same name that sets it too (over the same protocol
   * instance) moves every open connection to the new instance, each on its own loop
   * between two messages, instead of leaving it on the old one until it closes:
   *   1. once per reload, on the reload thread, before the switch: state_export in the
   *      old instance, state_import in the new one (module-wide state; the old one is
   *      still serving on its loops meanwhile, so guard what you export);
   *   2. per connection, on its loop: conn_export in the old instance (after it
   *      returns, the old instance forgets the connection: no on_close for it there),
   *      then conn_import in the new one, which takes it over instead of on_connect.
   * The host owns the exported bytes in between (they are valid during the import
   * only). Timers the old instance started for the connection are cancelled; the
   * connection's context pointer is reset to NULL before conn_import. The protocol's
   * per-connection state stays as it is. A failing export or import closes only that
   * connection (on_close then runs in the instance that holds it). Any of the four
   * functions may be NULL: nothing to hand over. */
  uint32_t flags; /* GEV_HANDLER_ADOPTS */
  uint32_t reserved2;
  gev_status (*conn_export)(void* module_state, gev_conn* c, gev_writer* out);
  gev_status (*conn_import)(void* module_state, gev_conn* c, gev_bytes state);
  gev_status (*state_export)(void* module_state, gev_writer* out);
  gev_status (*state_import)(void* module_state, gev_bytes state);

  /* ---- ABI 1.4 ---- */
  /* Optional. A dial of this module's (host->dial) did not connect; no on_connect or
   * on_close follows for it. On the loop it was dialled on. */
  void (*on_connect_failed)(void* module_state, const gev_dial_failure* failure);
  /* Optional. The peer ended its input (FIN, or TLS close_notify). Return 0 (or leave it
   * NULL) and the host sends what is pending, then closes; return 1 to keep the
   * connection open for writing (a proxy passing the half-close on): it then closes
   * when the module closes it, or calls conn_shutdown_write and that output has gone. */
  int32_t (*on_peer_eof)(void* module_state, gev_conn* c);
} gev_handler_vtable;

#define GEV_HANDLER_ADOPTS 1u /* flags: may adopt connections of an older instance */

GEV_EXTERN_C_END

#endif /* GEV_SDK_HANDLER_H */
