"""eiegen.safeio: outputs never delete or truncate what eiegen did not write."""

import json
import os

import pytest

from eiegen.safeio import (MARKER, OutputError, atomic_write_bytes, atomic_write_text,
                           check_folder_output, check_output, file_digests,
                           folder_owned_by_eiegen, staged_folder)


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_output_equal_to_input_is_refused(tmp_path):
    src = tmp_path / "model.npz"
    src.write_bytes(b"model")
    with pytest.raises(OutputError, match="also an input"):
        check_output(src, [src])
    with pytest.raises(OutputError, match="also an input"):
        check_output(tmp_path / "." / "model.npz", [src])  # the same file, spelled otherwise
    check_output(tmp_path / "other.npz", [src, None])  # None inputs are skipped


def test_folder_containing_an_input_or_the_cwd_is_refused(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    model = tmp_path / "out" / "model.npz"
    model.write_bytes(b"m")
    with pytest.raises(OutputError, match="contains the input"):
        check_output(tmp_path / "out", [model], folder=True)
    monkeypatch.chdir(tmp_path / "out")
    with pytest.raises(OutputError, match="current directory"):
        check_output(".", folder=True)
    with pytest.raises(OutputError, match="current directory"):
        check_output(tmp_path, folder=True)  # an ancestor of the cwd


def test_file_output_inside_an_input_folder_is_refused(tmp_path):
    prog = tmp_path / "prog"
    prog.mkdir()
    with pytest.raises(OutputError, match="inside"):
        check_output(prog / "stats.json", [prog])


def test_atomic_write_replaces_whole_files(tmp_path):
    path = tmp_path / "a" / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_bytes(path, b"two")
    assert path.read_text() == "two"
    assert listing(tmp_path) == ["a", "a/f.txt"]  # no temporary left behind
    with pytest.raises(OutputError, match="folder"):
        atomic_write_text(tmp_path / "a", "x")


def test_staged_folder_refuses_a_folder_eiegen_did_not_write(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "thesis.tex").write_text("keep")
    with pytest.raises(OutputError, match="did not create"):
        with staged_folder(out, kind="build") as tmp:
            (tmp / "report.json").write_text("{}")
    assert listing(out) == ["thesis.tex"] and (out / "thesis.tex").read_text() == "keep"
    assert listing(tmp_path) == ["x", "x/thesis.tex"]


def test_staged_folder_replaces_its_own_output_only_when_unchanged(tmp_path):
    out = tmp_path / "o"
    with staged_folder(out, kind="build") as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("2")
    marker = json.loads((out / MARKER).read_text())
    assert marker == {"kind": "build", "files": ["a.txt", "sub/b.txt"]}
    with staged_folder(out, kind="build") as tmp:
        (tmp / "c.txt").write_text("3")
    assert listing(out) == [MARKER, "c.txt"]
    (out / "notes.txt").write_text("mine")
    ok, why = folder_owned_by_eiegen(out, "build")
    assert not ok and "notes.txt" in why
    with pytest.raises(OutputError, match="notes.txt"):
        check_folder_output(out, "build")
    os.unlink(out / "notes.txt")
    with pytest.raises(OutputError, match="not a demo output"):
        check_folder_output(out, "demo")


def test_an_interrupted_write_leaves_the_old_folder(tmp_path):
    out = tmp_path / "o"
    with staged_folder(out, kind="k") as tmp:
        (tmp / "old.txt").write_text("old")
    for exc in (RuntimeError("disk full"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with staged_folder(out, kind="k") as tmp:
                (tmp / "new.txt").write_text("half")
                raise exc
        assert listing(out) == [MARKER, "old.txt"]
        assert listing(tmp_path) == ["o", f"o/{MARKER}", "o/old.txt"]


def test_legacy_outputs_are_recognised_by_their_listing(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    (out / "images.npz").write_bytes(b"")
    legacy = lambda folder: ["manifest.json", "images.npz"]  # noqa: E731
    assert folder_owned_by_eiegen(out, "program", legacy) == (True, "")
    assert not folder_owned_by_eiegen(out, "program")[0]
    (out / "model.npz").write_bytes(b"")
    assert not folder_owned_by_eiegen(out, "program", legacy)[0]


def test_write_json_is_the_one_report_format(tmp_path):
    from eiegen.safeio import json_text, write_json

    path = write_json(tmp_path / "r.json", {"b": 1, "a": [1, 2]})
    assert path.read_text() == json_text({"a": [1, 2], "b": 1}) == \
        '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left


def test_file_digests_see_every_created_changed_and_removed_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.bin").write_bytes(b"b")
    os.symlink(tmp_path / "a.txt", tmp_path / "link")
    before = file_digests(tmp_path)
    assert sorted(before) == ["a.txt", os.path.join("sub", "b.bin")]  # links not followed
    assert before == file_digests(tmp_path)
    (tmp_path / "sub" / "b.bin").write_bytes(b"B")
    changed = file_digests(tmp_path)
    assert changed.keys() == before.keys() and changed != before
    (tmp_path / "a.txt").unlink()
    (tmp_path / "c").write_text("")
    assert sorted(file_digests(tmp_path)) == ["c", os.path.join("sub", "b.bin")]
