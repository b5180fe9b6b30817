"""Fails its job when asked to."""


def helper(x):
    raise ValueError("bad x: %r" % x)  # MARK raise


def process(input, job):
    if input.get("fail"):
        helper(input["fail"])
    return "fine"
