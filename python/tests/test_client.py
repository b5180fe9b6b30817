# SPDX-License-Identifier: MIT
"""Every method of the client against the real daemon."""

import json
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import jobd
from conftest import child_env


def wait_state(job, states, limit=10.0):
    """Polls until the job is in one of states (bounded)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st = job.status()
        if st["state"] in states:
            return st
        time.sleep(0.02)
    raise AssertionError("job %s never reached %s" % (job.id, states))


# --- call --------------------------------------------------------------------


def test_call_returns_the_output(client, daemon):
    value = {"text": "héllo ∑", "n": [1, 2.5, None, True], "deep": {"a": {"b": []}}}
    assert client.call("echo", value) == value
    assert client.call("echo", 42) == 42
    assert client.call("echo") is None
    assert client.server == daemon.address
    assert client.server_version.startswith("jobd ")


def test_call_progress_callback(client):
    seen = []
    out = client.call("sleep", {"ms": 600}, progress=lambda f, m: seen.append(f))
    assert out == {"slept_ms": 600}
    assert len(seen) >= 3
    assert seen == sorted(seen) and 0 <= seen[0] and seen[-1] <= 1


def test_call_plain_progress_bar(client, monkeypatch, capsys):
    monkeypatch.setattr(jobd.progress, "_tqdm_class", lambda: None)
    assert client.call("sleep", {"ms": 400}, progress=True) == {"slept_ms": 400}
    err = capsys.readouterr().err
    assert re.search(r"\rsleep \[#*\s*\]\s+\d+% 00:00", err), err
    assert re.search(r"\rsleep \[#{30}\] 100% 00:00\s*\n$", err), err


def test_wait_uses_tqdm_when_installed(client, monkeypatch):
    bars = []

    class FakeTqdm:  # stands in for tqdm.auto.tqdm, recording what it is told
        def __init__(self, total, desc, **kw):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix_str(self, s, refresh=True):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(jobd.progress, "_tqdm_class", lambda: FakeTqdm)
    job = client.submit("sleep", {"ms": 500})
    assert job.wait(progress=True) == {"slept_ms": 500}
    assert len(bars) == 1 and bars[0].closed and bars[0].n == bars[0].total


def test_call_deadline_is_a_timeout(client):
    t0 = time.monotonic()
    with pytest.raises(jobd.JobTimeout) as e:
        client.call("sleep", {"ms": 5000}, timeout=0.3)
    assert isinstance(e.value, TimeoutError)
    assert e.value.code == "timeout"
    assert time.monotonic() - t0 < 2.0
    assert client.call("echo", 1) == 1  # the connection goes on


def test_errors_by_code(client):
    with pytest.raises(jobd.UnknownPlugin, match="nope") as e:
        client.call("nope", 1)
    assert e.value.code == "unknown_plugin"
    with pytest.raises(jobd.BadRequest, match="ms: must be"):
        client.call("sleep", {"ms": "soon"})
    with pytest.raises(jobd.PluginFailed, match="diverged at step 17") as e:
        client.call("misbehave", {"do": "fail"})
    assert e.value.provenance["plugin"] == "misbehave"
    with pytest.raises(jobd.BadRequest, match="plugin"):
        client.call("Not A Name!", 1)
    with pytest.raises(jobd.UnknownType):
        client._request("frobnicate")
    with pytest.raises(jobd.NotFound):
        client.job("0123456789abcdef").status()
    with pytest.raises(jobd.NotFound):
        client.job("0123456789abcdef").result()
    with pytest.raises(jobd.TooLarge, match="max_frame_size of 1048576"):
        client.call("echo", "x" * (2 << 20))
    # None of these cost the connection.
    assert client.call("echo", [1]) == [1]


def test_ping_and_stats(client):
    assert 0 <= client.ping() < 5
    st = client.stats()
    assert "type" not in st and st["plugins"]["misbehave"]["queue_bound"] == 1


# --- detached jobs -----------------------------------------------------------


def test_submit_status_wait_result(client):
    job = client.submit("sleep", {"ms": 700})
    assert re.fullmatch(r"[0-9a-f]{16}", job.id)
    st = job.status()
    assert st["job"] == job.id and st["plugin"] == "sleep"
    assert st["state"] in ("queued", "running")
    with pytest.raises(jobd.JobNotFinished) as e:
        job.result()
    assert e.value.state in ("queued", "running")
    seen = []
    assert job.wait(progress=lambda f, m: seen.append(f)) == {"slept_ms": 700}
    assert seen and seen[-1] <= 1
    assert job.status()["state"] == "done"
    assert job.result() == {"slept_ms": 700}
    assert job.provenance["plugin"] == "sleep"
    assert len(job.provenance["input_sha256"]) == 64


def test_failed_job_raises_its_error(client):
    job = client.submit("misbehave", {"do": "fail"})
    with pytest.raises(jobd.PluginFailed) as e:
        job.wait()
    assert e.value.job == job.id and e.value.state == "failed"
    with pytest.raises(jobd.PluginFailed):
        job.result()


def test_cancel_a_running_job(client):
    job = client.submit("sleep", {"ms": 20000})
    wait_state(job, ("running",))
    st = job.cancel()
    assert st["job"] == job.id
    assert st.get("cancel_requested") or st["state"] == "cancelled"
    t0 = time.monotonic()
    with pytest.raises(jobd.Cancelled):
        job.wait()
    assert time.monotonic() - t0 < 2
    assert job.status()["state"] == "cancelled"


def test_wait_timeout_leaves_the_job_running(client):
    job = client.submit("sleep", {"ms": 20000})
    with pytest.raises(jobd.JobTimeout, match="still running"):
        job.wait(timeout=0.3)
    assert job.status()["state"] in ("queued", "running")
    job.cancel()
    with pytest.raises(jobd.Cancelled):
        job.wait(timeout=5)
    assert client.call("echo", 7) == 7  # the abandoned attach is harmless


def test_submit_with_deadline(client):
    job = client.submit("sleep", {"ms": 5000}, timeout=0.2)
    with pytest.raises(jobd.JobTimeout):
        job.wait(timeout=5)


def _child(code, *args):
    return subprocess.run(
        [sys.executable, "-c", code] + list(args),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_detach_and_reattach_from_another_process(client, daemon):
    # The laptop submits and goes away...
    r = _child(
        "import sys, jobd\n"
        "c = jobd.Client(sys.argv[1])\n"
        "print(c.submit('sleep', {'ms': 800}).id)\n",
        daemon.address,
    )
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    # ...and comes back: this process has never seen the job.
    job = client.job(job_id)
    assert job.wait() == {"slept_ms": 800}
    assert job.plugin is None or job.plugin == "sleep"

    # The other way round: submitted here, followed from a second process.
    job = client.submit("sleep", {"ms": 300})
    r = _child(
        "import sys, json, jobd\n"
        "c = jobd.Client(sys.argv[1])\n"
        "print(json.dumps(c.job(sys.argv[2]).wait()))\n",
        daemon.address,
        job.id,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"slept_ms": 300}


def test_jobs_lists_and_filters(client):
    a = client.submit("echo", {"a": 1})
    b = client.submit("misbehave", {"do": "fail"})
    a.wait()
    with pytest.raises(jobd.PluginFailed):
        b.wait()
    listed = client.jobs()
    ids = [j["job"] for j in listed]
    assert a.id in ids and b.id in ids
    assert ids.index(b.id) < ids.index(a.id)  # newest first
    failed = client.jobs(state="failed", plugin="misbehave")
    assert b.id in [j["job"] for j in failed]
    assert all(j["state"] == "failed" and j["plugin"] == "misbehave" for j in failed)
    assert len(client.jobs(limit=1)) == 1
    with pytest.raises(jobd.BadRequest):
        client.jobs(limit=0)


# --- map ---------------------------------------------------------------------


def test_map_yields_in_completion_order(client):
    # Four workers run the four at once; done one by one, they would come
    # back in input order.
    sleeps = [600, 50, 300, 10]
    got = list(client.map("sleep", [{"ms": ms} for ms in sleeps]))
    assert [i for i, _ in got] == [3, 1, 2, 0]
    assert all(out == {"slept_ms": sleeps[i]} for i, out in got)


def test_map_many_on_one_connection(client):
    inputs = ({"i": i} for i in range(500))  # a generator: read lazily
    got = dict(client.map("echo", inputs, window=16))
    assert got == {i: {"i": i} for i in range(500)}


def test_map_errors(client):
    inputs = [{"ms": 10}, {"ms": "x"}, {"ms": 20}]
    got = dict(client.map("sleep", inputs, return_exceptions=True))
    assert got[0] == {"slept_ms": 10} and got[2] == {"slept_ms": 20}
    assert isinstance(got[1], jobd.BadRequest) and got[1].index == 1
    with pytest.raises(jobd.BadRequest) as e:
        list(client.map("sleep", [{"ms": "x"}, {"ms": 10000}]))
    assert e.value.index == 0
    # The 10 s call still in flight was cancelled, not waited for.
    assert client.call("echo", 1, timeout=5) == 1


def test_map_stopped_early_cancels_the_rest(client):
    it = client.map("sleep", [{"ms": 10}] + [{"ms": 20000}] * 3)
    assert next(it) == (0, {"slept_ms": 10})
    it.close()
    end = time.monotonic() + 5
    while client.stats()["plugins"]["sleep"]["running"] and time.monotonic() < end:
        time.sleep(0.05)
    assert client.stats()["plugins"]["sleep"]["running"] == 0


# --- busy --------------------------------------------------------------------


def test_busy_and_retry(client, daemon):
    # misbehave has one worker and a queue of one: one job running and
    # one queued fill it.
    holder = jobd.Client(daemon.address)
    first = holder.submit("misbehave", {"do": "sleep", "ms": 700})
    wait_state(first, ("running",))
    second = holder.submit("misbehave", {"do": "sleep", "ms": 300})
    with pytest.raises(jobd.BusyError) as e:
        client.call("misbehave", {"do": "ok"})
    assert e.value.retry_after is not None and e.value.retry_after > 0
    t0 = time.monotonic()
    assert client.call("misbehave", {"do": "ok"}, retry=20) is not None
    assert time.monotonic() - t0 > 0.1
    first.wait()
    second.wait()

    # map retries its busy calls without holding up the others.
    first = holder.submit("misbehave", {"do": "sleep", "ms": 300})
    wait_state(first, ("running",))
    got = dict(client.map("misbehave", [{"do": "ok"}] * 4, retry=20))
    assert sorted(got) == [0, 1, 2, 3]
    # Without retries the refusals are reported.
    first = holder.submit("misbehave", {"do": "sleep", "ms": 300})
    wait_state(first, ("running",))
    got = dict(client.map("misbehave", [{"do": "sleep", "ms": 100}] * 4, return_exceptions=True))
    assert any(isinstance(v, jobd.BusyError) for v in got.values())
    first.wait()
    holder.close()


def test_client_wide_retry_option(client, daemon):
    holder = jobd.Client(daemon.address)
    first = holder.submit("misbehave", {"do": "sleep", "ms": 400})
    wait_state(first, ("running",))
    holder.submit("misbehave", {"do": "sleep", "ms": 100})
    patient = jobd.Client(daemon.address, retry=True)
    assert patient.call("misbehave", {"do": "ok"}) is not None
    # Retries never outlast the call's deadline.
    first = holder.submit("misbehave", {"do": "sleep", "ms": 3000})
    wait_state(first, ("running",))
    holder.submit("misbehave", {"do": "sleep", "ms": 10})
    t0 = time.monotonic()
    with pytest.raises((jobd.BusyError, jobd.JobTimeout)):
        patient.call("misbehave", {"do": "ok"}, timeout=0.5)
    assert time.monotonic() - t0 < 1.5
    first.cancel()
    patient.close()
    holder.close()


# --- failover ----------------------------------------------------------------


def test_failover_when_the_first_server_is_down(daemon, dead_address):
    c = jobd.Client("%s,%s" % (dead_address, daemon.address))
    assert c.call("echo", {"x": 1}) == {"x": 1}
    assert c.server == daemon.address
    c.close()


def test_no_server_reachable_names_each(dead_address):
    c = jobd.Client("%s,%s" % (dead_address, dead_address), connect_timeout=2)
    with pytest.raises(jobd.ConnectError) as e:
        c.call("echo", 1)
    assert str(e.value).count(dead_address) == 2
    assert "refused" in str(e.value)
    assert isinstance(e.value, ConnectionError)


def test_server_list_from_environment(daemon, dead_address, monkeypatch):
    monkeypatch.setenv("JOBD_SERVER", "%s,%s" % (dead_address, daemon.address))
    with jobd.Client() as c:
        assert c.call("echo", "env") == "env"


def test_failover_when_the_server_dies_during_a_call(make_daemon):
    a, b = make_daemon(), make_daemon()
    c = jobd.Client("%s,%s" % (a.address, b.address))
    assert c.ping() >= 0 and c.server == a.address
    threading.Timer(0.3, a.stop, args=(signal.SIGKILL,)).start()
    t0 = time.monotonic()
    assert c.call("sleep", {"ms": 800}) == {"slept_ms": 800}
    assert c.server == b.address
    assert time.monotonic() - t0 >= 0.3 + 0.8 - 0.05  # begun again on b
    # A detached job is followed again after the loss (same store).
    job = c.submit("sleep", {"ms": 300})
    assert job.wait() == {"slept_ms": 300}
    c.close()


def test_reconnects_after_idle_timeout(make_daemon):
    d = make_daemon("limits:\n  idle_timeout: 1s\n")
    c = jobd.Client(d.address)
    assert c.call("echo", 1) == 1
    time.sleep(1.5)  # the server closes the idle connection
    assert c.call("echo", 2) == 2
    c.close()


def test_too_many_connections(make_daemon):
    d = make_daemon("limits:\n  max_connections: 1\n")
    first = jobd.Client(d.address)
    first.ping()
    second = jobd.Client(d.address)
    with pytest.raises(jobd.ConnectError, match="too_many_connections"):
        second.ping()
    first.close()


def test_shutting_down(make_daemon):
    d = make_daemon()
    busy = jobd.Client(d.address)
    other = jobd.Client(d.address)
    other.ping()
    result = {}
    t = threading.Thread(target=lambda: result.update(out=busy.call("sleep", {"ms": 1000})))
    t.start()
    end = time.monotonic() + 5
    while other.stats()["plugins"]["sleep"]["running"] == 0 and time.monotonic() < end:
        time.sleep(0.02)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(jobd.ShuttingDown):
        other.call("echo", 1)
    t.join(10)
    assert result["out"] == {"slept_ms": 1000}  # the running call finished
    assert d.proc.wait(10) == 0


# --- Ctrl-C ------------------------------------------------------------------


CTRL_C_CHILD = r"""
import json, sys, time, jobd
c = jobd.Client(sys.argv[1])
c.ping()
conn = c._conn
print("calling", flush=True)
t0 = time.monotonic()
try:
    c.call("sleep", {"ms": 30000})
    print(json.dumps({"interrupted": False}))
