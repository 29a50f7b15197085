import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eiegen import __version__
from eiegen.arch import ArchConfig
from eiegen.cli import main
from eiegen.compiler.examples import example_network, random_network
from eiegen.compiler.program import Program
from eiegen.compiler.stats import program_stats


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_no_command_prints_help(capsys):
    rc, out, _ = run(capsys)
    assert rc == 2 and "usage: eiegen" in out and "compile" in out and "info" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"eiegen {__version__}"


def test_compile_example_and_info(capsys, tmp_path):
    out_dir = tmp_path / "prog"
    rc, out, err = run(capsys, "compile", "--example", "-o", out_dir)
    # the one stderr line: the default calibration is said out loud (issue 18)
    assert rc == 0 and err.startswith("eiegen compile: warning: no --calibration given")
    assert err.count("\n") == 1
    assert "eiegen program for 4 PEs" in out and f"wrote {out_dir}/" in out
    program = Program.load(out_dir)
    assert (program.n_in, program.n_out, len(program.layers)) == (256, 10, 3)
    assert program.layers[0].codebook == list(example_network()[0].codebook)
    rc, out, _ = run(capsys, "info", out_dir)
    assert rc == 0 and "fc0" in out and "256x128" in out
    rc, out, _ = run(capsys, "info", out_dir, "--json")
    assert rc == 0 and json.loads(out) == json.loads(json.dumps(program_stats(program)))


def test_compile_model_with_options(capsys, tmp_path):
    net = random_network(1, [40, 24, 6], density=0.3)
    net.save(tmp_path / "net.npz")
    ArchConfig(n_pe=2, rel_bits=3).save(tmp_path / "cfg.json")
    calib = np.random.default_rng(0).uniform(-3, 3, size=(10, 40))
    np.save(tmp_path / "calib.npy", calib)
    rc, out, err = run(capsys, "compile", tmp_path / "net.npz", "--config", tmp_path / "cfg.json",
                       "--pe", 8, "--queue-depth", 4, "--balance",
                       "--calibration", tmp_path / "calib.npy",
                       "-o", tmp_path / "prog", "--json", tmp_path / "stats.json")
    assert rc == 0 and err == ""
    program = Program.load(tmp_path / "prog")
    assert program.cfg == ArchConfig(n_pe=8, queue_depth=4, rel_bits=3)
    assert program.layers[0].row_order is not None  # --balance
    assert program.layers[0].fmt.calib_max_in == float(np.abs(calib).max())
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats.pop("calibration") == f"{tmp_path / 'calib.npy'} (10 inputs)"
    assert stats.pop("fidelity")["n_inputs"] == 10  # tests/test_commands_compile.py
    assert stats == json.loads(json.dumps(program_stats(program)))


@pytest.mark.parametrize("cfg, memory", [
    (ArchConfig(act_depth=8), "act_depth=8"),
    (ArchConfig(ptr_depth=100), "ptr_depth=100"),
    (ArchConfig(bias_depth=20), "bias_depth=20"),
    (ArchConfig(max_layers=2), "max_layers=2"),
    (ArchConfig(spmat_depth=100), "spmat_depth=100"),
])
def test_refused_network_writes_nothing(capsys, tmp_path, cfg, memory):
    cfg.save(tmp_path / "cfg.json")
    out_dir = tmp_path / "new" / "prog"
    rc, out, err = run(capsys, "compile", "--example", "--config", tmp_path / "cfg.json",
                       "-o", out_dir, "--json", tmp_path / "stats.json")
    assert rc == 2 and out == ""
    assert err.startswith("eiegen compile: error: the network does not fit the configuration")
    assert memory in err and "Traceback" not in err
    assert tree(tmp_path) == ["cfg.json"]  # no program, no parent folder, no statistics


