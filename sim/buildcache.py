"""Build cache entries that several processes share safely (Verilator and Icarus builds).

An entry is a folder filled by a build and finished by a stamp, ``built.json``. Two
things went wrong without this module (issue 19): two runs on a cold cache both started
the build, and the second deleted the first's build in progress; and a cached binary that
was truncated or deleted afterwards was trusted forever, so every run stalled and failed.

* :func:`build_once` builds an entry under an exclusive ``fcntl.flock`` on a lock file
  beside it: a second process waits for the first and then uses its build.
* The stamp records the size and SHA-256 of the entry's binaries (executables and Icarus
  ``.vvp`` files); an entry whose binaries no longer match is rebuilt, under the lock.

POSIX only (``fcntl``), like the simulators' build flow itself (make, a C++ compiler).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from pathlib import Path

from eiegen.safeio import json_text

__all__ = ["STAMP", "entry_lock", "entry_valid", "write_stamp", "build_once"]

STAMP = "built.json"


@contextlib.contextmanager
def entry_lock(build_dir):
    """Hold an exclusive lock on the cache entry ``build_dir`` (a ``.lock`` file beside
    the folder, so the folder itself can be deleted and rebuilt while it is held)."""
    build_dir = Path(build_dir)
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.parent / f"{build_dir.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, also on a crash
        yield


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _binaries(build_dir: Path) -> dict:
    """name -> {size, sha256} of the entry's executables and .vvp files."""
    out = {}
    for p in sorted(build_dir.iterdir()):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode) and (st.st_mode & stat.S_IXUSR or p.suffix == ".vvp"):
            out[p.name] = {"size": st.st_size, "sha256": _sha256(p)}
    return out


def write_stamp(build_dir, **info) -> dict:
    """Finish an entry: the stamp with ``info`` and its binaries' sizes and digests,
    written beside and renamed (a reader never sees half a stamp)."""
    build_dir = Path(build_dir)
    stamp = dict(info, binaries=_binaries(build_dir))
    tmp = build_dir / f".{STAMP}.tmp"
    tmp.write_text(json_text(stamp))
    os.replace(tmp, build_dir / STAMP)
    return stamp


def entry_valid(build_dir) -> bool:
    """True when ``build_dir`` holds a finished build whose binaries are the ones its
    stamp records. A stamp written before binaries were recorded is accepted once if the
    binaries are there and not empty, and then upgraded."""
    build_dir = Path(build_dir)
    try:
        stamp = json.loads((build_dir / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict):
        return False
    recorded = stamp.get("binaries")
    try:
        if recorded is None:  # an older eiegen's stamp
            found = _binaries(build_dir)
            if not found or any(b["size"] == 0 for b in found.values()):
                return False
            write_stamp(build_dir, **stamp)
            return True
        if not recorded or not isinstance(recorded, dict):
            return False
        for name, want in recorded.items():
            p = build_dir / name
            if p.stat().st_size != want.get("size") or _sha256(p) != want.get("sha256"):
                return False
    except OSError:
        return False
    return True


def build_once(build_dir, make, **info) -> float:
    """Make sure ``build_dir`` holds a verified build; returns the seconds spent building
    (0.0 when a valid entry was there, or another process built it meanwhile).

    ``make(build_dir)`` fills the (new, empty) folder; an exception from it leaves no
    stamp, so the next call starts over. A damaged or unfinished entry is deleted and
    rebuilt, always under :func:`entry_lock`, so no process deletes a build that another
    one is using or making.
    """
    build_dir = Path(build_dir)
    if entry_valid(build_dir):
        return 0.0
    with entry_lock(build_dir):
        if entry_valid(build_dir):  # built by another process while this one waited
            return 0.0
        if build_dir.exists():
            shutil.rmtree(build_dir)  # interrupted, or its binary was damaged
        build_dir.mkdir(parents=True)
        start = time.monotonic()
        make(build_dir)
        seconds = time.monotonic() - start
        write_stamp(build_dir, seconds=seconds, **info)
        return seconds
