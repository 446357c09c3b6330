#!/usr/bin/env bash
# The Debian packages as an operator gets them (issue 14): install the four .debs with dpkg -i,
# check the layout and the units, start the master bus as event-busd@master.service would (with
# systemctl where systemd is PID 1), then fire, watch, stream through event-api, use the Python
# module and build an example against libtagbus-dev, all from the installed files; purge the
# packages and check that nothing is left behind.
#
# usage: tests/package/smoke.sh DIR-WITH-THE-DEBS      (as root, on a machine without a bus in
#        /run/salt/master and without the packages installed)
set -euo pipefail
debs=${1:?usage: smoke.sh DIR-WITH-THE-DEBS}
((EUID == 0)) || { echo "smoke.sh: must run as root (it installs packages)" >&2; exit 77; }
packages=(tagbus libtagbus0 libtagbus-dev python3-tagbus)
work=$(mktemp -d /tmp/tagbus-smoke.XXXXXX)
pids=()
failures=0

say() { echo "smoke: $*"; }
fail() { echo "smoke: FAIL: $*" >&2; failures=$((failures + 1)); }
check() {  # description, command...
    local what=$1
    shift
    if "$@" >"$work/last.out" 2>&1; then say "ok: $what"; else fail "$what"; sed 's/^/  /' "$work/last.out" >&2; fi
}
# Returns once a line of file $1 matches the extended regex $2 (the tools' start and -v lines
# say when they are ready), or fails after DEADLINE seconds. tail -f follows the file through
# inotify and ends as soon as grep has its line: no polling, no sleep.
DEADLINE=20
wait_for_line() {
    timeout "$DEADLINE" tail -n +1 -f "$1" 2>/dev/null | grep -q -m 1 -E -- "$2"
    return "${PIPESTATUS[1]}"
}
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if systemd_pid1; then systemctl stop event-busd@master.service 2>/dev/null || true; fi
    dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
