// Command-line flags for embedding programs, in the spirit of gev's examples:
// --port P, --address HOST:PORT, --loops N, --reuseport, --idle-timeout MS,
// --max-connections N, --log-level LEVEL, --help. The default address is 127.0.0.1.
#pragma once

#include "gev/options.h"

namespace gev {

// Applies the flags to `options`. On --help prints usage and returns false; on a bad
// flag prints the reason and usage to stderr and returns false.
bool parse_flags(int argc, char** argv, Options& options);

}  // namespace gev
