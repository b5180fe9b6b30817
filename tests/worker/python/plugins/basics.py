"""Echoes its input with the state init() made.

Second line of the docstring: not part of the description."""
import sys

__version__ = "2.5.1"
RETRY_SAFE = True


def init(options):
    return {"greeting": options.get("greeting", "hello"), "calls": 0}


def process(input, job, state):
    state["calls"] += 1
    job.progress(0.5, "half way")
    job.log("basics ran a job", "notice")
    print("basics printed this")
    return {"input": input, "greeting": state["greeting"],
            "calls": state["calls"], "job_id": job.id,
            "arrays": len(job.arrays), "cancelled": job.cancelled(),
            "executable": sys.executable}
