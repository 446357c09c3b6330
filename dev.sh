#!/usr/bin/env bash
# tagbus developer entry point (README's two commands):
#   ./dev.sh run    install what is missing, build, start a master bus and a minion bus that
#                   forwards fire_master events to it, watch the master bus (pretty)
#   ./dev.sh test   install what is missing, then: build the Debian packages (dpkg-buildpackage:
#                   the release build, in which every test runs), check them with lintian,
#                   install, use and purge them (as root); the same suite in an ASan+UBSan
#                   build; each libFuzzer target for a bounded time
# Environment:
#   TAGBUS_FUZZ_SECONDS  seconds each fuzz target runs in `test` (default 15; 0 skips fuzzing)
#   DEV_SH_BIN           `run` only: use the tools in this folder, install and build nothing
set -euo pipefail
cd "$(dirname "$0")"

packages=(g++ meson ninja-build pkg-config cmake libuv1-dev nlohmann-json3-dev libyaml-cpp-dev
          libcli11-dev doctest-dev libpcre2-dev libssl-dev python3 python3-msgpack python3-yaml
          python3-dev pybind11-dev libh2o-dev libwslay-dev libnats-dev bash-completion zsh man-db scdoc)
# `test` also builds the fuzz targets with clang's libFuzzer, runs the Python module's tests with
# pytest, event-api's with curl and openssl (a certificate made per test), and its page in
# chromium (headless); event-bridge's against nats-server clusters it starts.
# The Debian packages are built with debhelper and checked with lintian; the smoke test verifies
# the systemd units (systemd-analyze) and installs them (the tagbus package needs adduser).
test_packages=(clang libclang-rt-14-dev python3-pytest python3-cryptography curl openssl chromium nats-server
               build-essential dpkg-dev debhelper dh-python lintian systemd adduser)

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "dev.sh: installing ${missing[*]}" >&2
    local sudo=""
    ((EUID == 0)) || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Builds in folder $1 (configured with the remaining arguments the first time), showing
# meson's progress: a first build takes minutes.
build_in() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        echo "dev.sh: configuring $dir" >&2
        meson setup "$dir" "$@" >/dev/null
    fi
    echo "dev.sh: building $dir (the first build takes a few minutes)" >&2
    meson compile -C "$dir"
}

# ---- run ------------------------------------------------------------------------------------

started_pids=()  # the watch and the buses, stopped in this order
run_tmp=""
stop_buses() {
    local p
    for p in "${started_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${started_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    started_pids=()
}

# Starts `event-busd ARGS...` in the background, waits until it is ready (its pid file appears)
# or has exited (a bus already answers there: exit 69, and that bus is used), and sets bus_dir
# to the sock_dir it uses.
bus_dir=""
start_bus() {
    local name=$1 bin=$2 tmp=$3
    shift 3
    "$bin/event-busd" -v --pidfile "$tmp/$name.pid" "$@" >/dev/null 2>"$tmp/$name.log" &
    local pid=$!
    started_pids+=("$pid")
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$tmp/$name.pid" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    # What it said: all of it when it stopped at once, else the line naming its sockets.
    if kill -0 "$pid" 2>/dev/null; then tail -n 1 "$tmp/$name.log"; else cat "$tmp/$name.log"; fi | sed 's/^/  /' >&2
    bus_dir=$(sed -n 's/.*sock_dir \(\/[^ ]*\) (from .*/\1/p' "$tmp/$name.log" | head -n 1)
}

