// output: not written yet.
#include "tagbus/output.hpp"
