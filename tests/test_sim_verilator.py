"""The Verilator build cache under concurrency and damage (issue 19, item 6): real
Verilator builds of a tiny design into a fresh cache folder ($EIEGEN_CACHE)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from eiegen.sim.buildcache import STAMP, build_once, entry_lock, entry_valid

pytestmark = pytest.mark.verilator

# A counter: enough for Verilator to build a real model binary, in seconds.
TINY = """
module tiny(input wire clk, input wire rst, output reg [7:0] count);
  always @(posedge clk) count <= rst ? 8'd0 : count + 8'd1;
endmodule
"""

BUILD = textwrap.dedent(f"""
    import json, sys
    from eiegen.sim.verilator import build_verilog
    b = build_verilog({TINY!r}, "tiny", tag="tiny")
    print(json.dumps({{"dir": str(b.build_dir), "seconds": b.build_seconds}}))
""")


def _build_in(cache, n):
    """Start ``n`` processes that build the same design into ``cache`` at once."""
    env = dict(os.environ, EIEGEN_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", BUILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _binary(build_dir):
    stamp = json.loads((build_dir / STAMP).read_text())
    (name,) = [n for n in stamp["binaries"] if not n.endswith(".vvp")]
    return build_dir / name, stamp["binaries"][name]


def test_concurrent_cold_builds_share_one_build(tmp_path):
    first, second = _build_in(tmp_path / "cache", 2)
    assert first["dir"] == second["dir"]
    # exactly one process built; the other waited on the lock and used that build
    assert sorted(r["seconds"] > 0 for r in (first, second)) == [False, True]
    build_dir = tmp_path / "cache" / "verilator" / os.path.basename(first["dir"])
    assert entry_valid(build_dir)
    binary, recorded = _binary(build_dir)
    assert binary.stat().st_size == recorded["size"] > 0


def test_truncated_or_deleted_binary_is_rebuilt(tmp_path):
    (built,) = _build_in(tmp_path / "cache", 1)
    build_dir = tmp_path / "cache" / "verilator" / os.path.basename(built["dir"])
    binary, recorded = _binary(build_dir)
    with open(binary, "r+b") as f:
        f.truncate(recorded["size"] // 2)
    assert not entry_valid(build_dir)
    (again,) = _build_in(tmp_path / "cache", 1)
    assert again["seconds"] > 0 and entry_valid(build_dir)  # repaired, not trusted
    binary.unlink()
    (third,) = _build_in(tmp_path / "cache", 1)
    assert third["seconds"] > 0 and binary.stat().st_size == _binary(build_dir)[1]["size"]
    (cached,) = _build_in(tmp_path / "cache", 1)
    assert cached["seconds"] == 0.0  # and a sound entry is reused


def test_build_once_failed_make_leaves_no_stamp(tmp_path):
    entry = tmp_path / "e"

    def broken(d):
        (d / "half").write_text("x")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        build_once(entry, broken)
    assert not (entry / STAMP).exists() and not entry_valid(entry)

    def good(d):
        (d / "sim.vvp").write_text("#! vvp\n")

    build_once(entry, good, toplevel="t")
    assert entry_valid(entry)
    assert not (entry / "half").exists()  # the broken attempt was cleared first
    assert build_once(entry, good) == 0.0
    (entry / "sim.vvp").write_text("#! vvp\nchanged\n")  # same name, other content
    assert not entry_valid(entry)


def test_entry_without_binaries_is_never_valid(tmp_path):
    entry = tmp_path / "e"
    build_once(entry, lambda d: (d / "notes.txt").write_text("no binary"))
    assert not entry_valid(entry)  # nothing to verify: rebuilt next time


def test_entry_lock_excludes_another_process(tmp_path):
    entry = tmp_path / "e"
    code = textwrap.dedent(f"""
        import fcntl
        f = open({str(tmp_path / 'e.lock')!r}, "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("got")
        except BlockingIOError:
            print("busy")
    """)
    with entry_lock(entry):
        held = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (held.stdout.strip(), free.stdout.strip()) == ("busy", "got")
