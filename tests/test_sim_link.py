"""The socket link to a running cocotb simulation, word by word and through the
simulation shell's bulk word source, on a tiny echo design."""

import pytest

from eiegen.sim.link import LinkTimeout, SimLink
from eiegen.sim.shell import BULK_DEPTH, SHELL, build_extra_args, shell_verilog
from eiegen.sim.verilator import build_verilog, cache_dir

ECHO = """
module echo (
    input wire clk, input wire rst,
    input wire [31:0] host_in__payload, input wire host_in__valid, output wire host_in__ready,
    output wire [31:0] host_out__payload, output wire host_out__valid, input wire host_out__ready
);
    reg [31:0] data;
    reg full;
    assign host_in__ready = ~full | host_out__ready;
    assign host_out__valid = full;
    assign host_out__payload = data;
    always @(posedge clk) begin
        if (rst) full <= 1'b0;
        else if (host_in__valid & host_in__ready) begin
            data <= host_in__payload + 32'd1;
            full <= 1'b1;
        end else if (host_out__ready) full <= 1'b0;
    end
endmodule
"""


@pytest.fixture(scope="module")
def echo_build():
    return build_verilog(ECHO + shell_verilog("echo"), SHELL, tag="echo-shell",
                         extra_args=build_extra_args(cache_dir()))


def test_shell_rejects_bad_depth():
    with pytest.raises(ValueError, match="power of two"):
        shell_verilog("eie", 1000)


@pytest.mark.verilator
def test_word_by_word_and_bulk(echo_build):
    with SimLink(echo_build, in_port="host_in", out_port="host_out") as link:
        start = link.cycles()
        link.write([5, 6, 7])  # short: word by word
        assert link.read(3) == [6, 7, 8]
        assert link.cycles() >= start + 3
        words = list(range(BULK_DEPTH + 1000))  # long: two bulk chunks
        before = link.cycles()
        link.write(words)
        # one word per cycle: the bulk source does not wait on Python
        assert link.cycles() - before < len(words) + 100
        assert link.read(len(words)) == [w + 1 for w in words]
        link.write([0xFFFFFFFF])
        assert link.read(1) == [0]
        with pytest.raises(LinkTimeout):
            link.read(1, timeout_cycles=50)
