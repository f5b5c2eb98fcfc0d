"""Reading ROOT trees with bounded memory.

uproot inflates whole baskets, so the memory a read of entries ``[a, b)`` takes is that of
every basket overlapping them, whatever the step size asked for. :class:`Baskets` reads the
declared uncompressed size of each basket of the branches to read, and :func:`plan_steps`
cuts an entry range into steps whose baskets stay within a budget; an entry that alone needs
more is refused, naming the limit. A hostile or damaged file (absurd basket counts, unreadable
basket metadata) is a :class:`~calolab.core.errors.DataError`. Used by the Delphes and the
EDM4hep importers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from calolab.core.errors import DataError

#: Baskets per branch calolab plans steps over (real files hold hundreds to thousands).
MAX_BASKETS = 1_000_000


class Baskets:
    """Entry ranges and declared uncompressed sizes of the baskets of some branches: what
    reading entries ``[a, b)`` makes uproot inflate (baskets are read whole)."""

    def __init__(self, t: Any, names: Sequence[str], path: str):
        self.tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for name in names:
            try:
                b = t[name]
                n = int(b.num_baskets)
                if n > MAX_BASKETS:
                    raise DataError(
                        f"'{path}': branch '{name}' has {n:,} baskets, more than the "
                        f"{MAX_BASKETS:,} calolab reads; the file is damaged or hostile"
                    )
                ranges = np.array(
                    [b.basket_entry_start_stop(i) for i in range(n)], dtype=np.int64
                ).reshape(-1, 2)
                sizes = np.array([b.basket_uncompressed_bytes(i) for i in range(n)], np.int64)
            except DataError:
                raise
            except Exception as exc:  # damaged basket metadata: uproot raises many kinds
                raise DataError(
                    f"'{path}': the baskets of branch '{name}' cannot be read "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            order = np.argsort(ranges[:, 0], kind="stable")
            cum = np.concatenate([[0], np.cumsum(np.maximum(sizes[order], 0))])
            self.tables.append((ranges[order, 0], ranges[order, 1], cum))

    def need(self, a: int, b: int) -> int:
        """Bytes inflated to read entries ``[a, b)``."""
        total = 0
        for starts, stops, cum in self.tables:
            i = int(np.searchsorted(stops, a, side="right"))
            j = int(np.searchsorted(starts, b, side="left"))
            total += int(cum[max(j, i)] - cum[i])
        return total


def plan_steps(
    baskets: Baskets, start: int, stop: int, step: int, budget: int, path: str
) -> Iterator[tuple[int, int]]:
    """Ranges of at most ``step`` entries whose baskets inflate to at most ``budget`` bytes."""
    a = start
    while a < stop:
        b = min(stop, a + step)
        while b - a > 1 and baskets.need(a, b) > budget:
            b = a + (b - a) // 2
        need = baskets.need(a, b)
        if need > budget:
            raise DataError(
                f"'{path}': entry {a} alone needs {need / 2**20:,.1f} MiB of uncompressed "
                f"baskets, more than the {budget / 2**20:,.1f} MiB allowed per step; the file "
                "is damaged or built to exhaust memory; raise the limit with max_step_bytes= "
                "(CLI: --max-chunk-mb) only for a file you trust"
            )
        yield a, b
        a = b


__all__ = ["MAX_BASKETS", "Baskets", "plan_steps"]
