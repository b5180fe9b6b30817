# SPDX-License-Identifier: MIT
"""jobctl's .npy reader and writer (src/jobctl/npy.c) against NumPy itself.

NumPy writes each file; npy-copy reads it with jobctl's reader, reports
dtype and shape, and writes it again with jobctl's writer; numpy.load
must then give back exactly the original array. Files jobd cannot take
(Fortran order, big-endian, other dtypes, damaged files) must be refused
with a message that says why.

usage: test_npy.py NPY_COPY
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    sys.exit("test_npy.py: NumPy is missing (Debian: apt-get install "
             "python3-numpy; dev.sh installs it)")

COPY = sys.argv[1]
JOBD = {"u1": "u8", "i1": "i8", "u2": "u16", "i2": "i16", "u4": "u32",
        "i4": "i32", "u8": "u64", "i8": "i64", "f4": "f32", "f8": "f64"}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(src, dst, force=False):
    args = [COPY, src, dst] + (["force"] if force else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def data_offset(path):
    with open(path, "rb") as f:
        head = f.read(12)
    if head[6] == 1:
        return 10 + int.from_bytes(head[8:10], "little")
    return 12 + int.from_bytes(head[8:12], "little")


def roundtrip(tmp, name, arr, version=None):
    src = os.path.join(tmp, name + ".in.npy")
    dst = os.path.join(tmp, name + ".out.npy")
    with open(src, "wb") as f:
        if version is None:
            np.save(f, arr)
        else:
            np.lib.format.write_array(f, arr, version=version)
    r = run(src, dst)
    check(r.returncode == 0, "%s: npy-copy failed: %s" % (name, r.stderr))
    if r.returncode != 0:
        return
    seen = json.loads(r.stdout)
    want = JOBD[arr.dtype.str[1:]]
    check(seen["dtype"] == want, "%s: dtype %s, want %s" %
          (name, seen["dtype"], want))
    check(tuple(seen["shape"]) == arr.shape, "%s: shape %s, want %s" %
          (name, seen["shape"], arr.shape))
    check(seen["nbytes"] == arr.nbytes, "%s: nbytes" % name)
    back = np.load(dst, allow_pickle=False)
    check(back.dtype == arr.dtype.newbyteorder("<") or
          back.dtype == arr.dtype, "%s: dtype back %s" % (name, back.dtype))
    check(back.shape == arr.shape, "%s: shape back %s" % (name, back.shape))
    check(np.array_equal(back, arr, equal_nan=arr.dtype.kind == "f"),
          "%s: values differ" % name)
    check(back.tobytes() == arr.tobytes(), "%s: bytes differ" % name)
    check(data_offset(dst) % 64 == 0, "%s: data not on 64 bytes" % name)
    check(not np.isfortran(back) or back.ndim < 2,
          "%s: written in Fortran order" % name)


def refused(tmp, name, content, needle):
    src = os.path.join(tmp, name + ".bad.npy")
    dst = os.path.join(tmp, name + ".never.npy")
    with open(src, "wb") as f:
        if isinstance(content, bytes):
            f.write(content)
        else:
            np.save(f, content, allow_pickle=True)
    r = run(src, dst)
    check(r.returncode == 1, "%s: accepted (rc %d)" % (name, r.returncode))
    check(needle in r.stderr, "%s: message %r lacks %r" %
          (name, r.stderr.strip(), needle))
    check(src in r.stderr, "%s: message does not name the file" % name)
    check(not os.path.exists(dst), "%s: wrote an output" % name)


def header_file(header, data=b"", version=1):
    h = header.encode() + b" "
    pre = 10 if version == 1 else 12
    pad = (-(pre + len(h) + 1)) % 64
    h += b" " * pad + b"\n"
    size = len(h).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


def main():
    rng = np.random.default_rng(17)
    with tempfile.TemporaryDirectory() as tmp:
        shapes = [(), (0,), (5,), (3, 4), (2, 3, 4), (0, 3), (1, 1, 1, 1)]
        for code in JOBD:
            for shape in shapes:
                dt = np.dtype("<" + code if code[1] != "1" else code)
                if dt.kind == "f":
                    arr = rng.standard_normal(shape).astype(dt)
                    if arr.size:
                        arr.flat[0] = np.nan
                        arr.flat[-1] = -np.inf
                else:
                    info = np.iinfo(dt)
                    arr = rng.integers(info.min, info.max, size=shape,
                                       dtype=dt, endpoint=True)
                roundtrip(tmp, "%s_%s" % (code, "x".join(map(str, shape))),
                          arr)
        for version in [(1, 0), (2, 0), (3, 0)]:
            roundtrip(tmp, "v%d%d" % version,
                      np.arange(12, dtype="<i4").reshape(3, 4),
                      version=version)
        roundtrip(tmp, "big", rng.standard_normal((1000, 1000)))
        roundtrip(tmp, "eight_dims", np.zeros((1,) * 8, dtype="u1"))
        roundtrip(tmp, "long_header", np.zeros((1,) * 8, dtype="<f8"),
                  version=(2, 0))

        # A Python 2 header (an L after each dimension) is still read.
        src = os.path.join(tmp, "py2.npy")
        with open(src, "wb") as f:
            f.write(header_file("{'descr': '<f8', 'fortran_order': False, "
                                "'shape': (2L, 3L), }", bytes(48)))
        r = run(src, os.path.join(tmp, "py2.out.npy"))
        check(r.returncode == 0 and json.loads(r.stdout)["shape"] == [2, 3],
              "py2 header: %s" % r.stderr)

        refused(tmp, "fortran", np.asfortranarray(np.zeros((2, 3))),
                "Fortran order")
        refused(tmp, "bigendian", np.zeros(3, dtype=">f8"), "big-endian")
        refused(tmp, "bigendian_i4", np.zeros(3, dtype=">i4"), "astype('<i4')")
        refused(tmp, "bool", np.zeros(3, dtype=bool), "bool")
        refused(tmp, "complex", np.zeros(3, dtype="<c16"), "not supported")
        refused(tmp, "half", np.zeros(3, dtype="<f2"), "not supported")
        refused(tmp, "unicode", np.array(["abc"]), "not supported")
        refused(tmp, "object", np.array([{}, 1], dtype=object),
                "not supported")
        refused(tmp, "structured",
                np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
                "structured")
        refused(tmp, "nine_dims", np.zeros((1,) * 9), "more than 8")
        good = header_file("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (4,), }", bytes(32))
        refused(tmp, "truncated", good[:-1], "truncated")
        refused(tmp, "extra", good + b"\0", "the data is 33 bytes")
        refused(tmp, "not_npy", b"PK\x03\x04 a zip file", "magic")
        refused(tmp, "version4", good[:6] + b"\x04\x00" + good[8:],
                "version 4.0")
        refused(tmp, "short_header", good[:20], "truncated header")
        refused(tmp, "no_shape",
                header_file("{'descr': '<f8', 'fortran_order': False}"),
                "lacks 'shape'")
        refused(tmp, "bad_key",
                header_file("{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (), 'x': 1}", bytes(8)),
                "unknown key 'x'")
        refused(tmp, "negative",
                header_file("{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (-1,), }"),
                "integers >= 0")
        refused(tmp, "overflow",
                header_file("{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (4294967296, 4294967296), }"),
                "too large")
        refused(tmp, "empty", b"", "empty file")

        # Never overwrite without force; with force, replace whole.
        src = os.path.join(tmp, "f8_5.in.npy")
        dst = os.path.join(tmp, "keep.npy")
        with open(dst, "wb") as f:
            f.write(b"precious")
        r = run(src, dst)
        check(r.returncode == 1 and "exists" in r.stderr,
              "overwrote without force: %s" % r.stderr)
        with open(dst, "rb") as f:
            check(f.read() == b"precious", "existing file changed")
        r = run(src, dst, force=True)
        check(r.returncode == 0, "force: %s" % r.stderr)
        check(np.array_equal(np.load(dst), np.load(src), equal_nan=True),
              "force: not replaced")
        leftovers = [n for n in os.listdir(tmp) if n.startswith(".")]
        check(not leftovers, "temporary files left: %s" % leftovers)

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all .npy checks passed")
    return 0


sys.exit(main())
