from __future__ import annotations

from pathlib import Path

import pytest

from inboxsync.config import Settings, normalise_database_url


def test_defaults_serve_the_embedded_case(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_DIR", "DATABASE_URL", "HOST", "PORT", "API_KEY"):
        monkeypatch.delenv(f"INBOXSYNC_{name}", raising=False)
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.resolved_database_url() == (
        f"sqlite+aiosqlite:///{(Path('data') / 'inboxsync.db').resolve()}"
    )


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INBOXSYNC_PORT", "9001")
    monkeypatch.setenv("INBOXSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INBOXSYNC_API_KEY", "sekrit-value")
    settings = Settings()
    assert settings.port == 9001 and settings.data_dir == tmp_path
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sekrit-value"
    assert "sekrit-value" not in repr(settings)
    flagged = settings.with_overrides(port=9002, host=None)
    assert flagged.port == 9002 and flagged.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////x/y.db", "sqlite+aiosqlite:////x/y.db"),
    ],
)
def test_database_url_spellings(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg://u@h/db", "oracle://x"])
def test_a_database_other_than_sqlite_or_postgresql_through_asyncpg_is_refused(url: str) -> None:
    """The API's reads run on asyncpg's own connections: any other driver is a usage error
    naming what is accepted, not a traceback when the first read comes."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="sqlite:///… or postgresql://"):
        Settings(database_url=url)
    assert (
        Settings(database_url="postgres://u@h/db")
        .resolved_database_url()
        .startswith("postgresql+asyncpg://")
    )
