"""eiegen explore: sweep parsing, exact reuse of one compile per encoding group, the
journal (resume, torn lines), byte-identical results, and the same sweep on a real
`dask scheduler` with two `dask worker` processes."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.cli import main
from eiegen.compiler.compile import compile_network
from eiegen.digits import digits_data, load_shipped
from eiegen.explore import (Sweep, SweepError, Workload, _plan, compile_group,
                            encoding_fields, evaluate_chunk, parse_sweep)

SWEEP = ["n_pe=8,16", "queue_depth=1,4", "act_depth=32,64", "merge_padding=0,1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("explore-in")
    x_tr, _, x_te, y_te = digits_data()
    np.save(d / "x.npy", x_te[:20])
    np.save(d / "y.npy", y_te[:20])
    np.save(d / "cal.npy", x_tr[:100])
    load_shipped("compressed").save(d / "model.npz")
    return d


def argv(files, out, *extra):
    return ["explore", str(files / "model.npz"), "--inputs", str(files / "x.npy"),
            "--labels", str(files / "y.npy"), "--calibration", str(files / "cal.npy"),
            "--sweep", *SWEEP, "-o", str(out), *extra]


@pytest.fixture(scope="module")
def local_run(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("explore-local") / "out"
    assert main(argv(files, out, "--workers", "2")) == 0
    return out


def test_parse_sweep():
    assert parse_sweep(["n_pe=4,8,4", "queue_depth=2"]) == {"n_pe": (4, 8), "queue_depth": (2,)}
    for bad, match in ((["bogus=1"], "unknown config field"), (["n_pe=4,x"], "not an integer"),
                       (["n_pe=0"], r"1\.\.256"), (["n_pe=4", "n_pe=8"], "twice"),
                       (["n_pe"], "FIELD=V1"), ([], "empty")):
        with pytest.raises(SweepError, match=match):
            parse_sweep(bad)


def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, capsys):
    out = tmp_path / "out"
    a = argv(files, out)
    a[a.index("n_pe=8,16")] = "n_pe=8,bogus"
    assert main(a) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an integer" in err
    assert not out.exists()
    # a folder eiegen did not write is never taken over
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    assert main(argv(files, out)) == 2
    assert (out / "thesis.tex").read_text() == "mine"
    assert "eiegen did not create" in capsys.readouterr().err


def test_one_compile_per_group_is_exact(files):
    # the group's program (compiled with the roomiest memories) equals a compile for the
    # point itself, and the point's cycles and energy equal the per-input models'
    from eiegen.asic.energy import energy_report
    from eiegen.sim.cycle_model import estimate_batch

    net = load_shipped("compressed")
    x, cal = np.load(files / "x.npy"), np.load(files / "cal.npy")
    work = Workload(net=net, inputs=x, calibration=cal)
    points = Sweep(ArchConfig().to_dict(), parse_sweep(SWEEP)).points()
    groups, invalid = _plan(points, balance=False)
    assert len(groups) == 2 and not invalid  # n_pe alone changes the encoding here
    assert "queue_depth" not in encoding_fields(False) and "queue_depth" in encoding_fields(True)
    enc, chunks = next(iter(groups.items()))
    group = compile_group(work, json.loads(enc))
    for mp, idx in chunks.items():
        recs = evaluate_chunk(work, group, [points[i] for i in idx])
        for i, rec in zip(idx, recs):
            cfg = ArchConfig(**points[i])
            if cfg.act_depth < 38:  # 300 rows on 8 PEs need 38
                assert rec["status"] == "refused" and "raise act_depth to 38" in rec["reason"]
                continue
            own = compile_network(net, cfg, calibration=cal)
            assert own.images.keys() == group["program"].images.keys()
            assert all(np.array_equal(own.images[k], group["program"].images[k])
                       for k in own.images)
            xi = own.quantize_input(x)
            cycles = [e.cycles for e in estimate_batch(own, xi)]
            assert rec["cycles"] == np.mean(cycles)
            assert (rec["cycles_min"], rec["cycles_max"]) == (min(cycles), max(cycles))
            energy = np.mean([inf["total"] for inf in energy_report(own, xi)["inferences"]])
            assert rec["energy_nj"] == pytest.approx(energy * 1e-3, rel=1e-12)


def test_results_resume_and_determinism(files, local_run, tmp_path):
    res = json.loads((local_run / "results.json").read_text())
    assert res["counts"] == {"ok": 12, "refused": 4, "invalid": 0}
    assert [p["point"] for p in res["points"]] == list(range(16))
    assert res["pareto"] and all(res["points"][i]["pareto"] for i in res["pareto"])
    csv = (local_run / "results.csv").read_text()
    assert csv.splitlines()[0].startswith("point,n_pe,queue_depth,act_depth,merge_padding,")
    assert (local_run / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    # an interrupted sweep: keep the header and 5 points, tear the next line
    out = tmp_path / "out"
    shutil.copytree(local_run, out)
    lines = (out / "journal.jsonl").read_text().splitlines()
    (out / "journal.jsonl").write_text("\n".join(lines[:6]) + "\n" + lines[6][:40])
    (out / "results.csv").unlink()
    assert main(argv(files, out, "--workers", "1")) == 0
    for f in ("results.csv", "results.json", "pareto.png"):
        assert (out / f).read_bytes() == (local_run / f).read_bytes(), f
    journal = (out / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 17 and all(json.loads(line) for line in journal)


def _dask(*args, log):
    return subprocess.Popen([str(Path(sys.executable).parent / "dask"), *args],
                            stdout=log, stderr=subprocess.STDOUT)


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_real_scheduler_and_two_workers(files, local_run, tmp_path):
    """`dask scheduler` and two `dask worker` processes on free ports (port 0: the
    scheduler picks one and writes it to its scheduler file); the same sweep through
    --scheduler gives the local run's bytes."""
    sched_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "dask.log", "w")
    procs = []
    try:
        procs.append(_dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                           "--no-dashboard", "--scheduler-file", str(sched_file), log=log))
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, (tmp_path / "dask.log").read_text()
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(_dask("worker", address, "--nthreads", "1", "--no-dashboard",
                               "--host", "127.0.0.1", log=log))
        from distributed import Client
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
            assert len(client.scheduler_info()["workers"]) == 2
        out = tmp_path / "out"
        assert main(argv(files, out, "--scheduler", address)) == 0
        for f in ("results.csv", "results.json", "pareto.png"):
            assert (out / f).read_bytes() == (local_run / f).read_bytes(), f
    finally:
        _stop(procs[1:])
        _stop(procs[:1])
        log.close()
    assert all(p.poll() is not None for p in procs)


def test_board_fit_per_point(files):
    # the iCEBreaker's 30 block RAMs and 8 DSPs: 16 PEs cannot fit, 4 may
    work = Workload(net=load_shipped("compressed"), inputs=np.load(files / "x.npy")[:5],
                    calibration=np.load(files / "cal.npy"), board="icebreaker")
    points = Sweep(ArchConfig().to_dict(), {"n_pe": (4, 16), "act_depth": (128,)}).points()
    recs = [evaluate_chunk(work, compile_group(work, p), [p])[0] for p in points]
    assert all(r["status"] == "ok" for r in recs)
    assert recs[1]["board_fits"] is False and "DSP" in recs[1]["board_reason"]
    assert recs[1]["board_dsp"] == 16 and recs[0]["board_bram"] > 0
