// frame: not written yet.
#include "tagbus/frame.hpp"
