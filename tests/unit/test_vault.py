"""Where the key that seals stored secrets comes from, and what happens when it is wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tocsin import vault

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vault.KEY_ENV, raising=False)
    monkeypatch.delenv(vault.KEY_FILE_ENV, raising=False)


def test_a_sealed_value_hides_the_secret_and_opens_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vault.KEY_ENV, Fernet.generate_key().decode())
    sealed = vault.seal("hunter2-webhook-secret", PG)
    assert sealed.startswith("fernet:")
    assert "hunter2" not in sealed
    assert vault.unseal(sealed, PG) == "hunter2-webhook-secret"


def test_postgresql_without_a_key_is_refused_naming_the_setting(no_key: None) -> None:
    with pytest.raises(vault.SealingError, match="TOCSIN_SECRET_KEY"):
        vault.seal("x", PG)


def test_embedded_sqlite_makes_a_private_key_file_beside_the_database(
    no_key: None, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/tocsin.db"
    sealed = vault.seal("ack-key", url)
    key_file = tmp_path / "tocsin.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(key_file.read_text().strip())  # a real key
    assert vault.unseal(sealed, url) == "ack-key"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no draft left


def test_a_key_file_setting_is_read(
    no_key: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    monkeypatch.setenv(vault.KEY_FILE_ENV, str(key_file))
    assert vault.unseal(vault.seal("s", PG), PG) == "s"
    assert str(key_file) in vault.describe(PG)


def test_rotation_reads_old_values_and_reseals_under_the_new_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(vault.KEY_ENV, old)
    sealed_old = vault.seal("s", PG)
    monkeypatch.setenv(vault.KEY_ENV, f"{new},{old}")
    assert vault.unseal(sealed_old, PG) == "s"
    resealed = vault.reseal(sealed_old, PG)
    monkeypatch.setenv(vault.KEY_ENV, new)  # the old key dropped
    assert vault.unseal(resealed, PG) == "s"
    with pytest.raises(vault.SealingError, match="sealed with a key that is not in"):
        vault.unseal(sealed_old, PG)


def test_a_value_from_before_sealing_reads_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vault.KEY_ENV, Fernet.generate_key().decode())
    assert vault.unseal("0badc0de", PG) == "0badc0de"
    assert vault.is_sealed(vault.reseal("0badc0de", PG))


@pytest.mark.parametrize("bad", ["", "not-a-key", "short,also-short"])
def test_a_malformed_key_names_the_setting_and_the_format(
    bad: str, no_key: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(bad)
    monkeypatch.setenv(vault.KEY_FILE_ENV, str(key_file))
    with pytest.raises(vault.SealingError, match="TOCSIN_SECRET_KEY_FILE"):
        vault.seal("x", PG)


def test_an_in_memory_database_needs_a_configured_key(no_key: None) -> None:
    with pytest.raises(vault.SealingError, match="in-memory"):
        vault.seal("x", "sqlite://")
