"""The Grafana dashboard in deploy/ names only metrics that ``/metrics`` exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store.migrate import upgrade

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "inboxsync-dashboard.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


async def test_dashboard_metrics_exist(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:inboxsync|process)_[a-z_]+)", e)}
    assert len(used) >= 15

    runtime = Runtime.from_settings(Settings(data_dir=tmp_path))
    await upgrade(runtime.db)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = (await client.get("/metrics")).text
    await runtime.close()
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = set()
    for name in used:
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
        if name not in families and base not in families:
            missing.add(name)
    assert not missing, missing
