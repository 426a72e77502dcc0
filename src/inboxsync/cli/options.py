"""Options shared by the sub-commands; each overrides its ``INBOXSYNC_*`` variable."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from inboxsync.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def storage_options(func: F) -> F:
    """``--data-dir`` and ``--database-url``."""
    func = click.option(
        "--database-url",
        default=None,
        help="Database URL (env INBOXSYNC_DATABASE_URL); default: SQLite in the data dir.",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where blobs, keys and the SQLite file live (env INBOXSYNC_DATA_DIR; default ./data).",
    )(func)
    return func


def http_options(func: F) -> F:
    """``--host``, ``--port`` and ``--api-key``."""
    func = click.option(
        "--api-key",
        default=None,
        help="Accept this API key for every grant (env INBOXSYNC_API_KEY).",
    )(func)
    func = click.option(
        "--port", type=int, default=None, help="Port of the API (env INBOXSYNC_PORT; default 8000)."
    )(func)
    func = click.option(
        "--host", default=None, help="Address of the API (env INBOXSYNC_HOST; default 127.0.0.1)."
    )(func)
    return func


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment with the given flags on top; a bad value is a usage error."""
    try:
        return Settings().with_overrides(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise click.UsageError(f"bad setting {where}: {first.get('msg')}") from exc


def run_async(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a click command whose body is a coroutine function."""
    import asyncio

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(func(*args, **kwargs))

    return wrapper
