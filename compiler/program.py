"""The compiled program: memory images plus a manifest (docs/program-format.md)."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig, ConfigError
from eiegen.fixedpoint import to_fixed
from eiegen.safeio import OutputError, check_folder_output, staged_folder
from eiegen.safeload import load_arrays, read_regular
from eiegen.words import LAYER_DESCRIPTOR

from .formats import LayerFormat
from .pack import byte_rows_hex_lines, hex_lines, unpack_entries, words_to_ints

__all__ = ["Program", "LayerProgram", "ProgramError", "FORMAT_NAME", "FORMAT_VERSION",
           "manifest_digest", "program_file_names"]

FORMAT_NAME = "eiegen-program"
FORMAT_VERSION = 1


def _program_files(folder: Path):
    """The files of a program folder: its manifest's list plus the manifest, when the
    manifest is an eiegen program manifest; else None. A program folder holding anything
    else is not replaced (eiegen.safeio)."""
    try:
        m = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("format") != FORMAT_NAME or not isinstance(
            m.get("files"), dict):
        return None
    return [str(n) for n in m["files"]] + ["manifest.json"]


class ProgramError(ValueError):
    """A program cannot be built (it does not fit) or read (it is malformed)."""


@dataclass(eq=False)
class LayerProgram:
    """Everything the manifest records about one compiled layer."""

    name: str
    n_in: int
    n_out: int
    relu: bool
    ptr_base: int
    bias_base: int
    fmt: LayerFormat
    codebook: list  # float centroids
    codebook_q: list  # the fixed-point weights the hardware uses
    entry_base: list  # per PE: address of the layer's first entry
    entries: list  # per PE: entries including padding
    padding: list  # per PE: padding entries
    row_order: np.ndarray | None = None  # hardware row p computes original row row_order[p]

    @property
    def shift(self) -> int:
        return self.fmt.shift

    @property
    def nnz(self) -> list:
        return [e - p for e, p in zip(self.entries, self.padding)]

    def descriptor_words(self) -> list[int]:
        """The layer descriptor (eiegen.words.LAYER_DESCRIPTOR) as 32-bit words."""
        return LAYER_DESCRIPTOR.to_words(LAYER_DESCRIPTOR.pack(
            n_in=self.n_in, n_out=self.n_out, ptr_base=self.ptr_base,
            bias_base=self.bias_base, shift=self.shift, relu=int(self.relu)))

    def to_dict(self) -> dict:
        return {
            "name": self.name, "n_in": self.n_in, "n_out": self.n_out, "relu": self.relu,
            "ptr_base": self.ptr_base, "bias_base": self.bias_base, "format": self.fmt.to_dict(),
            "codebook": [float(c) for c in self.codebook],
            "codebook_q": [int(c) for c in self.codebook_q],
            "entry_base": self.entry_base, "entries": self.entries, "padding": self.padding,
            "row_order": None if self.row_order is None else [int(r) for r in self.row_order],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "LayerProgram":
        f = d["format"]
        fmt = LayerFormat.from_dict(f)
        ro = d.get("row_order")
        return cls(name=d["name"], n_in=d["n_in"], n_out=d["n_out"], relu=d["relu"],
                   ptr_base=d["ptr_base"], bias_base=d["bias_base"], fmt=fmt,
                   codebook=d["codebook"], codebook_q=d["codebook_q"],
                   entry_base=d["entry_base"], entries=d["entries"], padding=d["padding"],
                   row_order=None if ro is None else np.asarray(ro, dtype=np.int64))


@dataclass(eq=False)
class Program:
    """A compiled network for one architecture configuration."""

    cfg: ArchConfig
    layers: list
    images: dict = field(default_factory=dict)

    # ---- numbers in and out ----
    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def input_frac(self) -> int:
        return self.layers[0].fmt.frac_in

    def quantize_input(self, x) -> np.ndarray:
        """Float inputs (network order) -> the integer activations the hardware reads."""
        return to_fixed(x, self.input_frac, self.cfg.act_bits)

    def to_network_order(self, y, layer: int = -1) -> np.ndarray:
        """A layer's outputs from hardware row order back to the network's row order."""
        order = self.layers[layer].row_order
        y = np.asarray(y)
        if order is None:
            return y
        out = np.empty_like(y)
        out[..., order] = y
        return out

    def dequantize_output(self, y, layer: int = -1) -> np.ndarray:
        """Integer outputs (hardware order) -> floats in the network's row order."""
        y = self.to_network_order(y, layer)
        return np.asarray(y, dtype=np.float64) * 2.0 ** -self.layers[layer].fmt.frac_out

    # ---- memory images ----
    def spmat_words(self, pe: int) -> list[int]:
        return words_to_ints(self.images[f"pe{pe}.spmat"])

    def pe_entries(self, pe: int):
        """(v, z) of PE ``pe``'s whole entry stream, read back from its memory image."""
        words = self.images[f"pe{pe}.spmat"]
        cfg = self.cfg
        n = max((lp.entry_base[pe] + lp.entries[pe] for lp in self.layers), default=0)
        v, z = unpack_entries(words, cfg.index_bits, cfg.rel_bits, cfg.entries_per_word)
        return v[:n], z[:n]

    def colmask(self, pe: int) -> list[int]:
        """PE ``pe``'s column-mask memory image (``ArchConfig.col_filter``), derived from
        its pointers: per layer ``ceil(n_in / n_pe)`` rows (the LNZD's rows), the layers
        one after the other; bit ``l`` of row ``r`` says whether the PE has entries
        (padding included) in column ``r * n_pe + l``."""
        n = self.cfg.n_pe
        words = []
        weights = 1 << np.arange(n, dtype=object)
        for k, lp in enumerate(self.layers):
            has = np.diff(self.layer_pointers(k, pe)) != 0
            rows = -(-lp.n_in // n)
            bits = np.zeros(rows * n, dtype=bool)
            bits[:lp.n_in] = has
            words += [int(b @ weights) for b in bits.reshape(rows, n).astype(object)]
        return words

    def layer_pointers(self, layer: int, pe: int) -> np.ndarray:
        lp = self.layers[layer]
        return self.images[f"pe{pe}.ptr"][lp.ptr_base:lp.ptr_base + lp.n_in + 1].astype(np.int64)

    def codebook_q(self, layer: int) -> np.ndarray:
        size = self.cfg.codebook_size
        return self.images["codebook"][layer * size:(layer + 1) * size]

    # ---- persistence ----
    def manifest(self, files: dict[str, str]) -> dict:
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION,
            "config": self.cfg.to_dict(),
            "input_frac": self.input_frac,
            "layers": [lp.to_dict() for lp in self.layers],
            "files": files,
        }

    def manifest_with_digest(self, files: dict[str, str]) -> dict:
        """:meth:`manifest` plus ``manifest_sha256`` (:func:`manifest_digest`), which
        :meth:`load` checks so that an edited manifest is refused."""
        m = self.manifest(files)
        m["manifest_sha256"] = manifest_digest(m)
        return m

    def _files(self) -> dict[str, bytes]:
        cfg = self.cfg
        out: dict[str, bytes] = {}
        buf = io.BytesIO()
        np.savez(buf, **{k: self.images[k] for k in sorted(self.images)})
        out["images.npz"] = buf.getvalue()
        out["codebook.hex"] = hex_lines(self.images["codebook"], cfg.weight_bits).encode()
        out["layers.hex"] = hex_lines(self.images["layers"], 32).encode()
        for k in range(cfg.n_pe):
            ptr = self.images[f"pe{k}.ptr"]
            out[f"pe{k:03d}/ptr_even.hex"] = hex_lines(ptr[0::2], cfg.ptr_bits).encode()
            out[f"pe{k:03d}/ptr_odd.hex"] = hex_lines(ptr[1::2], cfg.ptr_bits).encode()
            out[f"pe{k:03d}/spmat.hex"] = byte_rows_hex_lines(
                self.images[f"pe{k}.spmat"], cfg.word_bits).encode()
            out[f"pe{k:03d}/bias.hex"] = hex_lines(self.images[f"pe{k}.bias"], cfg.acc_bits).encode()
        return out

    @staticmethod
    def check_save_path(path, inputs=()) -> None:
        """Raise :class:`ProgramError` now if :meth:`save` would refuse ``path``."""
        try:
            check_folder_output(path, "program", inputs, legacy=_program_files)
        except OutputError as e:
            raise ProgramError(str(e)) from None

    def save(self, path, inputs=()) -> Path:
        """Write the program folder through :func:`eiegen.safeio.staged_folder`: written
        beside ``path`` and swapped into place at the end, so a failure or Ctrl-C leaves the
        previous program intact. An existing folder is replaced only when it holds an eiegen
        program and nothing else; ``inputs`` (the model, calibration files) may not be
        ``path`` or lie inside it."""
        path = Path(path)
        files = self._files()
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
        try:  # allow_nan=False: NaN is not JSON, and a NaN codebook is no program
            text = json.dumps(self.manifest_with_digest(digests), indent=1, sort_keys=True,
                              allow_nan=False)
        except ValueError:
            raise ProgramError("the program holds NaN or infinite values (a codebook or a "
                               "format); the network must be finite") from None
        files["manifest.json"] = (text + "\n").encode()
        try:
            with staged_folder(path, kind="program", inputs=inputs,
                               legacy=_program_files, marker=False) as tmp:
                for name, data in files.items():
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / name).write_bytes(data)
        except OutputError as e:
            raise ProgramError(str(e)) from None
        return path

    @classmethod
    def load(cls, path, verify: bool = True) -> "Program":
        """Read a program folder, trusting nothing in it (issue 19): the manifest is
        checked against a schema and its own checksum (``manifest_sha256``), the file list
        must be exactly the files a program of its config has, each a regular file inside
        the folder, and the layers, memory images and config must agree and fit. With
        ``verify=False`` the file checksums are skipped, nothing else."""
        path = Path(path)
        mpath = path / "manifest.json"
        if not mpath.exists():
            raise ProgramError(f"{path} is not an eiegen program (no manifest.json); "
                               f"create one with `eiegen compile`")
        raw = read_regular(mpath, limit=MAX_MANIFEST_BYTES, what="manifest",
                           error=ProgramError)
        try:
            m = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ProgramError(f"{mpath} is not valid JSON: {e}") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
            raise ProgramError(f"{mpath}: not an eiegen program manifest")
        if m.get("version") != FORMAT_VERSION:
            raise ProgramError(f"{mpath}: program format version {m.get('version')} is not "
                               f"supported (this eiegen reads version {FORMAT_VERSION}); recompile")
        try:
            cfg = ArchConfig.from_dict(m.get("config"))
        except ConfigError as e:
            raise ProgramError(f"{mpath}: {e}") from None
        except TypeError as e:  # a field of the wrong kind of value
            raise ProgramError(f"{mpath}: config: {e}") from None
        if verify and "manifest_sha256" in m and m["manifest_sha256"] != manifest_digest(m):
            raise ProgramError(f"{mpath} does not match its own checksum (manifest_sha256): "
                               f"the manifest was edited; recompile the program")
        files = m.get("files")
        expected = program_file_names(cfg)
        if not isinstance(files, dict) or set(files) != set(expected):
            got = sorted(files) if isinstance(files, dict) else files
            odd = (sorted(set(got) ^ set(expected))[:3] if isinstance(files, dict) else got)
            raise ProgramError(f"{mpath}: the file list must name exactly the {len(expected)} "
                               f"files of a {cfg.n_pe}-PE program (differs at {odd!r}); "
                               f"recompile the program")
        contents = {}
        for name in expected:  # names from the config, never from the manifest
            f = path / name
            if not f.exists() and not f.is_symlink():
                raise ProgramError(f"{path}: file {name} listed in the manifest is missing")
            data = read_regular(f, limit=MAX_FILE_BYTES, what="program file",
                                error=ProgramError, inside=path)
            if verify and hashlib.sha256(data).hexdigest() != files[name]:
                raise ProgramError(f"{path}: file {name} does not match its checksum in the "
                                   f"manifest; the program was modified, recompile it")
            if name == "images.npz":
                contents[name] = data
        images = load_arrays(path / "images.npz", what="memory images", error=ProgramError,
                             data=contents["images.npz"])
        if not isinstance(images, dict):
            raise ProgramError(f"{path}/images.npz is not an .npz archive; recompile")
        layers = _layers_from_manifest(m, cfg, mpath)
        program = cls(cfg=cfg, layers=layers, images=images)
        _check_images(program, path)
        for k, lp in enumerate(layers):
            # padding entries select codebook entry 0, and the hardware skips merged ones
            # without multiplying: the entry must be exact zero for that to change nothing
            zero = int(program.codebook_q(k)[0])
            if zero != 0:
                raise ProgramError(f"{path}: layer {k} ({lp.name}) has codebook entry 0 = "
                                   f"{zero}, but entry 0 is the padding entry and must be "
                                   f"exact zero; recompile")
        _check_consistency(program, path)
        return program


