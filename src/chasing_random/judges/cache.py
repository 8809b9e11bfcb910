"""A persistent judge response cache in SQLite, keyed by (model, messages, sampling params).

Only successful replies are stored (raw text and logprobs, not parsed ratings), so a rerun or a
resumed run costs nothing for rows already answered, while failed calls are retried next time.
One connection per process, guarded by a lock, so threads of one judge can write concurrently;
WAL mode lets several processes share the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from chasing_random.store import fingerprint


def cache_key(model: str, messages: list[dict], params: dict) -> str:
    """The cache key of one request: a hash of the model, the messages and the sampling params."""
    return fingerprint(model, messages, params, length=32)


class ResponseCache:
    """A key -> JSON reply table in ``DIR/responses.sqlite``."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
            self._db.commit()

    def __getstate__(self) -> dict:
        """Pickled (to a shard worker) as its folder only; the worker opens its own connection."""
        return {"folder": str(self.path.parent)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"])

    def get(self, key: str) -> dict | None:
        """The stored reply for a key, or None."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, reply: dict) -> None:
        """Store a reply (last writer wins; equal keys carry equal requests)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, reply) VALUES (?, ?)", (key, json.dumps(reply)))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
