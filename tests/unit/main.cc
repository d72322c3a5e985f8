// The doctest runner for gev-unit-tests; the test cases live in the *_test.cc files.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
