// event.send from a program: the data map Salt's event.send builds, sent to the master by the
// first route that is there, as salt-call decides it (SALT-WIRE §8).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tagbus/destination.hpp"
#include "tagbus/export.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// A progress line for a verbose mode, or a warning the caller should show.
enum class send_note { step, warning };

/// event.send(tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False,
/// with_env_opts=False, **kwargs), each argument with Salt's meaning; nil is "not given".
struct send_options {
    value data;     ///< merged over everything else; nil or a map (errc::data otherwise)
    value preload;  ///< merged into the master's load (the direct route only); nil or a map
    /// true: all; a list of names: only those (Salt's `with_env=[HOME]`); false or nil: none.
    value with_env, with_grains;
    value with_pillar;    ///< true is errc::unavailable: pillar needs a Salt minion and its master
    value with_env_opts;  ///< true: the minion config's saltenv and pillarenv (null when unset)
    std::vector<std::pair<std::string, value>> kwargs;  ///< more keys, in order (Salt's **kwargs)
    bool pub_keys = true;  ///< salt-call's __pub_fun/__pub_pid/__pub_jid/__pub_tgt keys
    bool local = false;    ///< masterless, as salt-call --local: fire on the minion's own bus
    /// Bounds each connect and the wait until the bus has read the event (Salt's 1000 ms).
    std::chrono::milliseconds timeout{1000};
    /// The master bus of this host, for the direct route: asked for only when that route is
    /// taken. Default: the master of the minion's config folder (destination::resolve).
    std::function<result<destination>()> master;
    /// Called with each step taken ("route: minion bus /x (fire_master)") and with each warning
    /// (an event over max_event_size trimmed). May be empty.
    std::function<void(send_note, std::string_view)> on_note;
};

enum class send_route {
    local_bus,    ///< masterless: event.fire on the minion's bus
    minion_bus,   ///< a `fire_master` request, which the minion daemon forwards
    master_bus,   ///< the events the master would fire for salt-call's request, on its bus here
};

struct send_result {
    send_route route;
    std::string address;              ///< the pull socket written to
    std::vector<std::string> bodies;  ///< each event sent: tag, blank line, msgpack data
};

/// Builds event.send's data map (send_data) and sends it by the first route that is there:
/// (1) masterless (`local`, `file_client: local` or `master_type: disable`, unless
/// `use_master_when_local`): the minion's own bus; else (2) the minion's bus as a `fire_master`
/// request (not with a preload, which only the direct route honours); else (3) this host's master
/// bus, with what salt-call's request makes the master fire. Success once the bus has read it.
/// `minion` must be a minion's destination (errc::invalid). Errors: send_data's; errc::unavailable
/// "no route to the master: minion bus: ...; master bus: ..." naming each socket tried.
TAGBUS_API result<send_result> send(const destination& minion, std::string_view tag, const send_options& options = {});

/// The data map event.send would send (before the route wraps it): environ, grains, saltenv and
/// pillarenv, the keywords, the __pub_* keys, then `data` merged over them, in Salt's order.
TAGBUS_API result<map_t> send_data(const destination& minion, const send_options& options = {});

/// This minion's grains as event.send's with_grains sees them: the core grains, then the static
/// `grains` file in its config folder, then its config's `grains:`.
TAGBUS_API result<map_t> grains(const destination& minion);
/// The same from the options alone: only the configuration is read (its id, its `grains:`); the
/// sock_dir is neither checked nor used.
TAGBUS_API result<map_t> grains(const destination_options& minion);

}  // namespace tagbus
