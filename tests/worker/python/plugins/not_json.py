"""Returns what JSON cannot hold."""


def process(input, job):
    return {"nan": float("nan")} if input == "nan" else {1, 2}
