# SPDX-License-Identifier: MIT
"""Pure parts, no daemon: server lists, framing, error mapping, backoff."""

import json

import pytest

import jobd
from jobd import errors, frame, servers
from jobd.client import backoff


def test_server_list_like_jobctl():
    got = servers.parse(" lab1:7000 , [::1]:7001,lab2,tls://lab3:7879,TLS://[fe80::1]")
    assert [s.display for s in got] == [
        "lab1:7000",
        "[::1]:7001",
        "lab2:7878",
        "tls://lab3:7879",
        "tls://[fe80::1]:7878",
    ]
    assert [s.tls for s in got] == [False, False, False, True, True]
    assert servers.parse(["a:1", "b"]) == [("a", 1, False), ("b", 7878, False)]


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty entry"),
        ("a:1,,b:2", "empty entry"),
        ("::1:7878", "brackets"),
        ("[::1", "missing ']'"),
        ("[::1]7878", "expected ':'"),
        ("a:0", "port must be"),
        ("a:65536", "port must be"),
        ("a:x", "port must be"),
        (":7878", "empty host"),
        ("http://a:1", "tls://"),
    ],
)
def test_server_list_errors_name_the_entry(text, why):
    with pytest.raises(ValueError, match=why):
        servers.parse(text)


def test_server_list_from_environment(monkeypatch):
    monkeypatch.setenv("JOBD_SERVER", "envhost:1234")
    assert jobd.Client().servers == [("envhost", 1234, False)]
    assert jobd.Client("given:1").servers == [("given", 1, False)]
    monkeypatch.delenv("JOBD_SERVER")
    assert jobd.Client().servers == [("127.0.0.1", 7878, False)]


def test_token_never_in_repr(monkeypatch):
    monkeypatch.setenv("JOBD_TOKEN", "s3cret-token")
    c = jobd.Client("a:1")
    assert "s3cret" not in repr(c)


def test_frames_split_anywhere():
    msgs = [{"type": "result", "id": i, "output": {"x": "é" * i}} for i in range(5)]
    stream = b"".join(frame.encode(m) for m in msgs)
    for step in (1, 2, 3, 7, len(stream)):
        dec = frame.Decoder()
        out = []
        for i in range(0, len(stream), step):
            out += dec.feed(stream[i:i + step])
        assert out == msgs
        assert not dec.mid_frame()


def test_frame_encoding_is_compact_utf8():
    assert frame.encode({"type": "ping", "id": 2}) == b'\x00\x00\x00\x16{"type":"ping","id":2}'
    assert frame.encode_body({"s": "é"}) == '{"s":"é"}'.encode("utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        frame.encode({"x": float("nan")})
    with pytest.raises(TypeError, match="set"):
        frame.encode({"x": {1, 2}})


def test_numpy_values_become_json():
    np = pytest.importorskip("numpy")
    body = frame.encode_body({"a": np.arange(3), "f": np.float64(0.5)})
    assert json.loads(body) == {"a": [0, 1, 2], "f": 0.5}


@pytest.mark.parametrize(
    "data, why",
    [
        (b"\x00\x00\x00\x00", "length 0"),
        (b"\x7f\x00\x00\x00", "announced"),
        (b"\x00\x00\x00\x02{]", "invalid JSON"),
        (b"\x00\x00\x00\x02[]", "without a type"),
    ],
)
def test_broken_streams(data, why):
    with pytest.raises(errors.ProtocolError, match=why):
        frame.Decoder().feed(data)


def test_one_class_per_documented_code():
    documented = {
        "bad_frame", "too_large", "bad_json", "bad_request", "unknown_type",
        "unsupported_version", "duplicate_id", "unknown_plugin", "busy",
        "timeout", "cancelled", "plugin_failed", "shutting_down", "not_found",
        "too_many_connections", "internal", "idle_timeout", "interrupted",
        "unauthorized", "forbidden", "plugin_crashed", "unavailable",
        "out_of_memory",
    }
    assert set(jobd.ERROR_CLASSES) == documented
    for code, cls in jobd.ERROR_CLASSES.items():
        err = errors.from_message({"type": "error", "code": code, "message": "m"})
        assert type(err) is cls and err.code == code and isinstance(err, jobd.JobdError)
        assert str(err) == "%s: m" % code


def test_error_details():
    busy = errors.from_message(
        {"type": "error", "id": 1, "code": "busy", "message": "full", "retry_after_ms": 250}
    )
    assert isinstance(busy, jobd.BusyError) and busy.retry_after == 0.25
    t = errors.from_message({"type": "error", "code": "timeout", "message": "late"})
    # Caught by the builtin too, without shadowing its name.
    assert isinstance(t, TimeoutError) and isinstance(t, jobd.JobTimeout)
    assert jobd.JobTimeout is not TimeoutError
    new = errors.from_message({"type": "error", "code": "brand_new", "message": "?"})
    assert type(new) is jobd.InternalError and new.code == "brand_new"
    failed = errors.from_message(
        {"type": "error", "code": "plugin_failed", "message": "diverged", "job": "ab",
         "state": "failed", "provenance": {"plugin": "x"}}
    )
    assert (failed.job, failed.state, failed.provenance) == ("ab", "failed", {"plugin": "x"})
    assert issubclass(jobd.ConnectError, ConnectionError)
    assert issubclass(jobd.ProtocolVersionError, NotImplementedError)


def test_backoff_like_jobctl():
    for attempt in range(10):
        b = min(0.1 * 2 ** attempt, 5.0)
        for _ in range(20):
            w = backoff(attempt, None)
            assert b <= w <= b * 1.25
    assert 2.0 <= backoff(0, 2.0) <= 2.5  # the server's hint wins when longer


def test_arrays_refused_clearly_before_connecting(dead_address):
    c = jobd.Client(dead_address)
    with pytest.raises(jobd.ProtocolVersionError, match="protocol version 2"):
        c.call("echo", {}, arrays={"x": b"\0"})
    with pytest.raises(NotImplementedError):
        c.submit("echo", {}, arrays={"x": b"\0"})
    assert c.server is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        jobd.Client("a:1", timeout=0)
    with pytest.raises(ValueError):
        jobd.Client("a:1", retry=-1)
    c = jobd.Client("a:1")
    with pytest.raises(ValueError):
        c.job("")
    with pytest.raises(ValueError):
        c.map("echo", [], window=0)
