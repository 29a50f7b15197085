"""Design-space exploration: one network, many architecture configs, on Dask.

Every point of a sweep (the cartesian product of values of :class:`ArchConfig` fields)
is compiled and evaluated with the exact cycle model, the energy/area model and,
optionally, a board's fit model. Points that cannot be built are recorded with the
reason (an invalid config, a network that does not fit), never fatal.

Work is split so that nothing is computed twice:

* a **compile** task per *encoding group*: points that differ only in memory sizes (and,
  without balancing, in queue depth and padding merging) have the same program images,
  so one compile, one golden run and the layers' activations serve them all;
* an **evaluate** task per group and ``merge_padding`` value: one vectorised cycle-model
  run covers every input at every queue depth of the group
  (:func:`eiegen.sim.cycle_model.batch_cycles`), one event count every memory size.

Tasks run on a Dask cluster (a ``LocalCluster`` or any scheduler); the client appends
each finished point to ``journal.jsonl`` in the output folder as it arrives, so an
interrupted sweep resumes without recomputing what is done. The result files are built
from the journal sorted by point, with no times or host names: the same sweep gives the
same bytes wherever it ran (docs/explore.md).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig, ConfigError, field_range

__all__ = ["SweepError", "Sweep", "parse_sweep", "Workload", "MEMORY_FIELDS",
           "TIMING_FIELDS", "encoding_fields", "run_explore", "pareto_front",
           "format_summary", "OUTPUT_FILES", "dask_client"]

# Fields that only size memories: compile_network checks that the network fits them but
# the program's images do not depend on them, so their points share one compile.
MEMORY_FIELDS = ("ptr_depth", "spmat_depth", "act_depth", "bias_depth", "max_layers")
# Fields the compiler reads only when balancing (it picks row orders with the cycle
# model); otherwise they change timing and energy, not the images.
TIMING_FIELDS = ("queue_depth", "merge_padding")

JOURNAL = "journal.jsonl"
OUTPUT_FILES = (JOURNAL, "results.csv", "results.json", "pareto.png")
KIND = "explore"


class SweepError(ValueError):
    """A sweep specification that cannot be run (unknown field, bad value)."""


def encoding_fields(balance: bool) -> tuple:
    """The config fields that change a program's images (the compile-group key)."""
    shared = MEMORY_FIELDS + (() if balance else TIMING_FIELDS)
    return tuple(f for f in ArchConfig.__dataclass_fields__ if f not in shared)


def parse_sweep(items) -> dict:
    """``["n_pe=4,8", "queue_depth=1,2"]`` -> ``{"n_pe": (4, 8), "queue_depth": (1, 2)}``,
    every value checked against the config's range table (a value no point could use is
    a user error, not a refusal)."""
    axes = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip()
        if not eq or not values.strip():
            raise SweepError(f"sweep axis {item!r} is not FIELD=V1,V2,...")
        try:
            lo, hi, what = field_range(name)
        except ConfigError as e:
            raise SweepError(str(e)) from None
        if name in axes:
            raise SweepError(f"sweep field {name} is given twice")
        parsed = []
        for v in values.split(","):
            try:
                n = int(v.strip())
            except ValueError:
                raise SweepError(f"sweep field {name} ({what}): {v.strip()!r} is not an "
                                 f"integer") from None
            if not lo <= n <= hi:
                raise SweepError(f"sweep field {name} ({what}) must be in {lo}..{hi}, "
                                 f"got {n}")
            if n not in parsed:
                parsed.append(n)
        axes[name] = tuple(parsed)
    if not axes:
        raise SweepError("the sweep is empty: give at least one FIELD=V1,V2,...")
    return axes


@dataclass(frozen=True)
class Sweep:
    """The cartesian product of ``axes`` over the ``base`` config, in axis order (the
    last axis varies fastest); a point's number is its place in that order."""

    base: dict
    axes: dict

    def points(self) -> list:
        names = list(self.axes)
        return [{**self.base, **dict(zip(names, combo))}
                for combo in itertools.product(*self.axes.values())]

    def to_dict(self) -> dict:
        return {"base": dict(sorted(self.base.items())),
                "axes": {k: list(v) for k, v in self.axes.items()}}


