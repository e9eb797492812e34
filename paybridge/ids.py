"""Ids that look random, made on hot paths without a getrandom() call each."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets


class HashedCounter:
    """Hex ids as unpredictable as random ones, without a getrandom() call per id (it lets go
    of the GIL, and under load the thread then waits behind the event loop to get it back): a
    counter hashed under a random key of this process, so ids neither repeat nor tell anyone how
    many a process has made. For ids (request ids, payment references), never for secrets."""

    def __init__(self, digest_size: int) -> None:
        self._digest_size = digest_size
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # Granian forks its workers

    def reset(self) -> None:
        self._key = secrets.token_bytes(32)
        self._counter = itertools.count(1)

    def next(self) -> str:
        n = next(self._counter).to_bytes(8, "big")
        return hashlib.blake2b(n, key=self._key, digest_size=self._digest_size).hexdigest()
