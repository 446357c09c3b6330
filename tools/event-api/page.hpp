// The live page event-api serves at GET / (page.html, embedded at build time by embed.py).
#pragma once

#include <string_view>

namespace event_api {
std::string_view page_html();
}
