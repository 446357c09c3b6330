// json: not written yet.
#include "tagbus/json.hpp"
