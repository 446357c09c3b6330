// client: not written yet.
#include "tagbus/client.hpp"
