// Which daemon's bus: a master's or a minion's (SALT-WIRE §1).
#pragma once

namespace tagbus::inline v0 {

enum class node_kind { master, minion };

}  // namespace tagbus
