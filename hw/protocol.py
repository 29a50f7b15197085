"""The host command protocol, in plain Python (no Amaranth).

Everything that talks to the accelerator (the Amaranth and Verilator simulators, the
UART board bridge, the host driver) builds its 32-bit command words and parses the
response words with this module. The protocol itself is described in docs/protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiegen.words import ACT_ADDRESS, COMMAND_HEADER, RESPONSE_HEADER, Mem, Op

__all__ = [
    "OP_NOP", "OP_WRITE", "OP_READ", "OP_RUN", "OP_COUNTERS", "OP_INFO",
    "MEM_PTR", "MEM_SPMAT", "MEM_BIAS", "MEM_CODEBOOK", "MEM_LAYERS", "MEM_ACT",
    "MEM_COLMASK",
    "MEMORY_NAMES", "INFO_MAGIC", "RESPONSE_FLAG", "COUNTERS_PER_PE", "ProtocolError", "Response", "Counters",
    "header", "response_header", "item_bits", "words_per_item", "act_address", "write",
    "load_program", "write_input", "read_output", "run", "read_counters", "info",
    "split_responses", "parse_output", "parse_run", "parse_counters", "parse_info",
    "info_words", "response_words",
]

# the word formats and the opcode and memory numbers are eiegen.words'
OP_NOP, OP_WRITE, OP_READ, OP_RUN, OP_COUNTERS, OP_INFO = Op
MEM_PTR, MEM_SPMAT, MEM_BIAS, MEM_CODEBOOK, MEM_LAYERS, MEM_ACT, MEM_COLMASK = Mem
MEMORY_NAMES = {int(m): m.name.lower() for m in Mem}
RESPONSE_FLAG = RESPONSE_HEADER.pack(response=1) >> 24  # a response header's top byte: 0x80 | op
# "EIE", protocol version 2 (version 1 answered COUNTERS without ``saturated``; a host
# checks INFO first, so it never misreads an older bitstream's counters)
INFO_MAGIC = 0xE1E00002
COUNTERS_PER_PE = 4  # busy, starved, stalled, saturated
MASK32 = 0xFFFFFFFF


class ProtocolError(ValueError):
    """A command cannot be encoded, or a response stream is malformed."""


@dataclass(frozen=True)
class Response:
    op: int
    payload: tuple


@dataclass(frozen=True)
class Counters:
    """Performance counters of the last run (see docs/architecture.md); per PE:
    ``saturated`` counts the accumulations clamped to the accumulator range
    (docs/fixed-point.md), saturating at 2**32 - 1."""
    cycles: int
    busy: tuple
    starved: tuple
    stalled: tuple
    saturated: tuple


def header(op: int, mem: int = 0, arg: int = 0) -> int:
    """A command's first word: ``op << 24 | mem << 16 | arg`` (arg: PE or layer count)."""
    if not 0 <= arg < 1 << 16:
        raise ProtocolError(f"command argument must fit 16 bits, got {arg}")
    return COMMAND_HEADER.pack(op=op, mem=mem, arg=arg)


def response_header(op: int, n_words: int) -> int:
    return RESPONSE_HEADER.pack(n_words=n_words, op=op, response=1)


def item_bits(cfg, mem: int) -> int:
    """Bits of one element of memory ``mem``."""
    bits = {MEM_PTR: cfg.ptr_bits, MEM_SPMAT: cfg.word_bits, MEM_BIAS: cfg.acc_bits,
            MEM_CODEBOOK: cfg.weight_bits, MEM_LAYERS: 32, MEM_ACT: cfg.act_bits}
    if cfg.col_filter:  # one bit per lane of an LNZD row (ArchConfig.col_filter)
        bits[MEM_COLMASK] = cfg.n_pe
    if mem not in bits:
        raise ProtocolError(f"unknown memory {mem}; known: {MEMORY_NAMES}")
    return bits[mem]


def words_per_item(cfg, mem: int) -> int:
    """32-bit words per element of memory ``mem`` (little-endian: low word first)."""
    return (item_bits(cfg, mem) + 31) // 32


