// TAGBUS_API marks what libtagbus.so exports; everything else is hidden (-fvisibility=hidden).
#pragma once

#if defined(TAGBUS_BUILDING)
#define TAGBUS_API __attribute__((visibility("default")))
#else
#define TAGBUS_API
#endif
