# SPDX-License-Identifier: MIT
"""The client's side of TLS and tokens: handshake, CA and server-name
checks, the token in hello, and `unauthorized`.

The daemon does not speak TLS yet, so the server here is a small Python
one (the ssl module) that speaks just enough of the protocol: it proves
what the client sends and verifies, not how jobd answers."""

import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

import jobd
from jobd import frame

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def _make_ca(d, name):
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
        "-subj", "/CN=" + name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    _make_ca(d, "ca")
    _make_ca(d, "other-ca")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=d,
    )
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext",
        cwd=d,
    )
    return {k: os.path.join(d, k + ".pem") for k in ("ca", "other-ca", "server")} | {
        "key": os.path.join(d, "server.key")
    }


class FakeServer:
    """TLS on 127.0.0.1:<ephemeral>; answers hello (or refuses the token),
    echoes calls, answers pings. Records every hello and TLS version."""

    def __init__(self, certs, want_token=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs["server"], certs["key"])
        self.want_token = want_token
        self.hellos = []
        self.versions = []
        self.handshake_errors = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            raw.settimeout(10)
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.handshake_errors.append(str(e))
                raw.close()
                continue
            self.versions.append(conn.version())
            try:
                self._talk(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def _talk(self, conn):
        dec = frame.Decoder()
        while True:
            data = conn.recv(65536)
            if not data:
                return
            for msg in dec.feed(data):
                kind = msg["type"]
                if kind == "hello":
                    self.hellos.append(msg)
                    if self.want_token is not None and msg.get("token") != self.want_token:
                        conn.sendall(frame.encode({"type": "error", "code": "unauthorized",
                                                   "message": "missing or wrong token"}))
                        return
                    conn.sendall(frame.encode({"type": "hello", "version": 1,
                                               "server": "fake", "max_frame_size": 65536}))
                elif kind == "call":
                    conn.sendall(frame.encode({"type": "result", "id": msg["id"],
                                               "output": msg["input"]}))
                elif kind == "ping":
                    conn.sendall(frame.encode({"type": "pong", "id": msg["id"]}))

    def close(self):
        self.sock.close()


@pytest.fixture
def server(certs):
    s = FakeServer(certs, want_token="s3cret")
    yield s
    s.close()


def test_tls_with_ca_and_token(server, certs):
    c = jobd.Client("tls://localhost:%d" % server.port, ca=certs["ca"], token="s3cret")
    assert c.call("echo", {"x": [1, "é"]}) == {"x": [1, "é"]}
    assert c.server == "tls://localhost:%d" % server.port
    assert c.server_version == "fake"
    assert server.hellos[-1]["token"] == "s3cret"
    assert server.hellos[-1]["version"] == 1
    assert server.versions[-1] in ("TLSv1.2", "TLSv1.3")
    c.close()


def test_token_and_ca_from_environment(server, certs, monkeypatch):
    monkeypatch.setenv("JOBD_SERVER", "tls://localhost:%d" % server.port)
    monkeypatch.setenv("JOBD_TOKEN", "s3cret")
    monkeypatch.setenv("JOBD_CA", certs["ca"])
    with jobd.Client() as c:
        assert c.call("echo", 5) == 5


def test_token_file(server, certs, tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cret\n")
    with jobd.Client("tls://localhost:%d" % server.port, ca=certs["ca"],
                     token_file=str(path)) as c:
        assert c.ping() >= 0
    assert server.hellos[-1]["token"] == "s3cret"


def test_wrong_token_is_unauthorized_not_failover(server, certs):
    c = jobd.Client("tls://localhost:%d,tls://localhost:%d" % (server.port, server.port),
                    ca=certs["ca"], token="wrong")
    with pytest.raises(jobd.Unauthorized, match="wrong token"):
        c.call("echo", 1)
    assert len(server.hellos) == 1  # the second entry was not tried


def test_unknown_ca_is_refused(server, certs):
    c = jobd.Client("tls://localhost:%d" % server.port, ca=certs["other-ca"], token="s3cret")
    with pytest.raises(jobd.ConnectError, match="certificate verify failed|local issuer"):
        c.call("echo", 1)
    assert server.hellos == []


def test_system_cas_do_not_trust_a_private_ca(server):
    c = jobd.Client("tls://localhost:%d" % server.port, token="s3cret", connect_timeout=5)
    with pytest.raises(jobd.ConnectError):
        c.call("echo", 1)
    assert server.hellos == []


def test_server_name_is_verified(server, certs):
    # The certificate names localhost only.
    c = jobd.Client("tls://127.0.0.1:%d" % server.port, ca=certs["ca"], token="s3cret")
    with pytest.raises(jobd.ConnectError, match="mismatch|doesn't match|not valid"):
        c.call("echo", 1)
    assert server.hellos == []


def test_tls_failover_to_a_good_server(server, certs, dead_address):
    c = jobd.Client("tls://%s,tls://localhost:%d" % (dead_address, server.port),
                    ca=certs["ca"], token="s3cret")
    assert c.call("echo", "ok") == "ok"


def test_plaintext_client_on_a_tls_port_fails_cleanly(server, certs):
    c = jobd.Client("localhost:%d" % server.port, connect_timeout=3)
    with pytest.raises(jobd.ConnectError):
        c.call("echo", 1)