run() {
    local bin=${DEV_SH_BIN:-build/tools}
    # Global, not local: the EXIT trap runs after run() has returned.
    run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tagbus-dev.XXXXXX")
    local tmp=$run_tmp
    # Whatever ends this script (the watch ending, Ctrl-C, a closed terminal, an error) stops the
    # buses it started. A bus that was already running is left alone. Ctrl-C is how one stops
    # the watch: exit 0.
    trap 'stop_buses; rm -rf "$run_tmp"' EXIT
    trap 'exit 0' INT
    trap 'exit 129' HUP
    trap 'exit 143' TERM

    echo "dev.sh: starting the master bus" >&2
    start_bus master "$bin" "$tmp" --node master
    local master_dir=$bus_dir
    if [ -z "$master_dir" ]; then
        echo "dev.sh: cannot start the master bus (its messages are above)" >&2
        return 69
    fi
    echo "dev.sh: starting the minion bus, forwarding fire_master events to $master_dir" >&2
    start_bus minion "$bin" "$tmp" --node minion --master-sock-dir "$master_dir"
    cat >&2 <<MSG
dev.sh: watching the master bus; Ctrl-C stops the watch and both buses. From another shell:
  $PWD/$bin/event-fire '{"hello": "world"}' myco/test              # the minion bus (Salt's default)
  $PWD/$bin/event-fire node=master '{"hello": "world"}' myco/test  # straight to the master bus
  $PWD/$bin/event-send myco/deploy/done '{ok: True}'              # minion bus, forwarded to the master
MSG
    # In the background and waited for, so that a signal to this script (the terminal closing)
    # is acted on at once rather than when the watch happens to end.
    "$bin/state-event" pretty=True --node master --wait-for-bus &
    local watch=$!
    started_pids=("$watch" "${started_pids[@]}")
    local rc=0
    wait "$watch" || rc=$?
    return "$rc"
}

# ---- test -----------------------------------------------------------------------------------

fuzz_targets=(frame event json yaml config lines subject)
declare -A fuzz_result=()

suite() {  # folder, then extra meson test arguments
    local dir=$1
    shift
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "$@"
}

# Runs one fuzz target for $TAGBUS_FUZZ_SECONDS on one core; a finding fails it and its input
# is kept (the path is printed).
fuzz_one() {
    local name=$1 secs=$2 dir=build-fuzz
    local corpus=$dir/fuzz-corpus/$name findings=$dir/fuzz-findings/$name log=$dir/fuzz-logs/$name.log
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    local rc=0
    "$dir/tests/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$PWD/$findings/" "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if ((rc == 0)); then
        echo "fuzz/$name: ${runs:-?} runs in ${secs} s, no finding"
    else
        echo "fuzz/$name: FAILED (exit $rc) after ${runs:-?} runs; log $PWD/$log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant failed|.*runtime error)' "$log" | head -n 5 | sed 's/^/  /'
        sed -n 's/.*Test unit written to \(.*\)/  input kept: \1/p' "$log"
        # The input itself, so that a finding on a machine whose files are gone can be replayed.
        grep -m 1 '^Base64: ' "$log" | cut -c 1-2000 | sed 's/^/  input /'
        return 1
    fi
}

fuzz_all() {
    local secs=${TAGBUS_FUZZ_SECONDS:-15}
    local t results=build-fuzz/fuzz-logs/results
    mkdir -p "$(dirname "$results")"
    : >"$results"
    # Two at a time: the machine has two cores and nothing else runs by now.
    local running=0
    for t in "${fuzz_targets[@]}"; do
        if ((running == 2)); then
            wait -n || true
            running=$((running - 1))
        fi
        (if fuzz_one "$t" "$secs"; then echo "$t ok" >>"$results"; else echo "$t fail" >>"$results"; fi) &
        running=$((running + 1))
    done
    wait || true
    local line
    while read -r t line; do fuzz_result[$t]=$line; done <"$results"
}

count_results() {  # meson test logs, then fuzz results; prints "tests: N passed, M failed"
    python3 - "$@" <<'PY'
import json, os, sys
ok = fail = 0
args = sys.argv[1:]
sep = args.index("--")
for d in args[:sep]:
    path = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for line in f:
            r = json.loads(line)["result"]
            if r == "OK": ok += 1
            elif r in ("SKIP", "EXPECTEDFAIL"): pass
            else: fail += 1
for r in args[sep + 1:]:
    if r == "ok": ok += 1
    else: fail += 1
print(f"tests: {ok} passed, {fail} failed")
PY
}

phase_start=0
phase() {
    local now=$SECONDS
    ((phase_start == 0)) || echo "dev.sh: $phase_name took $((now - phase_start)) s" >&2
    phase_name=$1
    phase_start=$now
    [ -z "$1" ] || echo "dev.sh: == $1" >&2
}

