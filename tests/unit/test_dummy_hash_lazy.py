"""Importing Tocsin's auth (every CLI call does) pays for no argon2 hash."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import argon2
calls = []
original = argon2.PasswordHasher.hash
argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
import tocsin.auth.people as people
assert calls == [], "hashed at import"
first = people._dummy_hash()
assert people._dummy_hash() == first and len(calls) == 1, calls
print("ok")
"""


def test_importing_auth_hashes_nothing_and_the_dummy_hash_is_made_once() -> None:
    # A fresh interpreter: this test process has long since imported the module.
    run = subprocess.run(
        [sys.executable, "-c", PROBE], check=False, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
