"""Runs past its deadline: polling job.cancelled(), or not at all."""
import time


def process(input, job):
    if input == "poll":
        while not job.cancelled():
            time.sleep(0.01)
        return "stopped"  # discarded: the job ends cancelled or timeout
    while True:  # ignores cancelled(): only a kill ends it
        time.sleep(0.05)
