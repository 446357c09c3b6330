// paths: not written yet.
#include "tagbus/paths.hpp"
