"""The memory helper."""

import pytest
from amaranth.hdl import Fragment, signed

from eiegen.hw.memory import make_memory


def built(mem):
    Fragment.get(mem, None)         # elaborate it, as a design would
    return mem


def test_make_memory():
    mem = built(make_memory(signed(8), 4, [1, -2], name="m"))
    assert mem.depth == 4 and list(mem.init) == [1, -2, 0, 0]
    assert built(make_memory(signed(8), 1)).depth == 2       # no zero-width address
    with pytest.raises(ValueError, match="'m' holds 2 elements but its initial image has 3"):
        make_memory(signed(8), 2, [1, 2, 3], name="m")
    with pytest.raises(ValueError, match="depth of at least 1"):
        make_memory(signed(8), 0, name="m")
