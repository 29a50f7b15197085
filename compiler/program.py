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

from .formats import LayerFormat
from .pack import byte_rows_hex_lines, hex_lines, unpack_entries, words_to_ints

__all__ = ["Program", "LayerProgram", "ProgramError", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "eiegen-program"
FORMAT_VERSION = 1
DESCRIPTOR_WORDS = 4


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
        return [self.n_in, self.n_out, self.ptr_base,
                self.bias_base | (self.shift << 16) | (int(self.relu) << 24)]

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
        files["manifest.json"] = (json.dumps(self.manifest(digests), indent=1, sort_keys=True)
                                  + "\n").encode()
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
        path = Path(path)
        mpath = path / "manifest.json"
        if not mpath.exists():
            raise ProgramError(f"{path} is not an eiegen program (no manifest.json); "
                               f"create one with `eiegen compile`")
        try:
            m = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise ProgramError(f"{mpath} is not valid JSON: {e}") from None
        if m.get("format") != FORMAT_NAME:
            raise ProgramError(f"{mpath}: not an eiegen program manifest")
        if m.get("version") != FORMAT_VERSION:
            raise ProgramError(f"{mpath}: program format version {m.get('version')} is not "
                               f"supported (this eiegen reads version {FORMAT_VERSION}); recompile")
        if verify:
            for name, digest in m["files"].items():
                f = path / name
                if not f.exists():
                    raise ProgramError(f"{path}: file {name} listed in the manifest is missing")
                if hashlib.sha256(f.read_bytes()).hexdigest() != digest:
                    raise ProgramError(f"{path}: file {name} does not match its checksum in the "
                                       f"manifest; the program was modified, recompile it")
        try:
            cfg = ArchConfig.from_dict(m["config"])
        except ConfigError as e:
            raise ProgramError(f"{mpath}: {e}") from None
        with np.load(path / "images.npz", allow_pickle=False) as data:
            images = {k: data[k] for k in data.files}
        layers = [LayerProgram.from_dict(d) for d in m["layers"]]
        program = cls(cfg=cfg, layers=layers, images=images)
        for k, lp in enumerate(layers):
            # padding entries select codebook entry 0, and the hardware skips merged ones
            # without multiplying: the entry must be exact zero for that to change nothing
            zero = int(program.codebook_q(k)[0])
            if zero != 0:
                raise ProgramError(f"{path}: layer {k} ({lp.name}) has codebook entry 0 = "
                                   f"{zero}, but entry 0 is the padding entry and must be "
                                   f"exact zero; recompile")
        return program
