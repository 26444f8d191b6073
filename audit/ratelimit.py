"""Refusals per client address in fixed windows, counted in the shared cache.

One ``Limiter`` per kind of refusal (failed API keys, refused secret-scanning
reports...): ``limit`` refusals per ``window`` seconds from one address.
``hit()`` counts a refusal and says whether it was within the limit; beyond it
the caller answers 429 with the seconds ``hit()`` returned, and only the first
refusal of each window is worth an audit row (``first_over_limit()``), so a
flood cannot fill the log.

The count must hold across every worker process (and, with Redis, every server),
so it uses nothing but ``cache.add()``, which is atomic in each cache the portal
configures: Redis (``SET NX``), the database cache (the table's primary key: of
two concurrent inserts one fails) and the local-memory cache (a lock).
``cache.incr()`` would not do: the database cache implements it as a read and a
write, so two workers that both read 4 both write 5 and the limit leaks. Instead,
the n-th refusal of a window claims slot n; once every slot is taken, the
address is over the limit.
"""

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limiter:
    """``limit`` refusals per ``window`` seconds per address; ``name`` keeps the
    counts of different limiters apart in the cache."""

    name: str
    limit: int
    window: int

    def _base(self, ip: str | None, now: float) -> str:
        return f"{self.name}:{ip or 'unknown'}:{int(now // self._window())}"

    def _window(self) -> int:
        return max(1, self.window)

    def _timeout(self) -> int:
        # A window's keys outlive it by a second: never gone while still counted.
        return self._window() + 1

    def _seconds_left(self, now: float) -> int:
        return max(1, int(self._window() - now % self._window()))

    def hit(self, ip: str | None) -> int:
        """Count one refusal of ``ip``: 0 when it is within the limit, else the
        seconds until the window ends (for ``Retry-After``).

        Counting and checking are one step: a check first and a count after would
        let every worker that refuses at the same moment pass the same check.
        """
        now = time.time()
        base = self._base(ip, now)
        slots = [f"{base}:{n}" for n in range(max(0, self.limit))]
        taken = cache.get_many(slots)
        for slot in slots:
            # Another worker may claim a free slot first: then try the next one.
            if slot not in taken and cache.add(slot, 1, timeout=self._timeout()):
                return 0
        return self._seconds_left(now)

    def retry_after(self, ip: str | None) -> int:
        """Seconds until ``ip`` is under the limit again (0: it is), counting nothing."""
        now = time.time()
        if self.limit > 0 and cache.get(f"{self._base(ip, now)}:{self.limit - 1}") is None:
            return 0
        return self._seconds_left(now)

    def first_over_limit(self, ip: str | None) -> bool:
        """True for the first call in the current window, False for the rest."""
        return cache.add(f"{self._base(ip, time.time())}:audited", 1, timeout=self._timeout())
