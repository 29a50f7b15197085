"""eiegen/words.py: the word formats, and the HDL layouts built from them."""

import pytest

from eiegen.hw import protocol as P
from eiegen.hw.layouts import (ACT_ADDRESS_LAYOUT, COMMAND_LAYOUT, DESCRIPTOR_LAYOUT,
                               RESPONSE_LAYOUT, Opcode, word_layout)
from eiegen.words import (ACT_ADDRESS, COMMAND_HEADER, DESCRIPTOR_WORDS, LAYER_DESCRIPTOR,
                          RESPONSE_HEADER, Mem, Op, WordFormat)


def test_opcode_enum_agrees_with_op():
    assert {m.name: m.value for m in Opcode} == {m.name: m.value for m in Op}


def test_protocol_numbers_unchanged():
    # docs/protocol.md: the numbers on the wire
    assert [P.OP_WRITE, P.OP_READ, P.OP_RUN, P.OP_COUNTERS, P.OP_INFO] == [1, 2, 3, 4, 5]
    assert [P.MEM_PTR, P.MEM_SPMAT, P.MEM_BIAS, P.MEM_CODEBOOK, P.MEM_LAYERS,
            P.MEM_ACT, P.MEM_COLMASK] == list(range(7)) == list(Mem)
    assert P.RESPONSE_FLAG == 0x80
    assert P.header(P.OP_WRITE, P.MEM_BIAS, 7) == 0x01020007
    assert P.response_header(P.OP_RUN, 1) == 0x83000001


def test_pack_unpack_round_trip():
    d = {"n_in": 300, "n_out": 100, "ptr_base": 77, "bias_base": 65535, "shift": 9,
         "relu": 1}
    word = LAYER_DESCRIPTOR.pack(**d)
    assert LAYER_DESCRIPTOR.unpack(word) == d
    words = LAYER_DESCRIPTOR.to_words(word)
    assert len(words) == DESCRIPTOR_WORDS == 4
    # the layout of docs/protocol.md: n_in, n_out, ptr_base, bias_base | shift | relu
    assert words == [300, 100, 77, 65535 | 9 << 16 | 1 << 24]
    assert LAYER_DESCRIPTOR.from_words(words) == word
    assert ACT_ADDRESS.unpack(ACT_ADDRESS.pack(pe=3, row=5)) == {"pe": 3, "row": 5}


def test_pack_names_the_field():
    with pytest.raises(ValueError, match="field shift must fit 8 bits, got 256"):
        LAYER_DESCRIPTOR.pack(shift=256)
    with pytest.raises(ValueError, match="field arg must fit 16 bits, got -1"):
        COMMAND_HEADER.pack(arg=-1)
    with pytest.raises(ValueError, match="has no field bogus"):
        COMMAND_HEADER.pack(bogus=1)
    with pytest.raises(ValueError, match="overlaps"):
        WordFormat("bad", 8, {"a": (0, 4), "b": (3, 2)})
    with pytest.raises(ValueError, match="leaves the 8-bit word"):
        WordFormat("bad", 8, {"a": (6, 4)})


@pytest.mark.parametrize("fmt, layout", [(COMMAND_HEADER, COMMAND_LAYOUT),
                                         (RESPONSE_HEADER, RESPONSE_LAYOUT),
                                         (ACT_ADDRESS, ACT_ADDRESS_LAYOUT),
                                         (LAYER_DESCRIPTOR, DESCRIPTOR_LAYOUT)])
def test_layouts_match_the_formats(fmt, layout):
    assert layout.size == fmt.width
    for f in fmt.fields:
        assert (layout[f.name].offset, layout[f.name].width) == (f.offset, f.width)
    # a constant built through the layout equals the Python packing
    values = {f.name: (1 << f.width) - 1 - f.offset % 3 for f in fmt.fields}
    if "op" in values and layout is COMMAND_LAYOUT:
        values["op"] = Opcode.INFO
    const = layout.const(values).as_value().value
    assert const == fmt.pack(**{k: int(getattr(v, "value", v)) for k, v in values.items()})


def test_word_layout_checks_shapes():
    with pytest.raises(ValueError, match="field op is 7 bits"):
        word_layout(RESPONSE_HEADER, op=Opcode)
    with pytest.raises(ValueError, match="has no field bogus"):
        word_layout(COMMAND_HEADER, bogus=Opcode)
