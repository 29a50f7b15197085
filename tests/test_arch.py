import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig, ConfigError

# The ranges the hardware generator and the program format support (eiegen/arch.py),
# written out again here so that a silent change of a range fails a test.
RANGES = {
    "n_pe": (1, 256),
    "queue_depth": (1, 64),
    "index_bits": (1, 8),
    "rel_bits": (1, 8),
    "act_bits": (4, 32),
    "weight_bits": (4, 32),
    "acc_bits": (8, 56),
    "entries_per_word": (1, 32),
    "ptr_depth": (2, 1 << 20),
    "spmat_depth": (1, 1 << 20),
    "act_depth": (1, 1 << 16),
    "bias_depth": (1, 1 << 16),
    "max_layers": (1, 64),
    "merge_padding": (0, 1),
    "acc_saturate": (0, 1),
    "col_filter": (0, 1),
    "broadcast_width": (1, 4),
    "bias_reset": (0, 1),
    "wb_overlap": (0, 1),
}


def test_every_field_has_a_tested_range():
    assert {f.name for f in dataclasses.fields(ArchConfig)} == set(RANGES)


def test_defaults_and_derived_quantities():
    cfg = ArchConfig()
    assert cfg.codebook_size == 16
    assert cfg.max_gap == 15
    assert cfg.entry_bits == 8
    assert cfg.word_bits == 64
    assert cfg.spmat_entries == 1024 * 8
    assert cfg.ptr_bits == (1024 * 8).bit_length() == 14
    assert cfg.max_inputs == 64 * 4