def act_address(cfg, index: int) -> int:
    """The address word of global activation ``index``: ``local address << 8 | PE``."""
    return ACT_ADDRESS.pack(pe=index % cfg.n_pe, row=index // cfg.n_pe)


def _split(value: int, bits: int, n_words: int) -> list[int]:
    value = int(value) & ((1 << bits) - 1)
    return [(value >> (32 * k)) & MASK32 for k in range(n_words)]


def write(cfg, mem: int, addr: int, values, pe: int = 0) -> list[int]:
    """WRITE ``values`` to memory ``mem`` of PE ``pe`` from ``addr`` upwards.

    For ``MEM_ACT`` ``addr`` is a global activation index (the PE is implied); for
    ``MEM_CODEBOOK`` the write reaches every PE; ``MEM_LAYERS`` is the control unit's.
    """
    values = [int(v) for v in values]
    if not 0 <= pe < cfg.n_pe:
        raise ProtocolError(f"PE {pe} does not exist (n_pe={cfg.n_pe})")
    if mem == MEM_ACT:
        addr, pe = act_address(cfg, addr), 0
    bits, n = item_bits(cfg, mem), words_per_item(cfg, mem)
    words = [header(OP_WRITE, mem, pe), addr & MASK32, len(values)]
    for v in values:
        words += _split(v, bits, n)
    return words


def load_program(program) -> list[int]:
    """The command words that load every memory image of a compiled program."""
    cfg = program.cfg
    images = program.images
    words = write(cfg, MEM_CODEBOOK, 0, images["codebook"])
    words += write(cfg, MEM_LAYERS, 0, images["layers"])
    for k in range(cfg.n_pe):
        for mem, values in ((MEM_PTR, images[f"pe{k}.ptr"]),
                            (MEM_SPMAT, program.spmat_words(k)),
                            (MEM_BIAS, images[f"pe{k}.bias"])):
            if len(values):
                words += write(cfg, mem, 0, values, pe=k)
        if cfg.col_filter:
            words += write(cfg, MEM_COLMASK, 0, program.colmask(k), pe=k)
    return words


def write_input(cfg, x) -> list[int]:
    """WRITE an input vector (signed integers, network order) into the source registers."""
    return write(cfg, MEM_ACT, 0, x)


def read_output(cfg, n: int) -> list[int]:
    """READ the first ``n`` activations of the source registers (a run's outputs)."""
    return [header(OP_READ, MEM_ACT), act_address(cfg, 0), n]


def run(n_layers: int) -> list[int]:
    """RUN layers ``0 .. n_layers-1``; answered when the last layer is written back."""
    return [header(OP_RUN, 0, n_layers)]


def read_counters() -> list[int]:
    return [header(OP_COUNTERS)]


def info() -> list[int]:
    return [header(OP_INFO)]


def info_words(cfg) -> list[int]:
    """The INFO payload: magic/version, PE count, and the config digest (low, high)."""
    digest = int(cfg.digest(), 16)
    return [INFO_MAGIC, cfg.n_pe, digest & MASK32, digest >> 32]


def response_words(cfg, op: int, n: int = 0) -> int:
    """How many payload words the response to ``op`` carries (``n``: READ's count)."""
    return {OP_READ: n, OP_RUN: 1, OP_COUNTERS: 1 + COUNTERS_PER_PE * cfg.n_pe, OP_INFO: 4}[op]


def split_responses(words) -> list[Response]:
    """Split a stream of response words into responses; raises on a malformed stream."""
    out, i, words = [], 0, [int(w) for w in words]
    while i < len(words):
        head = words[i]
        fields = RESPONSE_HEADER.unpack(head)
        if not fields["response"]:
            raise ProtocolError(f"word {i} ({head:#010x}) is not a response header")
        n = fields["n_words"]
        if i + 1 + n > len(words):
            raise ProtocolError(f"response at word {i} announces {n} words, "
                                f"only {len(words) - i - 1} follow")
        out.append(Response(fields["op"], tuple(words[i + 1:i + 1 + n])))
        i += 1 + n
    return out


def _expect(resp: Response, op: int, n: int):
    if resp.op != op or len(resp.payload) != n:
        raise ProtocolError(f"expected a response to op {op} with {n} words, got op "
                            f"{resp.op} with {len(resp.payload)}")


def parse_output(cfg, resp: Response, n: int) -> np.ndarray:
    _expect(resp, OP_READ, n)
    x = np.array(resp.payload, dtype=np.int64)
    return np.where(x >= 1 << 31, x - (1 << 32), x)


def parse_run(resp: Response) -> int:
    """The cycle count a RUN answers with."""
    _expect(resp, OP_RUN, 1)
    return resp.payload[0]


def parse_counters(cfg, resp: Response) -> Counters:
    _expect(resp, OP_COUNTERS, 1 + COUNTERS_PER_PE * cfg.n_pe)
    p, k = resp.payload, COUNTERS_PER_PE
    return Counters(p[0], *(tuple(p[1 + i::k]) for i in range(k)))


def parse_info(cfg, resp: Response) -> dict:
    """The INFO payload as a dict; raises if it does not match ``cfg``."""
    _expect(resp, OP_INFO, 4)
    if list(resp.payload) != info_words(cfg):
        raise ProtocolError(f"the accelerator reports {list(map(hex, resp.payload))}, "
                            f"expected {list(map(hex, info_words(cfg)))} for this config")
    return {"magic": resp.payload[0], "n_pe": resp.payload[1],
            "digest": f"{resp.payload[3] << 32 | resp.payload[2]:016x}"}