except KeyboardInterrupt:
    waited = time.monotonic() - t0
    st = c.stats()
    print(json.dumps({"interrupted": True, "waited": waited,
                      "same_connection": c._conn is conn,
                      "running": st["plugins"]["sleep"]["running"]}))
"""


def test_ctrl_c_in_call_cancels_it(make_daemon):
    d = make_daemon()
    p = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, d.address],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "calling"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    r = json.loads(out)
    assert r["interrupted"] and r["waited"] < 5
    # Cancelled by the cancel message: the connection is still open, and
    # the server has stopped the job.
    assert r["same_connection"] and r["running"] == 0


def test_numpy_input_goes_as_json(client):
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)
    points = np.vstack([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    out = client.call("kmeans", {"points": points, "k": np.int64(2), "seed": 1})
    assert sorted(out["sizes"]) == [20, 20]
    assert out["inertia"] < 2


CTRL_C_WAIT_CHILD = r"""
import json, sys, jobd
c = jobd.Client(sys.argv[1])
job = c.submit("sleep", {"ms": 30000})
print("waiting", flush=True)
try:
    job.wait()
except KeyboardInterrupt:
    print(json.dumps({"job": job.id, "state": job.status()["state"]}))
"""


def test_ctrl_c_in_wait_leaves_the_job_running(client, daemon):
    p = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_WAIT_CHILD, daemon.address],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    r = json.loads(out)
    assert r["state"] in ("queued", "running")
    job = client.job(r["job"])
    assert job.status()["state"] in ("queued", "running")  # the child has gone
    job.cancel()
    with pytest.raises(jobd.Cancelled):
        job.wait(timeout=5)


def test_map_survives_a_server_lost_between_yields(make_daemon):
    a, b = make_daemon(), make_daemon()
    c = jobd.Client("%s,%s" % (a.address, b.address))
    it = c.map("sleep", [{"ms": 10}, {"ms": 500}, {"ms": 600}])
    assert next(it) == (0, {"slept_ms": 10})
    a.stop(signal.SIGKILL)
    # Between two yields the caller uses the client: it moves to b.
    assert c.call("echo", "x") == "x" and c.server == b.address
    # The two calls that were on a are sent again, to b.
    assert sorted(it) == [(1, {"slept_ms": 500}), (2, {"slept_ms": 600})]
    c.close()


def test_too_large_from_the_server(make_daemon):
    d = make_daemon("limits:\n  max_queued_input: 64KiB\n")
    c = jobd.Client(d.address)
    with pytest.raises(jobd.TooLarge) as e:
        c.call("echo", "x" * 70000)  # under max_frame_size, over max_queued_input
    assert "max_frame_size" not in str(e.value)  # the server's answer, not ours
    assert c.call("echo", "small") == "small"  # the connection goes on
    c.close()


def test_jobs_across_a_server_restart(make_daemon):
    d = make_daemon()
    c = jobd.Client(d.address)
    running = c.submit("misbehave", {"do": "sleep", "ms": 20000})
    wait_state(running, ("running",))
    queued = c.submit("misbehave", {"do": "ok"})
    assert queued.status()["state"] == "queued"
    c.close()
    d.stop(signal.SIGKILL)
    d.restart()
    # Next day, another port, a new client: the ids still work.
    c = jobd.Client(d.address)
    with pytest.raises(jobd.JobInterrupted) as e:
        c.job(running.id).wait(timeout=10)  # misbehave is not retry-safe
    assert e.value.job == running.id and e.value.state == "interrupted"
    assert c.job(queued.id).wait(timeout=10) is not None  # queued jobs run
    assert c.job(queued.id).status()["state"] == "done"
    c.close()
