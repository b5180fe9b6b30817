# SPDX-License-Identifier: MIT
"""Driving a real jobd-worker from Python, as the daemon's exec layer does
(the same pattern as tests/worker/wk.c): spawn it with its socket on fd 3,
speak the worker protocol (docs/isolation.md), reap it."""
import json
import os
import select
import signal
import socket
import struct
import time

WORKER = os.environ.get("JOBD_WORKER_PATH", "")
SOURCE = os.environ.get("JOBD_SOURCE_ROOT",
                        os.path.join(os.path.dirname(__file__), "..", "..",
                                     ".."))
EXAMPLES = os.path.join(SOURCE, "plugins", "python")
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "plugins")


class Worker:
    def __init__(self, stderr=None):
        """stderr: a file for the worker's fd 2 (the daemon's log stream),
        else the test's own."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        null = os.open(os.devnull, os.O_RDWR)
        actions = [(os.POSIX_SPAWN_DUP2, null, 0),
                   (os.POSIX_SPAWN_DUP2, null, 1),
                   (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)]
        if stderr:
            actions.append((os.POSIX_SPAWN_OPEN, 2, stderr,
                            os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        self.pid = os.posix_spawn(
            WORKER, [WORKER, "--parent", str(os.getpid())], dict(os.environ),
            file_actions=actions, setpgroup=0)
        os.close(null)
        theirs.close()
        self.sock = ours
        self.buf = b""
        self.status = None
        self.logs = []
        self.progress = []

    def send(self, msg, fds=()):
        body = json.dumps(msg).encode()
        frame = struct.pack(">I", len(body)) + body
        if fds:
            socket.send_fds(self.sock, [frame], list(fds))
        else:
            self.sock.sendall(frame)

    def recv(self, timeout=120):
        """The next message, None at end of stream; TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return json.loads(body)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError("no message from the worker")
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buf += data

    def answer(self, timeout=120):
        """The next message other than log and progress (kept aside)."""
        while True:
            m = self.recv(timeout)
            if m is None or m["type"] not in ("log", "progress"):
                return m
            (self.logs if m["type"] == "log" else self.progress).append(m)

    def init(self, plugin, options=None, with_fd=False, timeout=120):
        msg = {"type": "init", "plugin": plugin, "options": options or {},
               "worker": 0, "log_level": 7}
        if with_fd:
            fd = os.open(plugin, os.O_RDONLY | os.O_CLOEXEC)
            msg.update(fds=1, plugin_fd=0)
            self.send(msg, [fd])
            os.close(fd)
        else:
            self.send(msg)
        return self.answer(timeout)

    def job(self, job, input, timeout_ms=0):
        msg = {"type": "job", "job": job, "input": input}
        if timeout_ms:
            msg["timeout_ms"] = timeout_ms
        self.send(msg)

    def call(self, job, input, timeout_ms=0, timeout=120):
        self.job(job, input, timeout_ms)
        return self.answer(timeout)

    def wait(self, timeout=30):
        """Reaps the worker: its wait status, or None if it still runs."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return self.status

    def kill(self):
        if self.status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        self.sock.close()


def start(plugin, options=None, with_fd=False):
    """A worker that answered ready for plugin; the test kills it."""
    w = Worker()
    m = w.init(plugin, options, with_fd)
    assert m and m["type"] == "ready", m
    w.ready = m
    return w
