"""Writing outputs without ever losing what the user already has.

Every command that writes follows the same three rules (docs/overview.md, "Outputs"):

1. **Refuse before writing.** An output that is one of the command's inputs, or a folder
   that contains an input or the current directory, is refused with a one-line
   :class:`OutputError` before anything is written.
2. **Write beside, then rename.** A file is written to a temporary sibling and moved into
   place with :func:`os.replace`, so a full disk, a crash or Ctrl-C leaves either the old
   file or the new one, never a truncated mix. A folder is filled as a temporary sibling
   folder and swapped into place the same way.
3. **Replace only what eiegen wrote.** An existing output folder is replaced only when it
   carries eiegen's marker file (``.eiegen-output.json``) and holds nothing besides the files
   that marker lists; anything else in it (a thesis, a model, a source tree) makes the
   command refuse, naming the first stranger. Empty folders are filled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

__all__ = ["OutputError", "MARKER", "check_output", "file_digests", "atomic_write_bytes", "atomic_write_text",
           "json_text", "write_json",
           "staged_folder", "check_folder_output", "folder_owned_by_eiegen"]

MARKER = ".eiegen-output.json"


class OutputError(ValueError):
    """An output path that would overwrite or delete something eiegen did not create."""


def _resolved(p) -> Path:
    return Path(os.path.abspath(Path(p).expanduser()))


def _is_within(inner: Path, outer: Path) -> bool:
    try:
        inner.relative_to(outer)
        return True
    except ValueError:
        return False


def check_output(out, inputs=(), *, folder: bool = False, what: str = "output") -> Path:
    """Refuse ``out`` if it is (or, for a folder, contains) one of ``inputs`` or the current
    directory. Returns the path as given. ``inputs`` may hold ``None`` entries."""
    out_p = Path(out)
    o = _resolved(out_p)
    for src in inputs:
        if src is None:
            continue
        s = _resolved(src)
        if s == o or (s.exists() and o.exists() and os.path.samefile(s, o)):
            raise OutputError(f"{what} {out_p} is also an input of this command; "
                              f"choose another {what} path")
        if folder and _is_within(s, o):
            raise OutputError(f"{what} folder {out_p} contains the input {src}; "
                              f"choose a new folder for the {what}")
        if not folder and _is_within(o, s) and s.is_dir():
            raise OutputError(f"{what} {out_p} lies inside {src}, which this command reads or writes; "
                              f"choose a path outside it")
    if folder and _is_within(_resolved(os.getcwd()), o):
        raise OutputError(f"{what} folder {out_p} is (or contains) the current directory; "
                          f"choose a new folder, e.g. {out_p / 'eiegen-out'}")
    if o.exists() and folder and not o.is_dir():
        raise OutputError(f"{what} {out_p} exists and is not a folder; choose another path")
    if o.exists() and not folder and o.is_dir():
        raise OutputError(f"{what} {out_p} is a folder; give a file name")
    return out_p


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT/SIGTERM for the few system calls of a swap, so Ctrl-C cannot land
    between 'old folder moved aside' and 'new folder moved in'."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, lambda s, f: got.append(s))
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in got:
            if callable(old.get(sig)):
                old[sig](sig, None)
            elif sig == signal.SIGINT:
                raise KeyboardInterrupt


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with _signals_deferred():
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def json_text(obj, *, indent: int = 1, default=None) -> str:
    """The JSON of every report and config eiegen writes: sorted keys (the same data
    give the same bytes), ``indent``, one final newline."""
    return json.dumps(obj, indent=indent, sort_keys=True, default=default) + "\n"


def write_json(path, obj, *, indent: int = 1, default=None) -> Path:
    """Write :func:`json_text` of ``obj`` to ``path`` atomically
    (:func:`atomic_write_text`)."""
    return atomic_write_text(path, json_text(obj, indent=indent, default=default))


def file_digests(folder) -> dict:
    """Every plain file under ``folder`` (symbolic links not followed): relative path ->
    sha256. Two snapshots around a command show any file it created, changed or removed;
    the data-safety checks (tests, bench/robustness) compare them."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


def folder_owned_by_eiegen(folder, kind: str | None = None, legacy=None) -> tuple[bool, str]:
    """(True, "") when ``folder`` may be replaced: missing, empty, or an eiegen output (of
    ``kind``, if given) holding only the files its marker lists; else (False, reason).
    ``legacy(folder)`` may return the file list of an output written before markers
    existed (a program folder's manifest), or None."""
    folder = Path(folder)
    if not folder.exists():
        return True, ""
    if not folder.is_dir():
        return False, f"{folder} exists and is not a folder"
    if not any(folder.iterdir()):
        return True, ""
    marker = folder / MARKER
    try:
        info = json.loads(marker.read_text())
        listed = set(info["files"])
        found_kind = info.get("kind")
    except (OSError, ValueError, KeyError, TypeError):
        listed = legacy(folder) if legacy is not None else None
        if listed is None:
            return False, f"{folder} is a non-empty folder that eiegen did not create"
        listed, found_kind = set(listed), kind
    if kind is not None and found_kind != kind:
        return False, f"{folder} holds an eiegen {found_kind} output, not a {kind} output"
    for name in _listing(folder):
        if name != MARKER and name not in listed:
            return False, f"{folder} holds {name}, which eiegen did not write"
    return True, ""


def check_folder_output(out, kind: str, inputs=(), *, legacy=None) -> Path:
    """Everything :func:`staged_folder` refuses, checked up front (call it before long
    work so a bad ``-o`` fails in a second, not after the work)."""
    out = check_output(out, inputs, folder=True)
    ok, why = folder_owned_by_eiegen(out, kind, legacy)
    if not ok:
        raise OutputError(f"{why}; refusing to replace it: choose a new or empty output folder")
    return out


@contextlib.contextmanager
def staged_folder(out, kind: str, inputs=(), *, legacy=None, marker: bool = True):
    """Fill a temporary sibling of ``out`` and swap it into place on success.

    Yields the temporary folder. On normal exit a marker listing every file is added and
    the folder replaces ``out`` (the old one is moved aside first and deleted only after
    the new one is in place). On an exception the temporary folder is removed and ``out``
    is left as it was. ``legacy`` recognises outputs by a listing of their own (see
    :func:`folder_owned_by_eiegen`); with ``marker=False`` that listing is the only one.
    Raises :class:`OutputError` before anything is written when ``out``
    may not be replaced (see the module docstring)."""
    out = check_folder_output(out, kind, inputs, legacy=legacy)
    parent = _resolved(out).parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        if marker:  # outputs with a manifest of their own (programs) pass marker=False
            files = _listing(tmp)
            (tmp / MARKER).write_text(json.dumps({"kind": kind, "files": files}, indent=1)
                                      + "\n")
        with _signals_deferred():
            old = None
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old",
                                            dir=parent))
                os.replace(out, old / "x")
            os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
