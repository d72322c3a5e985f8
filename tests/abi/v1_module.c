/* v1_module: a plain C handler built only against the frozen v1 headers. It replies
 * "v1:" + the message through host->send, so the test sees the host table work too. */
#include <gev/sdk/gev_module.h>
#include <string.h>

static const gev_host_api* g_host;

static gev_status create(const gev_host_api* h, const gev_config* c, void** out) {
  (void)c;
  g_host = h;
  *out = 0;
  return GEV_OK;
}
static void destroy(void* s) { (void)s; }
static gev_status on_message(void* s, gev_conn* c, const gev_frame* m, gev_frame* r) {
  (void)s;
  (void)r;
  gev_frame tag;
  memset(&tag, 0, sizeof tag);
  tag.size = sizeof tag;
  tag.data.ptr = (const uint8_t*)"v1:";
  tag.data.len = 3;
  g_host->send(c, &tag);
  g_host->send(c, m);
  return GEV_OK;
}
static const gev_handler_vtable handler = {sizeof(gev_handler_vtable), 0, 0, on_message, 0};
static const gev_module_descriptor descriptor = {
    sizeof(gev_module_descriptor), GEV_ABI_MAJOR, GEV_ABI_MINOR, GEV_MODULE_HANDLER, "v1_echo",
    "1.0.0", create, destroy, 0, 0, 0, &handler};

GEV_EXPORT const gev_module_descriptor* gev_module_entry(const gev_host_api* h, uint32_t major,
                                                         uint32_t minor) {
  (void)minor;
  if (major != GEV_ABI_MAJOR) return 0;
  (void)h;
  return &descriptor;
}
