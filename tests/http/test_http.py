#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The HTTP API end to end: the real daemon, real plugins, real sockets.

Every route and every error status the daemon can give today, the event
stream (progress then result, resume with Last-Event-ID), /metrics through
`promtool check metrics`, and hostile clients (huge and slow headers, a
body that never ends or is too large, bad JSON).

Usage: test_http.py JOBD PLUGIN_DIR
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

JOBD, PLUGIN_DIR = sys.argv[1], sys.argv[2]
HEADER_TIMEOUT_S = 1.0


class Daemon:
    """One jobd with an HTTP listener on an ephemeral loopback port."""

    def __init__(self, extra=""):
        self.dir = tempfile.mkdtemp(prefix="jobd-http-")
        os.mkdir(os.path.join(self.dir, "state"))
        web = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web")
        conf = os.path.join(self.dir, "jobd.yaml")
        with open(conf, "w") as f:
            f.write(f"""listen: "127.0.0.1:0"
plugin_dirs: ['{PLUGIN_DIR}']
state_dir: '{self.dir}/state'
log_level: debug
http:
  listen: ["127.0.0.1:0"]
  web_dir: '{os.path.normpath(web)}'
  header_timeout: {int(HEADER_TIMEOUT_S * 1000)}ms
  max_header_size: 4KiB
limits:
  max_frame_size: 64KiB
  shutdown_timeout: 5s
{extra}
plugins:
  echo: {{workers: 1}}
  sleep: {{workers: 1, queue_bound: 1}}
""")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([JOBD, "--config", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(r"ready on .*http://127\.0\.0\.1:(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.log.seek(0)
            raise RuntimeError("jobd did not start:\n" + self.log.read())

    def stop(self):
        """Stops jobd; its exit status (a sanitizer's report makes it
        non-zero), with the log when it is not 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        log = self.log.read()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.proc.returncode != 0:
            raise AssertionError("jobd exited with %d:\n%s" % (self.proc.returncode, log[-4000:]))

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, headers, parsed JSON body or text)."""
        c = conn or self.conn()
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if not conn:
            c.close()
        ctype = r.getheader("Content-Type", "")
        if ctype.startswith("application/json") and data:
            data = json.loads(data)
        return r.status, r, data

    def raw(self, data, wait=5.0):
        """Sends bytes, returns what comes back until the server closes
        (or wait passes) and how long it took."""
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(wait)
        t0 = time.monotonic()
        got = b""
        try:
            s.sendall(data)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            s.close()
        return got, time.monotonic() - t0


D = None
OPENAPI = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "..", "..", "docs", "openapi.json")))
try:
    import jsonschema
except ImportError:  # Debian: python3-jsonschema
    jsonschema = None


def conforms(method, pattern, status, body):
    """body is what docs/openapi.json promises for that answer (checked
    when jsonschema is installed)."""
    responses = OPENAPI["paths"][pattern][method.lower()]["responses"]
    assert str(status) in responses, "%s %s: %d is not documented" % (method, pattern, status)
    if jsonschema is None:
        return
    schema = dict(responses[str(status)]["content"]["application/json"]["schema"])
    schema["components"] = OPENAPI["components"]
    jsonschema.Draft202012Validator(schema).validate(body)


def setUpModule():
    global D
    D = Daemon()


def tearDownModule():
    D.stop()


def submit(ms):
    st, r, body = D.request("POST", "/v1/plugins/sleep/jobs", {"ms": ms})
    assert st == 202, (st, body)
    conforms("POST", "/v1/plugins/{name}/jobs", st, body)
    assert r.getheader("Location") == "/v1/jobs/" + body["job"]
    return body["job"]


def wait_state(job, states, limit=10):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        st, _, body = D.request("GET", "/v1/jobs/" + job)
        if body["state"] in states:
            return body
        time.sleep(0.05)
    raise AssertionError("job %s never reached %s" % (job, states))


def read_events(resp, limit=100):
    """Parses a text/event-stream response into [(id, event, data)]."""
    events, cur = [], {}
    for raw in resp:
        line = raw.decode().rstrip("\n")
        if line == "":
            if "event" in cur:
                events.append((cur.get("id"), cur["event"], json.loads(cur["data"])))
            cur = {}
            if len(events) >= limit:
                break
            continue
        if line.startswith(":"):
            continue
        k, _, v = line.partition(": ")
        cur[k] = v
    return events