# ---- loading: what a program folder must be (docs/program-format.md) ----

MAX_MANIFEST_BYTES = 64 << 20
MAX_FILE_BYTES = 4 << 30
PE_FILES = ("ptr_even.hex", "ptr_odd.hex", "spmat.hex", "bias.hex")


def program_file_names(cfg: ArchConfig) -> list[str]:
    """The files (besides manifest.json) of a program for ``cfg``: what Program.save
    writes, and all that Program.load reads."""
    return (["images.npz", "codebook.hex", "layers.hex"]
            + [f"pe{k:03d}/{n}" for k in range(cfg.n_pe) for n in PE_FILES])


def manifest_digest(m: dict) -> str:
    """SHA-256 of the manifest without its ``manifest_sha256`` field, in a canonical
    form (sorted keys, no spaces), so that any edit of the manifest is detected."""
    body = {k: v for k, v in m.items() if k != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _no_constant(name):
    raise ProgramError(f"manifest.json holds {name}, which is not JSON; recompile the program")


def _int(v, what, lo=0, hi=None):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ProgramError(f"{what} must be an integer {rng}, got {v!r}")
    return v


def _int_list(v, n, what, lo=0, hi=None):
    if not isinstance(v, list) or len(v) != n:
        raise ProgramError(f"{what} must be a list of {n} integers, got {v!r:.80}")
    return [_int(x, f"{what}[{i}]", lo, hi) for i, x in enumerate(v)]


def _layers_from_manifest(m: dict, cfg: ArchConfig, mpath: Path) -> list:
    """The manifest's layers, every field checked for type and range, and the whole for
    fit against ``cfg`` (the compiler's own checks, compiler/compile.py fit_problems)."""
    from .compile import fit_problems

    raw = m.get("layers")
    if not isinstance(raw, list) or not raw:
        raise ProgramError(f"{mpath}: layers must be a non-empty list; recompile")
    layers = []
    size, n_pe = cfg.codebook_size, cfg.n_pe
    for k, d in enumerate(raw):
        where = f"{mpath}: layer {k}"
        try:
            if not isinstance(d, dict):
                raise ProgramError("must be an object")
            if not isinstance(d.get("name"), str):
                raise ProgramError(f"name must be a string, got {d.get('name')!r}")
            n_in = _int(d.get("n_in"), "n_in", 1)
            n_out = _int(d.get("n_out"), "n_out", 1)
            if not isinstance(d.get("relu"), bool):
                raise ProgramError(f"relu must be true or false, got {d.get('relu')!r}")
            _int(d.get("ptr_base"), "ptr_base")
            _int(d.get("bias_base"), "bias_base")
            entries = _int_list(d.get("entries"), n_pe, "entries")
            padding = _int_list(d.get("padding"), n_pe, "padding")
            _int_list(d.get("entry_base"), n_pe, "entry_base")
            if any(p > e for p, e in zip(padding, entries)):
                raise ProgramError("padding exceeds entries")
            cb = d.get("codebook")
            if not isinstance(cb, list) or len(cb) != size or not all(
                    isinstance(c, (int, float)) and not isinstance(c, bool) for c in cb):
                raise ProgramError(f"codebook must be {size} numbers")
            _int_list(d.get("codebook_q"), size, "codebook_q", -(1 << 63))
            ro = d.get("row_order")
            if ro is not None and (not isinstance(ro, list) or sorted(
                    x if isinstance(x, int) and not isinstance(x, bool) else -1 for x in ro)
                    != list(range(n_out))):
                raise ProgramError(f"row_order must be a permutation of 0..{n_out - 1}")
            f = d.get("format")
            if not isinstance(f, dict):
                raise ProgramError("format must be an object")
            for key in ("frac_in", "frac_w", "frac_out", "acc_worst_bits"):
                _int(f.get(key), f"format.{key}", -(1 << 10), 1 << 10)
            lp = LayerProgram.from_dict(d)
            _int(lp.shift, "format shift (frac_in + frac_w - frac_out)", 0, 255)
        except ProgramError as e:
            raise ProgramError(f"{where}: {e}; recompile the program") from None
        except (KeyError, TypeError, ValueError) as e:
            raise ProgramError(f"{where}: malformed ({type(e).__name__}: {e}); "
                               f"recompile the program") from None
        layers.append(lp)
    problems = []
    for k, (a, b) in enumerate(zip(layers, layers[1:])):
        if a.n_out != b.n_in:
            problems.append(f"layer {k} has {a.n_out} outputs but layer {k + 1} {b.n_in} inputs")
        if a.fmt.frac_out != b.fmt.frac_in:
            problems.append(f"layer {k}'s output format (frac {a.fmt.frac_out}) is not layer "
                            f"{k + 1}'s input format (frac {b.fmt.frac_in})")
    if m.get("input_frac") != layers[0].fmt.frac_in:
        problems.append(f"input_frac {m.get('input_frac')!r} is not layer 0's frac_in "
                        f"{layers[0].fmt.frac_in}")
    # An activation format chosen for other act_bits: the calibrated peak no longer fits
    # (a format already at the lowest fraction clips by design, so it is not judged)
    from .formats import _FRAC_MIN
    hi = (1 << (cfg.act_bits - 1)) - 1
    for k, lp in enumerate(layers):
        for which, frac, peak in (("input", lp.fmt.frac_in, lp.fmt.calib_max_in),
                                  ("output", lp.fmt.frac_out, lp.fmt.calib_max_out)):
            if (isinstance(peak, (int, float)) and peak > 0 and frac > _FRAC_MIN
                    and round(peak * 2.0 ** frac) > hi):
                problems.append(f"layer {k}'s {which} format (frac {frac}) does not hold its "
                                f"calibrated peak {peak:g} in act_bits={cfg.act_bits}")
                break
    ptr = bias = 0
    base = [0] * cfg.n_pe
    for k, lp in enumerate(layers):
        if (lp.ptr_base, lp.bias_base, lp.entry_base) != (ptr, bias, base):
            problems.append(f"layer {k}'s memory bases (ptr_base, bias_base, entry_base) are "
                            f"not where the layers before it end")
        ptr += lp.n_in + 1
        bias += -(-lp.n_out // cfg.n_pe)
        base = [b + e for b, e in zip(base, lp.entries)]
    problems += fit_problems([(f"layer {k} ({lp.name})", lp.n_in, lp.n_out, None)
                              for k, lp in enumerate(layers)], cfg)
    if max(base) > cfg.spmat_entries:
        problems.append(f"sparse-matrix memory: a PE holds {max(base)} entries but "
                        f"spmat_depth={cfg.spmat_depth} words hold {cfg.spmat_entries}")
    if problems:
        raise ProgramError(f"{mpath}: the program does not agree with its config: "
                           + "; ".join(problems[:3]) + "; recompile the program")
    return layers


def _check_images(program: "Program", path: Path) -> None:
    """The memory images have the names, types and shapes the layers and config imply."""
    cfg, layers = program.cfg, program.layers
    names = {"codebook", "layers"} | {f"pe{k}.{m}" for k in range(cfg.n_pe)
                                       for m in ("ptr", "bias", "spmat")}
    images = program.images
    if set(images) != names:
        odd = sorted(set(images) ^ names)[:3]
        raise ProgramError(f"{path}/images.npz: the images must be exactly those of a "
                           f"{cfg.n_pe}-PE program (differs at {odd}); recompile")
    n_ptr = sum(lp.n_in + 1 for lp in layers)
    n_bias = sum(-(-lp.n_out // cfg.n_pe) for lp in layers)
    words = -(-cfg.word_bits // 8)
    shapes = {"codebook": (len(layers) * cfg.codebook_size,), "layers": (4 * len(layers),)}
    for k in range(cfg.n_pe):
        n_entries = sum(lp.entries[k] for lp in layers)
        shapes[f"pe{k}.ptr"] = (n_ptr,)
        shapes[f"pe{k}.bias"] = (n_bias,)
        shapes[f"pe{k}.spmat"] = (-(-n_entries // cfg.entries_per_word), words)
    for name, shape in shapes.items():
        a = images[name]
        if a.shape != shape or not np.issubdtype(a.dtype, np.integer):
            raise ProgramError(f"{path}/images.npz: {name} must be an integer array of shape "
                               f"{shape}, got {a.dtype} {a.shape}; recompile")


def _check_consistency(program: "Program", path: Path) -> None:
    """Values: descriptors, codebooks, pointers and biases as the manifest describes."""
    cfg, layers, images = program.cfg, program.layers, program.images
    problems = []
    desc = [w for lp in layers for w in lp.descriptor_words()]
    if images["layers"].tolist() != desc:
        problems.append("the layer descriptors (images 'layers') differ from the manifest's layers")
    wlo, whi = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1)) - 1
    alo, ahi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    for k, lp in enumerate(layers):
        q = program.codebook_q(k)
        if q.tolist() != list(lp.codebook_q):
            problems.append(f"layer {k}'s codebook image differs from the manifest's codebook_q")
        if q.min() < wlo or q.max() > whi:
            problems.append(f"layer {k}'s codebook exceeds weight_bits={cfg.weight_bits}")
        if not np.all(np.isfinite(np.asarray(lp.codebook, dtype=np.float64))):
            problems.append(f"layer {k}'s float codebook is not finite")
        for pe in range(cfg.n_pe):
            ptr = program.layer_pointers(k, pe)
            if (ptr[0] != lp.entry_base[pe] or ptr[-1] != lp.entry_base[pe] + lp.entries[pe]
                    or np.any(np.diff(ptr) < 0)):
                problems.append(f"layer {k}'s pointers on PE {pe} do not span its entries")
                break
    for pe in range(cfg.n_pe):
        b = images[f"pe{pe}.bias"]
        if b.size and (b.min() < alo or b.max() > ahi):
            problems.append(f"PE {pe}'s biases exceed acc_bits={cfg.acc_bits}")
    if problems:
        raise ProgramError(f"{path}: the memory images do not agree with the manifest: "
                           + "; ".join(problems[:3]) + "; recompile the program")
