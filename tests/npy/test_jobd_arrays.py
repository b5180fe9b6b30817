# SPDX-License-Identifier: MIT
"""NumPy arrays through jobctl to the real jobd and back.

jobd runs on an ephemeral loopback port handed over by socket activation
(LISTEN_FDS), with the bundled plugins. NumPy writes the .npy files that
jobctl sends; numpy.load reads what jobctl wrote from the result:

- echo returns each array byte for byte, and provenance's arrays_sha256 is
  hashlib's SHA-256 of the array's bytes;
- kmeans given points as an f64 [n, d] array returns labels (i32) and
  centroids (f64) as arrays, equal to what the JSON path returns;
- nbody given masses/positions/velocities as arrays gives the same output
  as the same bodies in JSON;
- a wrong dtype is refused by the plugin with a clear bad_request.

usage: test_jobd_arrays.py JOBD JOBCTL PLUGIN_DIR
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:
    sys.exit("test_jobd_arrays.py: NumPy is missing (Debian: apt-get "
             "install python3-numpy; dev.sh installs it)")

JOBD, JOBCTL, PLUGINS = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Jobd:
    """jobd on a socket bound here (port 0: the kernel picks one)."""

    def __init__(self, tmp):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        port = self.sock.getsockname()[1]
        self.server = "127.0.0.1:%d" % port
        conf = os.path.join(tmp, "jobd.yaml")
        with open(conf, "w") as f:
            f.write('listen: ["127.0.0.1:%d"]\nplugin_dirs: ["%s"]\n'
                    "state_dir: %s/state\nlog_level: info\n" %
                    (port, PLUGINS, tmp))
        self.log = open(os.path.join(tmp, "jobd.log"), "w")
        fd = self.sock.fileno()
        # LISTEN_PID must be jobd's own pid: set by the shell that execs it.
        self.p = subprocess.Popen(
            ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&%d'
             % fd, JOBD, "--config", conf],
            pass_fds=[fd], stdout=self.log, stderr=self.log)
        for _ in range(100):
            r = subprocess.run([JOBCTL, "-s", self.server, "ping"],
                               capture_output=True, timeout=10)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("jobd did not answer ping")

    def stop(self):
        self.p.terminate()
        check(self.p.wait(timeout=30) == 0, "jobd exit status")
        self.sock.close()
        self.log.close()


def jobctl(server, *args):
    return subprocess.run([JOBCTL, "-s", server, "--compact"] + list(args),
                          capture_output=True, text=True, timeout=120)


def call(server, plugin, inp, arrays, out, *extra):
    argv = ["call", plugin, json.dumps(inp), "--out-dir", out, "--force"]
    for name, path in arrays:
        argv += ["--array", "%s=@%s" % (name, path)]
    r = jobctl(server, *(list(extra) + argv))
    check(r.returncode == 0, "%s: rc %d: %s" % (plugin, r.returncode,
                                                r.stderr))
    return json.loads(r.stdout) if r.returncode == 0 else {}


def main():
    rng = np.random.default_rng(17)
    with tempfile.TemporaryDirectory() as tmp:
        jd = Jobd(tmp)
        try:
            out = os.path.join(tmp, "out")
            os.mkdir(out)

            # echo: byte for byte, and hashed as received.
            a = rng.standard_normal((300, 200))
            b = (np.arange(12, dtype="<i2") - 6).reshape(3, 4)
            np.save(os.path.join(tmp, "a.npy"), a)
            np.save(os.path.join(tmp, "b.npy"), b)
            p = call(jd.server, "echo", {"k": 1},
                     [("a", tmp + "/a.npy"), ("b", tmp + "/b.npy")], out,
                     "--provenance")
            check(p.get("output") == {"k": 1}, "echo output %r" %
                  p.get("output"))
            for name, arr in [("a", a), ("b", b)]:
                back = np.load(os.path.join(out, name + ".npy"))
                check(back.dtype == arr.dtype and back.shape == arr.shape
                      and back.tobytes() == arr.tobytes(),
                      "echo: %s differs" % name)
                check(p.get("provenance", {}).get("arrays_sha256", {})
                      .get(name) == hashlib.sha256(arr.tobytes())
                      .hexdigest(), "echo: arrays_sha256 of %s" % name)

            # kmeans: the same model from an array as from JSON.
            centers = np.array([[0, 0], [6, 6], [0, 8]], dtype="<f8")
            pts = np.concatenate([c + rng.standard_normal((40, 2))
                                  for c in centers])
            np.save(os.path.join(tmp, "pts.npy"), pts)
            p = call(jd.server, "kmeans", {"k": 3, "seed": 5},
                     [("points", tmp + "/pts.npy")], out)
            j = call(jd.server, "kmeans",
                     {"k": 3, "seed": 5, "points": pts.tolist()}, [], out)
            labels = np.load(os.path.join(out, "labels.npy"))
            cent = np.load(os.path.join(out, "centroids.npy"))
            check(labels.dtype == np.dtype("<i4") and labels.shape == (120,),
                  "kmeans labels %s %s" % (labels.dtype, labels.shape))
            check(cent.dtype == np.dtype("<f8") and cent.shape == (3, 2),
                  "kmeans centroids %s %s" % (cent.dtype, cent.shape))
            check(labels.tolist() == j.get("labels"),
                  "kmeans: labels differ from the JSON path")
            check(np.array_equal(cent, np.array(j.get("centroids"))),
                  "kmeans: centroids differ from the JSON path")
            check("labels" not in p.get("output", {}) and
                  p.get("output", {}).get("inertia") == j.get("inertia"),
                  "kmeans: JSON output %r" % p.get("output"))

            # A wrong dtype: the plugin says what it wants.
            np.save(os.path.join(tmp, "pts32.npy"), pts.astype("<f4"))
            r = jobctl(jd.server, "call", "kmeans", '{"k":3}', "--array",
                       "points=@%s/pts32.npy" % tmp, "--out-dir", out)
            check(r.returncode != 0 and "f64 of shape [n, d]" in r.stderr,
                  "kmeans f32: rc %d %r" % (r.returncode, r.stderr))

            # nbody: bodies as arrays, the same run as in JSON.
            m = np.array([1.0, 1e-3])
            x = np.array([[0, 0, 0], [1, 0, 0]], dtype="<f8")
            v = np.array([[0, 0, 0], [0, 1, 0]], dtype="<f8")
            for name, arr in [("masses", m), ("positions", x),
                              ("velocities", v)]:
                np.save(os.path.join(tmp, name + ".npy"), arr)
            run = {"dt": 0.01, "duration": 1.0, "samples": 2}
            p = call(jd.server, "nbody", run,
                     [(n, "%s/%s.npy" % (tmp, n))
                      for n in ("masses", "positions", "velocities")], out)
            bodies = [{"mass": float(m[i]), "position": x[i].tolist(),
                       "velocity": v[i].tolist()} for i in range(2)]
            j = call(jd.server, "nbody", dict(run, bodies=bodies), [], out)
            # No arrays come back: jobctl prints the output alone.
            check(p == j, "nbody: arrays and JSON differ:\n%r\n%r" % (p, j))
        finally:
            jd.stop()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all jobd array checks passed")
    return 0


sys.exit(main())
