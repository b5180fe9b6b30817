"""Burns CPU in pure Python (holding its interpreter's GIL)."""


def process(input, job):
    n, acc = int(input), 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc
