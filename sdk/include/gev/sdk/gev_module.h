/* gev_module.h: the one symbol a module exports, and the descriptor it returns.
 *
 *   GEV_EXPORT const gev_module_descriptor* gev_module_entry(const gev_host_api* host,
 *                                                            uint32_t host_abi_major,
 *                                                            uint32_t host_abi_minor);
 *
 * The host loads the .so, calls gev_module_entry once, and refuses the module if the
 * descriptor's abi_major differs from its own (naming the file and both versions). A
 * module that needs a newer host minor returns NULL (after logging why). The descriptor
 * and everything it points to must stay valid until the library is unloaded. */
#ifndef GEV_SDK_MODULE_H
#define GEV_SDK_MODULE_H

#include "gev_handler.h"
#include "gev_protocol.h"

GEV_EXTERN_C_BEGIN

#define GEV_MODULE_PROTOCOL 1u /* kind bits */
#define GEV_MODULE_HANDLER 2u

/* protocol_flags (ABI 1.5) */
#define GEV_PROTOCOL_DATAGRAMS 1u /* decode takes one UDP datagram as one frame */

/* Configuration: the --module-opt NAME.KEY=VALUE pairs for this module. */
typedef struct gev_config_entry {
  const char* key;
  const char* value;
} gev_config_entry;

typedef struct gev_config {
  uint32_t size; /* sizeof(gev_config) */
  uint32_t count;
  const gev_config_entry* entries; /* valid during create only: copy what you keep */
} gev_config;

typedef struct gev_module_descriptor {
  uint32_t size;      /* sizeof(gev_module_descriptor) */
  uint32_t abi_major; /* GEV_ABI_MAJOR the module was built with */
  uint32_t abi_minor;
  uint32_t kind;       /* GEV_MODULE_PROTOCOL and/or GEV_MODULE_HANDLER */
  const char* name;    /* unique among loaded modules; what configs refer to */
  const char* version; /* free text, logged */
  /* Required, as destroy is (a descriptor without them is refused). Makes the module's
   * state from its config; leaving *out_state NULL is fine for stateless modules. A
   * status other than GEV_OK refuses the module (log why first). */
  gev_status (*create)(const gev_host_api* host, const gev_config* config, void** out_state);
  /* Once nothing uses this instance any more (at stop, or after a reload replaced it
   * and its last connection, timer and task are gone), after loop_fini on every loop.
   * Join the threads you started: the library is unloaded next. */
  void (*destroy)(void* state);
  /* Optional. Per-loop state, so modules need no locks or thread-locals: init runs on
   * each loop's thread after create, fini before destroy. Cancel in fini the timers
   * init started (the host cancels any still pending after it). */
  gev_status (*loop_init)(void* state, gev_loop* loop);
  void (*loop_fini)(void* state, gev_loop* loop);
  const gev_protocol_vtable* protocol; /* with GEV_MODULE_PROTOCOL */
  const gev_handler_vtable* handler;   /* with GEV_MODULE_HANDLER */
  /* ---- ABI 1.5 (read only when size covers it) ---- */
  /* GEV_PROTOCOL_DATAGRAMS: the protocol serves UDP listeners. Its decode then sees
   * exactly one datagram (maybe empty) and must return one frame consuming all of it;
   * anything else drops that datagram (counted). Without the flag a UDP listener naming
   * the protocol is refused at start-up and by a reload. */
  uint32_t protocol_flags;
  uint32_t reserved;
} gev_module_descriptor;

typedef const gev_module_descriptor* (*gev_module_entry_fn)(const gev_host_api* host,
                                                            uint32_t host_abi_major,
                                                            uint32_t host_abi_minor);

#define GEV_MODULE_ENTRY_SYMBOL "gev_module_entry"

GEV_EXTERN_C_END

#endif /* GEV_SDK_MODULE_H */
