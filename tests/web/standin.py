#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for jobd's HTTP side, for working on the web page only.

It serves web/ and answers the routes of docs/openapi.json with fake
plugins (echo, sleep, and a quarantined nbody) and in-memory jobs. It is a
development aid: the browser test's verdict counts only against the real
daemon. Usage:

    tests/web/standin.py [--port 0] [--token TOKEN]

It prints "listening on http://127.0.0.1:PORT" once it accepts requests.
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB_FILES = {"/": "index.html", "/index.html": "index.html",
             "/app.js": "app.js", "/style.css": "style.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
STATUS = {"bad_json": 400, "bad_request": 400, "unauthorized": 401,
          "forbidden": 403, "not_found": 404, "unknown_plugin": 404,
          "cancelled": 409, "plugin_failed": 422, "busy": 429,
          "unavailable": 503, "timeout": 504, "too_large": 413}
FINAL = ("done", "failed", "cancelled", "interrupted")
# The headers docs/http.md promises for the page's files, so that the page
# is tried under the same rules.
STATIC_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
]


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Job:
    def __init__(self, owner, plugin, inp):
        self.id = secrets.token_hex(8)
        self.owner, self.plugin, self.input = owner, plugin, inp
        self.state, self.seq, self.fraction = "queued", 0, None
        self.queued_at, self.started_at, self.finished_at = now(), None, None
        self.output = self.error = None
        self.cancel = False

    def status(self):
        s = {"job": self.id, "plugin": self.plugin, "state": self.state,
             "attempts": 0 if self.state == "queued" else 1,
             "queued_at": self.queued_at, "started_at": self.started_at,
             "finished_at": self.finished_at}
        if self.fraction is not None and self.state == "running":
            s["progress"] = {"fraction": self.fraction}
        if self.error:
            s["error"] = {"code": self.error[0], "message": self.error[1]}
        if self.cancel and self.state == "running":
            s["cancel_requested"] = True
        return s

    def result(self):
        return {"job": self.id, "state": "done", "output": self.output,
                "provenance": {"plugin": self.plugin, "version": "1.0.0",
                               "input_sha256": hashlib.sha256(json.dumps(self.input, sort_keys=True, separators=(",", ":")).encode()).hexdigest(),
                               "queued_at": self.queued_at, "started_at": self.started_at,
                               "finished_at": self.finished_at, "attempt": 1,
                               "host": "standin", "jobd": "standin"}}


class Lab:
    """The fake server state; one lock, one condition for event streams."""

    def __init__(self, token):
        self.token = token
        self.jobs = {}
        self.cond = threading.Condition()
        self.counts = {"echo": [0, 0], "sleep": [0, 0]}

    def plugins(self):
        with self.cond:
            running = sum(1 for j in self.jobs.values() if j.state == "running")
            queued = sum(1 for j in self.jobs.values() if j.state == "queued")
        return [
            {"name": "echo", "version": "1.0.0", "description": "returns its input",
             "state": "ready", "isolation": "thread", "workers": 2, "queue_bound": 64,
             "queued": 0, "running": 0, "done": self.counts["echo"][0], "failed": 0,
             "busy": 0, "restarts": 0, "mean_service_ms": 0.05},
            {"name": "nbody", "version": "1.0.0", "description": "integrates a planetary system",
             "state": "quarantined", "quarantined_until": "2026-12-02T12:00:00.000Z",
             "isolation": "process", "workers": 2, "queue_bound": 8, "queued": 0,
             "running": 0, "done": 12, "failed": 5, "busy": 0, "restarts": 5},
            {"name": "sleep", "version": "1.0.0", "description": "waits the given milliseconds",
             "state": "ready", "isolation": "process", "workers": 4, "queue_bound": 64,
             "queued": queued, "running": running, "done": self.counts["sleep"][0],
             "failed": self.counts["sleep"][1], "busy": 0, "restarts": 0},
        ]

    def run_sleep(self, job, queue_s=0.0):
        ms = job.input.get("ms") if isinstance(job.input, dict) else job.input
        time.sleep(queue_s)  # a moment in the queue, as a busy pool would
        with self.cond:
            if job.state in FINAL:  # cancelled while queued
                return
            job.state, job.started_at, job.fraction = "running", now(), 0.0
            job.seq += 1
            self.cond.notify_all()
        start = time.monotonic()
        while True:
            time.sleep(0.1)
            with self.cond:
                if job.cancel:
                    job.state, job.error = "cancelled", ("cancelled", "cancelled by a client")
                    self.counts["sleep"][1] += 1
                elif time.monotonic() - start >= ms / 1000:
                    job.state, job.output = "done", {"slept_ms": ms}
                    self.counts["sleep"][0] += 1
                else:
                    job.fraction = min(1.0, (time.monotonic() - start) * 1000 / ms)
                if job.state in FINAL:
                    job.finished_at = now()
                job.seq += 1
                self.cond.notify_all()
                if job.state in FINAL:
                    return


