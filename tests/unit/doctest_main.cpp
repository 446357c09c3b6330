// doctest's implementation and main(), compiled once for every unit test program: each test file
// only includes doctest.h. Compiled into each of them, it took about 5 s (8 s under ASan) per file.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
