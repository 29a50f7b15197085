"""The design in a 4-state simulator: Icarus Verilog runs the regression's small
configurations with every register starting at X (only the reset defines them) and
every control signal watched for X; outputs and cycle counts must equal Verilator's
(and so the golden model's and the cycle model's) word for word."""

import re

import pytest

from eiegen.sim.icarus import icarus_missing, without_power_on_values

pytestmark = [pytest.mark.icarus,
              pytest.mark.skipif(bool(icarus_missing()), reason=icarus_missing() or "-")]

# a share of the regression: small configs, several programs and inputs each (Icarus
# runs these in about a second per case)
ICARUS = {"n1": range(4), "n2": range(6), "n4q1": range(3)}


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(ICARUS))
def test_icarus_and_verilator_agree(name):
    from eiegen.sim.regression import run_verilator_cases

    seeds = ICARUS[name]
    icarus = run_verilator_cases(name, seeds, simulator="icarus")  # raises on an X
    verilator = run_verilator_cases(name, seeds)
    for i, v in zip(icarus, verilator):
        assert i.ok, i.message()
        assert v.ok, v.message()
        assert i.counters == v.counters, f"seed {i.case.seed}: cycle counts differ"
        assert len(i.outputs) == len(v.outputs) == len(i.case.inputs)
        for oi, ov in zip(i.outputs, v.outputs):
            assert (oi == ov).all(), f"seed {i.case.seed}: outputs differ"


# A loopback with one control register, `echo_en`, with or without a reset: the X check
# must report it exactly when it is not reset.
_ECHO = """\
module echo (
    input wire clk, input wire rst,
    input wire [31:0] i_stream__payload, input wire i_stream__valid,
    output wire i_stream__ready,
    output reg [31:0] o_stream__payload, output reg o_stream__valid,
    input wire o_stream__ready
);
    reg echo_en;
    assign i_stream__ready = 1'b1;
    always @(posedge clk) begin
        RESET
        if (i_stream__valid) echo_en <= 1'b1;
        o_stream__valid <= rst ? 1'b0 : i_stream__valid;
        o_stream__payload <= i_stream__payload + 32'd1;
    end
endmodule
"""


@pytest.mark.parametrize("reset", [True, False])
def test_x_check_reports_an_unreset_control_register(reset):
    from eiegen.sim.link import SimLink
    from eiegen.sim.verilator import build_verilog

    text = _ECHO.replace("RESET", "if (rst) echo_en <= 1'b0;" if reset else "")
    build = build_verilog(text, "echo", simulator="icarus", tag=f"echo-{reset}")
    assert build.simulator == "icarus"
    with SimLink(build, xcheck=True) as link:
        link.write([41, 7])
        assert link.read(2) == [42, 8]
    assert any(line.startswith("#") for line in link.x_report)  # it did watch
    if reset:
        assert link.x_violations == []
    else:
        assert link.x_violations == ["after reset: echo.echo_en = X"]


def test_emitted_verilog_has_no_x_and_no_hidden_power_on_values():
    """No X literal anywhere (an `initial` X would hide nothing but mislead), every
    `initial` block a memory's contents (the program or zeros), and in the Icarus text
    every register's declared power-on value gone but Yosys's time-0 triggers."""
    from eiegen.hw.verilog import generate
    from eiegen.sim.regression import CONFIGS

    text = generate(CONFIGS["n2"])
    assert not re.search(r"\d*'[bhdo]?[0-9a-fA-F_]*[xXzZ]", text)
    initials = re.findall(r"^\s*initial\b.*$", text, re.M)
    assert initials and all("meminit_" in line for line in initials), initials
    decl_init = re.compile(r"^\s*reg\b[^;]*=[^;]*;$", re.M)
    assert len(decl_init.findall(text)) > 100  # Amaranth declares every register's init
    left = decl_init.findall(without_power_on_values(text))
    assert left and all("verilog_backend" in line for line in left), left
