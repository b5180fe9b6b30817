"""Imports a module that is not there."""
import json
import no_such_module_for_jobd  # MARK import


def process(input, job):
    return input
