"""Payload layouts and bus signatures shared by the hardware units.

Every width is derived from :class:`eiegen.arch.ArchConfig`; nothing here is hard-coded.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from eiegen.words import ACT_ADDRESS, COMMAND_HEADER, LAYER_DESCRIPTOR, RESPONSE_HEADER, Op

__all__ = ["index_shape", "col_bits", "host_data_words", "broadcast_layout", "offer_layout",
           "column_layout",
           "entry_layout", "WriteBus", "ReadBus", "HostWriteBus", "LayerControlBus", "Opcode", "word_layout", "COMMAND_LAYOUT",
           "RESPONSE_LAYOUT", "ACT_ADDRESS_LAYOUT", "DESCRIPTOR_LAYOUT"]


class Opcode(enum.Enum, shape=8):
    """The command opcodes of :class:`eiegen.words.Op` as an Amaranth enum (a test checks
    that the two agree)."""
    NOP = Op.NOP.value
    WRITE = Op.WRITE.value
    READ = Op.READ.value
    RUN = Op.RUN.value
    COUNTERS = Op.COUNTERS.value
    INFO = Op.INFO.value


def word_layout(fmt, **shapes) -> data.FlexibleLayout:
    """The ``amaranth.lib.data`` layout of a word format of :mod:`eiegen.words`: every
    field unsigned, or the shape that ``shapes`` names for it (of the field's width)."""
    fields = {}
    for f in fmt.fields:
        fields[f.name] = data.Field(shapes.pop(f.name, unsigned(f.width)), f.offset)
        if fields[f.name].width != f.width:
            raise ValueError(f"{fmt.name} field {f.name} is {f.width} bits, not "
                             f"{fields[f.name].shape!r}")
    if shapes:
        raise ValueError(f"{fmt.name} has no field {sorted(shapes)[0]}")
    return data.FlexibleLayout(fmt.width, fields)


COMMAND_LAYOUT = word_layout(COMMAND_HEADER, op=Opcode)
RESPONSE_LAYOUT = word_layout(RESPONSE_HEADER)
ACT_ADDRESS_LAYOUT = word_layout(ACT_ADDRESS)
DESCRIPTOR_LAYOUT = word_layout(LAYER_DESCRIPTOR)


def index_shape(n: int):
    """Shape of an index into ``n`` things; at least one bit wide, because zero-width
    nets make Verilog with ``[-1:0]`` ranges."""
    return unsigned(max(1, (n - 1).bit_length()))


def col_bits(cfg) -> int:
    """Width of a column index or a layer size (up to ``cfg.max_inputs`` inclusive)."""
    return cfg.max_inputs.bit_length()


def host_data_words(bits: int) -> int:
    """32-bit host words per memory element of ``bits`` bits."""
    return (bits + 31) // 32


def broadcast_layout(cfg) -> data.StructLayout:
    """What the broadcast puts into every activation queue: a non-zero activation and
    its column index in the layer."""
    return data.StructLayout({"act": signed(cfg.act_bits), "col": unsigned(col_bits(cfg))})


def offer_layout(cfg) -> data.ArrayLayout:
    """The wide broadcast (``cfg.wide_broadcast``): ``broadcast_width`` slots, the
    lowest lanes still to send of the current LNZD row in increasing column order, each
    valid or not, with (``col_filter``) one bit per PE: whether that PE has entries in
    the column and so takes it."""
    fields = {"valid": unsigned(1), "act": signed(cfg.act_bits),
              "col": unsigned(col_bits(cfg))}
    if cfg.col_filter:
        fields["take"] = unsigned(cfg.n_pe)
    return data.ArrayLayout(data.StructLayout(fields), cfg.broadcast_width)


def column_layout(cfg) -> data.StructLayout:
    """A non-empty column for one PE: the activation and its entry range [start, end)."""
    return data.StructLayout({"act": signed(cfg.act_bits),
                              "start": unsigned(cfg.ptr_bits),
                              "end": unsigned(cfg.ptr_bits)})


def entry_layout(cfg) -> data.StructLayout:
    """One sparse-matrix entry on its way to the arithmetic unit. ``first`` marks the
    first entry of a column (the row cursor restarts there); ``skip`` says that a padding
    entry ``(0, max_gap)`` was issued with this one and its ``max_gap + 1`` rows must be
    added to the row cursor (``cfg.merge_padding``)."""
    return data.StructLayout({"act": signed(cfg.act_bits),
                              "v": unsigned(cfg.index_bits),
                              "z": unsigned(cfg.rel_bits),
                              "first": unsigned(1),
                              "skip": unsigned(1)})


class WriteBus(wiring.Signature):
    """A memory write request, seen from the writer: ``en``, ``addr``, ``data`` (and the
    ``members`` a subclass adds)."""

    def __init__(self, addr_shape, data_shape, members=None):
        super().__init__({"en": Out(1), "addr": Out(addr_shape), "data": Out(data_shape),
                          **(members or {})})


class HostWriteBus(WriteBus):
    """A host write from the control unit to the memories of the array, seen from the
    control unit: a :class:`WriteBus` wide enough for the widest memory element, plus the
    memory ``mem`` and the PE ``pe`` it goes to (``Mem.CODEBOOK``: every PE). The control
    unit drives one to every PE (``wiring.connect`` fans it out); each PE decodes its own
    writes."""

    def __init__(self, cfg):
        widest = max(cfg.word_bits, cfg.acc_bits, cfg.ptr_bits, cfg.weight_bits,
                     cfg.act_bits, cfg.n_pe if cfg.col_filter else 0)
        super().__init__(unsigned(32), unsigned(32 * host_data_words(widest)), {
            "mem": Out(unsigned(4)),
            "pe": Out(unsigned(ACT_ADDRESS["pe"].width)),
        })


class LayerControlBus(wiring.Signature):
    """What the control unit broadcasts to every PE, seen from the control unit: the
    current layer's descriptor fields, the phase flags and the local row of the preload
    and write-back (hw/control.py describes the phases).

    * ``layer``, ``ptr_base``, ``bias_base``, ``shift``, ``relu``: the layer and its
      descriptor (codebook, pointer base, bias base, write-back requantization);
    * ``sel``: which activation register file is the source;
    * ``pre_en`` / ``wb_en`` with ``row``: bias preload / write-back of local row ``row``;
    * ``compute``: the COMPUTE phase (the PEs' performance counters count);
    * ``clear``: a run starts (the counters clear);
    * ``wb_overlap`` only: ``wb_file``, ``wb_bank``, ``wb_bias_base``, the written-back
      layer's destination file, accumulator bank and bias base (it runs during the next
      layer, whose fields the others carry).
    """

    def __init__(self, cfg):
        extra = ({"wb_file": Out(1), "wb_bank": Out(1),
                  "wb_bias_base": Out(unsigned(LAYER_DESCRIPTOR["bias_base"].width))}
                 if cfg.wb_overlap else {})
        super().__init__({**extra,
            "layer": Out(index_shape(cfg.max_layers)),
            "ptr_base": Out(index_shape(cfg.ptr_depth)),
            "bias_base": Out(unsigned(LAYER_DESCRIPTOR["bias_base"].width)),
            "shift": Out(unsigned(LAYER_DESCRIPTOR["shift"].width)),
            "relu": Out(1),
            "sel": Out(1),
            "row": Out(index_shape(cfg.act_depth)),
            "pre_en": Out(1),
            "wb_en": Out(1),
            "compute": Out(1),
            "clear": Out(1),
        })


class ReadBus(wiring.Signature):
    """A synchronous memory read, seen from the reader: ``addr`` and ``en`` in one cycle,
    ``data`` in the next (and held until the next enabled read)."""

    def __init__(self, addr_shape, data_shape):
        super().__init__({"en": Out(1), "addr": Out(addr_shape), "data": In(data_shape)})
