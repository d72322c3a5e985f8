/* refuses_host: a module that needs a newer host minor than any host has, and says so by
 * returning NULL. */
#include <gev/sdk/gev_module.h>

GEV_EXPORT const gev_module_descriptor* gev_module_entry(const gev_host_api* h, uint32_t major,
                                                         uint32_t minor) {
  (void)major;
  if (minor < 1000) {
    const char msg[] = "needs host ABI minor 1000";
    gev_bytes b = {(const uint8_t*)msg, sizeof msg - 1};
    h->log(h->host, GEV_LOG_ERROR, "refuses_host", b);
    return 0;
  }
  return 0;
}
