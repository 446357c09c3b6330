"""A small Chrome DevTools Protocol client for the integration tests (Python stdlib only).

Transport: ``--remote-debugging-pipe``, not a port. Chromium reads CDP messages from fd 3 and
writes them to fd 4, each a JSON text terminated by a NUL byte. No port to discover or race for,
no WebSocket layer, and when this process dies chromium sees EOF on fd 3 and exits by itself.
The child is started with os.posix_spawn (dup2 of our pipe ends onto 3 and 4 in the child;
subprocess.Popen cannot do that safely: its internal error pipe may itself sit on fd 3 or 4) and
waited for through a pidfd. Every wait is select() with a deadline; nothing sleeps.

    with cdp.Browser() as b:
        page = b.new_page("http://127.0.0.1:8000/")
        page.wait_for("document.querySelectorAll('#events .event').length >= 3")
        page.type("#filter", "salt/job/*")
        page.click("#pause")
        page.screenshot("/tmp/page.png")

chromium's stderr goes to a log file in the temporary directory; its tail is appended to the
message of errors raised while starting (Browser.stderr_tail() gives it at any time).
"""
import base64
import collections
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
DEADLINE = 20.0  # seconds; generous for a loaded 2-core CI machine


class CDPError(Exception):
    """A CDP call answered with an error, a JavaScript exception, or the browser went away."""


class CDPTimeout(CDPError):
    """A deadline passed."""


