// libtagbus: Salt's event bus from C++ (libtagbus(3)). Everything public, in one include.
#pragma once

#include "tagbus/async_listener.hpp"
#include "tagbus/bus.hpp"
#include "tagbus/destination.hpp"
#include "tagbus/error.hpp"
#include "tagbus/event.hpp"
#include "tagbus/fire.hpp"
#include "tagbus/listener.hpp"
#include "tagbus/log.hpp"
#include "tagbus/send.hpp"
#include "tagbus/match.hpp"
#include "tagbus/node.hpp"
#include "tagbus/replay.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"
