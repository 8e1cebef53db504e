"""Progress bars that cost nothing when switched off."""

from __future__ import annotations

__all__ = ["progress_bar"]


class _NoBar:
    def update(self, k=1):
        pass

    def close(self):
        pass


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it"):
    """A tqdm bar over ``total`` items, or a silent stand-in when not ``enabled``."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=int(total), desc=desc, unit=unit, leave=False)
