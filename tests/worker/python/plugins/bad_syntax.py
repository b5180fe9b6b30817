"""A syntax error on line 4."""

def process(input, job):
    return input +  # MARK syntax