def test_refused_network_keeps_the_previous_program(capsys, tmp_path):
    out_dir = tmp_path / "prog"
    assert run(capsys, "compile", "--example", "-o", out_dir)[0] == 0
    before = {p: (out_dir / p).read_bytes() for p in tree(out_dir) if (out_dir / p).is_file()}
    rc, _, err = run(capsys, "compile", "--example", "--pe", 1, "-o", out_dir)
    assert rc == 2 and "act_depth=64" in err
    assert {p: (out_dir / p).read_bytes() for p in tree(out_dir) if (out_dir / p).is_file()} == before


def test_user_errors(capsys, tmp_path):
    (tmp_path / "bad.json").write_text('{"n_pes": 4}')
    rc, _, err = run(capsys, "compile", "--example", "--config", tmp_path / "bad.json", "-o", tmp_path / "p")
    assert rc == 2 and "unknown config field(s) n_pes" in err
    rc, _, err = run(capsys, "compile", "--example", "--pe", 0, "-o", tmp_path / "p")
    assert rc == 2 and "n_pe (number of processing elements) must be in 1..256, got 0" in err
    rc, _, err = run(capsys, "compile", tmp_path / "missing.npz", "-o", tmp_path / "p")
    assert rc == 2 and "missing.npz does not exist" in err
    np.savez(tmp_path / "bad.npz", **{"layer0.weight": np.ones((3, 2)), "layer0.activation": np.array("gelu")})
    rc, _, err = run(capsys, "compile", tmp_path / "bad.npz", "-o", tmp_path / "p")
    assert rc == 2 and "activation 'gelu' is not supported" in err
    rc, _, err = run(capsys, "compile", "--example", "--calibration", tmp_path / "none.npy", "-o", tmp_path / "p")
    assert rc == 2 and "calibration inputs" in err and "none.npy does not exist" in err
    np.save(tmp_path / "calib.npy", np.zeros((4, 3)))
    rc, _, err = run(capsys, "compile", "--example", "--calibration", tmp_path / "calib.npy", "-o", tmp_path / "p")
    assert rc == 2 and "calib.npy must have shape (batch, 256), got (4, 3)" in err
    rc, _, err = run(capsys, "info", tmp_path)
    assert rc == 2 and "is not an eiegen program" in err
    assert not (tmp_path / "p").exists()


