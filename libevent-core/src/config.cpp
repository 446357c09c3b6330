// config: not written yet.
#include "tagbus/config.hpp"
