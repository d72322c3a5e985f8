// The hook through which <gev/tls.h> hands Options::tls to the gev::tls library (a file
// of its own, so that gev::tls can be linked, or fuzzed, with no more of the core).
#include "gev/tls_settings.h"

#include <atomic>

namespace gev::detail {

namespace {
std::atomic<TlsMaker> maker{nullptr};
}  // namespace

void set_tls_maker(TlsMaker m) {
  maker.store(m);
}
TlsMaker tls_maker() {
  return maker.load();
}

}  // namespace gev::detail
