"""The demo's plots (eiegen/plots.py), from a cycle-model report (no RTL)."""

import sys
from types import SimpleNamespace

import matplotlib
import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.compiler.network import Layer, Network
from eiegen.plots import plot_demo
from eiegen.sim.cycle_model import estimate_batch
from eiegen.sim.golden import run_golden
from eiegen.sim.report import simulation_report


def test_plots_written_for_sequential_names_at_16_pes(tmp_path):
    # an nn.Sequential import names its layers 0/2/4; the plots say layer 0/1/2
    base = random_network(2, [48, 40, 24, 10], density=0.3)
    net = Network(tuple(Layer(la.weight, la.bias, la.activation, str(2 * k), la.codebook,
                              la.indices) for k, la in enumerate(base)))
    x = np.random.default_rng(2).uniform(0, 1, (4, 48))
    program = compile_network(net, ArchConfig(n_pe=16), calibration=x)
    xi = program.quantize_input(x)
    model = estimate_batch(program, xi)
    counters = [SimpleNamespace(cycles=e.cycles, busy=e.busy, starved=e.starved,
                                stalled=e.stalled) for e in model]
    rep = simulation_report(program, xi, run_golden(program, xi)[-1], counters, model=model)
    backend = matplotlib.get_backend()
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    paths = plot_demo(net, program, rep, tmp_path)
    # Figure objects, no pyplot: the caller's backend (an open GUI, a notebook) stays
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded
    assert [p.name for p in paths] == ["weights.png", "sparsity.png", "per_pe.png",
                                       "layers.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