class Browser:
    """Headless chromium driven over --remote-debugging-pipe. Use as a context manager."""

    def __init__(self, path=CHROMIUM, args=(), window_size=(1280, 900), deadline=DEADLINE):
        self.path = path
        self.extra_args = list(args)
        self.window_size = window_size
        self.deadline = deadline
        self.pid = None
        self.returncode = None
        self.version = None  # from Browser.getVersion once started, e.g. "Chrome/120.0.6099.224"
        self.events = collections.deque(maxlen=10000)  # every CDP event not yet consumed: dicts
        self._tmp = None
        self._rfd = self._wfd = self._pidfd = None
        self._buf = b""
        self._next_id = 0
        self._replies = {}
        self._log = None

    # ---- discovery -----------------------------------------------------------------------
    @staticmethod
    def available(path=CHROMIUM):
        """True when Debian's chromium is installed."""
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def _headless_flag(self):
        # --headless=new exists from Chromium 109; newer ones accept it too (and mean it by --headless).
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                                 timeout=self.deadline).stdout
            m = re.search(r"(\d+)\.\d+\.\d+", out)
            if m and int(m.group(1)) >= 109:
                return "--headless=new"
        except (OSError, subprocess.SubprocessError):
            pass
        return "--headless"

    # ---- life cycle ----------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        self._tmp = tempfile.mkdtemp(prefix="tagbus-cdp-")
        profile = os.path.join(self._tmp, "profile")
        os.mkdir(profile)
        self._log = os.path.join(self._tmp, "chromium.log")
        argv = [self.path, self._headless_flag(), "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", "--user-data-dir=" + profile,
                "--window-size=%d,%d" % tuple(self.window_size),
                "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-breakpad", "--mute-audio",
                "--password-store=basic", "--use-mock-keychain",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows"] + self.extra_args + ["about:blank"]
        to_r, to_w = os.pipe()      # we write, chromium reads on its fd 3
        from_r, from_w = os.pipe()  # chromium writes on its fd 4, we read
        # Lift the child's ends above 4 so that dup2 onto 3 and 4 cannot clobber one another.
        child_r = _dup_high(to_r)
        child_w = _dup_high(from_w)
        os.close(to_r)
        os.close(from_w)
        try:
            log_fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                self.pid = os.posix_spawn(self.path, argv, dict(os.environ), file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                    (os.POSIX_SPAWN_DUP2, child_r, 3),
                    (os.POSIX_SPAWN_DUP2, child_w, 4),
                ], setsid=True)
            finally:
                os.close(log_fd)
        except BaseException:
            for fd in (child_r, child_w, to_w, from_r):
                os.close(fd)
            self._cleanup_tmp()
            raise
        os.close(child_r)
        os.close(child_w)
        self._wfd, self._rfd = to_w, from_r
        os.set_blocking(self._rfd, False)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        try:
            self.version = self.send("Browser.getVersion").get("product")
        except BaseException as e:
            tail = self.stderr_tail()
            self.close()
            if isinstance(e, CDPError):
                raise CDPError("%s\nchromium stderr:\n%s" % (e, tail)) from None
            raise
        return self

    def close(self):
        """Browser.close, then SIGTERM, then SIGKILL, each with a deadline; the profile is removed."""
        if self.pid is not None and self.returncode is None:
            if self._wfd is not None:
                try:
                    self._write({"id": self._new_id(), "method": "Browser.close"})
                except (CDPError, OSError):
                    pass
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    try:
                        os.killpg(self.pid, sig)  # setsid=True: chromium's helpers go with it
                    except ProcessLookupError:
                        pass
                if self._wait_exit(time.monotonic() + (10.0 if sig is None else 5.0)):
                    break
        if self.pid is not None and self.returncode is not None:
            try:  # helpers left in chromium's session, if any
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for fd in (self._rfd, self._wfd, self._pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = self._pidfd = None
        self._cleanup_tmp()

    def _wait_exit(self, until):
        """Reaps chromium before `until`; True when it has exited."""
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                return True
            left = until - time.monotonic()
            if left <= 0:
                return False
            # A readable pidfd means exited. The pipe is drained meanwhile (chromium must never
            # block writing to it); without a pidfd, EOF on it or a short select says when to look.
            fds = [fd for fd in (self._pidfd, self._rfd) if fd is not None]
            timeout = left if self._pidfd is not None else min(left, 0.05)
            r, _, _ = select.select(fds, [], [], timeout)
            if self._rfd is not None and self._rfd in r:
                try:
                    while os.read(self._rfd, 1 << 20):
                        pass
                    os.close(self._rfd)  # EOF
                    self._rfd = None
                except BlockingIOError:
                    pass

    def _cleanup_tmp(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            if os.path.exists(self._tmp):  # a helper was still writing; once more
                shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def stderr_tail(self, n=4000):
        try:
            with open(self._log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    # ---- protocol ------------------------------------------------------------------------
    def _new_id(self):
        self._next_id += 1
        return self._next_id

    def _write(self, msg):
        if self._wfd is None:
            raise CDPError("browser is closed")
        data = json.dumps(msg).encode() + b"\0"
        while data:
            try:
                n = os.write(self._wfd, data)
            except BrokenPipeError:
                raise CDPError("chromium closed its pipe\n" + self.stderr_tail()) from None
            data = data[n:]

    def pump(self, timeout):
        """Reads whatever chromium sends within `timeout` seconds (returns early on the first
        message); replies are stored for send(), events appended to self.events."""
        if self._rfd is None:
            raise CDPError("browser is closed")
        r, _, _ = select.select([self._rfd], [], [], max(0.0, timeout))
        if not r:
            return
        while True:
            try:
                chunk = os.read(self._rfd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                raise CDPError("chromium closed its pipe (exited?)\n" + self.stderr_tail())
            self._buf += chunk
        *msgs, self._buf = self._buf.split(b"\0")
        for raw in msgs:
            if not raw:
                continue
            msg = json.loads(raw)
            if "id" in msg:
                self._replies[msg["id"]] = msg
            else:
                self.events.append(msg)

    def send(self, method, params=None, session_id=None, deadline=None):
        """One CDP call; returns its result (a dict); raises CDPError on an error reply and
        CDPTimeout when no reply comes within `deadline` seconds."""
        mid = self._new_id()
        msg = {"id": mid, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        self._write(msg)
        until = time.monotonic() + (self.deadline if deadline is None else deadline)
        while mid not in self._replies:
            left = until - time.monotonic()
            if left <= 0:
                raise CDPTimeout("no reply to %s within the deadline" % method)
            self.pump(left)
        reply = self._replies.pop(mid)
        if "error" in reply:
            err = reply["error"]
            raise CDPError("%s: %s %s" % (method, err.get("message"), err.get("data", "")))
        return reply.get("result", {})

    def wait_event(self, method, session_id=None, deadline=None, predicate=None):
        """Removes and returns the first queued or arriving event named `method` (of that session,
        when given, and for which predicate(params) is true) as {method, params, sessionId}."""
        until = time.monotonic() + (self.deadline if deadline is None else deadline)
        while True:
            for i in range(len(self.events)):
                ev = self.events[i]
                if (ev.get("method") == method
                        and (session_id is None or ev.get("sessionId") == session_id)
                        and (predicate is None or predicate(ev.get("params", {})))):
                    del self.events[i]
                    return ev
            left = until - time.monotonic()
            if left <= 0:
                raise CDPTimeout("no %s event within the deadline" % method)
            self.pump(left)

    # ---- pages ---------------------------------------------------------------------------
    def new_page(self, url, deadline=None):
        """A new tab (Target.createTarget + attachToTarget flatten=True) loaded with `url`:
        returns once its document is complete."""
        tid = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        page = Page(self, tid, sid)
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.navigate(url, deadline=deadline)
        return page


class Page:
    """One tab, attached through a flat session."""

    def __init__(self, browser, target_id, session_id):
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id

    def send(self, method, params=None, deadline=None):
        return self.browser.send(method, params, session_id=self.session_id, deadline=deadline)

    def navigate(self, url, deadline=None):
        """Page.navigate, then waits for document.readyState == 'complete' at the new URL."""
        deadline = self.browser.deadline if deadline is None else deadline
        res = self.send("Page.navigate", {"url": url}, deadline=deadline)
        if res.get("errorText"):
            raise CDPError("navigating to %s: %s" % (url, res["errorText"]))
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'"
                      if url != "about:blank" else "document.readyState === 'complete'",
                      deadline=deadline)

    def evaluate(self, expr, deadline=None):
        """The value of a JavaScript expression (promises awaited), as JSON-able Python; raises
        CDPError with the exception's description when it throws."""
        res = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                             "awaitPromise": True}, deadline=deadline)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            desc = d.get("exception", {}).get("description") or d.get("text")
            raise CDPError("JavaScript: %s\nin: %s" % (desc, expr))
        return res.get("result", {}).get("value")

    def wait_for(self, expr, deadline=DEADLINE, interval=0.05):
        """Evaluates the expression `expr` until it is truthy in JavaScript (a promise is awaited);
        returns its value by value (a DOM node comes back as {}). Between polls it waits up to
        `interval` seconds on the browser's pipe (events are queued meanwhile)."""
        until = time.monotonic() + deadline
        last = None
        while True:
            left = until - time.monotonic()
            truthy, last = self.evaluate("Promise.resolve((%s\n)).then(v => [!!v, v])" % expr,
                                         deadline=max(left, 1.0))
            if truthy:
                return last
            left = until - time.monotonic()
            if left <= 0:
                raise CDPTimeout("still falsy after %.1f s (last value %r): %s" % (deadline, last, expr))
            pause_until = time.monotonic() + min(interval, left)
            while time.monotonic() < pause_until:
                self.browser.pump(pause_until - time.monotonic())

    def screenshot(self, path, full_page=False):
        """Page.captureScreenshot as PNG to `path`; returns path."""
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def _element(self, selector, script):
        found = self.evaluate("(() => { const el = document.querySelector(%s); if (!el) return null; %s })()"
                              % (json.dumps(selector), script))
        if found is None:
            raise CDPError("no element matches %s" % selector)
        return found

    def type(self, selector, text, clear=False):
        """Focuses the element, optionally empties it, inserts `text` as typed (Input.insertText)
        and dispatches an `input` event."""
        self._element(selector, "el.focus(); %s return true;" % ("el.value = '';" if clear else ""))
        self.send("Input.insertText", {"text": text})
        self._element(selector, "el.dispatchEvent(new Event('input', {bubbles: true})); return true;")

    def click(self, selector):
        """A real left click (mouse pressed + released) at the element's centre, scrolled into view."""
        box = self._element(selector, "el.scrollIntoView({block: 'center', inline: 'center'});"
                                      "const r = el.getBoundingClientRect();"
                                      "return {x: r.left + r.width / 2, y: r.top + r.height / 2,"
                                      " w: r.width, h: r.height};")
        if not box["w"] or not box["h"]:
            raise CDPError("element %s has no box (hidden?)" % selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            p = {"type": kind, "x": box["x"], "y": box["y"]}
            if kind != "mouseMoved":
                p.update(button="left", clickCount=1)
            self.send("Input.dispatchMouseEvent", p)

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target_id})


def _dup_high(fd):
    """A close-on-exec duplicate of fd numbered 10 or more."""
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
