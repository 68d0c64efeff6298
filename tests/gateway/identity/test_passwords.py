"""argon2id for SMTP passwords: the hash an unknown username is checked against."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters

from gateway.identity import passwords


def test_an_unknown_name_is_checked_with_the_parameters_of_a_real_hash() -> None:
    """Else AUTH with an unknown username would answer sooner or later than with a known one."""
    # The module's own hasher is made cheap for the tests (conftest): this is the one it makes.
    real = PasswordHasher().hash(passwords.new_password())
    assert extract_parameters(passwords.DUMMY_HASH) == extract_parameters(real)
    assert not passwords.verify_password(passwords.DUMMY_HASH, passwords.new_password())
