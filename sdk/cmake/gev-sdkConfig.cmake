# gev-sdk CMake package: the module ABI headers and gev_add_module().
#   find_package(gev-sdk REQUIRED)
#   gev_add_module(my_protocol my_protocol.cc)   # builds my_protocol.so
# Works for C++ (C++20 for the gev/sdk/cpp helpers) and for plain C projects.
get_filename_component(_gev_sdk_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET gev::sdk)
  add_library(gev::sdk INTERFACE IMPORTED)
  set_target_properties(gev::sdk PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_gev_sdk_prefix}/include")
  # The C++ helpers (gev/sdk/cpp/*.h) need C++20. Asked of a project that has not enabled
  # CXX (a module in plain C: the gev/sdk/*.h headers are C), the feature would stop the
  # generate step ("No known features for CXX compiler"), so it is only set with CXX.
  get_property(_gev_sdk_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(CXX IN_LIST _gev_sdk_languages)
    set_property(TARGET gev::sdk PROPERTY INTERFACE_COMPILE_FEATURES cxx_std_20)
  endif()
  unset(_gev_sdk_languages)
endif()

# Builds one module .so (no "lib" prefix) with the flags every module needs: hidden
# symbols but the entry point, no STB_GNU_UNIQUE (so the host can really unload it), and
# no undefined symbols (the host exports none; everything comes through its table).
# The .so goes to GEV_MODULE_OUTPUT_DIR if set, else the current binary directory.
function(gev_add_module name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE gev::sdk)
  target_compile_options(${name} PRIVATE -fvisibility=hidden
    $<$<COMPILE_LANGUAGE:CXX>:-fvisibility-inlines-hidden>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-fno-gnu-unique>)
  target_link_options(${name} PRIVATE -Wl,-z,defs)
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME "${name}")
  if(GEV_MODULE_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${GEV_MODULE_OUTPUT_DIR}")
  endif()
endfunction()
