"""Progress bars for long CLI work."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_bar(label: str, unit: str = "day") -> Callable[[int, int], None]:
    """A compact progress bar on stderr for long loops (tqdm, shipped with our dependencies).

    Shown only on a terminal: in the Dagster UI's runs stderr is a log file, and a bar would fill
    it with carriage returns."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total, desc=label, unit=unit, file=sys.stderr, leave=False, disable=None
            )
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
