# SPDX-License-Identifier: MIT
"""jobctl with binary arrays, end to end over TCP: NumPy files in, NumPy
files out.

The server is fake-jobd-v2 (tests/integration/fake_v2.h), a protocol
version 2 server built on jobd's wire library: it echoes a call's input
and arrays, and answers `result`/`attach` with one array, which jobd
cannot do yet (detached jobs do not carry arrays), and plays a server of
version 1. NumPy writes the inputs and numpy.load reads what jobctl wrote.
test_jobd_arrays.py does the same against the real jobd.

usage: test_jobctl_arrays.py JOBCTL FAKE_JOBD_V2
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit("test_jobctl_arrays.py: NumPy is missing (Debian: apt-get "
             "install python3-numpy; dev.sh installs it)")

JOBCTL, FAKE = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Fake:
    def __init__(self, mode):
        self.p = subprocess.Popen([FAKE, mode], stdout=subprocess.PIPE,
                                  text=True)
        self.server = "127.0.0.1:" + self.p.stdout.readline().strip()

    def stop(self):
        self.p.kill()
        self.p.wait()


def jobctl(server, *args, cwd=None):
    r = subprocess.run([JOBCTL, "-s", server, "--compact"] + list(args),
                       capture_output=True, text=True, timeout=60, cwd=cwd)
    return r


def same(path, arr, what):
    back = np.load(path)
    check(back.dtype == arr.dtype and back.shape == arr.shape and
          back.tobytes() == arr.tobytes(), "%s: %s differs" % (what, path))


def main():
    rng = np.random.default_rng(17)
    a = rng.standard_normal((300, 200))
    b = np.arange(10, dtype="<i4") - 5
    c = np.zeros((0, 3), dtype="<u2")
    d = np.array(7, dtype="<i8")
    fake = Fake("echo")
    v1 = Fake("v1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, arr in [("a", a), ("b", b), ("c", c), ("d", d)]:
                np.save(os.path.join(tmp, name + ".npy"), arr)
            out = os.path.join(tmp, "out")
            os.mkdir(out)
            args = ["call", "echo", '{"k":1}'] + sum(
                (["--array", "%s=@%s/%s.npy" % (n, tmp, n)]
                 for n in "abcd"), []) + ["--out-dir", out]

            # Arrays out and back, written as NAME.npy into --out-dir.
            r = jobctl(fake.server, *args)
            check(r.returncode == 0, "call: rc %d: %s" %
                  (r.returncode, r.stderr))
            printed = json.loads(r.stdout) if r.returncode == 0 else {}
            check(printed.get("output") == {"k": 1}, "call: output %r" %
                  printed.get("output"))
            files = printed.get("arrays", {})
            check(sorted(files) == ["a", "b", "c", "d"],
                  "call: arrays %r" % files)
            for name, arr in [("a", a), ("b", b), ("c", c), ("d", d)]:
                f = files.get(name, {})
                check(f.get("file") == os.path.join(out, name + ".npy"),
                      "call: %s file %r" % (name, f.get("file")))
                check(f.get("shape") == list(arr.shape),
                      "call: %s shape %r" % (name, f.get("shape")))
                same(os.path.join(out, name + ".npy"), arr, "call")
            check(files.get("a", {}).get("dtype") == "f64", "dtype f64")
            check(files.get("b", {}).get("dtype") == "i32", "dtype i32")

            # Never overwrite without --force; nothing is half written.
            before = open(os.path.join(out, "a.npy"), "rb").read()
            os.remove(os.path.join(out, "d.npy"))
            r = jobctl(fake.server, *args)
            check(r.returncode == 1 and "exists; --force" in r.stderr,
                  "no force: rc %d: %s" % (r.returncode, r.stderr))
            check(not os.path.exists(os.path.join(out, "d.npy")),
                  "no force: wrote some arrays")
            check(open(os.path.join(out, "a.npy"), "rb").read() == before,
                  "no force: changed a file")
            r = jobctl(fake.server, *(args + ["--force"]))
            check(r.returncode == 0, "force: %s" % r.stderr)
            same(os.path.join(out, "d.npy"), d, "force")

            # Default directory: the current one.
            cwd = os.path.join(tmp, "cwd")
            os.mkdir(cwd)
            r = jobctl(fake.server, "call", "echo", "{}", "--array",
                       "b=@%s/b.npy" % tmp, cwd=cwd)
            check(r.returncode == 0 and
                  json.loads(r.stdout)["arrays"]["b"]["file"] == "b.npy",
                  "cwd: %s %s" % (r.stdout, r.stderr))
            same(os.path.join(cwd, "b.npy"), b, "cwd")

            # The progress-bar path (--provenance submits and receives).
            live = os.path.join(tmp, "live")
            os.mkdir(live)
            r = jobctl(fake.server, "--provenance", "call", "echo", "[]",
                       "--array", "a=@%s/a.npy" % tmp, "--out-dir", live)
            check(r.returncode == 0 and
                  "a" in json.loads(r.stdout).get("arrays", {}),
                  "provenance: %s %s" % (r.stdout, r.stderr))
            same(os.path.join(live, "a.npy"), a, "provenance")

            # A call without arrays prints the output alone, as before.
            r = jobctl(fake.server, "call", "echo", '{"x":[1,2]}')
            check(r.returncode == 0 and
                  json.loads(r.stdout) == {"x": [1, 2]},
                  "plain: %s %s" % (r.stdout, r.stderr))

            # result and wait write the job's arrays too.
            for cmd in ["result", "wait"]:
                dst = os.path.join(tmp, cmd)
                os.mkdir(dst)
                r = jobctl(fake.server, cmd, "0123456789abcdef",
                           "--out-dir", dst)
                check(r.returncode == 0, "%s: %s" % (cmd, r.stderr))
                if r.returncode == 0:
                    p = json.loads(r.stdout)
                    check(p["output"] == {"job": "0123456789abcdef"} and
                          p["arrays"]["r"]["dtype"] == "i32",
                          "%s: printed %r" % (cmd, p))
                same(os.path.join(dst, "r.npy"),
                     np.array([1, 2, 3], dtype="<i4"), cmd)

            # Refused before anything is sent (exit 2).
            np.save(os.path.join(tmp, "f.npy"),
                    np.asfortranarray(np.zeros((2, 3))))
            bad = [
                (["call", "echo", "{}", "--array", "a/b=@%s/a.npy" % tmp],
                 "the name must be"),
                (["call", "echo", "{}", "--array", "a=%s/a.npy" % tmp],
                 "expected NAME=@FILE.npy"),
                (["call", "echo", "{}", "--array", "a=@%s/none.npy" % tmp],
                 "none.npy: No such file"),
                (["call", "echo", "{}", "--array", "f=@%s/f.npy" % tmp],
                 "Fortran order"),
                (["call", "echo", "{}", "--array", "a=@%s/a.npy" % tmp,
                  "--array", "a=@%s/b.npy" % tmp], "given twice"),
                (["call", "echo", "{}", "--out-dir", tmp + "/nodir"],
                 "nodir"),
                (["ping", "--array", "a=@%s/a.npy" % tmp],
                 "--array goes with call or submit"),
            ]
            for argv, needle in bad:
                r = jobctl(fake.server, *argv)
                check(r.returncode == 2 and needle in r.stderr,
                      "%s: rc %d: %r" % (argv, r.returncode, r.stderr))

            # A server that speaks version 1 (a jobd older than arrays): arrays are
            # refused locally, everything else works.
            r = jobctl(v1.server, "call", "echo", "{}", "--array",
                       "a=@%s/a.npy" % tmp)
            check(r.returncode == 1 and "version 2" in r.stderr,
                  "v1: rc %d: %r" % (r.returncode, r.stderr))
            r = jobctl(v1.server, "call", "echo", '{"v":1}')
            check(r.returncode == 0 and json.loads(r.stdout) == {"v": 1},
                  "v1 plain: %s %s" % (r.stdout, r.stderr))
    finally:
        fake.stop()
        v1.stop()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all jobctl array checks passed")
    return 0


sys.exit(main())
