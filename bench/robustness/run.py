#!/usr/bin/env python3
"""Benchmark: eiegen under bad input and faults (issue 19), as a careless or hostile user.

Every case is a real ``eiegen`` subprocess in a temporary folder of its own, with
sentinel files the user owns beside it. Each outcome is classified:

* ``error``: exit 2 and one line on stderr naming the problem (what bad input must get);
* ``ok``: the command succeeded (exit 0, or 1 for a simulation that reports a mismatch);
* ``traceback``: a Python traceback, or exit 3 (eiegen's "this is a bug" message);
* ``hang``: still running at the case's timeout (killed);
* ``data-loss``: a sentinel file was changed or deleted (overrides everything else);
* ``accepted``: exit 0 where the input is bad (silent degradation);
* ``other``: any other exit status.

A case passes when its outcome is the expected one. Prints a table and writes
bench/results/robustness.json (or --json PATH). Goal: 0 tracebacks, 0 hangs, 0 data loss,
every case as expected. ``--only ID,...`` runs a subset; ``--slow`` adds the cases that
build the design in Verilator (minutes on a cold cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eiegen.safeio import atomic_write_text, file_digests  # beside and rename

ROOT = Path(__file__).resolve().parents[2]
# as the `eiegen` script does it (`python -m eiegen.cli` would load the CLI twice, as
# __main__ and as eiegen.cli, with two different CliError classes)
EIEGEN = [sys.executable, "-c", "import sys; from eiegen.cli import main; sys.exit(main())"]


@dataclass
class Case:
    id: str
    item: str  # the issue item (or "extra")
    argv: list  # eiegen arguments; "{F}" is replaced by the fixtures folder
    expect: str = "error"  # "error" or "ok"
    setup: object = None  # f(case_dir, fixtures) run before the command
    cwd: str = "."  # relative to the case folder
    timeout: float = 60.0
    sigint_after: float | None = None  # send SIGINT after this many seconds
    slow: bool = False
    env: dict = field(default_factory=dict)
    max_seconds: float | None = None  # an "error" slower than this is a "slow-error"
    replaces: tuple = ()  # setup files the command may replace (a program recompiled)


# ---------------------------------------------------------------- fixtures
def make_fixtures(root: Path) -> Path:
    """Shared, read-only inputs: a small network, a program compiled from it, a config."""
    from eiegen.arch import ArchConfig
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network

    f = root / "fixtures"
    f.mkdir()
    net = random_network(np.random.default_rng(0), [16, 12, 4], density=0.5)
    net.save(f / "model.npz")
    cfg = ArchConfig(n_pe=2, act_depth=16, spmat_depth=64, ptr_depth=64, bias_depth=16)
    cfg.save(f / "cfg.json")
    prog = compile_network(net, cfg)
    prog.save(f / "prog")
    np.save(f / "x.npy", np.random.default_rng(1).uniform(-1, 1, (4, 16)))
    x = np.random.default_rng(1).uniform(-1, 1, (4, 16))
    x[1, 3] = np.nan
    np.save(f / "x_nan.npy", x)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 16))
    x[0, 0] = np.inf
    np.save(f / "x_inf.npy", x)
    np.save(f / "x_empty.npy", np.zeros((0, 16)))
    return f


def _copy(src: Path, dst: Path):
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _arrays(f: Path) -> dict:
    with np.load(f / "model.npz") as d:
        return {k: d[k] for k in d.files}


def _save_npz(path: Path, arrays: dict):
    np.savez(path, **arrays)


def _edit_manifest(d: Path, f: Path, fn, *, rehash: bool = False):
    """A copy of the fixture program with fn(manifest) applied (and, with ``rehash``, a
    manifest_sha256 recomputed so that only the edit itself is wrong)."""
    _copy(f / "prog", d / "p")
    m = json.loads((d / "p" / "manifest.json").read_text())
    fn(m)
    if rehash and "manifest_sha256" in m:
        from eiegen.compiler.program import manifest_digest
        m["manifest_sha256"] = manifest_digest(m)
    (d / "p" / "manifest.json").write_text(json.dumps(m, indent=1))


def _set(path, value):
    def fn(m):
        obj = m
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return fn


def _setup_user_folder(d: Path, f: Path):
    """A folder the user owns: a thesis and a source tree."""
    (d / "work" / "src").mkdir(parents=True)
    (d / "work" / "thesis.tex").write_text("keep me\n")
    (d / "work" / "src" / "main.c").write_text("int main(){}\n")


def _setup_prog_copy(d: Path, f: Path):
    _copy(f / "prog", d / "p")
    _copy(f / "model.npz", d / "model.npz")


def _setup_model_copy(d: Path, f: Path):
    _copy(f / "model.npz", d / "model.npz")


def _npz_bad_crc(d: Path, f: Path):
    _copy(f / "model.npz", d / "model.npz")
    data = bytearray((d / "model.npz").read_bytes())
    with zipfile.ZipFile(d / "model.npz") as z:
        info = z.infolist()[0]
    # flip a byte in the first member's data (stored, uncompressed): the CRC no longer fits
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[start] ^= 0xFF
    (d / "model.npz").write_bytes(bytes(data))


def _npz_huge_header(d: Path, f: Path):
    """An .npz whose layer0.weight declares 10^5 x 10^5 float64 (80 GB) in a few bytes."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)}
    h = repr(header).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + b"\0" * 64
    with zipfile.ZipFile(d / "model.npz", "w") as z:
        z.writestr("layer0.weight.npy", npy)