# Builds the Debian packages with dpkg-buildpackage into build-deb/: the release build, with
# Debian's compiler flags, in obj-<triplet>; every test runs in it (dh_auto_test), so this is the
# release test suite too. dpkg-buildpackage writes into the parent folder; the files listed in
# the .changes are moved to build-deb/.
deb_dir=build-deb
package_build() {
    rm -rf "$deb_dir"
    mkdir -p "$deb_dir"
    local rc=0
    # Within CI's time on two cores: no debug information (-g costs a third of the compile time
    # here; the -dbgsym packages would be empty, so none are made) and ninja's usual four jobs.
    # `dpkg-buildpackage -us -uc -b` alone builds the packages as Debian does, with -g.
    DEB_CFLAGS_APPEND=-g0 DEB_CXXFLAGS_APPEND=-g0 \
        DEB_BUILD_OPTIONS="noautodbgsym parallel=4 ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b || rc=$?
    local changes
    changes=$(ls ../tagbus_*_"$(dpkg-architecture -qDEB_HOST_ARCH)".changes 2>/dev/null | head -n 1)
    if [ -n "$changes" ]; then
        local f
        for f in $(awk '/^Files:/ { on = 1; next } /^[^ ]/ { on = 0 } on { print $5 }' "$changes"); do
            mv "../$f" "$deb_dir/"
        done
        mv "$changes" "$deb_dir/"
    fi
    return $rc
}

test_all() {
    local rc=0 secs=${TAGBUS_FUZZ_SECONDS:-15}
    local results=()
    phase "Debian packages: release build and test suite (dpkg-buildpackage)"
    local obj
    obj=obj-$(dpkg-architecture -qDEB_HOST_GNU_TYPE)
    local dirs=("$obj")
    if package_build; then
        phase "lintian"
        if lintian --fail-on error "$deb_dir"/*.changes; then
            results+=(ok)
        else
            echo "dev.sh: lintian reported errors" >&2
            results+=(fail)
            rc=1
        fi
        phase "package smoke test (dpkg -i, use, purge)"
        if ((EUID == 0)); then
            if tests/package/smoke.sh "$deb_dir"; then results+=(ok); else results+=(fail); rc=1; fi
        else
            echo "dev.sh: the package smoke test installs packages: run as root for it (skipped)" >&2
        fi
    else
        echo "dev.sh: dpkg-buildpackage failed (a test or a packaging step; see above)" >&2
        results+=(fail)
        rc=1
    fi

    # The same suite with AddressSanitizer and UndefinedBehaviorSanitizer. Static linking and
    # the static C++ runtime do not mix with the sanitizers' runtimes: everything is shared here.
    # -Og, not -O2: gcc's UBSan instrumentation at -O2 makes the build five times slower (past
    # CI's time on two cores), and -Og keeps the suite's speed close. -g1, not -g: line tables
    # give the reports their file:line, and the build takes 40% less time than with full -g.
    export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    phase "ASan+UBSan build"
    build_in build-asan -Ddebug=false -Dcpp_args=-g1 -Doptimization=g -Db_sanitize=address,undefined -Db_lundef=false \
        -Dprefer_static=false -Dpython=enabled -Devent_api=enabled
    phase "ASan+UBSan test suite"
    suite build-asan --timeout-multiplier 3 || rc=1
    dirs+=(build-asan)

    if ((secs > 0)); then
        phase "fuzz build (clang, libFuzzer)"
        if [ ! -f build-fuzz/build.ninja ]; then
            CXX=clang++ meson setup build-fuzz -Doptimization=2 -Ddebug=false -Dcpp_args=-g1 -Db_sanitize=address,undefined \
                -Db_lundef=false -Dprefer_static=false -Dfuzzing=true >/dev/null
        fi
        local t targets=()
        for t in "${fuzz_targets[@]}"; do targets+=("tests/fuzz/fuzz_$t"); done
        meson compile -C build-fuzz "${targets[@]}"
        phase "fuzzing, ${secs} s a target"
        fuzz_all
        for t in "${fuzz_targets[@]}"; do
            results+=("${fuzz_result[$t]:-fail}")
            [ "${fuzz_result[$t]:-fail}" = ok ] || rc=1
        done
    fi
    phase ""
    count_results "${dirs[@]}" -- "${results[@]}"
    return $rc
}

case "${1:-}" in
    run)
        if [ -z "${DEV_SH_BIN:-}" ]; then
            install_missing "${packages[@]}"
            build_in build -Dpython=enabled -Devent_api=enabled
        fi
        run
        ;;
    test) install_missing "${packages[@]}" "${test_packages[@]}"; test_all ;;
    *) echo "usage: ./dev.sh run|test" >&2; exit 64 ;;
esac
