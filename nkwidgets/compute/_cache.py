"""An on-disk cache of finished blocks, so a killed computation resumes.

Each block is one file, written to a temporary name in the same directory,
fsync-ed, then renamed over its final name: a reader sees either the whole
block or none of it, whatever moment the writer was killed at. A SHA-256 of
the payload is stored with it, so a file damaged afterwards (truncated, a bad
disk, a half-synced network filesystem) is detected and recomputed, never
trusted.

Files live under ``cache_dir/<key>/``, where the key hashes everything that
decides the block values: the network description, the data fingerprint, the
kernels asked for, dtype, block size and the nkwidgets version. ``key.json``
beside them records those facts for people.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import CacheError

log = logging.getLogger(__name__)

MAGIC = b"NKBLOCK1"
_LENGTH = struct.Struct("<Q")  # header length, little-endian uint64
SUFFIX = ".nkb"
#: Temporary files older than this belong to a writer that died; newer ones may
#: belong to another live process sharing the directory.
STALE_TMP_SECONDS = 3600


def cache_key(facts: dict[str, Any]) -> str:
    """A stable hash of JSON-able ``facts`` (sorted keys, so order is irrelevant)."""
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def earlier_block_sizes(
    root: str | os.PathLike[str], facts: dict[str, Any]
) -> dict[int, int]:
    """Block sizes of earlier runs of the computation ``facts`` describes.

    Looks under ``root`` for computations whose facts differ from ``facts`` in
    ``block_size`` alone; maps each one's block size to how many blocks it
    holds. Lets ``block_size="auto"`` resume a computation at the size its
    finished blocks have, instead of starting over at a new size.
    """
    wanted = _comparable(facts)
    found: dict[int, int] = {}
    for key_file in Path(root).expanduser().glob("*/key.json"):
        try:
            earlier = json.loads(key_file.read_text())
        except (OSError, ValueError):
            continue
        size = earlier.get("block_size") if isinstance(earlier, dict) else None
        if not isinstance(size, int) or _comparable(earlier) != wanted:
            continue
        blocks = sum(1 for _ in key_file.parent.glob(f"*{SUFFIX}"))
        found[size] = max(found.get(size, 0), blocks)
    return found


def _comparable(facts: dict[str, Any]) -> str:
    """``facts`` as key.json stores them, without the block size."""
    rest = {k: v for k, v in facts.items() if k != "block_size"}
    return json.dumps(rest, sort_keys=True, default=str)


class BlockCache:
    """Blocks of one computation, stored as ``<name>.nkb`` files.

    Args:
      root: the cache directory (created if missing); several computations
        share it, each in its own subdirectory.
      facts: what determines the values; hashed into the subdirectory name.
    """

    def __init__(self, root: str | os.PathLike[str], facts: dict[str, Any]):
        self.facts = facts
        self.key = cache_key(facts)
        self.directory = Path(root).expanduser() / self.key
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(
                f"cannot create the cache directory {self.directory}: {e.strerror}. "
                "Fix: choose a writable `cache` directory."
            ) from None
        self._write_key_file()
        self._remove_stale_tmp()

    def path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        """The stored arrays of block ``name``, or None if absent or damaged."""
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cannot read cached block %s (%s); recomputing it", path, e)
            return None
        try:
            return _decode(data)
        except ValueError as e:
            log.warning("cached block %s is damaged (%s); recomputing it", path, e)
            return None

    def store(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Write block ``name`` atomically (temp file, fsync, rename)."""
        final = self.path(name)
        tmp = self.directory / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(_encode(arrays))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        # The rename is durable only once the directory entry is on disk.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _write_key_file(self) -> None:
        key_file = self.directory / "key.json"
        if key_file.exists():
            return
        tmp = self.directory / f".key.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(json.dumps(self.facts, sort_keys=True, indent=1, default=str))
        os.replace(tmp, key_file)

    def _remove_stale_tmp(self) -> None:
        now = time.time()
        for tmp in self.directory.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()
            except OSError:
                pass


def _encode(arrays: dict[str, np.ndarray]) -> bytes:
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload = b"".join(a.tobytes() for a in arrays.values())
    header = json.dumps(
        {
            "arrays": [
                {"name": k, "dtype": a.dtype.str, "shape": list(a.shape)}
                for k, a in arrays.items()
            ],
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    ).encode()
    return MAGIC + _LENGTH.pack(len(header)) + header + payload


def _decode(data: bytes) -> dict[str, np.ndarray]:
    if not data.startswith(MAGIC):
        raise ValueError("not a block file")
    start = len(MAGIC) + _LENGTH.size
    if len(data) < start:
        raise ValueError("truncated header")
    (header_len,) = _LENGTH.unpack_from(data, len(MAGIC))
    try:
        header = json.loads(data[start : start + header_len])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("unreadable header") from None
    payload = data[start + header_len :]
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise ValueError("checksum mismatch (truncated or corrupted)")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for spec in header["arrays"]:
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        size = count * dtype.itemsize
        out[spec["name"]] = (
            np.frombuffer(payload, dtype, count, offset).reshape(spec["shape"]).copy()
        )
        offset += size
    if offset != len(payload):
        raise ValueError("payload size does not match its header")
    return out
