"""The error of one bad item in a batch: it names the item and the reason, and the batch goes on."""

from __future__ import annotations


class ItemError(ValueError):
    """One item (a file, a URL, a row) could not be handled; ``str()`` reads ``"<item>: <reason>"``."""

    def __init__(self, item: str, reason: str):
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason
