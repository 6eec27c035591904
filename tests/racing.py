import threading

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
