"""Energy and area model: per-inference energy from exact event counts
(:mod:`eiegen.asic.events`) times per-event energies of a technology node
(:mod:`eiegen.asic.tech`), broken down by unit; SRAM area from capacity, logic area from
synthesis (:mod:`eiegen.asic.synth`); the same network run dense for comparison; and the
per-PE power and area beside EIE's Table II.
"""

from __future__ import annotations

import math

import numpy as np

from eiegen.hw.pe import ProcessingElement
from eiegen.timing import DRAIN, END, FIRST_ROW, layer_overhead

from .events import MEMORIES, batch_events, broadcast_bits, memory_geometry
from .tech import technology

__all__ = ["UNIT_ORDER", "EIE_TABLE2", "area_model", "layer_energy", "dense_layer_energy",
           "energy_report", "eie_comparison", "format_energy", "format_eie_comparison"]

UNIT_ORDER = ("queue", "pointer", "spmat", "arith", "actrw", "lnzd", "control")
_LABELS = {"queue": "activation queue", "pointer": "pointer read", "spmat": "sparse-matrix read",
           "arith": "arithmetic", "actrw": "activation read/write", "lnzd": "LNZD + broadcast",
           "control": "control"}

# Han et al., EIE, ISCA 2016, Table II: one PE at 45 nm, 800 MHz (mW, um^2)
EIE_TABLE2 = {
    "total": (9.157, 638024),
    "by_type": {"memory": (5.416, 594786), "clock network": (1.874, 866),
                "register": (1.026, 9465), "combinational": (0.841, 8946),
                "filler cell": (None, 23961)},
    "by_module": {"queue": (0.112, 758), "pointer": (1.807, 121849),
                  "spmat": (4.955, 469412), "arith": (1.162, 3110),
                  "actrw": (1.122, 18934), "filler cell": (None, 23961)},
}


def _logic_per_unit(synth, n_pe: int) -> dict:
    """unit -> (flop area, comb area) per PE (central units: their share per PE), um^2."""
    if synth is None:
        return {u: (0.0, 0.0) for u in UNIT_ORDER}
    units = synth.units if hasattr(synth, "units") else synth["units"]
    n_syn = len(synth.pes) if hasattr(synth, "pes") else len(synth["pes"])
    out = {}
    for u in UNIT_ORDER:
        e = units[u]
        share = n_syn                      # per-PE units: mean over the PEs synthesised
        out[u] = (e["flop_area"] / share, e["comb_area"] / share)
    # the PE's counters and glue count with control; top-level glue with the LNZD
    glue, top = units["pe"], units["top"]
    f, c = out["control"]
    out["control"] = (f + glue["flop_area"] / n_syn, c + glue["comb_area"] / n_syn)
    f, c = out["lnzd"]
    out["lnzd"] = (f + top["flop_area"] / n_syn, c + top["comb_area"] / n_syn)
    return out


def area_model(cfg, tech="45nm", synth=None) -> dict:
    """Per-PE area (um^2) by unit: SRAM from capacity (each memory one macro; the
    descriptor memory shared by all PEs), logic from ``synth`` (a SynthReport; central
    units shared by all PEs). Returns ``{"units": {unit: {"sram", "logic", "total"}},
    "sram", "logic", "total", "memories": {name: um^2}}``."""
    tech = technology(tech)
    geo = memory_geometry(cfg)
    mems = {}
    for name, (w, d) in geo.items():
        if name == "queue":
            continue  # flip-flops: in the queue's logic
        area = tech.sram_area_um2(w, d)
        mems[name] = area / cfg.n_pe if name == "layers" else area
    logic = _logic_per_unit(synth, cfg.n_pe)
    units = {}
    for u in UNIT_ORDER:
        sram = sum(a for name, a in mems.items() if MEMORIES[name] == u)
        lg = sum(logic[u])
        units[u] = {"sram": sram, "logic": lg, "total": sram + lg}
    sram = sum(v["sram"] for v in units.values())
    lg = sum(v["logic"] for v in units.values())
    return {"units": units, "sram": sram, "logic": lg, "total": sram + lg, "memories": mems,
            "flop_area": sum(f for f, _ in logic.values()),
            "comb_area": sum(c for _, c in logic.values())}


