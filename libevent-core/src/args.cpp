// args: not written yet.
#include "tagbus/args.hpp"
