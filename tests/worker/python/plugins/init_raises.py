"""init() refuses its options."""


def init(options):
    raise KeyError("model_path")  # MARK init


def process(input, job, state):
    return input
