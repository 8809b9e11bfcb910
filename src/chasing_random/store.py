"""Artifact store: fingerprints, atomic writes and JSON manifests shared by every stage.

An artifact lives at ``ROOT/<kind>/<key>/`` where ``key`` is a fingerprint of its inputs, its
config and the code version of the stage that made it, so a rerun finds what is already done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chasing_random import __version__

SECRET_KEY_PATTERN = re.compile(
    r"(api[_-]?key|secret|password|authorization|(access|auth|hf|bearer|api)[_-]?token(?!s))", re.IGNORECASE
)
SECRET_VALUE_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{12,}|hf_[A-Za-z0-9]{20,})")


def default_home() -> Path:
    """Where models converted once and the default artifact store live (``$CHASE_HOME``)."""
    return Path(os.environ.get("CHASE_HOME", Path.home() / ".cache" / "chasing-random"))


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal configs hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(*parts: Any, length: int = 16) -> str:
    """A short stable hash of any JSON-able values (dicts, lists, strings, numbers)."""
    return hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()[:length]


def file_fingerprint(path: str | Path, length: int = 16) -> str:
    """Hash of a file's bytes (streamed), used to key artifacts by their input files."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def redact(obj: Any) -> Any:
    """Hide values whose key names a secret (but not ``*_env``, which names a variable) and
    strings that look like API keys, recursively, before anything is written or logged."""
    if isinstance(obj, dict):
        return {
            k: ("<redacted>" if SECRET_KEY_PATTERN.search(str(k)) and not str(k).lower().endswith("_env")
                else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return SECRET_VALUE_PATTERN.sub("<redacted>", obj)
    return obj


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file so that readers never see half of it."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write pretty JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def jsonl_lines(path: str | Path) -> list[tuple[int, str]]:
    """The non-blank lines of a JSONL file with their 1-based numbers, split on "\\n" only: records
    written with ``ensure_ascii=False`` may hold U+2028 or U+0085, which ``str.splitlines`` breaks on."""
    text = Path(path).read_text(encoding="utf-8")
    return [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def environment_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour changes results; recorded in every manifest."""
    from importlib import metadata

    versions = {"chasing-random": __version__, "python": platform.python_version()}
    for package in ("torch", "transformers", "trl", "peft", "datasets", "sentence-transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def manifest_path(artifact: str | Path) -> Path:
    """The manifest that sits beside an artifact file or inside an artifact folder."""
    artifact = Path(artifact)
    if artifact.is_dir():
        return artifact / "manifest.json"
    return artifact.with_name(artifact.name + ".manifest.json")


def write_manifest(artifact: str | Path, *, kind: str, inputs: dict, config: dict, started: float,
                   extra: dict | None = None) -> dict:
    """Write the JSON manifest of an artifact: inputs, config, versions, wall time (no secrets)."""
    manifest = {
        "kind": kind,
        "artifact": str(artifact),
        "inputs": redact(inputs),
        "config": redact(config),
        "versions": environment_versions(),
        "wall_time_s": round(time.time() - started, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if extra:
        manifest.update(redact(extra))
    write_json_atomic(manifest_path(artifact), manifest)
    return manifest


def read_manifest(artifact: str | Path) -> dict | None:
    """The manifest of an artifact, or None when it has none (unfinished or foreign)."""
    path = manifest_path(artifact)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ArtifactStore:
    """A folder of artifacts keyed by fingerprints; ``done`` means the manifest exists."""

    root: Path

    @classmethod
    def default(cls) -> "ArtifactStore":
        return cls(Path(os.environ.get("CHASE_STORE", default_home() / "store")))

    def key(self, kind: str, *parts: Any, code_version: str = "1") -> str:
        """The fingerprint of a stage's inputs, config and code version."""
        return fingerprint(kind, code_version, __version__, *parts)

    def path(self, kind: str, key: str, filename: str | None = None) -> Path:
        """Where the artifact of ``kind`` with ``key`` lives (a folder, or a file inside it)."""
        folder = self.root / kind / key
        return folder / filename if filename else folder

    def done(self, kind: str, key: str, filename: str | None = None) -> bool:
        """True when the artifact was finished (its manifest is written last)."""
        return manifest_path(self.path(kind, key, filename)).exists()
