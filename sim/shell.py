"""The simulation shell: a thin Verilog top level around the accelerator for Verilator.

The host protocol is a stream of 32-bit words. Driving it from cocotb costs a few Python
trigger callbacks per word, which is fine for commands but slow for loading a program of
a million words. The shell adds a *bulk word source* in front of the accelerator's
``host_in``: the host writes up to ``BULK_DEPTH`` words to a ``$readmemh`` file, pulses
``bulk_go`` and the shell streams them into ``host_in`` at one word per cycle (respecting
``ready``), with no Python per word. The words are exactly the host protocol's, so a
program loaded this way goes through the same command decoder as one loaded word by
word. While the shell streams, its own ``host_in`` is not ready.

The file's path comes from the plusarg ``+EIEGEN_BULK=<path>`` (read once at time 0).

Every input of the accelerator is a register of the shell: its reset (``rst`` delayed by
one cycle), ``host_in`` (a two-word FIFO: full throughput, one cycle of latency, its
``ready`` a function of the FIFO's state only) and ``host_out``'s ``ready`` (the same
FIFO on the output side). The words, their order and the accelerator's own cycle
counts are unchanged; the host sees each word one cycle later in each direction.
Verilator evaluates logic that depends on a top-level input, or on anything VPI may
write, in its input-combinational ("ico") region on every call of the model's eval,
i.e. at both clock edges, as well as after the rising edge. With the accelerator's
inputs wired straight to the shell's ports, that was about a third of the 64-PE model
evaluated three times per cycle; with registered inputs every piece of the core's
logic runs once per rising edge.

Only the shell's ports are made visible to VPI (a Verilator control file, see
:func:`public_ports_vlt`) and the runner's ``--public-flat-rw`` is switched off: every
signal public keeps Verilator from optimising the model, which made it about four times
slower (4 PEs: 100k -> 410k simulated cycles per second; and the build is faster).
Registered inputs and ports-only visibility are needed together: either alone leaves
the 64-PE model at about 105k cycles per second running free on the development machine,
both give about 180k (bench/sim_speed).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHELL", "SHELL_INPUTS", "SHELL_OUTPUTS", "BULK_DEPTH", "shell_verilog",
           "public_ports_vlt", "build_extra_args", "trace_extra_args", "write_bulk_file"]

SHELL = "eie_shell"
BULK_DEPTH = 1 << 16  # words per bulk transfer (256 KiB in the model)

_TEMPLATE = """\
// {shell}: simulation shell around `{core}` (eiegen/sim/shell.py); not part of the design.
// Every input of the core is a register of the shell (reset, a 2-word FIFO on host_in, a
// 2-word FIFO on host_out), so Verilator evaluates the core's logic once per rising edge
// instead of at every change of a top-level input (see the module docstring).
module {shell} (
    input  wire        clk,
    input  wire        rst,
    input  wire [31:0] host_in__payload,
    input  wire        host_in__valid,
    output wire        host_in__ready,
    output wire [31:0] host_out__payload,
    output wire        host_out__valid,
    input  wire        host_out__ready,
    input  wire        bulk_go,
    input  wire [31:0] bulk_count,
    output wire        bulk_busy
);
    reg [31:0] bulk [0:{depth}-1];
    reg [8*1024-1:0] bulk_file;
    reg [31:0] bulk_idx;
    reg [31:0] bulk_end;
    reg bulk_active;
    reg bulk_go_q;
    reg core_rst;
    wire in_space;
    wire [31:0] core_in_payload;
    wire core_in_valid;
    wire core_in_ready;
    wire [31:0] core_out_payload;
    wire core_out_valid;
    wire core_out_ready;
    assign host_in__ready = in_space & ~bulk_active;
    assign bulk_busy = bulk_active;

    initial begin
        if (!$value$plusargs("EIEGEN_BULK=%s", bulk_file)) bulk_file = "eiegen_bulk.hex";
        bulk_active = 1'b0;
        bulk_go_q = 1'b0;
        bulk_idx = 32'd0;
        bulk_end = 32'd0;
        core_rst = 1'b1;
    end

    always @(posedge clk) begin
        bulk_go_q <= bulk_go;
        core_rst <= rst;
        if (rst) begin
            bulk_active <= 1'b0;
        end else if (bulk_go & ~bulk_go_q) begin
            $readmemh(bulk_file, bulk);
            bulk_idx <= 32'd0;
            bulk_end <= bulk_count;
            bulk_active <= bulk_count != 32'd0;
        end else if (bulk_active & in_space) begin
            bulk_idx <= bulk_idx + 32'd1;
            if (bulk_idx + 32'd1 == bulk_end) bulk_active <= 1'b0;
        end
    end

    {shell}_fifo in_fifo (
        .clk(clk), .rst(rst),
        .in_payload(bulk_active ? bulk[bulk_idx[{abits}-1:0]] : host_in__payload),
        .in_valid(bulk_active | host_in__valid), .in_ready(in_space),
        .out_payload(core_in_payload), .out_valid(core_in_valid), .out_ready(core_in_ready)
    );

    {shell}_fifo out_fifo (
        .clk(clk), .rst(rst),
        .in_payload(core_out_payload), .in_valid(core_out_valid), .in_ready(core_out_ready),
        .out_payload(host_out__payload), .out_valid(host_out__valid),
        .out_ready(host_out__ready)
    );

    {core} core (
        .clk(clk),
        .rst(core_rst),
        .host_in__payload(core_in_payload),
        .host_in__valid(core_in_valid),
        .host_in__ready(core_in_ready),
        .host_out__payload(core_out_payload),
        .host_out__valid(core_out_valid),
        .host_out__ready(core_out_ready)
    );
endmodule

// Two-word stream FIFO: full throughput, one cycle of latency; d0 is the head, and
// in_ready and the outputs are registers or functions of registers only.
module {shell}_fifo (
    input  wire        clk,
    input  wire        rst,
    input  wire [31:0] in_payload,
    input  wire        in_valid,
    output wire        in_ready,
    output wire [31:0] out_payload,
    output wire        out_valid,
    input  wire        out_ready
);
    reg [31:0] d0, d1;
    reg [1:0] n;
    wire push = in_valid & ~n[1];
    wire pop = out_ready & (n != 2'd0);
    assign in_ready = ~n[1];
    assign out_valid = n != 2'd0;
    assign out_payload = d0;

    initial n = 2'd0;

    always @(posedge clk) begin
        if (rst) begin
            n <= 2'd0;
        end else if (push & ~pop) begin
            if (n == 2'd0) d0 <= in_payload; else d1 <= in_payload;
            n <= n + 2'd1;
        end else if (pop & ~push) begin
            d0 <= d1;
            n <= n - 2'd1;
        end else if (push & pop) begin
            if (n == 2'd1) d0 <= in_payload;
            else begin
                d0 <= d1;
                d1 <= in_payload;
            end
        end
    end
endmodule
"""


def shell_verilog(core: str = "eie", depth: int = BULK_DEPTH) -> str:
    """The shell's Verilog, instantiating the module ``core`` (the accelerator's top)."""
    if depth < 2 or depth & (depth - 1):
        raise ValueError(f"the bulk buffer depth must be a power of two >= 2, got {depth}")
    return _TEMPLATE.format(shell=SHELL, core=core, depth=depth,
                            abits=depth.bit_length() - 1)


# The shell's ports: what cocotb drives (inputs) and reads (outputs).
SHELL_INPUTS = ("clk", "rst", "host_in__payload", "host_in__valid", "host_out__ready",
                "bulk_go", "bulk_count")
SHELL_OUTPUTS = ("host_in__ready", "host_out__payload", "host_out__valid", "bulk_busy")


def public_ports_vlt(folder: Path, module: str = SHELL) -> Path:
    """A Verilator control file that makes ``module``'s ports, and nothing else, visible
    to VPI: inputs readable and writable, outputs readable; written once into
    ``folder``, under a name that includes a hash of its text (the build cache keys on
    the build arguments, so a changed file is a changed key).

    Only the ports: a variable that VPI may write can change at any time, so Verilator
    evaluates every piece of logic that reads it in the input-combinational region, on
    every call of the model's eval (twice per clock cycle), as well as after the clock
    edge. ``-var "*"`` made the shell's internal nets (the core's ready, the bulk
    source's state) writable too, which put about a third of the 64-PE design's logic
    into that region."""
    import hashlib

    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{module}" -var "{v}"' for v in SHELL_INPUTS]
    lines += [f'public_flat_rd -module "{module}" -var "{v}"' for v in SHELL_OUTPUTS]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    path = Path(folder) / f"public-{module}-{digest}.vlt"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def build_extra_args(folder: Path) -> list[str]:
    """Extra Verilator arguments for a shell build: only the shell's ports public (see
    the module docstring), and the model compiled with -O2 instead of Verilator's default
    -Os (about 1.3x faster on the 64-PE design for the same build time; the user flags
    come after OPT_FAST on the compiler's command line, so they win)."""
    return ["--no-public-flat-rw", str(public_ports_vlt(folder)), "-CFLAGS", "-O2"]


def write_bulk_file(path, words) -> None:
    """Write words as a ``$readmemh`` file (8 hex digits per line)."""
    import numpy as np

    arr = np.asarray(words, dtype=np.int64) & 0xFFFFFFFF
    if len(arr) > BULK_DEPTH:
        raise ValueError(f"at most {BULK_DEPTH} words per bulk transfer, got {len(arr)}")
    text = "\n".join(map("{:08x}".format, arr.tolist()))
    Path(path).write_text(text + "\n")


# Verilator's FST writer includes <lz4.h> and links -llz4, which a pip-only machine does
# not have (the runtime library may be there, its header and link name are not). An
# LZ4 *block* that holds only literals is valid LZ4 that every reader decodes, so a
# header-only "compressor" that emits one literal run is enough: the trace is written,
# only that part of it is left uncompressed. An empty archive satisfies -llz4.
_LZ4_SHIM = """\
/* eiegen: literal-only LZ4 block writer for Verilator's FST tracing (sim/shell.py). */
#ifndef EIEGEN_LZ4_SHIM_H
#define EIEGEN_LZ4_SHIM_H
static inline int LZ4_compressBound(int n) { return n + n / 255 + 16; }
static inline int LZ4_compress_default(const char *src, char *dst, int n, int cap) {
    int o = 0, rest = n - 15;
    if (cap < LZ4_compressBound(n)) return 0;
    dst[o++] = (char)((n >= 15 ? 15 : n) << 4);
    if (n >= 15) {
        for (; rest >= 255; rest -= 255) dst[o++] = (char)255;
        dst[o++] = (char)rest;
    }
    for (int i = 0; i < n; i++) dst[o++] = src[i];
    return o;
}
#endif
"""


def trace_extra_args(folder: Path) -> list[str]:
    """Extra Verilator arguments for an FST-tracing build: the LZ4 shim (see above)."""
    import subprocess

    shim = Path(folder) / "lz4-shim"
    shim.mkdir(parents=True, exist_ok=True)
    header = shim / "lz4.h"
    if not header.exists() or header.read_text() != _LZ4_SHIM:
        header.write_text(_LZ4_SHIM)
    archive = shim / "liblz4.a"
    if not archive.exists():
        subprocess.run(["ar", "rcs", str(archive)], check=True, capture_output=True)
    return ["-CFLAGS", f"-I{shim}", "-LDFLAGS", f"-L{shim}"]