class Health(unittest.TestCase):
    def test_live_ready_openapi(self):
        st, _, body = D.request("GET", "/v1/health/live")
        self.assertEqual((st, body["status"]), (200, "live"))
        conforms("GET", "/v1/health/live", st, body)
        st, _, body = D.request("GET", "/v1/health/ready")
        self.assertEqual((st, body["status"]), (200, "ready"))
        conforms("GET", "/v1/health/ready", st, body)
        st, _, body = D.request("GET", "/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertIn("/v1/jobs/{id}/events", body["paths"])

    def test_head(self):
        st, r, body = D.request("HEAD", "/v1/health/live")
        self.assertEqual((st, body), (200, b""))


class WebPage(unittest.TestCase):
    def test_files(self):
        for path, ctype in (("/", "text/html"), ("/index.html", "text/html"),
                            ("/app.js", "text/javascript"), ("/style.css", "text/css")):
            st, r, body = D.request("GET", path)
            self.assertEqual(st, 200, path)
            self.assertTrue(r.getheader("Content-Type").startswith(ctype), path)
            self.assertIn("default-src 'self'", r.getheader("Content-Security-Policy"))
            self.assertEqual(r.getheader("X-Content-Type-Options"), "nosniff")
            self.assertTrue(body)

    def test_no_other_file(self):
        for path in ("/web/app.js", "/../conf/jobd.yaml", "/%2e%2e/etc/passwd", "/index.htm"):
            st, _, body = D.request("GET", path)
            self.assertEqual((st, body["code"]), (404, "not_found"), path)


class Routes(unittest.TestCase):
    def test_plugins(self):
        st, _, body = D.request("GET", "/v1/plugins")
        self.assertEqual(st, 200)
        conforms("GET", "/v1/plugins", st, body)
        names = [p["name"] for p in body["plugins"]]
        self.assertEqual(names, sorted(names))
        sleep = [p for p in body["plugins"] if p["name"] == "sleep"][0]
        self.assertEqual((sleep["workers"], sleep["queue_bound"], sleep["state"]), (1, 1, "ready"))

    def test_call(self):
        st, _, body = D.request("POST", "/v1/plugins/echo/call", {"x": [1, 2]})
        self.assertEqual(st, 200)
        conforms("POST", "/v1/plugins/{name}/call", st, body)
        self.assertEqual(body["output"], {"x": [1, 2]})
        self.assertEqual(body["provenance"]["plugin"], "echo")

    def test_keep_alive(self):
        c = D.conn()
        for i in range(5):
            st, _, body = D.request("POST", "/v1/plugins/echo/call", {"i": i}, conn=c)
            self.assertEqual((st, body["output"]), (200, {"i": i}))
        c.close()

    def test_errors(self):
        cases = [
            ("POST", "/v1/plugins/nope/call", {}, None, 404, "unknown_plugin"),
            ("POST", "/v1/plugins/Bad!/call", {}, None, 400, "bad_request"),
            ("POST", "/v1/plugins/echo/call", "{nope", None, 400, "bad_json"),
            ("POST", "/v1/plugins/echo/call", "", None, 400, "bad_json"),
            ("POST", "/v1/plugins/echo/call", "1", {"Content-Type": "text/plain"}, 415, "bad_request"),
            ("POST", "/v1/plugins/echo/call?timeout=soon", {}, None, 400, "bad_request"),
            ("POST", "/v1/plugins/echo/call?color=red", {}, None, 400, "bad_request"),
            ("POST", "/v1/plugins/sleep/call", {"ms": "x"}, None, 400, "bad_request"),
            ("GET", "/v1/jobs/0123456789abcdef", None, None, 404, "not_found"),
            ("GET", "/v1/jobs/xyz", None, None, 400, "bad_request"),
            ("GET", "/v1/jobs?state=sleeping", None, None, 400, "bad_request"),
            ("GET", "/v1/jobs?limit=0", None, None, 400, "bad_request"),
            ("GET", "/v1/jobs/0123456789abcdef/arrays/x", None, None, 404, "not_found"),
            ("GET", "/v2/plugins", None, None, 404, "not_found"),
            ("GET", "/v1/plugins", None, {"Authorization": "Basic eDp5"}, 401, "unauthorized"),
            ("GET", "/v1/plugins", None, {"Host": "evil.example:7880"}, 403, "forbidden"),
        ]
        for method, path, body, headers, status, code in cases:
            st, r, got = D.request(method, path, body, headers)
            jsonschema and jsonschema.Draft202012Validator(
                dict(OPENAPI["components"]["schemas"]["Error"],
                     components=OPENAPI["components"])).validate(got)
            self.assertEqual((st, got["code"]), (status, code), (method, path, got))
            self.assertTrue(got["message"])
            if status == 401:
                self.assertEqual(r.getheader("WWW-Authenticate"), 'Bearer realm="jobd"')

    def test_method_not_allowed(self):
        st, r, got = D.request("DELETE", "/v1/plugins")
        self.assertEqual((st, got["code"]), (405, "bad_request"))
        self.assertEqual(r.getheader("Allow"), "GET, HEAD")
        st, r, got = D.request("GET", "/v1/plugins/echo/call")
        self.assertEqual((st, r.getheader("Allow")), (405, "POST"))

    def test_timeout(self):
        st, _, got = D.request("POST", "/v1/plugins/sleep/call?timeout=200ms", {"ms": 3000})
        self.assertEqual((st, got["code"]), (504, "timeout"))

    def test_too_large(self):
        st, _, got = D.request("POST", "/v1/plugins/echo/call", {"x": "a" * 70000})
        self.assertEqual(st, 413)

    def test_busy_then_cancel(self):
        first = submit(5000)       # runs on the one worker
        wait_state(first, ("running",))
        second = submit(5000)      # fills the queue of one
        st, r, got = D.request("POST", "/v1/plugins/sleep/call", {"ms": 1})
        self.assertEqual((st, got["code"]), (429, "busy"))
        self.assertGreaterEqual(int(r.getheader("Retry-After")), 1)
        self.assertGreater(got["retry_after_ms"], 0)
        # Cancel the queued one: cancelled at once.
        st, _, got = D.request("POST", "/v1/jobs/%s/cancel" % second)
        self.assertEqual((st, got["state"]), (200, "cancelled"))
        conforms("POST", "/v1/jobs/{id}/cancel", st, got)
        st, _, got = D.request("GET", "/v1/jobs/%s/result" % second)
        self.assertEqual((st, got["code"], got["state"]), (409, "cancelled", "cancelled"))
        conforms("GET", "/v1/jobs/{id}/result", st, got)
        # The running one: asked, then cancelled when the plugin returns.
        st, _, got = D.request("POST", "/v1/jobs/%s/cancel" % first)
        self.assertEqual(st, 200)
        wait_state(first, ("cancelled",))

    def test_jobs(self):
        job = submit(300)
        st, r, got = D.request("GET", "/v1/jobs/%s/result" % job)
        self.assertEqual((st, r.getheader("Retry-After")), (202, "1"))
        conforms("GET", "/v1/jobs/{id}/result", st, got)
        conforms("GET", "/v1/jobs/{id}", 200, wait_state(job, ("queued", "running", "done")))
        self.assertIn(got["state"], ("queued", "running"))
        wait_state(job, ("done",))
        st, _, got = D.request("GET", "/v1/jobs/%s/result" % job)
        self.assertEqual((st, got["output"], got["job"], got["state"]), (200, {"slept_ms": 300}, job, "done"))
        conforms("GET", "/v1/jobs/{id}/result", st, got)
        self.assertIn("provenance", got)
        st, _, got = D.request("GET", "/v1/jobs?state=done&plugin=sleep&limit=1")
        self.assertEqual(st, 200)
        conforms("GET", "/v1/jobs", st, got)
        self.assertEqual(len(got["jobs"]), 1)
        self.assertEqual(got["jobs"][0]["state"], "done")
        st, _, got = D.request("POST", "/v1/jobs/%s/cancel" % job)
        self.assertEqual((st, got["state"]), (200, "done"))


class Events(unittest.TestCase):
    def test_progress_then_result_and_resume(self):
        job = submit(1500)
        c = D.conn()
        c.request("GET", "/v1/jobs/%s/events" % job)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
        events = read_events(r)
        c.close()
        self.assertEqual(events[0][1], "status")
        self.assertIsNone(events[0][0])
        kinds = [e[1] for e in events]
        self.assertEqual(kinds[-1], "result")
        self.assertGreaterEqual(kinds.count("progress"), 3)
        fractions = [e[2]["fraction"] for e in events if e[1] == "progress"]
        self.assertEqual(fractions, sorted(fractions))
        ids = [int(e[0]) for e in events[1:]]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(events[-1][2]["output"], {"slept_ms": 1500})
        # Resume after the end: status and the final event, ids going on.
        last = ids[-1]
        c = D.conn()
        c.request("GET", "/v1/jobs/%s/events" % job, headers={"Last-Event-ID": str(last)})
        again = read_events(c.getresponse())
        c.close()
        self.assertEqual([e[1] for e in again], ["status", "result"])
        self.assertGreater(int(again[1][0]), last)

    def test_resume_mid_stream(self):
        job = submit(1500)
        wait_state(job, ("running",))
        c = D.conn()
        c.request("GET", "/v1/jobs/%s/events" % job)
        first = read_events(c.getresponse(), limit=3)
        c.close()  # the stream drops
        last = int(first[-1][0])
        c = D.conn()
        c.request("GET", "/v1/jobs/%s/events" % job, headers={"Last-Event-ID": str(last)})
        rest = read_events(c.getresponse())
        c.close()
        self.assertEqual(rest[0][1], "status")
        self.assertEqual(rest[-1][1], "result")
        self.assertTrue(all(int(e[0]) > last for e in rest[1:]))

    def test_unknown_job(self):
        st, _, got = D.request("GET", "/v1/jobs/0123456789abcdef/events")
        self.assertEqual((st, got["code"]), (404, "not_found"))

    def test_client_gone_cancels_call(self):
        s = socket.create_connection(("127.0.0.1", D.port))
        body = b'{"ms": 4000}'
        s.sendall(b"POST /v1/plugins/sleep/call HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)
        s.close()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            _, _, got = D.request("GET", "/v1/plugins")
            if [p for p in got["plugins"] if p["name"] == "sleep"][0]["running"] == 0:
                break
            time.sleep(0.05)
        else:
            self.fail("the call of a client that went away kept running")


class Metrics(unittest.TestCase):
    def test_promtool(self):
        D.request("POST", "/v1/plugins/echo/call", {"m": 1})
        st, r, text = D.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain; version=0.0.4"))
        text = text.decode()
        for name in ("jobd_calls_total", "jobd_call_duration_seconds_bucket",
                     "jobd_call_queue_seconds_count", "jobd_queue_depth", "jobd_workers_busy",
                     "jobd_connections", "jobd_http_requests_total", "jobd_queued_input_bytes",
                     "jobd_store_bytes", "jobd_store_budget_bytes", "jobd_ready"):
            self.assertIn(name, text)
        self.assertRegex(text, r'jobd_calls_total\{plugin="echo",outcome="ok"\} [1-9]')
        self.assertIn('jobd_call_duration_seconds_bucket{plugin="echo",le="+Inf"}', text)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian: prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


class Hostile(unittest.TestCase):
    def test_huge_header(self):
        got, _ = D.raw(b"GET /v1/health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: "
                       + b"a" * 8000 + b"\r\n\r\n")
        self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 4"), got[:80])
        self.assertNotIn(b" 200 ", got[:20])

    def test_slow_header_closed(self):
        got, took = D.raw(b"GET /v1/health/live HTTP/1.1\r\nHo", wait=HEADER_TIMEOUT_S * 6)
        self.assertNotIn(b" 200 ", got[:20])
        self.assertLess(took, HEADER_TIMEOUT_S * 5)

    def test_body_never_ends(self):
        got, took = D.raw(b"POST /v1/plugins/echo/call HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
                          wait=HEADER_TIMEOUT_S * 6)
        self.assertNotIn(b" 200 ", got[:20])
        self.assertLess(took, HEADER_TIMEOUT_S * 5)

    def test_body_too_large_by_length(self):
        got, took = D.raw(b"POST /v1/plugins/echo/call HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{",
                          wait=HEADER_TIMEOUT_S * 6)
        self.assertTrue(got.startswith(b"HTTP/1.1 413"), got[:80])

    def test_garbage(self):
        got, _ = D.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64)
        self.assertNotIn(b" 200 ", got[:20])

    def test_still_serving(self):
        st, _, _ = D.request("GET", "/v1/health/live")
        self.assertEqual(st, 200)


class Limits(unittest.TestCase):
    def test_too_many_connections(self):
        d = Daemon("  max_connections: 2")
        try:
            job = d.request("POST", "/v1/plugins/sleep/jobs", {"ms": 3000})[2]["job"]
            streams = []
            for _ in range(2):
                c = d.conn()
                c.request("GET", "/v1/jobs/%s/events" % job)
                self.assertEqual(c.getresponse().status, 200)
                streams.append(c)
            st, _, got = d.request("GET", "/v1/plugins")
            self.assertEqual((st, got["code"]), (503, "too_many_connections"))
            for c in streams:
                c.close()
            deadline = time.monotonic() + 5
            while d.request("GET", "/v1/plugins")[0] != 200:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
        finally:
            d.stop()

    def test_draining(self):
        d = Daemon()
        try:
            st, _, got = d.request("POST", "/v1/plugins/sleep/jobs", {"ms": 3000})
            self.assertEqual(st, 202)
            job = got["job"]
            deadline = time.monotonic() + 5
            while d.request("GET", "/v1/jobs/" + job)[2]["state"] != "running":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            c = d.conn()
            c.request("GET", "/v1/jobs/%s/events" % job)
            r = c.getresponse()
            d.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            st, _, got = d.request("GET", "/v1/health/ready")
            self.assertEqual((st, got["status"]), (503, "draining"))
            st, _, got = d.request("POST", "/v1/plugins/echo/call", {})
            self.assertEqual((st, got["code"]), (503, "shutting_down"))
            c.close()
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
