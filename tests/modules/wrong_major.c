/* wrong_major: a module built for ABI major 99. The host must refuse it, naming both
 * versions. */
#include <gev/sdk/gev_module.h>

static gev_status create(const gev_host_api* h, const gev_config* c, void** out) {
  (void)h;
  (void)c;
  *out = 0;
  return GEV_OK;
}
static void destroy(void* s) { (void)s; }
static gev_status on_message(void* s, gev_conn* c, const gev_frame* m, gev_frame* r) {
  (void)s;
  (void)c;
  r->data = m->data;
  return GEV_OK;
}
static const gev_handler_vtable handler = {.size = sizeof(gev_handler_vtable), .on_message = on_message};
static const gev_module_descriptor descriptor = {
    sizeof(gev_module_descriptor), 99, 0, GEV_MODULE_HANDLER, "wrong_major", "1", create, destroy,
    0, 0, 0, &handler, 0, 0};

GEV_EXPORT const gev_module_descriptor* gev_module_entry(const gev_host_api* h, uint32_t major,
                                                         uint32_t minor) {
  (void)h;
  (void)major;
  (void)minor;
  return &descriptor;
}
