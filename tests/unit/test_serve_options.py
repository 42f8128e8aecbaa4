"""`tocsin serve --tls-cert --tls-key`: a mistake is named before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.certificates import Certificate, self_signed
from tocsin.cli import app


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path)


def serve(monkeypatch: pytest.MonkeyPatch, *args: str | Path) -> tuple[int, str]:
    # Should a mistake get through, the server stops at this policy instead of serving.
    monkeypatch.setenv("TOCSIN_POLICY", "no-such-policy")
    result = CliRunner().invoke(app, ["serve", *map(str, args)])
    return result.exit_code, result.stderr


def test_one_tls_option_alone_names_the_other(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert serve(monkeypatch, "--tls-cert", certificate.cert) == (
        1,
        "error: --tls-cert needs --tls-key as well: give both to serve HTTPS, or neither\n",
    )
    code, stderr = serve(monkeypatch, "--tls-key", certificate.key)
    assert code == 1 and "--tls-key needs --tls-cert as well" in stderr


def test_a_missing_or_unreadable_file_is_named_with_its_option(
    certificate: Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.crt"
    code, stderr = serve(monkeypatch, "--tls-cert", missing, "--tls-key", certificate.key)
    assert code == 1 and f"--tls-cert {missing}: No such file or directory" in stderr
    code, stderr = serve(monkeypatch, "--tls-cert", certificate.cert, "--tls-key", tmp_path)
    assert code == 1 and f"--tls-key {tmp_path}: Is a directory" in stderr


def test_files_that_are_not_a_certificate_and_its_key_are_named(
    certificate: Certificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stderr = serve(monkeypatch, "--tls-cert", certificate.key, "--tls-key", certificate.cert)
    assert code == 1 and f"--tls-cert {certificate.key} holds no PEM certificate" in stderr
    (tmp_path / "other").mkdir()
    other = self_signed(tmp_path / "other")
    code, stderr = serve(monkeypatch, "--tls-cert", certificate.cert, "--tls-key", other.key)
    assert code == 1
    assert f"--tls-key {other.key} is not the unencrypted PEM private key" in stderr
