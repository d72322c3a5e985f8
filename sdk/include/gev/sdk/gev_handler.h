/* gev_handler.h: a handler is the application: gev's OnConnect / OnMessage / OnClose.
 * All calls run on the connection's loop thread. */
#ifndef GEV_SDK_HANDLER_H
#define GEV_SDK_HANDLER_H

#include "gev_host.h"

GEV_EXTERN_C_BEGIN

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
} gev_handler_vtable;

GEV_EXTERN_C_END

#endif /* GEV_SDK_HANDLER_H */