def _layer_cycles(cfg, ev) -> int:
    if ev.cycles is not None:
        return ev.cycles
    # no cycle model: the busiest PE's work plus pipeline fill/drain (docs/architecture.md:
    # row 0 current in cycle FIRST_ROW, then the issue latency; COMPUTE ends DRAIN + END - 1
    # cycles after the last issue, or FIRST_ROW + END cycles after the last row), and the
    # cycles outside COMPUTE (counted as for a RUN's last layer)
    fill = FIRST_ROW + ProcessingElement.issue_latency + DRAIN + END - 1
    overhead = layer_overhead(ev.n_out, cfg.n_pe, cfg.bias_reset, cfg.wb_overlap)
    return int(overhead + max(int(ev.macs.max()) + fill, ev.lnzd_rows + FIRST_ROW + END))


def layer_energy(cfg, ev, tech="45nm", synth=None) -> dict:
    """Energy (pJ) of one layer's events by unit and by kind, summed over all PEs.

    Kinds: ``sram`` (memory reads and writes), ``mac``, ``regfile`` (queue pushes and
    pops), ``broadcast`` (the bus from the LNZD to every PE: :func:`broadcast_bits` wires
    per broadcast), ``logic`` (clock, registers and combinational logic per cycle, from
    the synthesised area)."""
    tech = technology(tech)
    geo = memory_geometry(cfg)
    n = cfg.n_pe
    by_unit = {u: 0.0 for u in UNIT_ORDER}
    by_kind = {"sram": 0.0, "mac": 0.0, "regfile": 0.0, "broadcast": 0.0, "logic": 0.0}
    by_memory = {}
    for name, (w, d) in geo.items():
        reads, writes = np.sum(ev.reads[name]), np.sum(ev.writes[name])
        if name == "queue":
            e = (reads + writes) * tech.regfile_pj_per_bit * w
            kind = "regfile"
        else:
            e = reads * tech.sram_read_pj(w, d) + writes * tech.sram_write_pj(w, d)
            kind = "sram"
        by_memory[name] = float(e)
        by_unit[MEMORIES[name]] += e
        by_kind[kind] += e
    mac = float(ev.macs.sum()) * tech.mac_pj(cfg.weight_bits, cfg.act_bits, cfg.acc_bits)
    by_unit["arith"] += mac
    by_kind["mac"] += mac
    # the broadcast bus spans the PE array: length ~ the side of the array
    area = area_model(cfg, tech, synth)["total"] * n * 1e-6      # mm^2
    bits = broadcast_bits(cfg)
    bcast = ev.broadcasts * bits * tech.wire_pj_per_bit_mm * math.sqrt(area)
    by_unit["lnzd"] += bcast
    by_kind["broadcast"] += bcast
    cycles = _layer_cycles(cfg, ev)
    logic = _logic_per_unit(synth, n)
    for u, (flop, comb) in logic.items():
        e = cycles * n * (flop * tech.reg_fj_per_um2 + comb * tech.comb_fj_per_um2) * 1e-3
        by_unit[u] += e
        by_kind["logic"] += e
    total = sum(by_unit.values())
    return {"layer": ev.layer, "cycles": cycles, "macs": int(ev.macs.sum()),
            "by_unit": by_unit, "by_kind": by_kind, "by_memory": by_memory, "total": total}


def dense_layer_energy(cfg, n_in: int, n_out: int, tech="45nm") -> dict:
    """The same layer run dense: no pruning, no activation skipping, every one of the
    ``n_in * n_out`` 32-bit weights read once from DRAM, one 32 x ``act_bits``
    multiply-accumulate each, inputs read once and outputs written once in on-chip
    SRAM of the same size as the sparse design's register files."""
    tech = technology(tech)
    weights = n_in * n_out
    dram = weights * tech.dram_pj(32)
    mac = weights * tech.mac_pj(32, cfg.act_bits, cfg.acc_bits)
    depth = cfg.act_depth * cfg.n_pe
    sram = (n_in * tech.sram_read_pj(cfg.act_bits, depth)
            + n_out * tech.sram_write_pj(cfg.act_bits, depth) + n_out * tech.dram_pj(32))
    return {"dram": dram, "mac": mac, "sram": sram, "total": dram + mac + sram,
            "macs": weights}


