// loop: not written yet.
#include "tagbus/loop.hpp"
