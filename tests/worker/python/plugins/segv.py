"""Crashes the worker through ctypes: a read at address 0 (SIGSEGV)."""
import ctypes


def process(input, job):
    if input == "crash":
        ctypes.string_at(0)  # MARK segv
    return "alive"
