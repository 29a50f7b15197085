"""The Python API (eiegen/api.py): docs/python-api.md runs as a doctest, and the facade's
own checks."""

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eiegen

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


@pytest.mark.verilator
def test_python_api_doc_runs():
    pytest.importorskip("torch")
    result = doctest.testfile(str(DOC), module_relative=False, verbose=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 30
    assert result.failed == 0


def test_import_eiegen_stays_light():
    # the API loads on first use: `import eiegen` pulls in neither numpy nor the compiler
    code = ("import sys, eiegen; assert 'numpy' not in sys.modules, 'numpy'; "
            "assert 'eiegen.api' not in sys.modules; eiegen.predict; "
            "assert 'eiegen.api' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        eiegen.nope  # noqa: B018
    assert {"compile", "predict", "simulate", "build"} <= set(dir(eiegen))


def test_compile_without_calibration_warns():
    from eiegen.compiler.examples import random_network

    net = random_network(0, [8, 4], density=0.5)
    with pytest.warns(eiegen.FidelityWarning, match="no calibration given"):
        prog = eiegen.compile(net, {"n_pe": 2})
    assert prog.cfg.n_pe == 2


def test_arguments_are_checked():
    from eiegen.compiler.examples import random_network

    net = random_network(0, [8, 4], density=0.5)
    x = np.zeros((3, 8))
    with pytest.raises(ValueError, match="config or board, not both"):
        eiegen.compile(net, eiegen.ArchConfig(), board="icebreaker", calibration=x)
    with pytest.raises(TypeError, match="config must be an ArchConfig"):
        eiegen.compile(net, 4, calibration=x)
    prog = eiegen.compile(net, calibration=x + 0.5)
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, 8\)"):
        eiegen.predict(prog, np.zeros((2, 7)))
    with pytest.raises(ValueError, match="finite"):
        eiegen.predict(prog, np.full(8, np.nan))
    assert eiegen.predict(prog, np.ones(8)).shape == (1, 4)  # one vector is a batch of one
    with pytest.raises(ValueError, match="give data"):
        eiegen.compress(net, sparsity=0.5, epochs=1)
    with pytest.raises(ValueError, match="data must be"):
        eiegen.compress(net, data=(x,))
