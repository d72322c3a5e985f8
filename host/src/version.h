// The host's version and the module ABI it speaks.
#pragma once

#include <gev/sdk/gev_abi.h>

namespace gev::host {
inline constexpr const char* kGevVersion = "0.1.0";
}

#define GEV_ABI_MAJOR_FOR_HOST GEV_ABI_MAJOR
#define GEV_ABI_MINOR_FOR_HOST GEV_ABI_MINOR