def test_broadcast_options():
    # EIE's broadcast is the default; the wide one is selected by either option
    assert not ArchConfig().wide_broadcast
    assert ArchConfig(col_filter=1).wide_broadcast
    assert ArchConfig(broadcast_width=2).wide_broadcast
    # a queue must hold a whole group of the wide broadcast
    with pytest.raises(ConfigError, match="broadcast_width.*queue_depth"):
        ArchConfig(queue_depth=2, broadcast_width=3)
    with pytest.raises(ConfigError, match="wb_overlap.*bias_reset"):
        ArchConfig(wb_overlap=1)
    # column-mask rows: every layer's ceil(n_in / n_pe) rows fit whenever its pointers do
    cfg = ArchConfig(n_pe=7, ptr_depth=100, max_layers=3)
    assert cfg.mask_depth == 15 + 3
    sizes = [33, 32, 32]  # 34 + 33 + 33 = 100 pointer entries
    assert sum(-(-n // 7) for n in sizes) <= cfg.mask_depth


def test_eie_configuration_matches_the_paper():
    cfg = ArchConfig.eie()
    assert cfg.n_pe == 64 and cfg.queue_depth == 8
    assert cfg.word_bits == 64 and cfg.entries_per_word == 8
    assert cfg.spmat_depth * cfg.word_bits // 8 == 128 * 1024  # 128 KB sparse matrix
    assert cfg.ptr_depth * 16 // 8 == 32 * 1024  # 32 KB of 16-bit pointers
    assert cfg.act_depth * cfg.act_bits // 8 == 2 * 1024  # 2 KB of activations
    assert ArchConfig.eie(n_pe=16).n_pe == 16


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("side", ["below", "above"])
def test_out_of_range_names_field_and_range(name, side):
    lo, hi = RANGES[name]
    bad = lo - 1 if side == "below" else hi + 1
    with pytest.raises(ConfigError) as e:
        ArchConfig(**{name: bad})
    msg = str(e.value)
    assert name in msg and f"{lo}..{hi}" in msg and str(bad) in msg


# Companion values that make a field's extreme legal (acc_bits >= act_bits + weight_bits).
_EDGE_COMPANIONS = {("act_bits", 32): {"acc_bits": 56}, ("weight_bits", 32): {"acc_bits": 56},
                    ("acc_bits", 8): {"act_bits": 4, "weight_bits": 4},
                    ("wb_overlap", 1): {"bias_reset": 1}}


@pytest.mark.parametrize("name", sorted(RANGES))
def test_range_edges_are_accepted(name):
    for value in RANGES[name]:
        extra = _EDGE_COMPANIONS.get((name, value), {})
        assert getattr(ArchConfig(**{name: value, **extra}), name) == value


@pytest.mark.parametrize("value", [4.0, "4", True, None])
def test_non_integers_refused(value):
    with pytest.raises(ConfigError, match=r"n_pe .*must be an integer in 1\.\.256"):
        ArchConfig(n_pe=value)


def test_odd_ptr_depth_refused():
    with pytest.raises(ConfigError, match=r"ptr_depth .*even.* got 1023"):
        ArchConfig(ptr_depth=1023)


def test_accumulator_must_hold_one_product():
    with pytest.raises(ConfigError, match=r"acc_bits .* act_bits \+ weight_bits = 32 .*got 31"):
        ArchConfig(act_bits=16, weight_bits=16, acc_bits=31)
    assert ArchConfig(act_bits=16, weight_bits=16, acc_bits=32).acc_bits == 32


def test_frozen_and_replace_validates():
    cfg = ArchConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_pe = 8
    assert cfg.replace(n_pe=8).n_pe == 8 and cfg.n_pe == 4
    with pytest.raises(ConfigError, match="n_pe"):
        cfg.replace(n_pe=0)


def test_json_round_trip(tmp_path):
    cfg = ArchConfig.eie(rel_bits=3, index_bits=5)
    assert ArchConfig.from_dict(json.loads(cfg.to_json())) == cfg
    path = tmp_path / "cfg.json"
    cfg.save(path)
    assert ArchConfig.load(path) == cfg
    assert json.loads(path.read_text()) == cfg.to_dict()
    assert list(json.loads(cfg.to_json())) == sorted(RANGES)  # stable, sorted keys


def test_partial_json_uses_defaults(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text('{"n_pe": 16}')
    assert ArchConfig.load(path) == ArchConfig(n_pe=16)


def test_unknown_fields_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) n_pes, zzz.*known fields: "):
        ArchConfig.from_dict({"n_pes": 4, "zzz": 1})
    path = tmp_path / "cfg.json"
    path.write_text('{"bogus": 1}')
    with pytest.raises(ConfigError, match=r"cfg\.json: unknown config field\(s\) bogus"):
        ArchConfig.load(path)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ArchConfig.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{n_pe: 4")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ArchConfig.load(bad)
    bad.write_text("[4]")
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        ArchConfig.load(bad)
    bad.write_text('{"rel_bits": 9}')
    with pytest.raises(ConfigError, match=r"bad\.json: rel_bits .*1\.\.8, got 9"):
        ArchConfig.load(bad)


def test_digest_is_stable_and_distinguishes_configs():
    assert ArchConfig().digest() == ArchConfig().digest()
    assert len(ArchConfig().digest()) == 16
    assert ArchConfig().digest() != ArchConfig(queue_depth=4).digest()


@st.composite
def configs(draw):
    act = draw(st.integers(4, 24))
    weight = draw(st.integers(4, 24))
    return ArchConfig(
        n_pe=draw(st.integers(1, 256)), queue_depth=draw(st.integers(1, 64)),
        index_bits=draw(st.integers(1, 8)), rel_bits=draw(st.integers(1, 8)),
        act_bits=act, weight_bits=weight, acc_bits=draw(st.integers(act + weight, 56)),
        entries_per_word=draw(st.integers(1, 32)), ptr_depth=2 * draw(st.integers(1, 1 << 19)),
        spmat_depth=draw(st.integers(1, 1 << 20)), act_depth=draw(st.integers(1, 1 << 16)),
        bias_depth=draw(st.integers(1, 1 << 16)), max_layers=draw(st.integers(1, 64)))


@settings(max_examples=40, deadline=None)
@given(configs())
def test_random_configs_round_trip(cfg):
    assert ArchConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.word_bits == (cfg.index_bits + cfg.rel_bits) * cfg.entries_per_word
    # a pointer one past the last entry of a full sparse-matrix memory still fits
    assert cfg.spmat_entries < 1 << cfg.ptr_bits
    assert cfg.ptr_bits <= 32