systemd_pid1() { [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }

for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        echo "smoke.sh: $p is installed already; remove it first (dpkg --purge $p)" >&2
        exit 1
    fi
done
if [ -e /run/salt/master ]; then
    echo "smoke.sh: /run/salt/master exists: a Salt master or another bus runs here; stop it first" >&2
    exit 1
fi

# ---- install --------------------------------------------------------------------------------
debfiles=()
for p in "${packages[@]}"; do
    f=$(ls "$debs"/${p}_*.deb 2>/dev/null | head -n 1)
    [ -n "$f" ] || { echo "smoke.sh: no ${p}_*.deb in $debs" >&2; exit 1; }
    debfiles+=("$f")
done
check "dpkg -i the four packages" dpkg -i "${debfiles[@]}"
dpkg -L "${packages[@]}" | sort -u >"$work/installed"

for t in state-event event-fire event-send event-busd event-api event-bridge; do
    check "$t in /usr/bin, --version" "/usr/bin/$t" --version
    check "$t's bash completion" test -f "/usr/share/bash-completion/completions/$t"
    check "$t's zsh completion" test -f "/usr/share/zsh/vendor-completions/_$t"
    check "man $t renders without warnings" bash -c "set -o pipefail; zcat \"\$(man -w $t)\" | groff -man -ww -z -Tutf8 2>&1 | (! grep .)"
done
for page in tagbus.7 libtagbus.3 tagbus-python.7; do
    check "man ${page%.*} is installed" man -w "${page##*.}" "${page%.*}"
done
check "the system user tagbus" getent passwd tagbus
check "event-api's tokens file is root's, 0600" bash -c '[ "$(stat -c %U:%a /etc/tagbus/event-api.tokens)" = root:600 ]'
for u in event-busd@.service event-busd@.socket event-api.service event-bridge@.service; do
    check "unit $u installed" test -f "/lib/systemd/system/$u"
done
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$work/bridge"
    cp /usr/share/doc/tagbus/examples/bridge-out.conf /etc/tagbus/bridge/smoke.conf
    # The instances an operator starts; a template itself cannot be verified.
    check "systemd-analyze verify the units" bash -c "set -o pipefail; systemd-analyze verify event-busd@master.service event-busd@master.socket event-busd@minion.service event-api.service event-bridge@smoke.service 2>&1 | (! grep .)"
    rm /etc/tagbus/bridge/smoke.conf
else
    fail "systemd-analyze is missing (apt-get install systemd)"
fi

# ---- the master bus, as event-busd@master.service runs it -----------------------------------
if systemd_pid1; then
    check "systemctl start event-busd@master" systemctl start event-busd@master.service
else
    # What the unit does without systemd: its ExecStartPre=, User=, Group= and ExecStart=.
    install -d -o root -g tagbus -m 1770 /run/salt/master
    setpriv --reuid=tagbus --regid=tagbus --init-groups --no-new-privs /usr/bin/event-busd --node master \
        --sock-dir /run/salt/master --group tagbus \
        2>"$work/busd.log" &
    pids+=($!)
    check "event-busd starts" wait_for_line "$work/busd.log" '^event-busd: started the master bus'
fi
check "the bus's sockets are there" test -S /run/salt/master/master_event_pub.ipc
# The minion bus, as event-busd@minion.service runs it: its OPTIONS from the shipped file.
if ! systemd_pid1; then
    install -d -o root -g tagbus -m 1770 /run/salt/minion
    (. /etc/tagbus/event-busd-minion.conf
     # shellcheck disable=SC2086
     exec setpriv --reuid=tagbus --regid=tagbus --init-groups --no-new-privs /usr/bin/event-busd --node minion \
         --sock-dir /run/salt/minion --group tagbus $OPTIONS) 2>"$work/minion.log" &
    pids+=($!)
    check "the minion bus starts with the shipped options" \
        wait_for_line "$work/minion.log" '^event-busd: started the minion bus'
    compgen -G '/run/salt/minion/minion_event_*_pull.ipc' >/dev/null || sed 's/^/  event-busd minion: /' "$work/minion.log" >&2
fi
check "sockets are 0660 for group tagbus" bash -c '[ "$(stat -c %G:%a /run/salt/master/master_event_pull.ipc)" = tagbus:660 ]'

# fire and watch, as a script would (no arguments: the default master bus)
# (-v: its 'connected to' line says it is subscribed; --timeout bounds the wait for the event)
state-event count=1 -v --timeout "$DEADLINE" 'smoke/*' >"$work/watch.out" 2>"$work/watch.err" &
watch=$!
pids+=($watch)
check "state-event subscribes" wait_for_line "$work/watch.err" '^state-event: connected to '
check "event-fire fires" event-fire --node master '{"hello": "smoke"}' smoke/fire
check "state-event count=1 sees it and exits 0" wait "$watch"
check "state-event printed it as salt-run state.event does" grep -q '^smoke/fire	{"hello": "smoke", "_stamp": "[^"]*"}$' "$work/watch.out"

# event-api, as event-api.service runs it (the tokens file handed over as the credential is)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(openssl rand -hex 20)
install -d -o tagbus -m 0700 "$work/cred"
echo "$token" >"$work/cred/tokens"
chown tagbus "$work/cred/tokens"
chmod 0711 "$work"
# (-v: it logs its subscription to the bus and each stream it registers)
setpriv --reuid=tagbus --regid=tagbus --init-groups --no-new-privs /usr/bin/event-api --node master -v \
    --host 127.0.0.1 --port "$port" --disable-ssl --tokens "$work/cred/tokens" 2>"$work/api.log" &
pids+=($!)
check "event-api serves" wait_for_line "$work/api.log" "^event-api: serving http://127\\.0\\.0\\.1:$port "
check "event-api is subscribed to the bus" wait_for_line "$work/api.log" '^event-api: subscribed to '
curl -sN --max-time "$DEADLINE" -H "X-Auth-Token: $token" "http://127.0.0.1:$port/events" >"$work/sse.out" 2>/dev/null &
curl_pid=$!
pids+=($curl_pid)
check "event-api registers curl's stream" wait_for_line "$work/api.log" '^event-api: .*stream for 127\.0\.0\.1'
check "event-fire fires" event-fire --node master '{"n": 1}' smoke/api
check "event-api streams the bus's events (SSE)" wait_for_line "$work/sse.out" '^data: .*"tag": "smoke/api"'
[ -s "$work/sse.out" ] || sed 's/^/  event-api: /' "$work/api.log" >&2
check "the SSE event is salt-api's" grep -q '^data: {"data": {"n": 1, "_stamp": "[^"]*"}, "tag": "smoke/api"}$' "$work/sse.out"
kill "$curl_pid" 2>/dev/null || true

# the Python module, with Debian's interpreter
cat >"$work/py.py" <<'PY'
import time, tagbus
with tagbus.get_event("master", listen=True) as ev:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        tagbus.get_event("master", listen=False).fire_event({"py": True}, "smoke/python")
        got = ev.get_event(wait=0.2, tag="smoke/python", full=True)
        if got:
            assert got["data"]["py"] is True, got
            print("got", got["tag"])
            break
    else:
        raise SystemExit("no event within 20 s")
PY
check "python3 -c 'import tagbus': fire and get_event" /usr/bin/python3 "$work/py.py"

# an example built against libtagbus-dev, as its man page says
ex=/usr/share/doc/libtagbus-dev/examples/fire.cpp
[ -f "$ex" ] || ex=$ex.gz
check "libtagbus-dev's example builds with pkg-config" bash -c \
    "zcat -f $ex > '$work/fire.cpp' && g++ -std=c++20 -O1 -o '$work/fire' '$work/fire.cpp' \$(pkg-config --cflags --libs tagbus)"
state-event count=1 -v --timeout "$DEADLINE" 'smoke/example' >"$work/ex.out" 2>"$work/ex.err" &
watch=$!
pids+=($watch)
check "state-event subscribes" wait_for_line "$work/ex.err" '^state-event: connected to '
check "the example fires into the bus" "$work/fire" smoke/example
check "state-event count=1 sees it and exits 0" wait "$watch"
check "the example's event was seen" grep -q '^smoke/example	{"status": "done", "items": 3, "_stamp": "[^"]*"}$' "$work/ex.out"

# ---- stop, purge, nothing left --------------------------------------------------------------
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
if systemd_pid1; then systemctl stop event-busd@master.service; else rm -rf /run/salt/master /run/salt/minion; rmdir /run/salt 2>/dev/null || true; fi
check "dpkg --purge the four packages" dpkg --purge "${packages[@]}"
left=()
while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
done <"$work/installed"
for f in /etc/tagbus /var/lib/tagbus /etc/default/event-api /usr/share/doc/tagbus /usr/include/tagbus \
         /usr/lib/python3/dist-packages/tagbus; do
    [ -e "$f" ] && left+=("$f")
done
check "nothing left behind after purge${left:+: ${left[*]}}" test ${#left[@]} -eq 0
check "the system user tagbus is gone" bash -c '! getent passwd tagbus && ! getent group tagbus'

if ((failures > 0)); then
    say "$failures checks failed"
    exit 1
fi
say "all checks passed"
