"""The host protocol encoders/decoders (pure Python)."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.hw import protocol as P


def test_write_splits_wide_items_little_endian():
    cfg = ArchConfig(entries_per_word=8)            # 64-bit sparse-matrix words
    words = P.write(cfg, P.MEM_SPMAT, 5, [0x1122334455667788, 1], pe=3)
    assert words == [P.OP_WRITE << 24 | P.MEM_SPMAT << 16 | 3, 5, 2,
                     0x55667788, 0x11223344, 1, 0]
    bias = P.write(cfg, P.MEM_BIAS, 0, [-1])
    assert bias[3:] == [0xFFFFFFFF]


def test_act_addresses_are_row_and_pe():
    cfg = ArchConfig(n_pe=3)
    assert P.act_address(cfg, 7) == (2 << 8) | 1
    words = P.write_input(cfg, [1, -2])
    assert words[:3] == [P.OP_WRITE << 24 | P.MEM_ACT << 16, 0, 2]
    assert words[3:] == [1, (1 << cfg.act_bits) - 2]


def test_bad_arguments():
    cfg = ArchConfig(n_pe=2)
    with pytest.raises(P.ProtocolError, match="PE 2"):
        P.write(cfg, P.MEM_PTR, 0, [1], pe=2)
    with pytest.raises(P.ProtocolError, match="unknown memory"):
        P.item_bits(cfg, 9)
    with pytest.raises(P.ProtocolError, match="16 bits"):
        P.run(1 << 16)


def test_responses_round_trip():
    cfg = ArchConfig(n_pe=2)
    stream = ([P.response_header(P.OP_INFO, 4)] + P.info_words(cfg)
              + [P.response_header(P.OP_RUN, 1), 1234]
              + [P.response_header(P.OP_READ, 3), 5, 0xFFFFFFFF, 0]
              + [P.response_header(P.OP_COUNTERS, 9), 99, 1, 2, 3, 7, 4, 5, 6, 8])
    info, run, read, counters = P.split_responses(stream)
    assert P.parse_info(cfg, info)["n_pe"] == 2
    assert P.parse_info(cfg, info)["digest"] == cfg.digest()
    assert P.parse_run(run) == 1234
    np.testing.assert_array_equal(P.parse_output(cfg, read, 3), [5, -1, 0])
    c = P.parse_counters(cfg, counters)
    assert (c.cycles, c.busy, c.starved, c.stalled, c.saturated) == (
        99, (1, 4), (2, 5), (3, 6), (7, 8))
    with pytest.raises(P.ProtocolError, match="different|expected"):
        P.parse_info(ArchConfig(n_pe=3), info)
    with pytest.raises(P.ProtocolError, match="not a response header"):
        P.split_responses([5])
    with pytest.raises(P.ProtocolError, match="announces"):
        P.split_responses([P.response_header(P.OP_READ, 3), 1])
    with pytest.raises(P.ProtocolError, match="expected a response"):
        P.parse_run(read)


@pytest.mark.parametrize("col_filter", [0, 1])
def test_load_program_covers_every_image(col_filter):
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network
    cfg = ArchConfig(n_pe=2, col_filter=col_filter)
    program = compile_network(random_network(1, [6, 5, 3], density=0.5), cfg)
    words = P.load_program(program)
    headers, i = [], 0
    while i < len(words):
        op, mem, pe = words[i] >> 24, words[i] >> 16 & 0xFF, words[i] & 0xFFFF
        n = words[i + 2]
        headers.append((mem, pe, n))
        i += 3 + n * P.words_per_item(cfg, mem)
    assert i == len(words)
    assert (P.MEM_CODEBOOK, 0, len(program.images["codebook"])) in headers
    assert (P.MEM_LAYERS, 0, 4 * len(program.layers)) in headers
    for k in range(2):
        assert (P.MEM_SPMAT, k, len(program.spmat_words(k))) in headers
        assert (P.MEM_PTR, k, len(program.images[f"pe{k}.ptr"])) in headers
        # the column masks only for a column-filter config (MEM_COLMASK is refused else)
        assert ((P.MEM_COLMASK, k, len(program.colmask(k))) in headers) == bool(col_filter)
