"""Jobs run at the same moment on their own database connections, for the tests
that let the database's constraints settle a race."""

import threading

from django.db import connection


def race(*jobs):
    """Run the jobs at the same moment, each on its own database connection."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
