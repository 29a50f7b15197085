"""The Python API: the command-line flow as a handful of calls (docs/python-api.md).

::

    net = eiegen.import_model(model)                        # eiegen import (any source)
    small, report = eiegen.compress(net, sparsity=0.9)      # eiegen compress
    prog = eiegen.compile(small, calibration=x_train)      # eiegen compile
    y = eiegen.predict(prog, x_test)                        # the golden model (= the RTL)
    res = eiegen.simulate(prog, x_test, labels=y_test)      # eiegen simulate (Verilator)
    eiegen.build("icebreaker", prog, "build-icebreaker")    # eiegen build

Each function is a thin, stable layer over the modules the commands use (compiler/,
sim/, hw/, boards/), with the commands' names and defaults, so a script and a shell
session compute the same thing. Imported lazily by ``import eiegen``: the package stays
fast to import, and numpy-only users never load Amaranth or torch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.formats import ACC_HEADROOM_BITS

# `compile` is public (eiegen.compile) but not in __all__: a star import must not hide
# the builtin compile()
__all__ = ["FidelityWarning", "Simulation", "board_config", "build", "compress",
           "fidelity", "import_model", "load_program", "predict", "simulate", "verilog"]

SQNR_WARN_DB = 40.0  # as `--sqnr-warn`; the same default as eiegen.sim.fidelity


class FidelityWarning(UserWarning):
    """Something the fidelity report flags: clipped inputs or outputs, a saturated
    accumulator, a low SQNR, or formats chosen from the default calibration."""


def import_model(source):
    """Read a model into eiegen's network IR.

    Parameters
    ----------
    source : str, Path, torch.nn.Module or Network
        An ``.npz`` network (docs/network-format.md), an ``.onnx`` file, a ``.pt`` /
        ``.pth`` file holding an MLP's ``state_dict``, a PyTorch module (call it in the
        script that defines the module's class), or a Network (returned as it is).

    Returns
    -------
    Network
        Fully connected layers with their activations; ``network.notes`` says what the
        import changed (a folded BatchNorm, a dropped final Softmax).

    Raises
    ------
    NetworkError
        A missing or malformed file, or an operator the IR cannot express (named).
    """
    from eiegen.compiler.model_import import import_model as _import

    return _import(source)


def _as_network(model):
    from eiegen.compiler.network import Network

    return model if isinstance(model, Network) else import_model(model)


def compress(model, *, sparsity=None, quality=None, global_sparsity=None, steps: int = 1,
             bits=4, method: str = "linear", data=None, epochs: int = 0,
             codebook_epochs: int = 0, lr: float = 1e-3, batch_size: int = 32,
             n_pe: int = 1, rel_bits=4, seed: int = 0, log=None):
    """Deep Compression: prune, retrain, share weights, train the codebooks, Huffman-code
    (``eiegen compress``; docs/compression.md).

    Parameters
    ----------
    model : Network or anything :func:`import_model` takes
    sparsity, quality : float or sequence of float, optional
        Fraction of weights to prune (or Deep Compression's quality factor), for all
        layers or one per layer. At most one of these and ``global_sparsity``; none
        prunes nothing.
    global_sparsity : float, optional
        One magnitude threshold over all layers reaching this fraction of zeros.
    steps : int
        Prune-and-retrain iterations along AGP's cubic ramp (``--steps``).
    bits : int or sequence of int
        Codebook index bits (1..8), for all layers or per layer.
    method : {"linear", "density", "random", "optimal"}
        How the shared weights are initialised.
    data : tuple, optional
        ``(x_train, y_train)`` or ``(x_train, y_train, x_test, y_test)``: retraining data
        (softmax cross-entropy on integer labels) and the accuracy measured after every
        stage (on the test pair when given). Without it pruning is one-shot and the
        codebooks are the clustering's centroids.
    epochs, codebook_epochs : int
        Retraining epochs after each pruning step, and of trained quantization; both
        need ``data``.
    lr, batch_size : float, int
        Adam learning rate and minibatch size of retraining.
    n_pe, rel_bits : int
        The sparse format the storage is counted in (``rel_bits`` may be per layer).
    seed : int
        Seed of clustering and training.
    log : callable, optional
        Receives one line per stage (``print`` shows progress).

    Returns
    -------
    (Network, CompressionReport)
        The compressed network (pruned and weight-shared) and the report:
        ``report.table()`` prints storage per layer and the accuracy after each stage.
    """
    from eiegen.compiler.compress import CompressionConfig, compress as _compress
    from eiegen.compiler.finetune import NumpyTrainer, accuracy

    net = _as_network(model)
    config = CompressionConfig(
        sparsity=sparsity, quality=quality, global_sparsity=global_sparsity,
        prune_steps=steps, retrain_epochs=epochs, bits=bits, method=method,
        codebook_epochs=codebook_epochs, n_pe=n_pe, rel_bits=rel_bits, seed=seed)
    trainer = metric = None
    if data is not None:
        if len(data) not in (2, 4):
            raise ValueError(f"data must be (x_train, y_train) or (x_train, y_train, x_test, "
                             f"y_test), got {len(data)} arrays")
        x_tr, y_tr = data[0], data[1]
        x_ev, y_ev = (data[2], data[3]) if len(data) == 4 else (x_tr, y_tr)
        trainer = NumpyTrainer(x_tr, y_tr, lr=lr, batch_size=batch_size, seed=seed)
        metric = lambda n: accuracy(n, x_ev, y_ev)  # noqa: E731
    elif epochs or codebook_epochs:
        raise ValueError("epochs and codebook_epochs retrain the model: give data")
    result = _compress(net, config, trainer=trainer, metric=metric, log=log)
    return result.network, result.report


def board_config(board: str) -> ArchConfig:
    """The architecture config a board builds by default (``eiegen config --board``).

    Raises
    ------
    ValueError
        An unknown board (the message lists the known ones).
    """
    from eiegen.boards.catalog import get_board

    return get_board(board).default_config()


def _config(config, board) -> ArchConfig:
    if config is not None and board is not None:
        raise ValueError("give config or board, not both")
    if board is not None:
        return board_config(board)
    if config is None:
        return ArchConfig()
    if isinstance(config, ArchConfig):
        return config
    if isinstance(config, dict):
        return ArchConfig(**config)
    if isinstance(config, (str, Path)):
        return ArchConfig.load(config)
    raise TypeError(f"config must be an ArchConfig, a dict of its fields or a JSON file, "
                    f"got {type(config).__name__}")


def compile(model, config=None, *, board: str | None = None, calibration=None,
            balance: bool = False, acc_policy: str | None = None,
            headroom_bits: int = ACC_HEADROOM_BITS):
    """Compile a network for an accelerator configuration (``eiegen compile``).

    Parameters
    ----------
    model : Network or anything :func:`import_model` takes
        Layers not weight-shared yet are clustered with the config's ``index_bits``.
    config : ArchConfig, dict or path, optional
        The architecture (a dict of :class:`ArchConfig` fields, or a JSON file). Default
        ``ArchConfig()``.
    board : str, optional
        Instead of ``config``: the board's default config (:func:`board_config`).
    calibration : array (batch, n_in), optional
        Float inputs that represent the data: they set every fixed-point format
        (docs/fixed-point.md). Without them inputs are assumed uniform in [-1, 1],
        with a :class:`FidelityWarning`.
    balance : bool
        Permute rows to even out the work per PE (``--balance``).
    acc_policy, headroom_bits
        How the weight formats leave room in the accumulator (``--acc-policy``,
        ``--headroom-bits``); the defaults follow the config's accumulators.

    Returns
    -------
    Program
        ``program.save(folder)`` writes what ``eiegen compile -o folder`` writes.
    """
    from eiegen.compiler.compile import compile_network, default_calibration

    net = _as_network(model)
    cfg = _config(config, board)
    if calibration is None:
        warnings.warn("no calibration given: assuming inputs uniform in [-1, 1]; this range "
                      "sets every fixed-point format, so larger inputs will clip: pass "
                      "calibration= with representative inputs", FidelityWarning,
                      stacklevel=2)
        calibration = default_calibration(net.n_in)
    return compile_network(net, cfg, calibration=calibration, balance=balance,
                           acc_policy=acc_policy, headroom_bits=headroom_bits)


def load_program(path):
    """A program folder written by ``eiegen compile`` or ``Program.save`` (checked
    against its manifest's checksums)."""
    from eiegen.compiler.program import Program

    return Program.load(path)


def _floats(program, x) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.ndim != 2 or x.shape[1] != program.n_in or not len(x):
        raise ValueError(f"inputs must have shape (batch, {program.n_in}) or "
                         f"({program.n_in},), got {np.shape(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("inputs must be finite numbers (no NaN or infinity)")
    return x


def predict(program, x) -> np.ndarray:
    """The accelerator's outputs for float inputs, from the golden model (bit-exact with
    the RTL, and fast).

    Parameters
    ----------
    program : Program
    x : array (batch, n_in) or (n_in,)
        Float inputs in the network's order; quantized with the program's input format
        (values beyond it clip: :func:`fidelity` counts them).

    Returns
    -------
    array (batch, n_out) of float
        The last layer's outputs, dequantized, in the network's row order (as the float
        model's, so ``argmax(axis=1)`` is the predicted class).
    """
    from eiegen.sim.golden import run_golden

    x = _floats(program, x)
    return program.dequantize_output(run_golden(program, program.quantize_input(x))[-1])


def fidelity(program, x, reference=None, *, sqnr_warn_db: float = SQNR_WARN_DB):
    """How far the golden model (= the RTL) is from the float model on inputs ``x``,
    layer by layer (the report ``eiegen compile`` prints; docs/fixed-point.md).

    Parameters
    ----------
    program : Program
    x : array (batch, n_in)
        Float inputs, network order.
    reference : Network or anything :func:`import_model` takes, optional
        The float model the program was compiled from. Default: the program's own float
        codebooks and stored biases (then the figures leave out weight sharing).
    sqnr_warn_db : float
        Layers whose SQNR is below this get a warning in ``.warnings``.

    Returns
    -------
    Fidelity
        ``.layers`` (max and mean error, % of the output range, SQNR, saturations, weight
        bits per layer), ``.warnings``, ``.table()``, ``.to_dict()``.
    """
    from eiegen.sim.fidelity import measure_fidelity

    ref = None if reference is None else _as_network(reference)
    return measure_fidelity(program, _floats(program, x), ref, sqnr_warn_db=sqnr_warn_db)


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` measured.

    Attributes
    ----------
    outputs : array (batch, n_out) of float
        The RTL's last-layer outputs, dequantized, network order.
    outputs_int : array (batch, n_out) of int
        The same as the raw integers (``frac_out`` fractional bits), network order.
    matches_golden : bool
        Every output word equals the golden model's.
    cycles : array (batch,) of int
        Clock cycles of each inference (the RUN command's count).
    clock_mhz : float
        The clock the timing figures assume.
    fidelity : Fidelity
        The golden model (= the RTL when ``matches_golden``) against the float model.
    accuracy : dict or None
        With labels: ``rtl_accuracy``, ``golden_accuracy``, ``float_accuracy`` (percent)
        and ``rtl_float_agreement``, ``golden_float_agreement``.
    report : dict
        Everything ``eiegen simulate`` writes to report.json (counters, work balance,
        cycle-model check, per-layer cycles).
    """

    outputs: np.ndarray = field(repr=False)
    outputs_int: np.ndarray = field(repr=False)
    matches_golden: bool
    cycles: np.ndarray = field(repr=False)
    clock_mhz: float
    fidelity: object = field(repr=False)
    accuracy: dict | None
    report: dict = field(repr=False, default_factory=dict)

    @property
    def latency_us(self) -> float:
        """Mean latency of one inference in microseconds at ``clock_mhz``."""
        return float(np.mean(self.cycles)) / self.clock_mhz

    @property
    def inferences_per_second(self) -> float:
        """Inferences per second at ``clock_mhz``, one after the other."""
        return self.clock_mhz * 1e6 / float(np.mean(self.cycles))


def simulate(program, x, *, labels=None, reference=None, clock_mhz: float = 100.0,
             sqnr_warn_db: float = SQNR_WARN_DB, progress=None) -> Simulation:
    """Run float inputs through the cycle-accurate Verilator model of the hardware
    (``eiegen simulate``): outputs, cycles, fidelity and, with labels, accuracy.

    The first call for a configuration builds its Verilator model (a minute or more);
    the build is cached per configuration (``~/.cache/eiegen``), and every program
    compiled for that configuration reuses it. Fidelity problems (clipped inputs or
    outputs, saturation, low SQNR) are issued as :class:`FidelityWarning`.

    Parameters
    ----------
    program : Program
    x : array (batch, n_in) or (n_in,)
        Float inputs, network order; quantized with the program's input format.
    labels : array (batch,) of int, optional
        Class labels: the result's ``accuracy`` (argmax; the sign of a single output).
    reference : Network or anything :func:`import_model` takes, optional
        The float model for the fidelity figures and the float accuracy (default: the
        program's own float codebooks, as :func:`fidelity`).
    clock_mhz : float
        The clock of the latency and throughput figures (default 100 MHz; a board's is
        ``eiegen.boards.catalog.get_board(name).clock / 1e6``).
    sqnr_warn_db : float
        As in :func:`fidelity`.
    progress : callable, optional
        Called with (done, total) after each input.

    Returns
    -------
    Simulation
    """
    from eiegen.sim.cycle_model import estimate_batch
    from eiegen.sim.fidelity import classification
    from eiegen.sim.harness import run_verilator
    from eiegen.sim.report import simulation_report

    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz!r}")
    xf = _floats(program, x)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(xf),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be {len(xf)} integers (one per input), got "
                             f"{labels.dtype} of shape {labels.shape}")
    x_int = program.quantize_input(xf)
    run = run_verilator(program, x_int, progress=progress)
    rep = simulation_report(program, x_int, run.outputs, [r.counters for r in run.inferences],
                            model=estimate_batch(program, x_int),
                            build_seconds=run.build.build_seconds)
    fid = fidelity(program, xf, reference, sqnr_warn_db=sqnr_warn_db)
    for w in fid.warnings:
        warnings.warn(w, FidelityWarning, stacklevel=2)
    outputs = program.dequantize_output(run.outputs)
    accuracy = None if labels is None else classification(
        labels, rtl=outputs, golden=fid.golden_outputs, float=fid.float_outputs)
    return Simulation(outputs=outputs, outputs_int=program.to_network_order(run.outputs),
                      matches_golden=bool(rep["outputs_match_golden"]),
                      cycles=np.array([r.cycles for r in run.inferences], dtype=np.int64),
                      clock_mhz=float(clock_mhz), fidelity=fid, accuracy=accuracy, report=rep)


def verilog(target, *, name: str = "eie", memories: str = "amaranth") -> str:
    """The accelerator's Verilog (``eiegen verilog``).

    Parameters
    ----------
    target : Program or ArchConfig
        A program's memories are initialised with it (its config is used); a config gives
        empty memories, which the host protocol loads.
    name : str
        The top module's name.
    memories : {"amaranth", "sram"}
        The memory view (docs/asic.md); ``"sram"`` appends the behavioural SRAM model.

    Returns
    -------
    str
        One Verilog text, top module ``name`` with the host stream ports.
    """
    from eiegen.hw.verilog import generate

    if isinstance(target, ArchConfig):
        return generate(target, None, name=name, memories=memories)
    return generate(target.cfg, target, name=name, memories=memories)


def build(board: str, program=None, out_dir=None, *, config=None, clock: float | None = None,
          seed: int = 1, run_tools: bool | None = None, log=None):
    """A bitstream (or, without the tools, the project) for a board (``eiegen build``).

    Parameters
    ----------
    board : str
        A board name (``eiegen build --help`` lists them).
    program : Program, optional
        Preloaded into the memories; its config is built unless ``config`` is given.
    out_dir : str or Path, optional
        Default ``build-<board>``; a folder not written by eiegen is refused.
    config : ArchConfig, optional
        Default: the program's, else the board's.
    clock : float, optional
        Requested clock in Hz (default the board's).
    seed : int
        nextpnr placement seed.
    run_tools : bool, optional
        False writes the project only; default: run the open flow where the board has one.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    BuildResult
        ``ok``, ``bitstream``, ``report`` (utilisation, fmax) and ``out_dir``.

    Raises
    ------
    FitError
        The design does not fit the device (the message names the resource).
    BuildError
        A tool failed or the design missed timing (the report is written first).
    """
    from eiegen.boards.build import build_board

    out = Path(out_dir) if out_dir is not None else Path(f"build-{board}")
    return build_board(board, config, program, out_dir=out, clock=clock, seed=seed,
                       run_tools=run_tools, log=log)