def energy_report(program, inputs, tech="45nm", synth=None) -> dict:
    """Per-layer and per-inference energy of ``program`` on integer ``inputs``
    (batch, n_in), by unit and kind, with the dense baseline and the events."""
    tech = technology(tech)
    cfg = program.cfg
    batch = batch_events(program, inputs)
    inferences = []
    for events in batch:
        layers = []
        for ev in events:
            e = layer_energy(cfg, ev, tech, synth)
            e["dense"] = dense_layer_energy(cfg, ev.n_in, ev.n_out, tech)
            e["events"] = ev.to_dict()
            e["time_us"] = e["cycles"] / tech.clock_mhz
            layers.append(e)
        total = sum(layer["total"] for layer in layers)
        dense = sum(layer["dense"]["total"] for layer in layers)
        by_unit = {u: sum(layer["by_unit"][u] for layer in layers) for u in UNIT_ORDER}
        by_kind = {k: sum(layer["by_kind"][k] for layer in layers) for k in layers[0]["by_kind"]}
        cycles = sum(layer["cycles"] for layer in layers)
        inferences.append({"layers": layers, "total": total, "dense": dense,
                           "saving": dense / total if total else 0.0, "by_unit": by_unit,
                           "by_kind": by_kind, "cycles": cycles,
                           "power_mw": total / (cycles / tech.clock_mhz) * 1e-3 if cycles else 0.0})
    return {"technology": tech.name, "clock_mhz": tech.clock_mhz, "config": cfg.to_dict(),
            "inferences": inferences, "area": area_model(cfg, tech, synth),
            "sources": list(tech.sources)}


def eie_comparison(report: dict) -> dict:
    """Per-PE power (mW, averaged over the report's inferences) and area (um^2) by
    module and by type, beside EIE's Table II."""
    n = report["config"]["n_pe"]
    clock = report["clock_mhz"]
    infs = report["inferences"]
    cycles = sum(i["cycles"] for i in infs)
    seconds = cycles / clock * 1e-6
    mw = lambda pj: pj * 1e-12 / seconds * 1e3 / n   # noqa: E731  (per PE)
    by_unit = {u: mw(sum(i["by_unit"][u] for i in infs)) for u in UNIT_ORDER}
    by_kind = {k: mw(sum(i["by_kind"][k] for i in infs)) for k in infs[0]["by_kind"]}
    area = report["area"]
    modules = {}
    for u in UNIT_ORDER:
        eie = EIE_TABLE2["by_module"].get(u, (None, None))
        modules[u] = {"power_mw": by_unit[u], "area_um2": area["units"][u]["total"],
                      "eie_power_mw": eie[0], "eie_area_um2": eie[1]}
    total_mw = sum(by_unit.values())
    memory_mw = by_kind["sram"]
    types = {
        "memory": {"power_mw": memory_mw, "area_um2": area["sram"]},
        "register + clock": {"power_mw": None, "area_um2": area["flop_area"]},
        "combinational": {"power_mw": None, "area_um2": area["comb_area"]},
        "logic (all)": {"power_mw": by_kind["logic"], "area_um2": area["logic"]},
        "datapath events": {"power_mw": by_kind["mac"] + by_kind["regfile"] + by_kind["broadcast"],
                            "area_um2": None},
    }
    t = EIE_TABLE2["by_type"]
    types["memory"].update(eie_power_mw=t["memory"][0], eie_area_um2=t["memory"][1])
    types["register + clock"].update(eie_power_mw=t["register"][0] + t["clock network"][0],
                                     eie_area_um2=t["register"][1] + t["clock network"][1])
    types["combinational"].update(eie_power_mw=t["combinational"][0],
                                  eie_area_um2=t["combinational"][1])
    return {"modules": modules, "types": types,
            "total": {"power_mw": total_mw, "area_um2": area["total"],
                      "eie_power_mw": EIE_TABLE2["total"][0],
                      "eie_area_um2": EIE_TABLE2["total"][1]},
            "memory_share": {"power": memory_mw / total_mw if total_mw else 0.0,
                             "area": area["sram"] / area["total"],
                             "eie_power": t["memory"][0] / EIE_TABLE2["total"][0],
                             "eie_area": t["memory"][1] / EIE_TABLE2["total"][1]},
            "cycles": cycles, "clock_mhz": clock}


