"""Log setup for every command: human text by default, one JSON object a line when asked.

``INBOXSYNC_LOG_FORMAT=json`` turns on JSON lines (``ts``, ``level``, ``logger``, ``message``, and
``grant_id`` / ``request_id`` when known, ``exc`` with the traceback). The two ids come from context
variables: the API middleware binds the request id for the request's task, the sync supervisor binds
the grant id in each grant's task (``asyncio`` copies the context into the tasks a task starts), so
every line logged on their behalf carries them without passing them around.

This module sits at the bottom of the layers (it imports nothing of inboxsync).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "inboxsync_request_id", default=None
)
GRANT_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "inboxsync_grant_id", default=None
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept in the JSON.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "grant_id", "request_id", "taskName"}
)


def grant_context(grant_id: str) -> contextvars.Context:
    """A copy of the current context with ``grant_id`` bound: pass it to ``asyncio.create_task``."""
    ctx = contextvars.copy_context()
    ctx.run(GRANT_ID.set, grant_id)
    return ctx


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (``record.grant_id``, ``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "grant_id", None) is None:
            record.grant_id = GRANT_ID.get()
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        grant_id = getattr(record, "grant_id", None) or GRANT_ID.get()
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if grant_id:
            out["grant_id"] = grant_id
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure(
    level: str = "INFO", fmt: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with one on ``stream`` (stderr) in ``fmt``; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if fmt == "json":
        # uvicorn's own loggers would print text through their own handlers: send them to ours.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
    return handler
