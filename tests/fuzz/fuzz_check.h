#pragma once

#include <cstdio>
#include <cstdlib>

// A property a fuzz target asserts. Unlike assert() it stays on in every build
// type; abort() makes libFuzzer keep the input as a crash.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)
