// layout: prints every member of the v1 module ABI as "struct.member offset size type".
// Built once against the frozen v1 headers and once against the current ones; the two
// outputs must be identical (abi_check.sh diffs them). A removed or renamed member fails
// to compile against the current headers; a moved, resized or retyped one (a changed
// function-pointer signature included: the type is printed mangled) changes a line.
// New members at the end of a struct are not listed here, so they are allowed.
#include <gev/sdk/gev_module.h>

#include <cstddef>
#include <cstdio>
#include <typeinfo>

#define M(S, F)                                                                          \
  std::printf("%s.%s %zu %zu %s\n", #S, #F, offsetof(S, F), sizeof(S::F), \
              typeid(decltype(S::F)).name())

int main() {
  std::printf("abi %u.x\n", GEV_ABI_MAJOR);
  M(gev_bytes, ptr); M(gev_bytes, len);
  M(gev_frame, size); M(gev_frame, type); M(gev_frame, data); M(gev_frame, meta);
  M(gev_host_api, size); M(gev_host_api, abi_major); M(gev_host_api, abi_minor);
  M(gev_host_api, reserved); M(gev_host_api, host); M(gev_host_api, log);
  M(gev_host_api, conn_id); M(gev_host_api, conn_loop); M(gev_host_api, conn_peer_address);
  M(gev_host_api, conn_local_address); M(gev_host_api, conn_get_context);
  M(gev_host_api, conn_set_context); M(gev_host_api, conn_input_size); M(gev_host_api, send);
  M(gev_host_api, conn_output_size); M(gev_host_api, writer_append);
  M(gev_host_api, writer_reserve); M(gev_host_api, conn_pause_reading);
  M(gev_host_api, conn_resume_reading); M(gev_host_api, conn_close);
  M(gev_host_api, conn_shutdown_write); M(gev_host_api, timer_start);
  M(gev_host_api, timer_cancel); M(gev_host_api, loop_count); M(gev_host_api, loop_at);
  M(gev_host_api, loop_index); M(gev_host_api, post); M(gev_host_api, for_each_conn);
  M(gev_host_api, metric_define); M(gev_host_api, metric_add);
  M(gev_decode_result, size); M(gev_decode_result, status); M(gev_decode_result, consumed);
  M(gev_decode_result, frame); M(gev_decode_result, error);
  M(gev_protocol_vtable, size); M(gev_protocol_vtable, reserved);
  M(gev_protocol_vtable, conn_open); M(gev_protocol_vtable, conn_close);
  M(gev_protocol_vtable, decode); M(gev_protocol_vtable, encode);
  M(gev_handler_vtable, size); M(gev_handler_vtable, reserved);
  M(gev_handler_vtable, on_connect); M(gev_handler_vtable, on_message);
  M(gev_handler_vtable, on_close);
  M(gev_config_entry, key); M(gev_config_entry, value);
  M(gev_config, size); M(gev_config, count); M(gev_config, entries);
  M(gev_module_descriptor, size); M(gev_module_descriptor, abi_major);
  M(gev_module_descriptor, abi_minor); M(gev_module_descriptor, kind);
  M(gev_module_descriptor, name); M(gev_module_descriptor, version);
  M(gev_module_descriptor, create); M(gev_module_descriptor, destroy);
  M(gev_module_descriptor, loop_init); M(gev_module_descriptor, loop_fini);
  M(gev_module_descriptor, protocol); M(gev_module_descriptor, handler);
  std::printf("status %d %d %d %d %d %d\n", GEV_OK, GEV_ERR_INVALID, GEV_ERR_CLOSED,
              GEV_ERR_NOMEM, GEV_ERR_UNSUPPORTED, GEV_ERR_MODULE);
  std::printf("decode %d %d %d kind %u %u entry %s\n", GEV_DECODE_NEED_MORE, GEV_DECODE_FRAME,
              GEV_DECODE_ERROR, GEV_MODULE_PROTOCOL, GEV_MODULE_HANDLER, GEV_MODULE_ENTRY_SYMBOL);
  return 0;
}
