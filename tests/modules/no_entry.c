/* no_entry: a shared object that exports no gev_module_entry. */
#include <gev/sdk/gev_abi.h>

GEV_EXPORT int not_a_gev_module(void) { return 42; }
