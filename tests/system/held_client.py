#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One client connection held open while jobd reloads.

Usage: held_client.py PORT DIR

On one TCP connection to 127.0.0.1:PORT: a long call (sleep 6 s), then
echo calls back to back. Once 20 have been answered it creates DIR/ready;
when DIR/reloaded appears (the reload is over, as systemd saw it) it makes
20 more calls and waits for the long call, which must have spanned the
reload. Every answer must be the result of its call: an error, a lost
answer or a closed connection fails.
Prints one line, "calls N failed F", and exits 0 only when F is 0.
"""
import json
import os
import socket
import struct
import sys
import time

LONG_ID = 0
LIMIT_S = 60  # the whole run; the shell side bounds its own waits too


def send(sock, msg):
    body = json.dumps(msg).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def receive(sock):
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) != 4:
        raise ConnectionError("connection closed by the server")
    (n,) = struct.unpack(">I", head)
    body = sock.recv(n, socket.MSG_WAITALL)
    if len(body) != n:
        raise ConnectionError("connection closed inside a frame")
    return json.loads(body)


def main():
    port, flag_dir = int(sys.argv[1]), sys.argv[2]
    deadline = time.monotonic() + LIMIT_S
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    calls = failed = 0
    long_done = False
    send(sock, {"type": "call", "id": LONG_ID, "plugin": "sleep",
                "input": {"ms": 6000}})
    after_reload = 0
    next_id = 1
    while after_reload < 20 or not long_done:
        if time.monotonic() > deadline:
            print("held_client: out of time", file=sys.stderr)
            failed += 1
            break
        if after_reload < 20:
            send(sock, {"type": "call", "id": next_id, "plugin": "echo",
                        "input": {"n": next_id}})
            want = next_id
            next_id += 1
        else:
            want = LONG_ID
        while True:
            m = receive(sock)
            if m.get("type") == "progress":
                continue
            ok = m.get("type") == "result"
            if m.get("id") == LONG_ID:
                long_done = True
                if not os.path.exists(os.path.join(flag_dir, "reloaded")):
                    print("held_client: the long call ended before the "
                          "reload did", file=sys.stderr)
                    ok = False
                ok = ok and m.get("output") == {"slept_ms": 6000}
            elif ok:
                ok = m.get("output") == {"n": m.get("id")}
            calls += 1
            if not ok:
                failed += 1
                print("held_client: bad answer: %s" % json.dumps(m),
                      file=sys.stderr)
            if m.get("id") == want:
                break
        if calls == 20:
            open(os.path.join(flag_dir, "ready"), "w").close()
        if os.path.exists(os.path.join(flag_dir, "reloaded")):
            after_reload += 1
        else:
            time.sleep(0.005)  # a steady stream, not a busy loop
    print("calls %d failed %d" % (calls, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError) as e:
        print("held_client: %s" % e, file=sys.stderr)
        sys.exit(1)
