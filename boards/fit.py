"""Will a configuration fit a board? Checks before synthesis, with the numbers.

The block-RAM estimate follows how Yosys maps each memory of the accelerator
(docs/architecture.md lists them) onto the family's block RAM: the mode (width x depth)
that needs the fewest blocks. Memories Yosys keeps in logic (the activation queues,
read asynchronously, and the layer descriptors, a few words) are not counted. On iCE40
this matches Yosys exactly; on ECP5 it is an upper bound (Yosys puts small memories in
distributed RAM). The post-synthesis check (:mod:`eiegen.boards.build`) uses Yosys's
real counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .memory import SPRAM_DEPTH, SPRAM_WIDTH, spram_blocks

__all__ = ["FitError", "MemoryPlan", "memory_plan", "check_fit", "check_program"]

# block RAM modes (width, depth) per family
_BRAM_MODES = {
    "ice40": ((16, 256), (8, 512), (4, 1024), (2, 2048)),
    "ecp5": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
    "xilinx7": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
}


class FitError(ValueError):
    """The design does not fit the board (the message says what to reduce)."""


def bram_blocks(family: str, width: int, depth: int) -> int:
    return min(-(-width // w) * -(-depth // d) for w, d in _BRAM_MODES[family])


@dataclass(frozen=True)
class MemoryPlan:
    """Where one kind of memory goes: ``count`` copies (one per PE, or 1)."""

    name: str
    width: int
    depth: int
    count: int
    kind: str  # "bram", "spram" or "logic"
    blocks_each: int

    @property
    def blocks(self) -> int:
        return self.blocks_each * self.count

    def to_dict(self) -> dict:
        return {"memory": self.name, "width": self.width, "depth": self.depth,
                "count": self.count, "maps_to": self.kind, "blocks_each": self.blocks_each,
                "blocks": self.blocks}


def memory_plan(board, cfg) -> list[MemoryPlan]:
    """Every memory of the accelerator and where it maps on ``board``."""
    n = cfg.n_pe
    fam = board.family
    act, acc = cfg.act_bits, cfg.acc_bits
    mems = [("ptr_even", cfg.ptr_bits, cfg.ptr_depth // 2, n),
            ("ptr_odd", cfg.ptr_bits, cfg.ptr_depth // 2, n),
            ("spmat", cfg.word_bits, cfg.spmat_depth, n),
            ("codebook", cfg.weight_bits, cfg.max_layers * cfg.codebook_size, n),
            ("bias", acc, cfg.bias_depth, n),
            ("accumulators", acc, cfg.act_depth, n),
            ("act", act, 2 * cfg.act_depth, n)]
    plan = []
    for name, width, depth, count in mems:
        depth = max(depth, 2)
        if name == "spmat" and board.spram_spmat:
            plan.append(MemoryPlan(name, width, depth, count, "spram",
                                   spram_blocks(width, depth)))
        elif name in board.distributed:
            plan.append(MemoryPlan(name, width, depth, count, "logic", 0))
        else:
            plan.append(MemoryPlan(name, width, depth, count, "bram",
                                   bram_blocks(fam, width, depth)))
    plan.append(MemoryPlan("uart_fifo", 8, 512, 1, "bram", bram_blocks(fam, 8, 512)))
    plan.append(MemoryPlan("layers", 128, max(cfg.max_layers, 2), 1, "logic", 0))
    plan.append(MemoryPlan("queue", act + cfg.n_pe.bit_length() + 16, cfg.queue_depth, n,
                           "logic", 0))
    return plan


def check_fit(board, cfg) -> list[MemoryPlan]:
    """Refuse (``FitError``) a config whose memories or multipliers cannot fit ``board``;
    returns the memory plan."""
    plan = memory_plan(board, cfg)
    res = board.resources
    problems = []
    spram = sum(m.blocks for m in plan if m.kind == "spram")
    if spram > res.get("spram", 0):
        problems.append(
            f"SPRAM: the sparse-matrix memories need {cfg.n_pe} PEs x "
            f"{spram // cfg.n_pe} SB_SPRAM256KA ({cfg.spmat_depth} words x {cfg.word_bits} "
            f"bits each; a block is {SPRAM_DEPTH} x {SPRAM_WIDTH}) = {spram}, the "
            f"{board.device} has {res['spram']}: use entries_per_word <= "
            f"{SPRAM_WIDTH // cfg.entry_bits} and spmat_depth <= "
            f"{SPRAM_DEPTH * max(1, res['spram'] // cfg.n_pe)}, or fewer PEs")
    bram = sum(m.blocks for m in plan if m.kind == "bram")
    if bram > res["bram"]:
        worst = sorted((m for m in plan if m.kind == "bram"), key=lambda m: -m.blocks)[:3]
        detail = ", ".join(f"{m.name} {m.count} x {m.blocks_each} ({m.depth} x {m.width})"
                           for m in worst)
        problems.append(
            f"block RAM: the memories need {bram} blocks, the {board.device} has "
            f"{res['bram']} (largest: {detail}): reduce act_depth, bias_depth, "
            f"ptr_depth, spmat_depth or the widths (act_bits, acc_bits), or use fewer PEs")
    if cfg.n_pe > res["dsp"]:
        problems.append(f"DSP: {cfg.n_pe} PEs need {cfg.n_pe} multipliers, the "
                        f"{board.device} has {res['dsp']} DSP blocks: use at most "
                        f"{res['dsp']} PEs")
    if problems:
        raise FitError(f"the configuration does not fit the {board.name} ({board.device}):"
                       "\n  - " + "\n  - ".join(problems))
    return plan


def check_program(board, cfg, program) -> None:
    """Refuse a program that is not for ``cfg`` or that the board's memories cannot
    hold (it was compiled for larger memories than this build has)."""
    if program is None:
        return
    if program.cfg == cfg:
        return
    problems = []
    pc = program.cfg
    need_words = max(-(-max((lp.entry_base[k] + lp.entries[k] for lp in program.layers),
                            default=0) // pc.entries_per_word) for k in range(pc.n_pe))
    for what, need, have in (
            ("PEs", pc.n_pe, cfg.n_pe),
            (f"sparse-matrix words per PE (of {pc.word_bits} bits)", need_words,
             cfg.spmat_depth),
            ("pointer entries per PE", sum(lp.n_in + 1 for lp in program.layers),
             cfg.ptr_depth),
            ("activations per PE", max(-(-max(lp.n_in, lp.n_out) // pc.n_pe)
                                       for lp in program.layers), cfg.act_depth),
            ("layers", len(program.layers), cfg.max_layers)):
        if need > have:
            problems.append(f"{what}: the program needs {need}, the {board.name} build "
                            f"has {have}")
    detail = ("\n  - " + "\n  - ".join(problems)) if problems else \
        f" (program config {pc.digest()}, build config {cfg.digest()})"
    raise FitError(f"the program does not fit the {board.name} build's memories: it was "
                   f"compiled for a different architecture config{detail}; compile it "
                   f"with the board's config (eiegen build --board {board.name} writes it "
                   f"as config.json)")
