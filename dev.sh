#!/usr/bin/env bash
# tagbus developer entry point (README's two commands):
#   ./dev.sh run    install what is missing, build, start the embedded bus, watch it (pretty)
#   ./dev.sh test   install what is missing, build, run every test
set -euo pipefail
cd "$(dirname "$0")"

packages=(g++ meson ninja-build pkg-config cmake libuv1-dev nlohmann-json3-dev libyaml-cpp-dev
          libcli11-dev doctest-dev libpcre2-dev libssl-dev python3 python3-msgpack python3-yaml
          bash-completion zsh man-db)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "dev.sh: installing ${missing[*]}" >&2
    local sudo=""
    ((EUID == 0)) || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
    [ -f build/build.ninja ] || meson setup build >/dev/null
    meson compile -C build >/dev/null || meson compile -C build
}

run() {
    local bin=build/tools
    # The embedded bus in the default sock_dir. When a bus already answers there, event-busd
    # refuses at once (exit 69) and the watch below uses that bus instead.
    "$bin/event-busd" --node master &
    local busd_pid=$!
    trap 'kill "$busd_pid" 2>/dev/null; wait 2>/dev/null' EXIT
    echo "dev.sh: fire an event from another shell: $PWD/$bin/event-fire node=master '{\"hello\": \"world\"}' myco/test" >&2
    "$bin/state-event" pretty=True --wait-for-bus
}

test_all() {
    set +e
    meson test -C build --print-errorlogs --num-processes 2
    local rc=$?
    set -e
    python3 - <<'PY'
import json, sys
ok = fail = skip = 0
with open("build/meson-logs/testlog.json") as f:
    for line in f:
        r = json.loads(line)["result"]
        if r == "OK": ok += 1
        elif r == "SKIP": skip += 1
        else: fail += 1
print(f"tests: {ok} passed, {fail} failed")
PY
    return $rc
}

case "${1:-}" in
    run) install_missing; build; run ;;
    test) install_missing; build; test_all ;;
    *) echo "usage: ./dev.sh run|test" >&2; exit 64 ;;
esac
