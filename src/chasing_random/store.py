"""Artifact store: fingerprints, atomic writes and JSON manifests shared by every stage.

An artifact lives at ``ROOT/<kind>/<key>/`` where ``key`` is a fingerprint of its inputs, its
config and the code version of the stage that made it, so a rerun finds what is already done.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import re
import stat
import tempfile
import time
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chasing_random import __version__
from chasing_random.errors import ChaseError

SECRET_KEY_PATTERN = re.compile(
    r"(api[_-]?key|secret|password|authorization|(access|auth|hf|bearer|api)[_-]?token(?!s))", re.IGNORECASE
)
SECRET_VALUE_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{12,}|hf_[A-Za-z0-9]{20,})")
URL_USERINFO_PATTERN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s]+@")
SECRET_PARAM_PATTERN = re.compile(
    r"(?i)(?<![A-Za-z0-9_\-])((?:api[_-]?key|key|token|access[_-]?token|auth[_-]?token|secret|client[_-]?secret|password|"
    r"passwd|pwd|sig|signature|code|apikey)=)([^&\s#\"',;]+)")


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
    """Hide values whose key names a secret (but not ``*_env``, which names a variable), strings that
    look like API keys and credentials inside URLs, recursively, before anything is written or logged."""
    if isinstance(obj, dict):
        return {
            k: ("<redacted>" if SECRET_KEY_PATTERN.search(str(k)) and not str(k).lower().endswith("_env")
                else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_text(text: str) -> str:
    """A string with API keys, URL credentials (``user:pass@``) and secret parameters (``?key=``,
    ``api_key=``, ``token=`` ...) replaced by ``<redacted>``."""
    text = SECRET_VALUE_PATTERN.sub("<redacted>", text)
    text = URL_USERINFO_PATTERN.sub(r"\1<redacted>@", text)
    return SECRET_PARAM_PATTERN.sub(r"\1<redacted>", text)


_INPUTS: ContextVar[dict[tuple[int, int], str] | None] = ContextVar("chase_inputs", default=None)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


@contextlib.contextmanager
def command_inputs() -> Iterator[None]:
    """Scope of one command: files noted with ``note_input`` inside it are never overwritten."""
    token = _INPUTS.set({})
    try:
        yield
    finally:
        _INPUTS.reset(token)


def note_input(path: str | Path) -> None:
    """Remember that the current command reads ``path`` (by device and inode, so links count too)."""
    inputs = _INPUTS.get()
    if inputs is None:
        return
    with contextlib.suppress(OSError):
        st = os.stat(path)
        inputs[(st.st_dev, st.st_ino)] = str(path)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ensure_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` (and parents) or fail with one line saying why: a file in the way, no permission."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise ChaseError(f"{folder}: cannot be used as the {what}: '{blocker}' is a file, not a folder; "
                         "choose another path") from None
    except PermissionError:
        raise ChaseError(f"{folder}: cannot create the {what}: permission denied; choose a writable place") from None
    except OSError as exc:
        raise ChaseError(f"{folder}: cannot create the {what}: {exc.strerror}") from None
    return folder


def check_target(path: str | Path) -> Path:
    """The real file a write to ``path`` will replace, after refusing anything but a new or regular,
    writable file that is not one of the command's inputs (devices, FIFOs, sockets and folders stay)."""
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real
    except OSError as exc:
        raise ChaseError(f"{path}: cannot write here: {exc.strerror}; choose another path") from None
    if stat.S_ISDIR(st.st_mode):
        raise ChaseError(f"{path}: is a folder; give a file path for this output")
    if not stat.S_ISREG(st.st_mode):
        raise ChaseError(f"{path}: is not a regular file (a device, FIFO or socket); refusing to replace it, "
                         "give a file path for this output")
    inputs = _INPUTS.get() or {}
    if (st.st_dev, st.st_ino) in inputs:
        raise ChaseError(f"{path}: is an input of this command ({inputs[(st.st_dev, st.st_ino)]}); refusing to "
                         "overwrite it, write the output to another path")
    if not os.access(real, os.W_OK):
        raise ChaseError(f"{path}: exists and is read-only; refusing to replace it, choose another path")
    return real


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """The guarded writer: yield a temporary path beside ``path`` and rename it into place only if the
    block succeeds. The target must be new or a regular writable file that the command does not read
    (``check_target``); the file gets the user's umask permissions (or keeps those of the file it
    replaces), and no temporary file is left behind, whatever happens."""
    target = check_target(path)
    ensure_folder(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except PermissionError:
        raise ChaseError(f"{path}: cannot write in '{target.parent}': permission denied; "
                         "choose a writable place") from None
    except OSError as exc:
        raise ChaseError(f"{path}: cannot write here: {exc.strerror}; choose another path") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        mode = (os.stat(target).st_mode & 0o7777) if target.exists() else (0o666 & ~_umask())
        os.chmod(tmp_path, mode)
        check_target(path)  # the block may have run for minutes; look again before replacing
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise ChaseError(f"{path}: could not be written: {exc.strerror}; free space or choose another "
                             "place") from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


@contextlib.contextmanager
def scratch_path(near: str | Path) -> Iterator[Path]:
    """A temporary file beside ``near`` for intermediate data; always deleted when the block ends."""
    folder = ensure_folder(Path(os.path.realpath(near)).parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(near).name}.", suffix=".scratch", dir=folder)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


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
    with contextlib.suppress(OSError):  # a name too long to stat is no folder
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a str root (from a config or a caller) works too
        if self.root.exists() and not self.root.is_dir():
            raise ChaseError(f"{self.root}: the artifact store (--store) is a file; give a folder (it is created "
                             "when missing)")

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
