# SPDX-License-Identifier: MIT
"""The real daemon for the client's tests, started as the C integration
tests start it (tests/integration/harness.c): a listening socket on an
ephemeral loopback port handed over by socket activation, a generated
config with the bundled and test plugins, READY=1 awaited on a notify
socket."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build")

sys.path.insert(0, os.path.dirname(HERE))  # the package under test

JOBD_BIN = os.environ.get("JOBD_BIN", os.path.join(BUILD, "src", "daemon", "jobd"))
PLUGIN_DIR = os.environ.get("JOBD_PLUGIN_DIR", os.path.join(BUILD, "plugins"))
TEST_PLUGIN_DIR = os.environ.get(
    "JOBD_TEST_PLUGIN_DIR", os.path.join(BUILD, "tests", "plugins")
)

# The daemon must get the listener as fd 3 and LISTEN_PID must be its own
# pid: a shell that execs jobd keeps its pid, and moves stdin (the
# listener) to fd 3.
_ACTIVATE = 'LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec "$@" 3<&0 0</dev/null'

# The default config of these tests: four sleep workers, so that map's
# completions come in the order of the sleeps; a misbehave plugin with one
# worker and a queue of one, to be made busy; a 1 MiB frame limit.
DEFAULT_YAML = """\
limits:
  max_frame_size: 1MiB
plugins:
  sleep:
    workers: 4
  misbehave:
    workers: 1
    queue_bound: 1
"""


class Daemon:
    """One real jobd on 127.0.0.1:<ephemeral>."""

    def __init__(self, yaml=DEFAULT_YAML):
        self.dir = tempfile.mkdtemp(prefix="jobd-pytest-")
        self.config = os.path.join(self.dir, "jobd.yaml")
        self.log_path = os.path.join(self.dir, "jobd.log")
        with open(self.config, "w") as f:
            f.write("plugin_dirs:\n  - \"%s\"\n  - \"%s\"\n" % (PLUGIN_DIR, TEST_PLUGIN_DIR))
            f.write("state_dir: \"%s/state\"\n" % self.dir)
            f.write("log_level: debug\n")
            f.write(yaml)
        self.proc = None
        self.port = None
        self._start()

    def _start(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(128)
        self.port = lsock.getsockname()[1]
        notify_path = os.path.join(self.dir, "notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)  # from the previous start
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = notify_path
        for k in ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
            env.pop(k, None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["sh", "-c", _ACTIVATE, "sh", JOBD_BIN, "--config", self.config],
                stdin=lsock.fileno(),
                stdout=log,
                stderr=log,
                env=env,
            )
        lsock.close()
        try:
            deadline = time.monotonic() + 20
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    self.stop(signal.SIGKILL)
                    raise RuntimeError("jobd did not become ready:\n" + self.log())
                notify.settimeout(left)
                try:
                    if b"READY=1" in notify.recv(4096):
                        break
                except socket.timeout:
                    continue
        finally:
            notify.close()

    def restart(self):
        """Starts jobd again after stop(), with the same config and state
        directory (its job store), on a new port."""
        self._start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops jobd; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def check_log(self):
        log = self.log()
        assert "Sanitizer" not in log and "runtime error:" not in log, log


def _cleanup(d):
    d.stop()
    d.check_log()
    if not os.environ.get("JOBD_TEST_KEEP"):
        subprocess.call(["rm", "-rf", d.dir])


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    _cleanup(d)


@pytest.fixture
def make_daemon():
    """A factory for daemons with their own config, stopped after the test."""
    made = []

    def make(yaml=DEFAULT_YAML):
        d = Daemon(yaml)
        made.append(d)
        return d

    yield make
    for d in made:
        _cleanup(d)


@pytest.fixture
def client(daemon):
    import jobd

    c = jobd.Client(daemon.address, timeout=60)
    yield c
    c.close()


@pytest.fixture
def dead_address():
    """An address where nothing listens: a bound socket that never
    listens, so that connecting is refused and no one else gets the port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    yield "127.0.0.1:%d" % s.getsockname()[1]
    s.close()


def child_env():
    """Environment for a second Python process that imports the package
    from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