def _npy_huge_header(d: Path, f: Path):
    header = {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)}
    h = repr(header).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    (d / "x.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + b"\0" * 64)


def _net_edit(fn):
    def setup(d: Path, f: Path):
        a = _arrays(f)
        fn(a)
        _save_npz(d / "model.npz", a)
    return setup


def _dense_model(fn):
    """A dense (not quantized) 16-12-4 model, edited by fn."""
    def setup(d: Path, f: Path):
        rng = np.random.default_rng(0)
        a = {"layer0.weight": rng.normal(size=(12, 16)), "layer0.bias": rng.normal(size=12),
             "layer1.weight": rng.normal(size=(4, 12)), "layer1.bias": rng.normal(size=4),
             "layer1.activation": np.array("none")}
        fn(a)
        _save_npz(d / "model.npz", a)
    return setup


def _write(name, data: bytes):
    def setup(d: Path, f: Path):
        (d / name).write_bytes(data)
    return setup


def _both(*setups):
    def setup(d, f):
        for s in setups:
            s(d, f)
    return setup


def _plain_file_parent(d: Path, f: Path):
    (d / "afile").write_text("a plain file, not a folder\n")


def _slow_demo_sigint(d: Path, f: Path):
    pass


# ---------------------------------------------------------------- silent serial port
class SilentPort:
    """A TCP listener that accepts and never answers: a board that is not there."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)


# ---------------------------------------------------------------- the cases
def cases(port: int) -> list[Case]:
    URL = f"socket://127.0.0.1:{port}"
    P = "{F}/prog"
    C = []
    add = C.append

    # ---- 1-4: data loss (fixed before; must stay fixed)
    add(Case("build-o-dot", "1", ["build", "--board", "icebreaker", "--no-tools", "-o", "."],
             setup=_setup_user_folder, cwd="work"))
    add(Case("build-o-thesis", "1", ["build", "--board", "icebreaker", "--no-tools", "-o", "work"],
             setup=_setup_user_folder))
    add(Case("build-program-is-output", "1",
             ["build", "--board", "icebreaker", "--no-tools", "--program", "p", "-o", "p"],
             setup=_setup_prog_copy))
    add(Case("compile-o-dot-in-program", "2", ["compile", "../model.npz", "-o", "."],
             setup=_setup_prog_copy, cwd="p"))
    add(Case("compile-o-contains-model", "2", ["compile", "work/m.npz", "-o", "work"],
             setup=_both(_setup_user_folder,
                         lambda d, f: _copy(f / "model.npz", d / "work" / "m.npz"))))
    add(Case("compile-o-user-manifest", "2", ["compile", "model.npz", "-o", "work"],
             setup=_both(_setup_user_folder, _setup_model_copy,
                         lambda d, f: (d / "work" / "manifest.json").write_text("{}"))))
    add(Case("compress-o-input", "4", ["compress", "model.npz", "--sparsity", "0.5", "-o",
                                       "model.npz"], setup=_setup_model_copy))
    add(Case("compress-json-input", "4", ["compress", "model.npz", "--sparsity", "0.5",
                                          "--json", "model.npz"], setup=_setup_model_copy))
    add(Case("verilog-o-config", "4", ["verilog", "--config", "cfg.json", "-o", "cfg.json"],
             setup=lambda d, f: _copy(f / "cfg.json", d / "cfg.json")))
    add(Case("simulate-o-dot", "4", ["simulate", "p", "-o", "."], setup=_setup_prog_copy))
    add(Case("simulate-o-program", "4", ["simulate", "p", "-o", "p"], setup=_setup_prog_copy))
    add(Case("demo-o-dot", "4", ["demo", "--no-train", "-o", "."], setup=_setup_user_folder,
             cwd="work"))
    add(Case("demo-o-thesis", "4", ["demo", "--no-train", "-o", "work"],
             setup=_setup_user_folder))
    add(Case("asic-json-program", "4", ["asic", "--program", "p", "--no-synth", "--json", "p"],
             setup=_setup_prog_copy))
    add(Case("asic-netlist-thesis", "4", ["asic", "--no-synth", "--netlist", "work"],
             setup=_setup_user_folder))

    # ---- 5: numeric options
    for opt, val in (("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"),
                     ("--timeout", "0"), ("--clock", "nan"), ("--clock", "0"),
                     ("--clock", "inf"), ("--clock", "-3e7"), ("--clock", "1e-300"),
                     ("--baud", "0"), ("--baud", "-9600"), ("--baud", "1000000000")):
        add(Case(f"run{opt}={val}", "5", ["run", P, "--port", URL, "--no-reset", opt, val],
                 timeout=30, max_seconds=10))
    add(Case("run-limit-0", "5", ["run", P, "--port", URL, "--limit", "0"], timeout=30))
    add(Case("run-silent-port", "5", ["run", P, "--port", URL, "--no-reset", "--timeout",
                                      "0.5"], timeout=60))
    for val in ("1e12", "nan", "inf", "0", "-1"):
        add(Case(f"build--clock={val}", "5",
                 ["build", "--board", "icebreaker", "--no-tools", "--clock", val, "-o", "b"]))
    add(Case("build--baud=0", "5", ["build", "--board", "icebreaker", "--no-tools", "--baud",
                                    "0", "-o", "b"]))
    for val in ("nan", "inf", "0", "-5"):
        add(Case(f"simulate--clock-mhz={val}", "5", ["simulate", P, "--clock-mhz", val, "-o",
                                                      "r"]))
        add(Case(f"demo--clock-mhz={val}", "5", ["demo", "--no-train", "--clock-mhz", val,
                                                  "-o", "r"], max_seconds=10))
    add(Case("simulate--sqnr-warn=nan", "5", ["simulate", P, "--sqnr-warn", "nan", "-o", "r"]))
    add(Case("compile--sqnr-warn=nan", "5", ["compile", "{F}/model.npz", "--sqnr-warn", "nan",
                                             "-o", "out"]))
    for opt, val in (("--density", "nan"), ("--density", "-1"), ("--density", "2"),
                     ("--act-density", "nan"), ("--inputs", "0"), ("--inputs", "-2"),
                     ("--layers", "0,4"), ("--layers", "-3,4")):
        add(Case(f"asic{opt}={val}", "5", ["asic", "--no-synth", opt, val], max_seconds=20))
    for opt, val in (("--sparsity", "nan"), ("--sparsity", "1.5"), ("--sparsity", "-0.1"),
                     ("--lr", "nan"), ("--lr", "-1"), ("--steps", "0"), ("--epochs", "-1"),
                     ("--batch-size", "0"), ("--bits", "0"), ("--pe", "0"),
                     ("--global-sparsity", "nan")):
        add(Case(f"compress{opt}={val}", "5", ["compress", "{F}/model.npz", opt, val]))
    add(Case("demo--pe=0", "5", ["demo", "--no-train", "--pe", "0", "-o", "r"]))
    add(Case("demo--queue-depth=-1", "5", ["demo", "--no-train", "--queue-depth", "-1", "-o",
                                           "r"]))

    # ---- 6: Verilator cache (slow: builds the design)
    add(Case("simulate-ok", "6", ["simulate", P, "-o", "r"], expect="ok", timeout=900,
             slow=True))

    # ---- 7: manifest file names
    for name, value in (("dev-zero", "/dev/zero"), ("dotdot", "../../x"),
                        ("etc-passwd", "/etc/passwd"), ("dir", "pe000"),
                        ("empty-name", ""), ("backslash", "..\\x")):
        add(Case(f"info-files-{name}", "7", ["info", "p"], timeout=30, max_seconds=10,
                 setup=lambda d, f, v=value: _edit_manifest(
                     d, f, lambda m: m["files"].__setitem__(v, "0" * 64), rehash=True)))
    add(Case("info-files-symlink", "7", ["info", "p"], timeout=30,
             setup=lambda d, f: (_copy(f / "prog", d / "p"),
                                 (d / "p" / "layers.hex").unlink(),
                                 os.symlink("/etc/passwd", d / "p" / "layers.hex"))))
    add(Case("info-images-bomb", "7", ["info", "p"], timeout=60, max_seconds=20,
             setup=lambda d, f: (_copy(f / "prog", d / "p"), _npz_huge_header(d / "p", f),
                                 (d / "p" / "model.npz").replace(d / "p" / "images.npz"))))

    # ---- 8: manifest structure
    edits = {
        "config-spmat-depth": _set(["config", "spmat_depth"], 1),
        "config-act-bits": _set(["config", "act_bits"], 8),
        "config-n-pe": _set(["config", "n_pe"], 3),
        "row-order-not-perm": lambda m: m["layers"][0].__setitem__(
            "row_order", [0] * m["layers"][0]["n_out"]),
        "n-in-wrong": _set(["layers", 0, "n_in"], 17),
        "n-in-string": _set(["layers", 0, "n_in"], "16"),
        "files-empty": _set(["files"], {}),
        "files-missing-one": lambda m: m["files"].pop("layers.hex"),
        "layers-empty": _set(["layers"], []),
        "layers-not-list": _set(["layers"], {"a": 1}),
        "entries-short": _set(["layers", 0, "entries"], [1]),
        "ptr-base-wrong": _set(["layers", 1, "ptr_base"], 0),
        "format-missing": lambda m: m["layers"][0].pop("format"),
        "frac-in-huge": _set(["layers", 0, "format", "frac_in"], 10 ** 6),
        "codebook-q-wrong": _set(["layers", 0, "codebook_q", 1], 12345),
        "manifest-list": lambda m: (m.clear()),
        "relu-string": _set(["layers", 0, "relu"], "yes"),
        "input-frac-wrong": _set(["input_frac"], 99),
    }
    for name, fn in edits.items():
        for rehash in (False, True):
            add(Case(f"info-{name}{'-rehashed' if rehash else ''}", "8", ["info", "p"],
                     timeout=30, setup=lambda d, f, fn=fn, r=rehash: _edit_manifest(d, f, fn,
                                                                                    rehash=r)))
    add(Case("info-manifest-not-json", "8", ["info", "p"],
             setup=lambda d, f: (_copy(f / "prog", d / "p"),
                                 (d / "p" / "manifest.json").write_bytes(b"\xff\xfe{"))))
    add(Case("info-manifest-is-list", "8", ["info", "p"],
             setup=lambda d, f: (_copy(f / "prog", d / "p"),
                                 (d / "p" / "manifest.json").write_text("[1, 2]"))))
    add(Case("info-manifest-folder", "8", ["info", "p"],
             setup=lambda d, f: (_copy(f / "prog", d / "p"),
                                 (d / "p" / "manifest.json").unlink(),
                                 (d / "p" / "manifest.json").mkdir())))
    add(Case("info-program-is-file", "8", ["info", "model.npz"], setup=_setup_model_copy))
    add(Case("info-ok", "8", ["info", P], expect="ok"))
    add(Case("info-inputs-ok", "8", ["info", P, "--inputs", "{F}/x.npy"], expect="ok"))

    # ---- 9: silent degradation
    add(Case("simulate-nan-inputs", "9", ["simulate", P, "--inputs", "{F}/x_nan.npy", "-o",
                                          "r"], max_seconds=15))
    add(Case("simulate-inf-inputs", "9", ["simulate", P, "--inputs", "{F}/x_inf.npy", "-o",
                                          "r"], max_seconds=15))
    add(Case("simulate-empty-inputs", "9", ["simulate", P, "--inputs", "{F}/x_empty.npy",
                                            "-o", "r"], max_seconds=15))
    add(Case("info-nan-inputs", "9", ["info", P, "--inputs", "{F}/x_nan.npy"]))
    add(Case("simulate-limit--1", "9", ["simulate", P, "--limit", "-1", "-o", "r"]))
    add(Case("simulate-limit-0", "10", ["simulate", P, "--limit", "0", "-o", "r"]))
    add(Case("simulate-waves-missing-folder", "9",
             ["simulate", P, "--waves", "nowhere/w.fst", "-o", "r"], max_seconds=15))
    add(Case("compile-nan-calibration", "9",
             ["compile", "{F}/model.npz", "--calibration", "{F}/x_nan.npy", "-o", "out"]))
    add(Case("compile-inf-calibration", "9",
             ["compile", "{F}/model.npz", "--calibration", "{F}/x_inf.npy", "-o", "out"]))
    add(Case("compile-empty-calibration", "9",
             ["compile", "{F}/model.npz", "--calibration", "{F}/x_empty.npy", "-o", "out"]))
    add(Case("compile-calibration-wrong-shape", "9",
             ["compile", "{F}/model.npz", "--calibration", "c.npy", "-o", "out"],
             setup=lambda d, f: np.save(d / "c.npy", np.zeros((3, 5)))))
    add(Case("compile-calibration-strings", "9",
             ["compile", "{F}/model.npz", "--calibration", "c.npy", "-o", "out"],
             setup=lambda d, f: np.save(d / "c.npy", np.array([["a"] * 16]))))
    nets = {
        "weight-1e300": _dense_model(lambda a: a["layer0.weight"].__setitem__((0, 0), 1e300)),
        "bias-1e300": _dense_model(lambda a: a["layer0.bias"].__setitem__(0, 1e300)),
        "weight-complex": _dense_model(lambda a: a.__setitem__(
            "layer0.weight", a["layer0.weight"] + 1j)),
        "weight-nan": _dense_model(lambda a: a["layer0.weight"].__setitem__((0, 0), np.nan)),
        "key-layer01": _dense_model(lambda a: a.__setitem__("layer01.weight",
                                                             a["layer1.weight"] * 2)),
        "key-layer00": _dense_model(lambda a: a.__setitem__("layer00.weight",
                                                             a["layer0.weight"] * 2)),
        "codebook-nan": _net_edit(lambda a: a["layer0.codebook"].__setitem__(
            len(a["layer0.codebook"]) - 1, np.nan)),
        "weight-bool": _dense_model(lambda a: a.__setitem__(
            "layer0.weight", a["layer0.weight"] > 0)),
        "weight-strings": _dense_model(lambda a: a.__setitem__(
            "layer0.weight", np.full((12, 16), "x"))),
        "weight-3d": _dense_model(lambda a: a.__setitem__("layer0.weight",
                                                           np.ones((12, 16, 1)))),
        "activation-bad": _dense_model(lambda a: a.__setitem__("layer0.activation",
                                                                np.array("tanh"))),
    }
    for name, setup in nets.items():
        add(Case(f"compile-{name}", "9", ["compile", "model.npz", "-o", "out"], setup=setup))
    add(Case("compress-weight-1e300", "9", ["compress", "model.npz", "--sparsity", "0.5"],
             setup=nets["weight-1e300"]))

    # ---- 10: tracebacks
    add(Case("compile-bad-zip-crc", "10", ["compile", "model.npz", "-o", "out"],
             setup=_npz_bad_crc))
    add(Case("compile-huge-declared-array", "10", ["compile", "model.npz", "-o", "out"],
             setup=_npz_huge_header, max_seconds=20))
    add(Case("simulate-huge-declared-inputs", "10", ["simulate", P, "--inputs", "x.npy",
                                                     "-o", "r"],
             setup=_npy_huge_header, max_seconds=20))
    add(Case("compile-truncated-npz", "10", ["compile", "model.npz", "-o", "out"],
             setup=lambda d, f: (d / "model.npz").write_bytes(
                 (f / "model.npz").read_bytes()[:300])))
    add(Case("compile-model-folder", "10", ["compile", "work", "-o", "out"],
             setup=_setup_user_folder))
    add(Case("compile-model-missing", "10", ["compile", "nothing.npz", "-o", "out"]))
    add(Case("compile-config-non-utf8", "10", ["compile", "{F}/model.npz", "--config", "c.json",
                                               "-o", "out"],
             setup=_write("c.json", b'{"n_pe": \xff\xfe}')))
    add(Case("compile-config-folder", "10", ["compile", "{F}/model.npz", "--config", "work",
                                             "-o", "out"], setup=_setup_user_folder))
    add(Case("compile-config-list", "10", ["compile", "{F}/model.npz", "--config", "c.json",
                                           "-o", "out"], setup=_write("c.json", b"[4]")))
    add(Case("compile-config-float-pe", "10", ["compile", "{F}/model.npz", "--config",
                                               "c.json", "-o", "out"],
             setup=_write("c.json", b'{"n_pe": 4.0}')))
    add(Case("verilog-config-non-utf8", "10", ["verilog", "--config", "c.json", "-o", "e.v"],
             setup=_write("c.json", b'\xff')))
    add(Case("compile-calibration-folder", "10",
             ["compile", "{F}/model.npz", "--calibration", "work", "-o", "out"],
             setup=_setup_user_folder))
    add(Case("compile-calibration-pickle", "10",
             ["compile", "{F}/model.npz", "--calibration", "c.npy", "-o", "out"],
             setup=lambda d, f: np.save(d / "c.npy", np.array([{"a": 1}], dtype=object),
                                        allow_pickle=True)))
    # unwritable outputs (as root, permissions do not stop writes; /proc and a path below
    # a plain file do)
    for name, argv in (
            ("compile", ["compile", "{F}/model.npz", "-o", "{OUT}"]),
            ("compile-json", ["compile", "{F}/model.npz", "-o", "out", "--json", "{OUT}.json"]),
            ("compress", ["compress", "{F}/model.npz", "--sparsity", "0.5", "-o", "{OUT}.npz"]),
            ("compress-json", ["compress", "{F}/model.npz", "--sparsity", "0.5", "--json",
                               "{OUT}.json"]),
            ("verilog", ["verilog", "-o", "{OUT}.v"]),
            ("build", ["build", "--board", "icebreaker", "--no-tools", "-o", "{OUT}"]),
            ("simulate", ["simulate", P, "-o", "{OUT}"]),
            ("asic-json", ["asic", "--no-synth", "--json", "{OUT}.json"]),
            ("asic-netlist", ["asic", "--no-synth", "--netlist", "{OUT}"]),
            ("demo", ["demo", "--no-train", "-o", "{OUT}"]),
            ("run-o", ["run", P, "--port", URL, "--timeout", "0.2", "-o", "{OUT}.json"])):
        for where, out in (("below-file", "afile/x"), ("proc", "/proc/eiegen-rb/x")):
            add(Case(f"unwritable-{name}-{where}", "10",
                     [a.replace("{OUT}", out) for a in argv], setup=_plain_file_parent,
                     timeout=120, max_seconds=60))
    add(Case("asic-layers-letters", "10", ["asic", "--no-synth", "--layers", "a,b"]))
    add(Case("asic-layers-one", "10", ["asic", "--no-synth", "--layers", "16"]))
    add(Case("asic-synth-json-garbage", "10", ["asic", "--synth-json", "s.json"],
             setup=_write("s.json", b"{\"synthesis\": 3}")))
    add(Case("asic-synth-json-missing", "10", ["asic", "--synth-json", "nothing.json"]))
    add(Case("demo-limit-0", "10", ["demo", "--no-train", "--limit", "0", "-o", "r"],
             max_seconds=15))
    add(Case("demo-limit--1", "10", ["demo", "--no-train", "--limit", "-1", "-o", "r"],
             max_seconds=15))
    add(Case("demo-pe-4-does-not-fit", "10", ["demo", "--pe", "4", "-o", "r"], timeout=120,
             max_seconds=15))
    add(Case("demo-sigint", "10", ["demo", "-o", "r"], sigint_after=4.0, timeout=60))
    add(Case("info-inputs-folder", "10", ["info", P, "--inputs", "work"],
             setup=_setup_user_folder))
    add(Case("simulate-labels-wrong", "10", ["simulate", P, "--labels", "l.npy", "-o", "r"],
             setup=lambda d, f: np.save(d / "l.npy", np.zeros(3, dtype=np.int64))))
    add(Case("simulate-model-mismatch", "10",
             ["simulate", P, "--model", "model.npz", "-o", "r"],
             setup=_dense_model(lambda a: None)) if False else None)
    add(Case("config-board-bad", "10", ["config", "--board", "nope"]))
    add(Case("build-config-missing", "10", ["build", "--board", "icebreaker", "--no-tools",
                                            "--config", "nothing.json", "-o", "b"]))
    add(Case("build-program-missing", "10", ["build", "--board", "icebreaker", "--no-tools",
                                             "--program", "nothing", "-o", "b"]))
    add(Case("compress-data-missing", "10", ["compress", "{F}/model.npz", "--data", "no.npz",
                                             "--epochs", "1"]))
    add(Case("compress-data-keys", "10", ["compress", "{F}/model.npz", "--data", "d.npz",
                                          "--epochs", "1"],
             setup=lambda d, f: np.savez(d / "d.npz", a=np.zeros(3))))
    add(Case("compile-onnx-garbage", "10", ["compile", "m.onnx", "-o", "out"],
             setup=_write("m.onnx", b"\x08\x07garbage")))
    add(Case("compile-pt-garbage", "10", ["compile", "m.pt", "-o", "out"],
             setup=_write("m.pt", b"PK\x03\x04garbage")))

    # ---- correct results (the checks above must not refuse good input)
    add(Case("compile-ok", "ok", ["compile", "{F}/model.npz", "--config", "{F}/cfg.json",
                                  "--calibration", "{F}/x.npy", "-o", "out"], expect="ok"))
    add(Case("compile-again-ok", "ok", ["compile", "model.npz", "-o", "p"], expect="ok",
             setup=_setup_prog_copy, replaces=("p",)))
    add(Case("compress-ok", "ok", ["compress", "{F}/model.npz", "--sparsity", "0.5", "-o",
                                   "c.npz", "--json", "c.json"], expect="ok"))
    add(Case("verilog-ok", "ok", ["verilog", "--config", "{F}/cfg.json", "-o", "e.v"],
             expect="ok", timeout=120))
    add(Case("build-no-tools-ok", "ok", ["build", "--board", "icebreaker", "--no-tools",
                                         "-o", "b"], expect="ok", timeout=300))
    add(Case("asic-no-synth-ok", "ok", ["asic", "--no-synth", "--layers", "32,16"],
             expect="ok", timeout=120))
    add(Case("config-ok", "ok", ["config", "--board", "icebreaker"], expect="ok"))
    return [c for c in C if c is not None]


# ---------------------------------------------------------------- running and judging
def run_case(case: Case, fixtures: Path, tmp: Path) -> dict:
    d = tmp / case.id.replace("/", "_")
    d.mkdir()
    if case.setup:
        case.setup(d, fixtures)
    before = file_digests(d)
    fixtures_before = file_digests(fixtures)
    argv = [a.replace("{F}", str(fixtures)) for a in case.argv]
    env = dict(os.environ, **case.env)
    env.pop("EIEGEN_DEBUG", None)
    start = time.monotonic()
    proc = subprocess.Popen(EIEGEN + argv, cwd=d / case.cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    hung = False
    try:
        if case.sigint_after is not None:
            try:
                out, err = proc.communicate(timeout=case.sigint_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=case.timeout)
        else:
            out, err = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        hung = True
    seconds = time.monotonic() - start
    rc = proc.returncode
    after = file_digests(d)
    # the user's files: everything the setup made, except what the case itself names as
    # an output it may replace (none of these cases may replace a sentinel)
    lost = [k for k, v in before.items() if after.get(k) != v
            and not any(k == r or k.startswith(r + "/") for r in case.replaces)]
    lost += [f"fixtures/{k}" for k, v in fixtures_before.items()
             if file_digests(fixtures).get(k) != v]
    err_lines = [line for line in err.strip().splitlines() if line.strip()]
    errs = [line for line in err_lines if ": error: " in line]
    if lost:
        outcome = "data-loss"
    elif hung:
        outcome = "hang"
    elif "Traceback (most recent call last)" in err or rc == 3:
        outcome = "traceback"
    elif case.sigint_after is not None:
        outcome = "interrupted" if rc == 130 else "other"
    elif rc == 2 and len(errs) == 1:
        outcome = "error"
    elif rc in (0, 1) and case.expect == "ok":
        outcome = "ok"
    elif rc == 0:
        outcome = "accepted"
    else:
        outcome = "other"
    expect = "interrupted" if case.sigint_after is not None else case.expect
    passed = outcome == expect
    if passed and case.max_seconds and seconds > case.max_seconds:
        passed, outcome = False, "slow-" + outcome
    last = (errs[-1] if errs else (err_lines[-1] if err_lines else
                                   (out.strip().splitlines() or [""])[-1]))
    return {"id": case.id, "item": case.item, "argv": argv, "expect": expect,
            "outcome": outcome, "pass": passed, "exit": rc, "seconds": round(seconds, 2),
            "message": last[:300], "lost": lost}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "robustness.json")
    ap.add_argument("--only", help="comma-separated case ids (or prefixes ending in *)")
    ap.add_argument("--slow", action="store_true", help="also the Verilator cases")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    args = ap.parse_args(argv)
    port = SilentPort()
    all_cases = cases(port.port)
    chosen = [c for c in all_cases if args.slow or not c.slow]
    if args.only:
        pats = args.only.split(",")
        chosen = [c for c in all_cases if any(
            c.id == p or (p.endswith("*") and c.id.startswith(p[:-1])) for p in pats)]
        if not chosen:
            ap.error(f"--only {args.only!r} matches no case (ids such as "
                     f"{', '.join(c.id for c in all_cases[:3])}; a prefix ends in *)")
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="eiegen-robustness-") as t:
        tmp = Path(t)
        fixtures = make_fixtures(tmp)
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(lambda c: run_case(c, fixtures, tmp), chosen))
    width = max(len(r["id"]) for r in results)
    print(f"{'case':<{width}}  item  {'expect':<11} {'outcome':<15} exit   secs  message")
    for r in results:
        mark = "" if r["pass"] else "  <-- FAIL"
        print(f"{r['id']:<{width}}  {r['item']:<4}  {r['expect']:<11} {r['outcome']:<15} "
              f"{str(r['exit']):>4} {r['seconds']:>6.1f}  {r['message'][:110]}{mark}")
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    passed = sum(r["pass"] for r in results)
    print(f"\n{len(results)} cases, {passed} as expected; by outcome: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if not args.only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps({"cases": results, "by_outcome": counts,
                                         "passed": passed, "total": len(results)},
                                        indent=1) + "\n")
        print(f"wrote {args.json}")
    bad = sum(counts.get(k, 0) for k in ("traceback", "hang", "data-loss"))
    return 0 if passed == len(results) and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
