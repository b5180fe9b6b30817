"""Defines no process()."""
VALUE = 1
