"""Reports progress from a thread that outlives its job."""
import threading
import time

seen = {}


def _linger(job):
    try:
        while True:  # past the end of the job that started it
            job.progress(0.5, "from a thread")
            time.sleep(0.005)
    except RuntimeError as exc:
        seen["error"] = str(exc)


def process(input, job):
    if input == "start":
        threading.Thread(target=_linger, args=(job,), daemon=True).start()
        time.sleep(0.3)  # the thread reports while the job runs
        return "started"
    # The thread's job is over even though this one runs; and between jobs
    # the host held no GIL, so the thread has run since.
    for _ in range(500):
        if "error" in seen:
            break
        time.sleep(0.01)
    return seen.get("error")