def sleep_ms_ok(inp):
    v = inp.get("ms") if isinstance(inp, dict) else inp
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 86400000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lab = None

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        ctype = "application/json"
        for k, v in headers:
            if k == "Content-Type":
                ctype = v
            else:
                self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def fail(self, code, message, headers=()):
        self.send(STATUS[code], {"code": code, "message": message}, headers)

    def user(self):
        if not self.lab.token:
            return "anyone"
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and secrets.compare_digest(auth[7:], self.lab.token):
            return "lab"
        self.fail("unauthorized", "missing or wrong token",
                  [("WWW-Authenticate", 'Bearer realm="jobd"')])
        return None

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self.send(415, {"code": "bad_request", "message": "Content-Type must be application/json"})
            return None, False
        if n > 16 << 20:
            self.fail("too_large", "body over 16 MiB")
            return None, False
        raw = self.rfile.read(n)
        try:
            return json.loads(raw), True
        except ValueError as e:
            self.fail("bad_json", str(e))
            return None, False

    def own_job(self, user, jid):
        with self.lab.cond:
            job = self.lab.jobs.get(jid)
        if job is None:
            self.fail("not_found", "no job %s" % jid)
        elif job.owner != user:
            self.fail("forbidden", "job %s is not yours" % jid)
            job = None
        return job

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path in WEB_FILES:
            name = WEB_FILES[path]
            with open(os.path.join(ROOT, "web", name), "rb") as f:
                return self.send(200, f.read(), [("Content-Type", TYPES[os.path.splitext(name)[1]])] + STATIC_HEADERS)
        if path == "/v1/health/live":
            return self.send(200, {"status": "live"})
        if path == "/v1/health/ready":
            return self.send(200, {"status": "ready", "version": "standin"})
        if path == "/v1/openapi.json":
            with open(os.path.join(ROOT, "docs", "openapi.json"), "rb") as f:
                return self.send(200, f.read())
        user = self.user()
        if user is None:
            return
        if path == "/v1/plugins":
            return self.send(200, {"plugins": self.lab.plugins()})
        if path == "/v1/jobs":
            with self.lab.cond:
                mine = [j.status() for j in self.lab.jobs.values() if j.owner == user]
            return self.send(200, {"jobs": mine[::-1][:50], "truncated": len(mine) > 50})
        m = re.fullmatch(r"/v1/jobs/([0-9a-f]{16})(/result|/events)?", path)
        if not m:
            return self.fail("not_found", "no route %s" % path)
        job = self.own_job(user, m.group(1))
        if job is None:
            return
        if m.group(2) is None:
            with self.lab.cond:
                return self.send(200, job.status())
        if m.group(2) == "/result":
            with self.lab.cond:
                if job.state == "done":
                    return self.send(200, job.result())
                if job.state in FINAL:
                    return self.send(STATUS[job.error[0]], {"code": job.error[0], "message": job.error[1],
                                                            "job": job.id, "state": job.state})
                return self.send(202, job.status(), [("Retry-After", "1")])
        self.events(job)

    def events(self, job):
        last = self.headers.get("Last-Event-ID")
        seen = int(last) if last and last.isdigit() else 0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(name, data, eid=None):
            head = "id: %d\n" % eid if eid is not None else ""
            self.wfile.write(("%sevent: %s\ndata: %s\n\n" % (head, name, json.dumps(data))).encode())
            self.wfile.flush()

        try:
            with self.lab.cond:
                self.wfile.write(b"retry: 2000\n\n")
                event("status", job.status())
                while True:
                    if job.state in FINAL:
                        if job.state == "done":
                            event("result", job.result(), job.seq)
                        else:
                            event("error", {"code": job.error[0], "message": job.error[1],
                                            "job": job.id, "state": job.state}, job.seq)
                        return
                    if job.seq > seen and job.fraction is not None:
                        event("progress", {"fraction": job.fraction}, job.seq)
                        seen = job.seq
                    if not self.lab.cond.wait(15):
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        path = self.path.partition("?")[0]
        user = self.user()
        if user is None:
            return
        m = re.fullmatch(r"/v1/jobs/([0-9a-f]{16})/cancel", path)
        if m:
            job = self.own_job(user, m.group(1))
            if job is None:
                return
            with self.lab.cond:
                if job.state == "queued":
                    job.state, job.error, job.finished_at = "cancelled", ("cancelled", "cancelled by a client"), now()
                elif job.state == "running":
                    job.cancel = True
                self.lab.cond.notify_all()
                return self.send(200, job.status())
        m = re.fullmatch(r"/v1/plugins/([a-z0-9_-]{1,64})/(call|jobs)", path)
        if not m:
            return self.fail("not_found", "no route %s" % path)
        name, kind = m.groups()
        inp, ok = self.body()
        if not ok:
            return
        if name == "nbody":
            return self.fail("unavailable", "plugin \"nbody\" is quarantined", [("Retry-After", "60")])
        if name not in ("echo", "sleep"):
            return self.fail("unknown_plugin", "no plugin \"%s\"" % name)
        if name == "sleep" and not sleep_ms_ok(inp):
            return self.fail("bad_request" if kind == "jobs" else "plugin_failed",
                             "ms: must be an integer from 0 to 86400000")
        job = Job(user, name, inp)
        if kind == "call":
            if name == "echo":
                job.output, job.state = inp, "done"
                self.lab.counts["echo"][0] += 1
            else:
                self.lab.run_sleep(job)
            job.finished_at = job.finished_at or now()
            if job.state != "done":
                return self.fail(job.error[0], job.error[1])
            res = job.result()
            del res["job"], res["state"]
            return self.send(200, res)
        with self.lab.cond:
            self.lab.jobs[job.id] = job
        if name == "sleep":
            threading.Thread(target=self.lab.run_sleep, args=(job, 0.3), daemon=True).start()
        else:
            with self.lab.cond:
                job.output, job.state, job.started_at, job.finished_at = inp, "done", now(), now()
        self.send(202, {"job": job.id}, [("Location", "/v1/jobs/" + job.id)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="")
    args = ap.parse_args()
    Handler.lab = Lab(args.token)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
