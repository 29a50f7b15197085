"""Layouts and widths derive from the config."""

from eiegen.arch import ArchConfig
from eiegen.hw.layouts import broadcast_layout, col_bits, column_layout, entry_layout


def test_widths_follow_config():
    cfg = ArchConfig(n_pe=3, act_depth=10, act_bits=12, index_bits=3, rel_bits=5)
    assert col_bits(cfg) == (30).bit_length()
    assert broadcast_layout(cfg).size == 12 + col_bits(cfg)
    assert column_layout(cfg).size == 12 + 2 * cfg.ptr_bits
    assert entry_layout(cfg).size == 12 + 3 + 5 + 1 + 1  # act, v, z, first, skip
