"""Running services at the same time on their own database connections (PostgreSQL), and
widening the gaps between their statements, so a lock-order cycle shows as `deadlock detected`
in seconds instead of once a month in production."""

import random
import threading
import time
from collections.abc import Callable

from django.db import connection


def race(*functions):
    """Runs the functions at once, each in its own thread and connection; their results."""
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def run(n):
        try:
            barrier.wait()
            results[n] = functions[n]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# PostgreSQL looks for a cycle after a lock wait this long (1 s by default): short, so a race
# that deadlocks fails fast. A superuser may set it per session; the suite connects as one.
DEADLOCK_TIMEOUT = "100ms"


def connection_prepare() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET deadlock_timeout = '{DEADLOCK_TIMEOUT}'")


def run_at_once(*functions: Callable[[], object], timeout: float = 30) -> list[BaseException]:
    """Runs each function in a thread of its own, each on its own connection, started together;
    returns the exceptions they raised (none: an empty list)."""
    errors = []
    start = threading.Barrier(len(functions))

    def run(function):
        try:
            connection_prepare()
            start.wait()
            function()
        except BaseException as error:  # reported to the test, with the thread that raised it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"a racing service did not finish in {timeout} s"
    return errors


class Gaps:
    """Sleeps a random moment (up to `most` seconds) after each statement a connection runs,
    so that two transactions interleave at every point where one could wait on the other."""

    def __init__(self, seed: int, most: float = 0.004):
        self.random = random.Random(seed)
        self.most = most
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        finally:
            with self.lock:
                pause = self.random.uniform(0, self.most)
            time.sleep(pause)

    def wrap(self, function: Callable[[], object]) -> Callable[[], object]:
        def gapped():
            with connection.execute_wrapper(self):
                return function()

        return gapped
