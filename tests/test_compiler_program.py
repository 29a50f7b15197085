import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.encode import encode_layer
from eiegen.compiler.examples import random_network
from eiegen.compiler.pack import words_to_ints
from eiegen.compiler.program import (FORMAT_NAME, FORMAT_VERSION, LayerProgram, Program,
                                     ProgramError)


def make_program(balance=False, seed=3, **cfg_changes):
    cfg = ArchConfig(n_pe=4, **cfg_changes)
    net = random_network(seed, [20, 13, 7], density=0.3, index_bits=cfg.index_bits)
    return net, compile_network(net, cfg, balance=balance)


def read_hex(path: Path, bits: int, signed: bool) -> list[int]:
    lines = path.read_text().splitlines()
    assert all(len(line) == (bits + 3) // 4 for line in lines), path
    vals = [int(line, 16) for line in lines]
    assert all(v < 1 << bits for v in vals)
    if signed:
        vals = [v - (1 << bits) if v >= 1 << (bits - 1) else v for v in vals]
    return vals


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ---- save / load ----

@pytest.mark.parametrize("balance", [False, True])
def test_save_load_round_trip(tmp_path, balance):
    _, prog = make_program(balance=balance)
    prog.save(tmp_path / "prog")
    back = Program.load(tmp_path / "prog")
    assert back.cfg == prog.cfg
    assert [lp.to_dict() for lp in back.layers] == [lp.to_dict() for lp in prog.layers]
    assert sorted(back.images) == sorted(prog.images)
    for key, img in prog.images.items():
        assert back.images[key].dtype == img.dtype and np.array_equal(back.images[key], img)
    assert (back.n_in, back.n_out, back.input_frac) == (20, 7, prog.input_frac)
    if balance:
        assert all(np.array_equal(a.row_order, b.row_order) for a, b in zip(back.layers, prog.layers))


def test_layer_program_dict_round_trip():
    _, prog = make_program(balance=True)
    for lp in prog.layers:
        d = json.loads(json.dumps(lp.to_dict()))
        back = LayerProgram.from_dict(d)
        assert back.to_dict() == lp.to_dict() and back.fmt == lp.fmt
        assert back.nnz == [e - p for e, p in zip(lp.entries, lp.padding)]


def test_folder_layout_and_hex_files_match_images(tmp_path):
    _, prog = make_program(index_bits=3, rel_bits=2, entries_per_word=5, weight_bits=12,
                           acc_bits=40)
    cfg = prog.cfg
    assert cfg.word_bits == 25  # not a multiple of 8
    out = prog.save(tmp_path / "prog")
    names = set(all_files(out))
    expected = {"manifest.json", "images.npz", "codebook.hex", "layers.hex"}
    for k in range(cfg.n_pe):
        expected |= {f"pe{k:03d}/{f}" for f in ("ptr_even.hex", "ptr_odd.hex", "spmat.hex", "bias.hex")}
    assert names == expected
    img = prog.images
    assert read_hex(out / "codebook.hex", cfg.weight_bits, True) == img["codebook"].tolist()
    assert read_hex(out / "layers.hex", 32, False) == img["layers"].tolist()
    for k in range(cfg.n_pe):
        pe = out / f"pe{k:03d}"
        ptr = img[f"pe{k}.ptr"].tolist()
        assert read_hex(pe / "ptr_even.hex", cfg.ptr_bits, False) == ptr[0::2]
        assert read_hex(pe / "ptr_odd.hex", cfg.ptr_bits, False) == ptr[1::2]
        assert read_hex(pe / "spmat.hex", cfg.word_bits, False) == words_to_ints(img[f"pe{k}.spmat"])
        assert read_hex(pe / "bias.hex", cfg.acc_bits, True) == img[f"pe{k}.bias"].tolist()


def test_manifest(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    m = json.loads((out / "manifest.json").read_text())
    assert (m["format"], m["version"]) == (FORMAT_NAME, FORMAT_VERSION) == ("eiegen-program", 1)
    assert m["config"] == prog.cfg.to_dict() and m["input_frac"] == prog.input_frac
    files = all_files(out)
    del files["manifest.json"]
    assert m["files"] == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert [d["name"] for d in m["layers"]] == ["fc0", "fc1"]


def test_compilation_is_deterministic(tmp_path, monkeypatch):
    net = random_network(11, [30, 17, 9], density=0.2)
    cfg = ArchConfig(n_pe=4)
    compile_network(net, cfg, balance=True).save(tmp_path / "a")
    # A day later, in another folder: nothing may depend on the clock or the path.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86400 + 3.7)
    monkeypatch.setattr(time, "localtime", lambda t=None: time.gmtime(real_time() + 90000))
    compile_network(net, cfg, balance=True).save(tmp_path / "sub" / "b")
    a, b = all_files(tmp_path / "a"), all_files(tmp_path / "sub" / "b")
    assert sorted(a) == sorted(b) and len(a) == 4 + 4 * 4
    for name in a:
        assert a[name] == b[name], name


# ---- loading damaged or foreign folders ----

def test_checksum_mismatch_detected(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    f = out / "pe002" / "spmat.hex"
    text = f.read_text()
    f.write_text(("1" if text[0] != "1" else "2") + text[1:])
    with pytest.raises(ProgramError, match=r"file pe002/spmat.hex does not match its checksum"):
        Program.load(out)
    Program.load(out, verify=False)  # explicitly unverified loads still work


def test_modified_images_detected(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    images = dict(np.load(out / "images.npz"))
    images["codebook"] = images["codebook"] + 1
    np.savez(out / "images.npz", **images)
    with pytest.raises(ProgramError, match="images.npz does not match its checksum"):
        Program.load(out)


def test_missing_file_detected(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    (out / "pe001" / "bias.hex").unlink()
    with pytest.raises(ProgramError, match="file pe001/bias.hex listed in the manifest is missing"):
        Program.load(out)


def test_not_a_program(tmp_path):
    with pytest.raises(ProgramError, match="is not an eiegen program \\(no manifest.json\\)"):
        Program.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(ProgramError, match="is not valid JSON"):
        Program.load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ProgramError, match="not an eiegen program manifest"):
        Program.load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "eiegen-program", "version": 99}')
    with pytest.raises(ProgramError, match="version 99 is not supported .*version 1"):
        Program.load(tmp_path)


def test_bad_config_in_manifest(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    m = json.loads((out / "manifest.json").read_text())
    m["config"]["n_pe"] = 0
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ProgramError, match=r"manifest.json: n_pe .*1\.\.256, got 0"):
        Program.load(out)


def test_nonzero_padding_codebook_entry_refused(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    images = dict(np.load(out / "images.npz"))
    images["codebook"][prog.cfg.codebook_size] = 5  # layer 1's entry 0
    np.savez(out / "images.npz", **images)
    with pytest.raises(ProgramError, match=r"layer 1 .* codebook entry 0 = 5, .* must be exact zero"):
        Program.load(out, verify=False)


# ---- where save may write ----

def test_refuses_to_overwrite_a_folder_that_is_not_a_program(tmp_path):
    _, prog = make_program()
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.tex").write_text("do not delete")
    with pytest.raises(ProgramError, match="did not create"):
        prog.save(target)
    assert all_files(target) == {"thesis.tex": b"do not delete"}
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ProgramError, match="exists and is not a folder"):
        prog.save(afile)
    assert afile.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "precious"]  # no leftovers


def test_replaces_an_existing_program_and_accepts_an_empty_folder(tmp_path):
    _, prog = make_program()
    target = tmp_path / "prog"
    target.mkdir()
    prog.save(target)
    (target / "notes.txt").write_text("the user's")
    _, other = make_program(seed=4)
    with pytest.raises(ProgramError, match="notes.txt"):  # never deletes what it did not write
        other.save(target)
    assert (target / "notes.txt").read_text() == "the user's"
    (target / "notes.txt").unlink()
    other.save(target)
    assert np.array_equal(Program.load(target).images["codebook"], other.images["codebook"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog"]  # no temporary folders


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    _, prog = make_program()
    target = tmp_path / "prog"
    prog.save(target)
    before = all_files(target)
    original = Path.write_bytes
    calls = []

    def failing_write(self, data):  # the fourth file fails to write
        calls.append(self)
        if len(calls) > 3:
            raise OSError("disk full")
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    _, other = make_program(seed=4)
    with pytest.raises(OSError, match="disk full"):
        other.save(target)
    monkeypatch.undo()
    assert all_files(target) == before  # the old program is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog"]


# ---- reading the program back ----

def test_images_against_the_encoder():
    net, prog = make_program(seed=8)
    cfg = prog.cfg
    encoded = [encode_layer(layer.indices, cfg.n_pe, cfg.rel_bits) for layer in net.layers]
    for k in range(cfg.n_pe):
        v, z = prog.pe_entries(k)
        assert v.tolist() == sum((e.pe[k].v.tolist() for e in encoded), [])
        assert z.tolist() == sum((e.pe[k].z.tolist() for e in encoded), [])
        base = 0
        for layer_no, e in enumerate(encoded):
            lp = prog.layers[layer_no]
            assert lp.entry_base[k] == base
            assert prog.layer_pointers(layer_no, k).tolist() == (e.pe[k].ptr + base).tolist()
            assert lp.entries[k] == e.pe[k].n_entries and lp.padding[k] == e.pe[k].n_padding
            base += e.pe[k].n_entries
    for layer_no, lp in enumerate(prog.layers):
        assert prog.codebook_q(layer_no).tolist() == lp.codebook_q
        assert len(lp.codebook_q) == cfg.codebook_size and lp.codebook_q[0] == 0


def test_descriptor_words():
    _, prog = make_program()
    words = prog.images["layers"].reshape(-1, 4)
    for lp, (n_in, n_out, ptr_base, packed) in zip(prog.layers, words.tolist()):
        assert (n_in, n_out, ptr_base) == (lp.n_in, lp.n_out, lp.ptr_base)
        assert packed & 0xFFFF == lp.bias_base
        assert (packed >> 16) & 0xFF == lp.shift
        assert packed >> 24 == int(lp.relu)
    assert [lp.relu for lp in prog.layers] == [True, False]
    assert [lp.ptr_base for lp in prog.layers] == [0, 21]
    assert [lp.bias_base for lp in prog.layers] == [0, 4]  # ceil(13 / 4) rows per PE


def test_quantize_and_dequantize():
    _, prog = make_program(balance=True)
    f = prog.input_frac
    x = np.array([0.5, -0.25, 1e9, -1e9])
    q = prog.quantize_input(x)
    hi = (1 << (prog.cfg.act_bits - 1)) - 1
    assert q.tolist() == [round(0.5 * 2 ** f), round(-0.25 * 2 ** f), hi, -hi - 1]
    order = prog.layers[-1].row_order
    y = np.arange(7) * 3
    net_order = prog.to_network_order(y)
    assert all(net_order[order[p]] == y[p] for p in range(7))
    batch = prog.to_network_order(np.stack([y, y + 1]))
    assert np.array_equal(batch[1], net_order + 1)
    fo = prog.layers[-1].fmt.frac_out
    assert np.array_equal(prog.dequantize_output(y), net_order * 2.0 ** -fo)


def test_to_network_order_without_balance_is_identity():
    _, prog = make_program()
    y = np.arange(7)
    assert np.array_equal(prog.to_network_order(y), y)
    assert np.array_equal(prog.to_network_order(np.arange(13), layer=0), np.arange(13))


def test_descriptor_holds_the_largest_bias_base():
    # bias_base has 16 bits in its descriptor word; the largest bias_depth (2**16) puts
    # the last layer's biases at 65535, right below the shift field.
    from eiegen.compiler.network import Layer, Network

    net = Network((Layer(weight=np.ones((65535, 1))), Layer(weight=np.ones((1, 65535)), activation="none")))
    cfg = ArchConfig(n_pe=1, act_depth=1 << 16, bias_depth=1 << 16, ptr_depth=1 << 17,
                     spmat_depth=1 << 15)
    prog = compile_network(net, cfg, calibration=np.ones((1, 1)))
    packed = int(prog.images["layers"][7])
    lp = prog.layers[1]
    assert lp.bias_base == 65535 and lp.shift > 0
    assert (packed & 0xFFFF, (packed >> 16) & 0xFF, packed >> 24) == (65535, lp.shift, 0)


# ---- untrusted program folders (issue 19, items 7 and 8) ----

def _edited(tmp_path, edit, rehash=True):
    """A saved program with ``edit(manifest)`` applied; with ``rehash`` the manifest's own
    checksum is recomputed, so only the structural checks can catch the edit."""
    from eiegen.compiler.program import manifest_digest

    _, prog = make_program(balance=True)
    out = prog.save(tmp_path / "prog")
    m = json.loads((out / "manifest.json").read_text())
    edit(m)
    if rehash:
        m["manifest_sha256"] = manifest_digest(m)
    (out / "manifest.json").write_text(json.dumps(m))
    return out


def test_manifest_checksums_itself(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    m = json.loads((out / "manifest.json").read_text())
    from eiegen.compiler.program import manifest_digest
    assert m["manifest_sha256"] == manifest_digest(m)
    m["config"]["act_bits"] = 8  # valid on its own, wrong for these images
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ProgramError, match=r"does not match its own checksum"):
        Program.load(out)


def test_manifest_without_checksum_still_loads(tmp_path):
    # programs written before manifest_sha256 existed are checked structurally
    out = _edited(tmp_path, lambda m: m.pop("manifest_sha256"), rehash=False)
    assert Program.load(out).n_in == 20


@pytest.mark.parametrize("name", ["/dev/zero", "../../x", "/etc/passwd", "pe000", "",
                                  "pe000/../../x"])
def test_file_names_are_confined(tmp_path, name):
    out = _edited(tmp_path, lambda m: m["files"].__setitem__(name, "0" * 64))
    with pytest.raises(ProgramError, match="the file list must name exactly"):
        Program.load(out)


def test_file_list_must_be_complete(tmp_path):
    out = _edited(tmp_path, lambda m: m.__setitem__("files", {}))  # all checksums off
    with pytest.raises(ProgramError, match="the file list must name exactly the 19 files"):
        Program.load(out)


def test_symlinked_and_special_files_refused(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    (out / "layers.hex").unlink()
    (out / "layers.hex").symlink_to("/etc/passwd")
    with pytest.raises(ProgramError, match="layers.hex is a symbolic link"):
        Program.load(out)
    (out / "layers.hex").unlink()
    (out / "layers.hex").symlink_to("/dev/zero")
    with pytest.raises(ProgramError, match="symbolic link"):
        Program.load(out, verify=False)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["config"].__setitem__("spmat_depth", 1), "sparse-matrix memory"),
    (lambda m: m["config"].__setitem__("act_depth", 2), "act_depth=2"),
    (lambda m: m["config"].__setitem__("n_pe", 3), "the file list must name exactly"),
    (lambda m: m["layers"][0].__setitem__("row_order", [0] * 13), "permutation of 0..12"),
    (lambda m: m["layers"][0].__setitem__("n_in", 21), "not where the layers before it end"
                                                       "|differ from the manifest"),
    (lambda m: m["layers"][0].__setitem__("n_in", "20"), "n_in must be an integer"),
    (lambda m: m["layers"][0].__setitem__("relu", "yes"), "relu must be true or false"),
    (lambda m: m["layers"][0].__setitem__("entries", [1]), "entries must be a list of 4"),
    (lambda m: m["layers"][1].__setitem__("ptr_base", 0), "memory bases"),
    (lambda m: m["layers"][0].pop("format"), "format must be an object"),
    (lambda m: m["layers"][0]["format"].__setitem__("frac_in", 10 ** 6), "frac_in must be"),
    (lambda m: m["layers"][0]["codebook_q"].__setitem__(1, 12345), "codebook image differs"),
    (lambda m: m.__setitem__("layers", []), "layers must be a non-empty list"),
    (lambda m: m.__setitem__("input_frac", 99), "input_frac 99"),
    (lambda m: m["config"].__setitem__("n_pe", "4"), "n_pe .*must be an integer"),
])
def test_structure_and_fit_checked(tmp_path, edit, match):
    out = _edited(tmp_path, edit)
    with pytest.raises(ProgramError, match=match):
        Program.load(out)


def test_manifest_nan_and_garbage(tmp_path):
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text.replace('"input_frac": ', '"input_frac": NaN, "x": '))
    with pytest.raises(ProgramError, match="holds NaN, which is not JSON"):
        Program.load(out)
    (out / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ProgramError, match="is not valid JSON"):
        Program.load(out)
    (out / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ProgramError, match="not an eiegen program manifest"):
        Program.load(out)


def test_images_bomb_refused(tmp_path):
    """images.npz whose member declares 10^5 x 10^5 float64: refused before allocating."""
    import zipfile
    _, prog = make_program()
    out = prog.save(tmp_path / "prog")
    h = repr({"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)}).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    with zipfile.ZipFile(out / "images.npz", "w") as z:
        z.writestr("codebook.npy", b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h)
    with pytest.raises(ProgramError, match="declares a 100000x100000 float64 array"):
        Program.load(out, verify=False)


def test_nan_codebook_never_written_as_json_nan(tmp_path):
    _, prog = make_program()
    prog.layers[0].codebook[1] = float("nan")
    with pytest.raises(ProgramError, match="NaN or infinite"):
        prog.save(tmp_path / "prog")
    assert not (tmp_path / "prog").exists()


def test_act_bits_edit_caught_even_with_the_checksum_recomputed(tmp_path):
    out = _edited(tmp_path, lambda m: m["config"].__setitem__("act_bits", 8))
    with pytest.raises(ProgramError, match="does not hold its calibrated peak .* act_bits=8"):
        Program.load(out)


def test_colmask_image_from_the_pointers():
    # one n_pe-bit row per LNZD row of every layer, the layers one after the other; bit l
    # of row r: the PE has entries (padding included) in column r * n_pe + l
    cfg = ArchConfig(n_pe=3, col_filter=1)
    program = compile_network(random_network(4, [7, 5, 4], density=0.4), cfg)
    for pe in range(3):
        words = program.colmask(pe)
        assert len(words) == 3 + 2 == sum(-(-lp.n_in // 3) for lp in program.layers)
        assert len(words) <= cfg.mask_depth
        row = 0
        for k, lp in enumerate(program.layers):
            has = np.diff(program.layer_pointers(k, pe)) != 0
            for j in range(-(-lp.n_in // 3) * 3):
                bit = words[row + j // 3] >> (j % 3) & 1
                assert bit == (j < lp.n_in and bool(has[j]))
            row += -(-lp.n_in // 3)
