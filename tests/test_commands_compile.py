"""`eiegen compile`: the fidelity report (table, JSON, warnings) and the default
calibration said out loud. The program and stats themselves: tests/test_cli.py."""

import json

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.cli import main
from eiegen.compiler.examples import random_network
from eiegen.compiler.program import Program
from eiegen.sim.fidelity import measure_fidelity


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def saved(tmp_path, cfg: ArchConfig):
    net = random_network(3, [30, 20, 6], density=0.4)
    net.save(tmp_path / "net.npz")
    cfg.save(tmp_path / "cfg.json")
    calib = np.random.default_rng(1).uniform(-2, 2, size=(40, 30))
    np.save(tmp_path / "calib.npy", calib)
    return net, calib


def test_fidelity_table_and_json_are_measured_on_the_calibration(capsys, tmp_path):
    net, calib = saved(tmp_path, ArchConfig(n_pe=2))
    args = ["compile", tmp_path / "net.npz", "--config", tmp_path / "cfg.json", "--balance",
            "--calibration", tmp_path / "calib.npy", "-o", tmp_path / "prog"]
    rc, out, err = run(capsys, *args, "--json", tmp_path / "a.json")
    assert rc == 0 and err == ""  # calibrated, nothing clips, SQNR well above 40 dB
    program = Program.load(tmp_path / "prog")
    expect = measure_fidelity(program, calib, net)
    stats = json.loads((tmp_path / "a.json").read_text())
    assert stats["fidelity"] == json.loads(json.dumps(expect.to_dict()))
    assert stats["fidelity"]["warnings"] == [] and stats["fidelity"]["sqnr_warn_db"] == 40.0
    assert expect.table() in out
    # the same inputs give byte-identical JSON
    assert run(capsys, *args, "--json", tmp_path / "b.json")[0] == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_low_sqnr_warns_on_stderr_and_the_threshold_is_a_flag(capsys, tmp_path):
    saved(tmp_path, ArchConfig(n_pe=2, act_bits=6, weight_bits=5, acc_bits=24))
    args = ["compile", tmp_path / "net.npz", "--config", tmp_path / "cfg.json",
            "--calibration", tmp_path / "calib.npy", "-o", tmp_path / "prog",
            "--json", tmp_path / "s.json"]
    rc, _, err = run(capsys, *args)
    stats = json.loads((tmp_path / "s.json").read_text())
    lines = err.splitlines()
    assert rc == 0 and lines and len(lines) == len(stats["fidelity"]["warnings"])
    assert [f"eiegen compile: warning: {w}" for w in stats["fidelity"]["warnings"]] == lines
    low = [la for la in stats["fidelity"]["layers"] if la["sqnr_db"] < 40]
    assert low and all(any(f"layer {la['name']}: SQNR" in line for line in lines) for la in low)
    floor = min(la["sqnr_db"] for la in stats["fidelity"]["layers"])
    rc, _, err = run(capsys, *args, "--sqnr-warn", floor - 1)
    assert rc == 0 and "SQNR" not in err
    assert json.loads((tmp_path / "s.json").read_text())["fidelity"]["sqnr_warn_db"] == floor - 1


def test_default_calibration_is_said_and_recorded(capsys, tmp_path):
    saved(tmp_path, ArchConfig(n_pe=2))
    rc, _, err = run(capsys, "compile", tmp_path / "net.npz", "--config", tmp_path / "cfg.json",
                     "-o", tmp_path / "prog", "--json", tmp_path / "s.json")
    assert rc == 0
    assert "no --calibration given: assuming inputs uniform in [-1, 1] (256 samples)" in err
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["calibration"] == "default uniform[-1,1]"
    assert stats["fidelity"]["n_inputs"] == 256


def test_set_changes_any_config_field_after_the_others(capsys, tmp_path):
    ArchConfig(n_pe=4).save(tmp_path / "cfg.json")
    rc, _, err = run(capsys, "compile", "--example", "--config", tmp_path / "cfg.json",
                     "--queue-depth", 2, "--set", "queue_depth=4", "--set", "col_filter=1",
                     "--set", " broadcast_width = 3", "-o", tmp_path / "prog")
    assert rc == 0, err
    cfg = Program.load(tmp_path / "prog").cfg
    assert cfg == ArchConfig(n_pe=4, queue_depth=4, col_filter=1, broadcast_width=3)
    # the same overrides reach every command that takes the config options
    rc, out, _ = run(capsys, "config", "--pe", 8, "--set", "bias_reset=1",
                     "--set", "wb_overlap=1")
    assert rc == 0
    assert ArchConfig.from_dict(json.loads(out)) == ArchConfig(n_pe=8, bias_reset=1,
                                                                wb_overlap=1)


@pytest.mark.parametrize("setting, fragments", [
    ("colfilter=1", ["unknown config field 'colfilter'", "known fields:", "col_filter",
                     "wb_overlap"]),
    ("col_filter=2", ["col_filter: expected an integer from 0 up to 1 (", "got '2'"]),
    ("broadcast_width=two", ["broadcast_width: expected an integer from 1 up to 4",
                             "got 'two'"]),
    ("col_filter", ["expected FIELD=VALUE", "got 'col_filter'"]),
])
def test_set_refuses_an_unknown_field_or_a_bad_value_in_one_line(capsys, setting,
                                                                 fragments):
    with pytest.raises(SystemExit) as e:
        main(["config", "--set", "col_filter=1", "--set", setting])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert "argument --set" in err and all(f in err for f in fragments), err


def test_set_values_that_do_not_go_together_are_refused_in_one_line(capsys):
    rc, out, err = run(capsys, "config", "--set", "wb_overlap=1")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "wb_overlap" in err and "bias_reset=1" in err
    rc, _, err = run(capsys, "config", "--queue-depth", 2, "--set", "broadcast_width=3")
    assert rc == 2 and "broadcast_width (3) must be at most queue_depth (2)" in err
