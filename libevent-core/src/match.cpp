// match: not written yet.
#include "tagbus/match.hpp"
