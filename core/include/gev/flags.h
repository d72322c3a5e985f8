// Command-line flags for embedding programs, in the spirit of gev's examples:
// --port P, --address HOST:PORT, --loops N, --reuseport, --idle-timeout MS,
// --max-connections N, --log-level LEVEL, --tls-cert FILE, --tls-key FILE,
// --tls-client-ca FILE (Options::tls: link gev::tls), --help. The default address is
// 127.0.0.1.
#pragma once

#include "gev/options.h"

namespace gev {

// Applies the flags to `options`. On --help prints usage to stdout and exits with
// status 0 (as gflags and getopt-based tools do); on a bad flag prints the reason and
// usage to stderr and returns false (exit 2 is the convention).
bool parse_flags(int argc, char** argv, Options& options);

}  // namespace gev
