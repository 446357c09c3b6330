// yaml: not written yet.
#include "tagbus/yaml.hpp"
