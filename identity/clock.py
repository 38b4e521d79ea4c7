"""The one clock of the identity code: seconds since the epoch. Pure functions take an
explicit `now`, so tests pass a time instead of waiting or patching."""

import time


def now() -> float:
    return time.time()
