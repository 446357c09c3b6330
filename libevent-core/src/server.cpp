// server: not written yet.
#include "tagbus/server.hpp"