def _pj(v: float) -> str:
    for unit, scale in (("uJ", 1e6), ("nJ", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {unit}"
    return f"{v:.1f} pJ"


def format_energy(report: dict, inference: int = 0) -> str:
    """Per-layer table (energy by unit) for one inference, with the dense baseline."""
    inf = report["inferences"][inference]
    head = f"{'layer':<7}{'cycles':>8}{'MACs':>10}" + "".join(f"{u:>10}" for u in UNIT_ORDER) \
        + f"{'total':>12}{'dense':>12}{'saving':>8}"
    lines = [f"energy per inference, {report['technology']} at {report['clock_mhz']:.0f} MHz, "
             f"{report['config']['n_pe']} PEs (pJ; dense = no pruning, no activation "
             f"skipping, 32-bit weights from DRAM)", head]
    for layer in inf["layers"]:
        lines.append(f"{layer['layer']:<7}{layer['cycles']:>8}{layer['macs']:>10}"
                     + "".join(f"{layer['by_unit'][u]:>10.0f}" for u in UNIT_ORDER)
                     + f"{layer['total']:>12.0f}{layer['dense']['total']:>12.0f}"
                     + f"{layer['dense']['total'] / layer['total']:>7.1f}x")
    lines.append(f"{'total':<7}{inf['cycles']:>8}{sum(l['macs'] for l in inf['layers']):>10}"
                 + "".join(f"{inf['by_unit'][u]:>10.0f}" for u in UNIT_ORDER)
                 + f"{inf['total']:>12.0f}{inf['dense']:>12.0f}{inf['saving']:>7.1f}x")
    lines.append("by kind: " + ", ".join(f"{k} {_pj(v)}" for k, v in inf["by_kind"].items())
                 + f"; average power {inf['power_mw']:.1f} mW")
    return "\n".join(lines)


def format_eie_comparison(cmp: dict) -> str:
    def cell(v, fmt):
        return f"{v:{fmt}}" if v is not None else f"{'-':>{int(fmt.split('.')[0])}}"
    lines = [f"one PE: this model vs EIE Table II (45 nm, {cmp['clock_mhz']:.0f} MHz)",
             f"{'':<24}{'mW':>9}{'EIE mW':>9}{'um^2':>11}{'EIE um^2':>11}"]
    for u, m in cmp["modules"].items():
        lines.append(f"{_LABELS[u]:<24}{cell(m['power_mw'], '9.3f')}"
                     f"{cell(m['eie_power_mw'], '9.3f')}{cell(m['area_um2'], '11.0f')}"
                     f"{cell(m['eie_area_um2'], '11.0f')}")
    lines.append(f"{'filler cell (EIE)':<24}{'-':>9}{'-':>9}{'-':>11}"
                 f"{EIE_TABLE2['by_module']['filler cell'][1]:>11}")
    t = cmp["total"]
    lines.append(f"{'total':<24}{t['power_mw']:>9.3f}{t['eie_power_mw']:>9.3f}"
                 f"{t['area_um2']:>11.0f}{t['eie_area_um2']:>11}")
    lines.append("")
    for k, m in cmp["types"].items():
        lines.append(f"{k:<24}{cell(m.get('power_mw'), '9.3f')}"
                     f"{cell(m.get('eie_power_mw'), '9.3f')}{cell(m.get('area_um2'), '11.0f')}"
                     f"{cell(m.get('eie_area_um2'), '11.0f')}")
    s = cmp["memory_share"]
    lines.append(f"memory share: power {s['power']:.0%} (EIE {s['eie_power']:.0%}), "
                 f"area {s['area']:.0%} (EIE {s['eie_area']:.0%})")
    return "\n".join(lines)
