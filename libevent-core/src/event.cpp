// event: not written yet.
#include "tagbus/event.hpp"