def test_refuses_to_overwrite_a_foreign_folder(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    rc, _, err = run(capsys, "compile", "--example", "-o", tmp_path)
    assert rc == 2 and "did not create" in err
    assert tree(tmp_path) == ["notes.txt"]


def test_model_and_example_are_exclusive(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["compile", str(tmp_path / "net.npz"), "--example"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_subprocess(tmp_path):
    out_dir = tmp_path / "prog"
    r = subprocess.run([sys.executable, "-m", "eiegen.cli", "compile", "--example", "-o", str(out_dir)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    Program.load(out_dir)
    script = Path(sys.executable).parent / "eiegen"
    info = [str(script)] if script.exists() else [sys.executable, "-m", "eiegen.cli"]
    r = subprocess.run(info + ["info", str(out_dir), "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["memories"]["layers"]["used"] == 3
    r = subprocess.run([sys.executable, "-m", "eiegen.cli", "compile", "--example", "--pe", "1",
                        "-o", str(tmp_path / "refused")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "act_depth" in r.stderr
    assert not (tmp_path / "refused").exists()


# --- never lose the user's data (issue 19, items 1-4) ----------------------------------

def _user_files(folder: Path) -> dict:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    files = {folder / "notes.txt": "keep", folder / "src" / "a.py": "print()"}
    for p, text in files.items():
        p.write_text(text)
    return files


def _untouched(files: dict) -> bool:
    return all(p.exists() and p.read_text() == text for p, text in files.items())


@pytest.mark.parametrize("argv", [
    ["build", "--board", "icebreaker", "--no-tools", "-o", "."],
    ["compile", "--example", "-o", "."],
    ["demo", "--no-train", "-o", "."],
])
def test_writers_refuse_the_current_directory(capsys, tmp_path, monkeypatch, argv):
    files = _user_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and "current directory" in err and len(err.strip().splitlines()) == 1
    assert _untouched(files) and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "src"]


@pytest.mark.parametrize("argv", [
    ["build", "--board", "icebreaker", "--no-tools", "-o"],
    ["compile", "--example", "-o"],
])
def test_writers_refuse_a_folder_they_did_not_write(capsys, tmp_path, argv):
    out_dir = tmp_path / "x"
    files = _user_files(out_dir)
    rc, _, err = run(capsys, *argv, out_dir)
    assert rc == 2 and "did not create" in err
    assert _untouched(files)


def test_build_replaces_its_own_output_but_not_a_program_or_added_files(capsys, tmp_path):
    prog = tmp_path / "prog"
    assert run(capsys, "compile", "--example", "--pe", "4", "-o", prog)[0] == 0
    before = {p: p.read_bytes() for p in prog.rglob("*") if p.is_file()}
    rc, _, err = run(capsys, "build", "--board", "icebreaker", "--no-tools", "--program", prog,
                     "-o", prog)
    assert rc == 2 and "also an input" in err
    assert {p: p.read_bytes() for p in prog.rglob("*") if p.is_file()} == before
    out_dir = tmp_path / "b"
    for _ in range(2):  # a build folder eiegen wrote is replaced
        assert run(capsys, "build", "--board", "icebreaker", "--no-tools", "-o", out_dir)[0] == 0
    (out_dir / "thesis.tex").write_text("mine")
    rc, _, err = run(capsys, "build", "--board", "icebreaker", "--no-tools", "-o", out_dir)
    assert rc == 2 and "thesis.tex" in err and (out_dir / "thesis.tex").read_text() == "mine"


def test_compile_refuses_a_program_folder_holding_the_model(capsys, tmp_path, monkeypatch):
    prog = tmp_path / "prog"
    assert run(capsys, "compile", "--example", "-o", prog)[0] == 0
    model = prog / "model.npz"
    example_network().save(model)
    data = model.read_bytes()
    rc, _, err = run(capsys, "compile", model, "-o", prog)
    assert rc == 2 and "model.npz" in err and model.read_bytes() == data
    monkeypatch.chdir(prog)
    rc, _, err = run(capsys, "compile", "model.npz", "-o", ".")
    assert rc == 2 and model.read_bytes() == data and (prog / "manifest.json").exists()


def test_compile_replaces_a_program_it_wrote(capsys, tmp_path):
    prog = tmp_path / "prog"
    assert run(capsys, "compile", "--example", "-o", prog)[0] == 0
    assert run(capsys, "compile", "--example", "--pe", "4", "-o", prog)[0] == 0
    assert Program.load(prog).cfg.n_pe == 4


def test_compress_refuses_to_overwrite_its_input(capsys, tmp_path):
    model = tmp_path / "m.npz"
    example_network().save(model)
    data = model.read_bytes()
    for extra in (["-o", model], ["-o", tmp_path / "out.npz", "--json", model]):
        rc, _, err = run(capsys, "compress", model, "--sparsity", "0.5", *extra)
        assert rc == 2 and "also an input" in err and model.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


@pytest.mark.parametrize("clock", ["nan", "inf", "0", "-1", "1e12"])
def test_build_refuses_impossible_clocks(capsys, tmp_path, clock):
    rc, _, err = run(capsys, "build", "--board", "icebreaker", "--no-tools", "--clock", clock,
                     "-o", tmp_path / "b")
    assert rc == 2 and "--clock" in err and not (tmp_path / "b").exists()


# ---- one line for every failure, a bug kept visible (issue 19, item 10) ----

def test_environment_errors_are_one_line(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    rc, _, err = run(capsys, "compile", "--example", "-o", tmp_path / "afile" / "p")
    assert rc == 2 and err.count("\n") <= 2 and "Traceback" not in err
    (tmp_path / "cfg.json").write_bytes(b'{"n_pe": \xff}')
    rc, _, err = run(capsys, "verilog", "--config", tmp_path / "cfg.json", "-o", tmp_path / "e.v")
    assert rc == 2 and "error:" in err and err.count("\n") == 1
    rc, _, err = run(capsys, "verilog", "--config", tmp_path, "-o", tmp_path / "x" / "e.v")
    assert rc == 2 and err.count("\n") == 1


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "prog", "--port", "loop://", "--timeout", "nan"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert "--timeout: expected a finite number above 0 up to 3600 (seconds), got 'nan'" in err


@pytest.mark.parametrize("argv", [
    ["run", "p", "--port", "loop://", "--clock", "0"], ["run", "p", "--port", "x", "--baud", "0"],
    ["run", "p", "--port", "x", "--clock", "inf"], ["run", "p", "--port", "x", "--limit", "-1"],
    ["simulate", "p", "--limit", "0"], ["simulate", "p", "--clock-mhz", "nan"],
    ["demo", "--limit", "0"], ["demo", "--clock-mhz", "inf"],
    ["asic", "--layers", "a,b"], ["asic", "--density", "nan"], ["asic", "--inputs", "0"],
    ["compress", "m.npz", "--sparsity", "nan"], ["compress", "m.npz", "--lr", "-1"],
    ["compile", "m.npz", "--sqnr-warn", "nan"],
])
def test_numeric_options_refused_when_parsed(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def _boom(exc):
    def func(args):
        raise exc
    return func


def test_internal_errors_say_bug_and_debug_shows_traceback(capsys, monkeypatch):
    import eiegen.commands.info as info

    monkeypatch.setattr(info, "run", _boom(ZeroDivisionError("division by zero")))
    monkeypatch.delenv("EIEGEN_DEBUG", raising=False)
    rc, _, err = run(capsys, "info", "p")
    assert rc == 3 and "Traceback" not in err
    assert "internal error: ZeroDivisionError: division by zero" in err
    assert "this is a bug in eiegen; run with EIEGEN_DEBUG=1 for the traceback" in err
    monkeypatch.setenv("EIEGEN_DEBUG", "1")
    rc, _, err = run(capsys, "info", "p")
    assert rc == 3 and "Traceback (most recent call last)" in err


def test_interrupt_and_memory_and_zip_errors(capsys, monkeypatch):
    import zipfile

    import eiegen.commands.info as info

    monkeypatch.setattr(info, "run", _boom(KeyboardInterrupt()))
    assert run(capsys, "info", "p")[::2] == (130, "eiegen info: interrupted\n")
    monkeypatch.setattr(info, "run", _boom(MemoryError()))
    rc, _, err = run(capsys, "info", "p")
    assert rc == 2 and err.startswith("eiegen info: error: out of memory")
    monkeypatch.setattr(info, "run", _boom(zipfile.BadZipFile("Bad CRC-32 for file 'x.npy'")))
    rc, _, err = run(capsys, "info", "p")
    assert rc == 2 and "corrupt .npz/zip archive: Bad CRC-32" in err


def test_sigint_in_a_real_process_exits_130(tmp_path):
    import signal
    import time

    # SIGINT as in a terminal: a runner started in the background without job control
    # (`nohup ... &` in a script) has it ignored, and a child inherits that
    proc = subprocess.Popen([sys.executable, "-c", "import signal, sys; signal.signal("
                             "signal.SIGINT, signal.default_int_handler); "
                             "from eiegen.cli import main; sys.exit(main())",
                             "demo", "-o", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # inside the training
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "eiegen demo: interrupted"
    assert not (tmp_path / "d").exists()


def test_demo_refuses_a_config_the_mlp_does_not_fit_at_once(capsys, tmp_path):
    import time
    start = time.monotonic()
    rc, _, err = run(capsys, "demo", "--pe", 4, "-o", tmp_path / "d")
    assert rc == 2 and "digits MLP does not fit 4 PEs" in err and "act_depth=64" in err
    assert time.monotonic() - start < 5 and not (tmp_path / "d").exists()