@dataclass(frozen=True, eq=False)
class Workload:
    """What every task needs besides its configs; scattered to the workers once."""

    net: object  # compiler.network.Network
    inputs: np.ndarray  # float, (batch, n_in), network order
    calibration: np.ndarray
    labels: np.ndarray | None = None
    balance: bool = False
    board: str | None = None
    tech: str = "45nm"

    def context(self) -> dict:
        """What the results depend on besides the config (the journal's header): a resumed
        sweep reuses points only when it is the same."""
        import eiegen

        def digest(a):
            return None if a is None else hashlib.sha256(
                np.ascontiguousarray(a).tobytes() + str(a.shape).encode()).hexdigest()[:16]

        h = hashlib.sha256()
        for layer in self.net.layers:
            for a in (layer.weight, layer.bias_or_zeros(), layer.codebook, layer.indices):
                if a is not None:
                    h.update(np.ascontiguousarray(a).tobytes())
            h.update(repr((layer.name, layer.activation)).encode())
        return {"eiegen": eiegen.__version__, "network": h.hexdigest()[:16],
                "inputs": digest(self.inputs), "calibration": digest(self.calibration),
                "labels": digest(self.labels), "balance": self.balance,
                "board": self.board, "tech": self.tech}


# ---------------------------------------------------------------------- worker side --
# The roomiest memories the config allows: a group is compiled once with them, and each
# point's own memory sizes are checked against the program afterwards (_memory_refusal).
_ROOMY = {f: field_range(f)[1] for f in MEMORY_FIELDS}


def compile_group(work: Workload, enc: dict) -> dict:
    """Compile the network for one encoding group. Returns ``{"refused": reason}`` or
    the program (compiled with the roomiest memories), each layer's inputs for the
    workload's inputs (hardware order) and the golden model's accuracy."""
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.network import NetworkError
    from eiegen.compiler.program import ProgramError
    from eiegen.sim.golden import run_golden

    try:
        cfg = ArchConfig(**{**enc, **_ROOMY})
        program = compile_network(work.net, cfg, calibration=work.calibration,
                                  balance=work.balance)
    except (ConfigError, ProgramError, NetworkError) as e:
        return {"refused": str(e)}
    x_int = program.quantize_input(work.inputs)
    outs = run_golden(program, x_int)
    accuracy = None
    if work.labels is not None:
        pred = np.argmax(program.to_network_order(outs[-1]), axis=1)
        accuracy = 100.0 * float(np.mean(pred == work.labels))
    return {"program": program, "activations": [x_int] + list(outs[:-1]),
            "golden": outs[-1], "accuracy": accuracy}


