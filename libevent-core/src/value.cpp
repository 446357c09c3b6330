// value: not written yet.
#include "tagbus/value.hpp"
