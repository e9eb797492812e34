"""`HashedCounter`: ids that look random, unique, different in every forked worker, and made
without asking the kernel for randomness each time."""

from __future__ import annotations

import os
import random
import re
import secrets
import threading

import pytest

from paybridge.ids import HashedCounter
from paybridge.logs import new_request_id
from paybridge.services.transactions import new_reference

pytestmark = pytest.mark.timeout(60)  # a forked child that hung would hold the run


def test_ids_are_hex_of_their_size_and_never_repeat_across_threads() -> None:
    ids = HashedCounter(12)
    made: list[str] = []

    def make() -> None:
        made.extend(ids.next() for _ in range(5_000))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 20_000
    assert all(re.fullmatch(r"[0-9a-f]{24}", value) for value in made)
    assert re.fullmatch(r"txn_[0-9a-f]{24}", new_reference())
    assert re.fullmatch(r"[0-9a-f]{32}", new_request_id())


def test_no_call_for_randomness_per_id(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = HashedCounter(16)

    def refuse(_size: int) -> bytes:
        raise AssertionError("getrandom() called for an id")

    monkeypatch.setattr(os, "urandom", refuse)
    monkeypatch.setattr(random, "_urandom", refuse)  # what `secrets` reads through
    assert len({ids.next() for _ in range(100)}) == 100
    with pytest.raises(AssertionError):
        secrets.token_hex(12)  # the check would catch a call


def test_a_forked_worker_makes_other_ids_than_its_parent() -> None:
    ids = HashedCounter(16)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then leave without pytest's cleanup
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_first = os.read(read, 64).decode()
    os.close(read)
    assert len(child_first) == 32
    assert child_first != ids.next()  # same counter value, another key
