"""A login for an email nobody has does the same bcrypt work as one with a wrong password."""

from __future__ import annotations

import bcrypt

from paybridge.services import auth
from paybridge.services.users import BCRYPT_ROUNDS, check_password, hash_password


def test_the_stand_in_hash_is_a_real_bcrypt_hash_of_the_configured_cost() -> None:
    stand_in = auth._DUMMY_HASH.encode()
    real = hash_password("a-password-of-someone").encode()
    # Same algorithm and cost as the stored hashes: checking it costs the same work.
    assert stand_in[:7] == real[:7] == f"$2b${BCRYPT_ROUNDS:02d}$".encode()
    assert len(stand_in) == len(real) == 60
    # bcrypt accepts it (a malformed hash would make checkpw raise and return at once)...
    assert bcrypt.checkpw(b"anything", stand_in) is False
    # ...and no password opens it.
    assert not check_password("not-a-real-password-0000", auth._DUMMY_HASH)
