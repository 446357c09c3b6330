// Tool-side shared pieces: CLI11 set-up with the project's usage contract, the option groups every
// tool shares (connection, Salt words), error printing and the exit-code mapping. The library never
// prints or exits; this layer does, for the tools only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "salt/args.hpp"
#include "host/config.hpp"
#include "host/paths.hpp"
#include "tagbus/destination.hpp"
#include "tagbus/result.hpp"

// CLI11's App, declared only: CLI/CLI.hpp costs seconds to compile in every file, so it is
// included only where options are declared (the tools' main.cpp and this layer's .cpp files).
namespace CLI {
class App;
}

namespace tagbus::cli {

/// The project's one exit-code table (man/fragments/exit-status.scd documents it). Values follow
/// BSD sysexits where one fits; never 77 (meson's SKIP) and never 126 or above.
enum class exit_status : int {
    ok = 0,            ///< done
    no = 1,            ///< the answer is no: state-event's count was not reached before --timeout
    usage = 64,        ///< bad command line (CLI11's own errors map here too)
    data = 65,         ///< bad input data: YAML/JSON, a tag, an event that cannot be fired
    unavailable = 69,  ///< the bus (socket) is not there or refused us
    software = 70,     ///< internal error: a bug
    io = 74,           ///< reading or writing a file or stream failed
    tempfail = 75,     ///< temporary failure: try again (e.g. a send timed out)
    config = 78,       ///< a configuration file or setting is wrong
};

/// The library's error kinds mapped onto the table: the one place that does it.
int exit_code(errc kind);

/// A CLI11 app with the house conventions: --help on stdout within 80 columns, --version,
/// positional Salt words collected verbatim.
void setup_app(CLI::App& app);

/// Salt words (key=value and positionals) are taken verbatim: CLI11 would split a word like
/// `[1, 2]` into a list, so words are collected as CLI11's "extras" instead, and shown in --help
/// as "[WORD...]" with `description`.
void add_words(CLI::App& app, const std::string& description);

/// Parses argv. Returns an exit code when the tool must stop now (help/version printed → 0, a
/// usage error printed as "<tool>: <problem>" + "Try '<tool> --help'." → 64), else nothing.
/// With add_words, `words` receives them; an unknown option before "--" is still a usage error.
std::optional<int> parse(CLI::App& app, int argc, char** argv, std::vector<std::string>* words = nullptr);

/// A daemon holds one descriptor per connection: the soft RLIMIT_NOFILE (often 1024) is raised
/// to the hard limit, as redis and nginx do. Returns the warning to log when fewer than `wanted`
/// descriptors are possible ("...: fewer than <what> can connect"); a hard limit too low is worth
/// one line, not a refusal to start.
std::optional<std::string> raise_open_files_limit(unsigned long wanted, std::string_view what);

/// Prints "<tool>: <message>" on stderr and returns the exit code for its status. A failure to
/// reach a bus remembered by use_target gets how to fix it appended (start the bus, the minion
/// ids whose sockets are there, the modes behind a permission denied).
int fail(std::string_view tool, const failure& f);
/// A usage error: the message, then "Try '<tool> --help'.", returns 64.
int usage(std::string_view tool, std::string_view message);
/// "<tool>: <message>" on stderr.
void say(std::string_view tool, std::string_view message);

/// Where the bus is: the options every bus-facing tool takes.
struct connection_options {
    std::optional<std::string> node;
    std::optional<std::string> sock_dir;
    std::optional<std::string> config_dir;
    std::optional<std::string> id;
    std::optional<std::string> ipc_mode;
    std::optional<std::string> framing;
    bool verbose = false;
};

/// Adds --node, --sock-dir, -c/--config-dir, --id, --ipc-mode (and --framing when `with_framing`)
/// and -v/--verbose.
void add_connection_options(CLI::App& app, connection_options& o, bool with_framing);

/// The destination for `default_node` unless --node/node= says otherwise (the library's one
/// precedence rule); with --verbose prints which sock_dir was used and why. Remembers it so that
/// fail() can tell how to fix a failed connection to it.
result<destination> resolve_destination(std::string_view tool, const connection_options& o, node_kind default_node);
/// The library's options for the same, before anything is resolved or checked.
result<destination_options> destination_options_for(const connection_options& o, node_kind default_node);

/// resolve_destination's configuration and endpoints, for the tools that still use them.
result<std::pair<bus_config, bus_endpoints>> connect_target(std::string_view tool, const connection_options& o,
                                                             node_kind default_node);

/// Checks that the target's sock_dir is safe to use (check_sock_dir; the message then says how to
/// fix it) and remembers the target for this process, so that fail() can tell how to fix a failed
/// connection to it. connect_target calls it; a tool that resolves its configuration itself must.
result<void> use_target(const bus_config& cfg, const bus_endpoints& eps);

/// Runs a tool's main: any exception that escapes it is a bug, printed as
/// "<tool>: internal error: <what>" with exit 70, rather than an abort.
int guarded_main(std::string_view tool, int (*body)(int, char**), int argc, char** argv);

/// One parameter of the Salt function a tool stands for, in signature order, with the conventional
/// flag that sets the same thing (if any) and whether that flag was given.
struct word_param {
    std::string name;
    bool flag_given = false;
    std::string flag = {};
};

/// Salt's words bound to a function's parameters as Python binds them (salt/args.hpp).
class bound_words {
public:
    /// The value bound to `name` (nullopt: the word was not given).
    const std::optional<value>& operator[](std::string_view name) const;
    /// The text of that word as typed (empty when not given).
    std::string text(std::string_view name) const;
    /// Keywords no parameter takes, in order (Salt's **kwargs), when the tool takes them.
    std::vector<std::pair<std::string, value>> extra;

private:
    friend result<bound_words> bind_words(const salt_args&, const std::vector<word_param>&, bool);
    const salt_args* args_ = nullptr;
    std::vector<word_param> params_;
    std::vector<std::optional<value>> values_;
};

/// The verbose line for an event body sent to `address`: "sent to X: TAG<TAB>JSON", the event as
/// state-event prints it.
void say_sent(std::string_view tool, const std::string& address, std::string_view body);

/// The one word/flag binder of the tools: binds `args` to `params` and refuses a setting given
/// both as a word and as its flag ("count given twice: as count= and as --count"); with
/// `kwargs`, extra keywords are kept in `extra`, else they are an error. `args` must outlive the
/// result.
result<bound_words> bind_words(const salt_args& args, const std::vector<word_param>& params, bool kwargs = false);

/// A value given as a Salt word that must be a string (sock_dir=, node=): its text, or a usage
/// error "sock_dir must be a string, not an integer".
result<std::string> word_string(std::string_view key, const value& v);

using tagbus::kind_name;

/// Parses a duration in seconds ("1.5", "2"), as --timeout takes it; usage error otherwise.
result<double> parse_seconds(std::string_view flag, std::string_view text);

}  // namespace tagbus::cli
