/* probe: one exported function whose parameters reach every type of the module ABI, so
 * abidiff compares them all between the frozen v1 headers and the current ones. */
#include <gev/sdk/gev_module.h>

GEV_EXPORT void gev_abi_probe(gev_host_api* host, gev_module_descriptor* module,
                              gev_protocol_vtable* protocol, gev_handler_vtable* handler,
                              gev_decode_result* result, gev_frame* frame, gev_config* config,
                              gev_config_entry* entry, gev_bytes* bytes) {
  (void)host;
  (void)module;
  (void)protocol;
  (void)handler;
  (void)result;
  (void)frame;
  (void)config;
  (void)entry;
  (void)bytes;
}
