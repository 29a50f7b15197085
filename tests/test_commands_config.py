import json

import pytest

from eiegen.arch import ArchConfig
from eiegen.boards.catalog import BOARDS
from eiegen.boards.fit import check_fit
from eiegen.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_default_config(capsys):
    rc, out, err = run(capsys, "config")
    assert rc == 0 and err == ""
    assert ArchConfig.from_dict(json.loads(out)) == ArchConfig()


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_config_round_trips_and_fits(capsys, tmp_path, name):
    rc, out, _ = run(capsys, "config", "--board", name)
    assert rc == 0
    (tmp_path / "cfg.json").write_text(out)
    cfg = ArchConfig.load(tmp_path / "cfg.json")  # what --config reads
    assert cfg == BOARDS[name].default_config()
    check_fit(BOARDS[name], cfg)  # the printed config is the one that fits the board


def test_icebreaker_config_is_complete(capsys):
    """docs/boards.md once listed only some fields; the rest defaulted and the copy needed
    33 block RAMs of 30. Every field is printed, so a copy is the config itself."""
    _, out, _ = run(capsys, "config", "--board", "icebreaker")
    printed = json.loads(out)
    assert set(printed) == set(ArchConfig().to_dict())
    assert printed["ptr_depth"] == 512 and printed["bias_depth"] == 128


def test_overrides_and_errors(capsys):
    rc, out, err = run(capsys, "config", "--board", "icebreaker", "--pe", "2")
    assert rc == 0 and json.loads(out)["n_pe"] == 2
    assert err == ("eiegen config: note: changed n_pe; `eiegen build --board icebreaker` "
                   "checks the fit\n")
    rc, out, err = run(capsys, "config", "--pe", "0")
    assert rc == 2 and out == "" and err.startswith("eiegen config: error: ")
    assert "n_pe" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["config", "--board", "nope"])
    assert e.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_docs_show_the_printed_icebreaker_config(capsys):
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "boards.md").read_text()
    block = doc.split("eiegen config --board icebreaker > cfg.json\n```\n```json\n")[1]
    _, out, _ = run(capsys, "config", "--board", "icebreaker")
    assert json.loads(block.split("```")[0]) == json.loads(out)


def test_config_file_normalised_and_exclusive_with_board(capsys, tmp_path):
    (tmp_path / "part.json").write_text('{"n_pe": 8}')
    rc, out, _ = run(capsys, "config", "--config", str(tmp_path / "part.json"),
                     "--queue-depth", "4")
    assert rc == 0 and ArchConfig.from_dict(json.loads(out)) == ArchConfig(n_pe=8,
                                                                            queue_depth=4)
    rc, _, err = run(capsys, "config", "--board", "ulx3s", "--config",
                     str(tmp_path / "part.json"))
    assert rc == 2 and err == "eiegen config: error: give --board or --config, not both\n"
