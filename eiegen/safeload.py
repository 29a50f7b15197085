"""Reading files a user (or anyone) handed to eiegen, without trusting them.

The input-side counterpart of :mod:`eiegen.safeio`. A file name or a header is a claim,
not a fact (issue 19): ``/dev/zero`` named as a program file reads until the kernel kills
the process, a 200-byte ``.npy`` may declare a 10^5 x 10^5 array (80 GB allocated before
a byte is read), a zip member may fail its CRC. These helpers check the claim against
the file first and raise ``error`` (the caller's own exception type) with one line.
"""

from __future__ import annotations

import io
import os
import stat
import tokenize
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_regular", "load_arrays", "check_npy_header", "check_samples",
           "MAX_ARRAY_BYTES"]

# The largest array eiegen reads from a file: EIE's largest benchmark layer (VGG-6,
# 25088 x 4096) as float64 is 822 MB; twice that leaves room without letting a header
# reserve all memory.
MAX_ARRAY_BYTES = 2 << 30


def read_regular(path, *, limit: int, what: str, error=ValueError, inside=None) -> bytes:
    """The bytes of ``path``, which must be a regular file or a pipe (not a device or a
    folder) of at most ``limit`` bytes; with ``inside``, a regular file (not a symbolic
    link) in that folder."""
    path = Path(path)
    try:
        # a link the user made (cfg.json -> configs/ulx3s.json) is followed; inside a
        # folder whose contents are untrusted (``inside``, a program) it is refused
        st = os.lstat(path) if inside is not None else os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    # a pipe (`--config <(eiegen config --board icebreaker)`) is read up to the limit
    if not (stat.S_ISREG(st.st_mode) or (inside is None and stat.S_ISFIFO(st.st_mode))):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else
                "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file")
        raise error(f"{what} {path} is {kind}; a regular file is needed")
    if inside is not None:  # a symbolic link in a parent folder leads out of it
        root = os.path.realpath(inside)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise error(f"{what} {path} lies outside {inside}")
    if st.st_size > limit:
        raise error(f"{what} {path} has {st.st_size} bytes, more than the {limit} allowed")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise error(f"{what} {path} has more than the {limit} bytes allowed")
    return data


def check_npy_header(fp, available: int, what: str, error=ValueError) -> None:
    """Refuse an ``.npy`` stream whose header declares more data than ``available`` bytes
    (after the header) hold, an object dtype, or more than :data:`MAX_ARRAY_BYTES`."""
    fmt = np.lib.format
    start = fp.tell()
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(fp)
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as e:
        # numpy parses the header's dict with ast.literal_eval: a corrupt one is a
        # SyntaxError or a TokenError (found by fuzzing)
        raise error(f"{what} is not a valid .npy array: "
                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if dtype.hasobject:
        raise error(f"{what} holds Python objects (pickled data), which eiegen does not "
                    f"load; save plain numeric arrays")
    count = 1
    for n in shape:
        count *= int(n)
    need = count * dtype.itemsize
    header = fp.tell() - start
    if need > MAX_ARRAY_BYTES:
        raise error(f"{what} declares a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array "
                    f"({need} bytes), more than eiegen reads ({MAX_ARRAY_BYTES} bytes)")
    if need > available - header:
        raise error(f"{what} declares a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array "
                    f"({need} bytes) but holds {max(available - header, 0)}: the file is "
                    f"truncated or corrupt")


def load_arrays(path, *, what: str, error=ValueError, data: bytes | None = None):
    """``np.load`` of an ``.npy`` (an array) or ``.npz`` (a dict of arrays), checked first:
    a regular file, every header against the bytes behind it, no pickled objects, zip
    CRCs. ``data`` gives the bytes when the caller already read them."""
    path = Path(path)
    if data is None:
        if path.is_dir():
            raise error(f"{what} {path} is a folder; give an .npy or .npz file")
        data = read_regular(path, limit=MAX_ARRAY_BYTES + (64 << 20), what=what, error=error)
    try:
        if data[:4] == b"PK\x03\x04" or (data[:4] == b"PK\x05\x06"):
            out = {}
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    name = info.filename
                    key = name[:-4] if name.endswith(".npy") else name
                    with z.open(info) as member:
                        check_npy_header(member, info.file_size, f"{what} {path}: {key}",
                                         error)
                    with z.open(info) as member:
                        raw = member.read()  # checks the CRC
                    out[key] = np.load(io.BytesIO(raw), allow_pickle=False)
            return out
        if data[:6] != b"\x93NUMPY":
            raise error(f"{what} {path} is not a readable .npz file or .npy array (neither "
                        f"a zip archive nor an .npy header)")
        check_npy_header(io.BytesIO(data), len(data), f"{what} {path}", error)
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:
        # RuntimeError: an encrypted member; NotImplementedError: a compression method
        # zipfile lacks (both found by fuzzing)
        raise error(f"{what} {path} is a corrupt .npz (zip) file, or uses a zip feature "
                    f"numpy cannot read: "
                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except (ValueError, OSError, EOFError, KeyError) as e:
        if isinstance(e, error):
            raise
        raise error(f"{what} {path} is not a readable .npy/.npz file: {e}") from None


def check_samples(x, n_in: int, what: str, error=ValueError) -> np.ndarray:
    """``x`` as a non-empty (batch, n_in) array of real, finite numbers, else ``error``
    naming the first bad value: a NaN input used to become INT64_MIN in the hardware's
    format and pass unnoticed (issue 19)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise error(f"{what} must be real numbers, got {x.dtype}")
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise error(f"{what} must have shape (batch, {n_in}), got {x.shape}")
    if len(x) == 0:
        raise error(f"{what} hold no samples (shape {x.shape}); give at least one")
    if x.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(x))
        if len(bad):
            i, j = (int(v) for v in bad[0])
            raise error(f"{what} hold {len(bad)} NaN or infinite value(s), the first at "
                        f"sample {i}, feature {j} ({x[i, j]}); clean or drop them")
    return x
