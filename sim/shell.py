"""The simulation shell: a thin Verilog top level around the accelerator for Verilator.

The host protocol is a stream of 32-bit words. Driving it from cocotb costs a few Python
trigger callbacks per word, which is fine for commands but slow for loading a program of
a million words. The shell adds a *bulk word source* in front of the accelerator's
``host_in``: the host writes up to ``BULK_DEPTH`` words to a ``$readmemh`` file, pulses
``bulk_go`` and the shell streams them into ``host_in`` at one word per cycle (respecting
``ready``), with no Python per word. The words are exactly the host protocol's, so a
program loaded this way goes through the same command decoder as one loaded word by
word. While the shell streams, its own ``host_in`` is not ready; ``host_out`` passes
through unchanged.

The file's path comes from the plusarg ``+EIEGEN_BULK=<path>`` (read once at time 0).

Only the shell's ports are made visible to VPI (a Verilator control file) and the
runner's ``--public-flat-rw`` is switched off: every signal public keeps Verilator from
optimising the model, which made it about four times slower (4 PEs: 100k -> 410k
simulated cycles per second; and the build is faster).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHELL", "BULK_DEPTH", "shell_verilog", "public_ports_vlt", "build_extra_args",
           "trace_extra_args", "write_bulk_file"]

SHELL = "eie_shell"
BULK_DEPTH = 1 << 16  # words per bulk transfer (256 KiB in the model)

_TEMPLATE = """\
// {shell}: simulation shell around `{core}` (eiegen/sim/shell.py); not part of the design.
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
    wire core_ready;
    wire [31:0] core_payload = bulk_active ? bulk[bulk_idx[{abits}-1:0]] : host_in__payload;
    wire core_valid = bulk_active | host_in__valid;
    assign host_in__ready = core_ready & ~bulk_active;
    assign bulk_busy = bulk_active;

    initial begin
        if (!$value$plusargs("EIEGEN_BULK=%s", bulk_file)) bulk_file = "eiegen_bulk.hex";
        bulk_active = 1'b0;
        bulk_go_q = 1'b0;
        bulk_idx = 32'd0;
        bulk_end = 32'd0;
    end

    always @(posedge clk) begin
        bulk_go_q <= bulk_go;
        if (rst) begin
            bulk_active <= 1'b0;
        end else if (bulk_go & ~bulk_go_q) begin
            $readmemh(bulk_file, bulk);
            bulk_idx <= 32'd0;
            bulk_end <= bulk_count;
            bulk_active <= bulk_count != 32'd0;
        end else if (bulk_active & core_ready) begin
            bulk_idx <= bulk_idx + 32'd1;
            if (bulk_idx + 32'd1 == bulk_end) bulk_active <= 1'b0;
        end
    end

    {core} core (
        .clk(clk),
        .rst(rst),
        .host_in__payload(core_payload),
        .host_in__valid(core_valid),
        .host_in__ready(core_ready),
        .host_out__payload(host_out__payload),
        .host_out__valid(host_out__valid),
        .host_out__ready(host_out__ready)
    );
endmodule
"""


def shell_verilog(core: str = "eie", depth: int = BULK_DEPTH) -> str:
    """The shell's Verilog, instantiating the module ``core`` (the accelerator's top)."""
    if depth < 2 or depth & (depth - 1):
        raise ValueError(f"the bulk buffer depth must be a power of two >= 2, got {depth}")
    return _TEMPLATE.format(shell=SHELL, core=core, depth=depth,
                            abits=depth.bit_length() - 1)


def public_ports_vlt(folder: Path, module: str = SHELL) -> Path:
    """A Verilator control file that makes ``module``'s ports (and only those)
    readable and writable through VPI; written once into ``folder``."""
    path = Path(folder) / f"public-{module}.vlt"
    text = f'`verilator_config\npublic_flat_rw -module "{module}" -var "*"\n'
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