def _memory_refusal(net, program, cfg) -> str | None:
    """Why ``cfg``'s memories cannot hold ``program`` (compiled with roomier ones), or
    None: the checks compile_network makes, with this point's sizes."""
    from eiegen.compiler.compile import check_fits
    from eiegen.compiler.program import ProgramError

    try:
        check_fits(net, cfg)
    except ProgramError as e:
        return str(e)
    worst = max(sum(lp.entries[k] for lp in program.layers) for k in range(cfg.n_pe))
    if worst > cfg.spmat_entries:
        need = -(-worst // cfg.entries_per_word)
        return (f"the network does not fit the configuration:\n  - sparse-matrix memory: "
                f"a PE needs {worst} entries ({need} words of {cfg.entries_per_word}) but "
                f"spmat_depth={cfg.spmat_depth} words hold {cfg.spmat_entries}: raise "
                f"spmat_depth to {need}, add PEs, or prune further")
    return None


def _summed_events(program, activations):
    """The batch's events of every layer added up, as one LayerEvents: the energy model
    is linear in every count (and in the cycles), so one call prices the whole batch."""
    from eiegen.asic.events import LayerEvents, batch_events

    evs = [ev for inf in batch_events(program, activations[0], cycles=False,
                                      activations=activations) for ev in inf]
    first = evs[0]

    def add(get):
        return sum((get(e) for e in evs[1:]), get(first))

    return LayerEvents(-1, first.n_in, first.n_out, int(add(lambda e: e.broadcasts)),
                       int(add(lambda e: e.lnzd_rows)), add(lambda e: e.macs),
                       add(lambda e: e.spmat_reads),
                       {m: add(lambda e, m=m: e.reads[m]) for m in first.reads},
                       {m: add(lambda e, m=m: e.writes[m]) for m in first.writes})


def _area_mm2(cfg, tech) -> tuple:
    """(total, queues) accelerator area in mm^2: the SRAM macros of the energy/area model
    and the activation queues as enabled flip-flops. Without synthesis the model has no
    other logic; the queues are counted so that a deeper queue is not free."""
    from eiegen.asic.energy import area_model
    from eiegen.asic.events import memory_geometry
    from eiegen.asic.tech import technology

    t = technology(tech)
    width, depth = memory_geometry(cfg)["queue"]
    queue = cfg.n_pe * width * depth * t.cell_area_um2("$_DFFE_PP_") * 1e-6
    return area_model(cfg, t)["total"] * cfg.n_pe * 1e-6 + queue, queue


def _board_fit(board_name, cfg) -> dict:
    from eiegen.boards.catalog import get_board
    from eiegen.boards.fit import FitError, check_fit, memory_plan

    board = get_board(board_name)
    plan = memory_plan(board, cfg)
    out = {"board_fits": True,
           "board_bram": sum(m.blocks for m in plan if m.kind == "bram"),
           "board_spram": sum(m.blocks for m in plan if m.kind == "spram"),
           "board_dsp": cfg.n_pe, "board_reason": None}
    try:
        check_fit(board, cfg)
    except FitError as e:
        out.update(board_fits=False, board_reason=str(e))
    return out


def _record(cfg: dict, status: str, reason=None, **metrics) -> dict:
    return {"config": cfg, "status": status, "reason": reason, **metrics}


def evaluate_chunk(work: Workload, group: dict, points: list) -> list:
    """Records for ``points`` (config dicts of one encoding group and one
    ``merge_padding``)."""
    from eiegen.asic.energy import layer_energy
    from eiegen.compiler.program import Program
    from eiegen.sim.cycle_model import batch_cycles

    if "refused" in group:
        return [_record(p, "refused", group["refused"]) for p in points]
    base = group["program"]
    acts = group["activations"]
    batch = len(acts[0])
    ok = []
    records = {}
    for i, p in enumerate(points):
        cfg = ArchConfig(**p)
        why = _memory_refusal(work.net, base, cfg)
        if why is None:
            ok.append((i, cfg))
        else:
            records[i] = _record(p, "refused", why)
    if ok:
        # one program for the chunk: its images are the group's, its timing config the
        # chunk's (column issues depend on merge_padding and entries_per_word)
        program = Program(cfg=ok[0][1], layers=base.layers, images=base.images)
        depths = sorted({cfg.queue_depth for _, cfg in ok})
        bc = batch_cycles(program, acts[0], depths, activations=acts)
        events = _summed_events(program, acts)
        for i, cfg in ok:
            d = depths.index(cfg.queue_depth)
            cycles = bc.cycles[d]
            events.cycles = int(cycles.sum())
            energy = layer_energy(cfg, events, work.tech)["total"]
            area, queue_area = _area_mm2(cfg, work.tech)
            metrics = {
                "cycles": float(cycles.mean()), "cycles_min": int(cycles.min()),
                "cycles_max": int(cycles.max()), "efficiency": bc.efficiency(d),
                "energy_nj": float(energy) / batch * 1e-3, "area_mm2": float(area),
                "queue_area_mm2": float(queue_area), "accuracy": group["accuracy"]}
            if work.board:
                metrics.update(_board_fit(work.board, cfg))
            records[i] = _record(points[i], "ok", **metrics)
    return [records[i] for i in range(len(points))]


def verify_point(work: Workload, group: dict, cfg_dict: dict) -> dict:
    """Run one point in Verilator: outputs == golden and cycles == the cycle model."""
    from eiegen.compiler.program import Program
    from eiegen.sim.cycle_model import batch_cycles
    from eiegen.sim.harness import run_verilator

    cfg = ArchConfig(**cfg_dict)
    base = group["program"]
    program = Program(cfg=cfg, layers=base.layers, images=base.images)
    x = group["activations"][0]
    run = run_verilator(program, x)
    model = batch_cycles(program, x, activations=group["activations"]).cycles[0]
    rtl_cycles = np.array([r.cycles for r in run.inferences])
    return {"outputs_match": bool(np.array_equal(run.outputs, group["golden"])),
            "cycles_match": bool(np.array_equal(rtl_cycles, model)),
            "rtl_cycles": float(rtl_cycles.mean()), "inputs": int(len(x))}


# ---------------------------------------------------------------------- client side --
def _key(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)


def _plan(points: list, balance: bool):
    """Valid points grouped for compiling and evaluating; invalid ones as records.
    Returns ``(groups, invalid)`` with ``groups`` = {encoding key: {merge_padding: [idx]}}."""
    enc_fields = encoding_fields(balance)
    groups, invalid = {}, {}
    for i, p in enumerate(points):
        try:
            ArchConfig(**p)
        except ConfigError as e:
            invalid[i] = _record(p, "invalid", str(e))
            continue
        enc = _key({f: p[f] for f in enc_fields})
        groups.setdefault(enc, {}).setdefault(p["merge_padding"], []).append(i)
    return groups, invalid


def _claim_output(out: Path, inputs) -> None:
    """Make ``out`` an explore folder before the first point lands in it: refused (a
    one-line error, nothing written) unless it is new, empty or eiegen's own explore
    output; the marker lists every file the sweep writes, so an interrupted sweep's
    folder is still recognised as eiegen's on resume."""
    from eiegen.safeio import MARKER, atomic_write_text, check_folder_output

    check_folder_output(out, KIND, inputs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, json.dumps({"kind": KIND, "files": sorted(OUTPUT_FILES)},
                                               indent=1) + "\n")


def _read_journal(path: Path, context: dict) -> dict:
    """Finished records by config key, when the journal is of this same sweep context.
    A torn last line (an interrupted append) is dropped."""
    if not path.exists():
        return {}
    lines = path.read_text().split("\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        return {}
    if header.get("context") != context:
        return {}
    done = {}
    for line in lines[1:]:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        done[_key(rec["config"])] = rec
    return done


def _open_journal(path: Path, context: dict, done: dict):
    """Rewrite the journal (header and the records kept, atomically: it is eiegen's own
    file) and open it for appending."""
    from eiegen.safeio import atomic_write_text

    lines = [json.dumps({"journal": "eiegen explore", "context": context}, sort_keys=True)]
    lines += [json.dumps(r, sort_keys=True) for r in done.values()]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return open(path, "a")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: connected to ``scheduler`` (``tcp://host:8786``), else to a
    ``LocalCluster`` of ``workers`` single-threaded worker processes (default: one per
    core; numpy's own threads would only compete with the other workers)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def pareto_front(records: list, board: bool = False) -> list:
    """Indices (into ``records``) of the points no other point beats in cycles, area and
    energy at once (lower is better in each); with ``board``, among those that fit."""
    cand = [i for i, r in enumerate(records) if r["status"] == "ok"
            and (not board or r.get("board_fits"))]
    if not cand:
        return []
    v = np.array([[records[i]["cycles"], records[i]["area_mm2"], records[i]["energy_nj"]]
                  for i in cand])
    front = []
    for j in range(len(cand)):
        dominated = np.all(v <= v[j], axis=1) & np.any(v < v[j], axis=1)
        if not dominated.any():
            front.append(cand[j])
    return front


_METRICS = ("cycles", "cycles_min", "cycles_max", "efficiency", "energy_nj", "area_mm2",
            "queue_area_mm2", "accuracy")
_BOARD = ("board_fits", "board_bram", "board_spram", "board_dsp")


def _csv_text(records: list, axes: list, board: bool) -> str:
    cols = ["point", *axes, "status", *_METRICS, *(_BOARD if board else ()), "pareto",
            "reason"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        row = {"point": r["point"], "pareto": int(r["pareto"]), **r["config"], **r}
        w.writerow(["" if row.get(c) is None else
                    (repr(row[c]) if isinstance(row[c], float) else row[c]) for c in cols])
    return buf.getvalue()


def _plot(records: list, front: list, axes: list, path: Path) -> None:
    from eiegen.plots import _save, figure

    ok = [r for r in records if r["status"] == "ok"]
    pf = sorted((records[i] for i in front), key=lambda r: r["cycles"])
    pairs = (("cycles", "area_mm2"), ("cycles", "energy_nj"), ("area_mm2", "energy_nj"))
    labels = {"cycles": "cycles per inference", "area_mm2": "area (mm$^2$)",
              "energy_nj": "energy per inference (nJ)"}
    fig = figure(figsize=(14, 4.2))
    axs = fig.subplots(1, 3)
    color = axes[0]
    for ax, (xk, yk) in zip(axs, pairs):
        sc = ax.scatter([r[xk] for r in ok], [r[yk] for r in ok],
                        c=[r["config"][color] for r in ok], s=10, cmap="viridis",
                        alpha=0.6, norm="log" if min(r["config"][color] for r in ok) > 0
                        else None)
        ax.scatter([r[xk] for r in pf], [r[yk] for r in pf], s=40, facecolors="none",
                   edgecolors="tab:red", label="Pareto front (3 objectives)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(labels[xk])
        ax.set_ylabel(labels[yk])
    axs[0].legend(fontsize=8)
    fig.colorbar(sc, ax=axs[-1], label=color)
    fig.suptitle(f"{len(ok)} points evaluated, {len(pf)} on the Pareto front")
    _save(fig, path)


def _results_json(sweep: Sweep, context: dict, records: list, front: list,
                  verified: dict) -> str:
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "refused", "invalid")}
    doc = {"sweep": sweep.to_dict(), "context": context, "counts": counts,
           "pareto": [records[i]["point"] for i in front],
           "verified": {str(k): v for k, v in sorted(verified.items())},
           "points": records}
    from eiegen.safeio import json_text

    return json_text(doc)


@dataclass
class ExploreResult:
    records: list  # per point, in sweep order
    pareto: list  # point numbers
    verified: dict = field(default_factory=dict)  # point -> verify_point's answer
    computed: int = 0  # points computed in this run (the rest came from the journal)


def run_explore(work: Workload, sweep: Sweep, out, *, client, verify: int = 0,
                retries: int = 2, progress=None, inputs=()) -> ExploreResult:
    """Run ``sweep`` on ``client``'s cluster and write ``out`` (journal.jsonl,
    results.csv, results.json, pareto.png). ``inputs`` are the command's input paths,
    which the output folder may not contain."""
    from distributed import as_completed

    from eiegen.safeio import atomic_write_bytes, atomic_write_text

    out = Path(out)
    _claim_output(out, inputs)
    context = work.context()
    points = sweep.points()
    done = _read_journal(out / JOURNAL, context)
    groups, invalid = _plan(points, work.balance)
    todo = {}
    for enc, chunks in groups.items():
        for mp, idx in chunks.items():
            left = [i for i in idx if _key(points[i]) not in done]
            if left:
                todo.setdefault(enc, {})[mp] = left
    for i, rec in invalid.items():
        done.setdefault(_key(points[i]), rec)
    total = len(points)
    finished = sum(_key(p) in done for p in points)
    computed = 0
    journal = _open_journal(out / JOURNAL, context, done)
    compiled = {}
    shared = []  # the workload, scattered to the workers once, when first needed

    def scattered():
        if not shared:
            shared.append(client.scatter(work, broadcast=True))
        return shared[0]

    try:
        if progress:
            progress(finished, total)
        if todo:
            w = scattered()
            futures = []
            for enc, chunks in todo.items():
                compiled[enc] = client.submit(compile_group, w, json.loads(enc),
                                              retries=retries, pure=False)
                for idx in chunks.values():
                    futures.append(client.submit(evaluate_chunk, w, compiled[enc],
                                                 [points[i] for i in idx],
                                                 retries=retries, pure=False))
            for fut, recs in as_completed(futures, with_results=True):
                for rec in recs:
                    line = json.dumps(rec, sort_keys=True)
                    # kept as read back, so a fresh point and a resumed one are the same
                    done[_key(rec["config"])] = json.loads(line)
                    journal.write(line + "\n")
                journal.flush()
                os.fsync(journal.fileno())
                finished += len(recs)
                computed += len(recs)
                if progress:
                    progress(finished, total)
    finally:
        journal.close()
    records = [{**done[_key(p)], "point": i} for i, p in enumerate(points)]
    board = work.board is not None
    front = pareto_front(records, board)
    for i, r in enumerate(records):
        r["pareto"] = i in front
    verified = {}
    if verify and front:
        verified = _verify(client, scattered(), compiled, work, points, records, front,
                           verify, retries)
    axes = list(sweep.axes)
    atomic_write_text(out / "results.csv", _csv_text(records, axes, board))
    atomic_write_text(out / "results.json",
                      _results_json(sweep, context, records, front, verified))
    if front:
        buf = io.BytesIO()
        _plot(records, front, axes, buf)
        atomic_write_bytes(out / "pareto.png", buf.getvalue())
    return ExploreResult(records, [records[i]["point"] for i in front], verified, computed)


def _verify(client, w, compiled, work, points, records, front, k, retries) -> dict:
    """Verilator runs of ``k`` Pareto points spread evenly over the front by cycles."""
    pf = sorted(front, key=lambda i: (records[i]["cycles"], i))
    pick = sorted({pf[round(j * (len(pf) - 1) / max(1, k - 1))] for j in range(min(k, len(pf)))})
    futures = {}
    for i in pick:
        enc = _key({f: points[i][f] for f in encoding_fields(work.balance)})
        if enc not in compiled:  # every point came from the journal
            compiled[enc] = client.submit(compile_group, w, json.loads(enc),
                                          retries=retries, pure=False)
        futures[i] = client.submit(verify_point, w, compiled[enc], points[i],
                                   retries=retries, pure=False)
    return {i: f.result() for i, f in futures.items()}


def format_summary(result: ExploreResult, axes: list, board: bool = False,
                   rows: int = 12) -> str:
    """The Pareto points, fastest first (at most ``rows``), and the counts."""
    recs = result.records
    front = sorted((recs[i] for i in result.pareto), key=lambda r: (r["cycles"], r["point"]))
    head = (f"{'point':>6} " + " ".join(f"{a:>{max(6, len(a))}}" for a in axes)
            + f" {'cycles':>9} {'eff':>6} {'energy nJ':>10} {'area mm2':>9}"
            + (f" {'acc %':>6}" if any(r.get("accuracy") is not None for r in front) else "")
            + (" fits" if board else "") + (" RTL" if result.verified else ""))
    lines = [head]
    for r in front[:rows]:
        line = (f"{r['point']:>6} " + " ".join(f"{r['config'][a]:>{max(6, len(a))}}"
                                               for a in axes)
                + f" {r['cycles']:>9.1f} {r['efficiency']:>6.1%} {r['energy_nj']:>10.2f}"
                + f" {r['area_mm2']:>9.3f}")
        if r.get("accuracy") is not None:
            line += f" {r['accuracy']:>6.2f}"
        if board:
            line += "  yes" if r.get("board_fits") else "   no"
        if result.verified:
            v = result.verified.get(r["point"])
            line += ("" if v is None else "  ok" if v["outputs_match"] and v["cycles_match"]
                     else "  MISMATCH")
        lines.append(line)
    if len(front) > rows:
        lines.append(f"... {len(front) - rows} more on the front (results.csv, column pareto)")
    n = {s: sum(r["status"] == s for r in recs) for s in ("ok", "refused", "invalid")}
    lines.append(f"{len(recs)} points: {n['ok']} evaluated, {n['refused']} refused (does not "
                 f"fit), {n['invalid']} invalid configs; {len(front)} on the Pareto front; "
                 f"{result.computed} computed now, {len(recs) - result.computed} from the "
                 f"journal")
    return "\n".join(lines)
