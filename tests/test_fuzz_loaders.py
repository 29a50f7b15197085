"""Fuzzing every file loader (issue 19, item 15): a network .npz, an ONNX model, a config
JSON, a program folder and an inputs .npy, each generated at random, valid or broken in
any way hypothesis finds. The contract, for any file a user may hand eiegen:

* the loader raises the project's one-line error type (``NetworkError``,
  ``ConfigError``, ``ProgramError``, ``CliError``), or returns a result that is valid
  (checked independently: finite weights, chained shapes, the ONNX reference evaluator's
  outputs, a golden-model run);
* through the CLI (``eiegen.cli.main``): exit 0 or 2 with one line on stderr, never a
  traceback or an internal error (exit 3);
* nothing is written outside the output (the whole temporary folder is compared before
  and after).

Every test is deterministic (``derandomize=True``) and sized for CI.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig, ConfigError
from eiegen.cli import CliError, main
from eiegen.compiler.network import Network, NetworkError
from eiegen.compiler.program import Program, ProgramError
from eiegen.safeio import file_digests


def fuzz(max_examples: int):
    return settings(FUZZ, max_examples=max_examples)


FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def run_cli(argv, capsys, cwd: Path, output: Path | None = None) -> tuple[int, str, str]:
    """``eiegen argv`` in ``cwd``; asserts the CLI contract and that nothing outside
    ``output`` changed."""
    before = file_digests(cwd)
    old = os.getcwd()
    os.chdir(cwd)  # a relative default output would land here, where we can see it
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse refusals exit 2 themselves
        rc = e.code
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    assert rc in (0, 2), f"exit {rc} (an internal error) for {argv}: {err}"
    assert "Traceback" not in err, err
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip() and ": note: " not in ln]
        assert len(lines) == 1 and "error" in lines[0], err
    after = file_digests(cwd)
    out_rel = None if output is None else str(output.relative_to(cwd))
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    stray = {k for k in changed if out_rel is None or not (k == out_rel or
                                                           k.startswith(out_rel + os.sep))}
    assert not stray, f"{argv} wrote outside its output: {sorted(stray)}"
    return rc, out, err


# ---- values a careless or hostile file holds ----

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
NASTY_FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300,
                                float("nan"), float("inf"), float("-inf")]) | FLOATS


@st.composite
def arrays(draw, max_side=6):
    """A numpy array of any dtype numpy can save without pickle, any rank 0-3."""
    shape = tuple(draw(st.lists(st.integers(0, max_side), max_size=3)))
    size = int(np.prod(shape)) if shape else 1
    kind = draw(st.sampled_from(["f8", "f4", "f2", "i8", "u1", "b", "c16", "U", "nice"]))
    if kind == "U":
        vals = draw(st.lists(st.text(max_size=5), min_size=size, max_size=size))
        return np.array(vals, dtype=str).reshape(shape)
    if kind == "nice":  # mostly-valid floats: reach the checks past the dtype
        vals = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=size, max_size=size))
        return np.array(vals, dtype=np.float64).reshape(shape)
    if kind in ("f8", "f4", "f2", "c16"):
        vals = draw(st.lists(NASTY_FLOATS, min_size=size, max_size=size))
        with np.errstate(over="ignore", invalid="ignore"):
            return np.array(vals, dtype=np.float64).astype(kind).reshape(shape)
    if kind == "b":
        return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)),
                        dtype=bool).reshape(shape)
    info = np.iinfo(kind)
    vals = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=size,
                         max_size=size))
    return np.array(vals, dtype=kind).reshape(shape)


def corrupt(data: bytes, draw) -> bytes:
    """``data`` truncated, with bytes flipped, or with junk appended."""
    how = draw(st.sampled_from(["truncate", "flip", "append", "empty"]))
    if how == "empty" or not data:
        return b""
    if how == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(buf) - 1))
        buf[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(buf)


# ---- network .npz ----

LAYER_KEYS = ["weight", "bias", "activation", "name", "codebook", "indices"]


@st.composite
def network_arrays(draw):
    """The arrays of a network .npz: a valid network's, with some keys replaced, dropped
    or added (any dtype and shape)."""
    n = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=n + 1, max_size=n + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d = {}
    for k in range(n):
        cb = np.concatenate([[0.0], rng.normal(size=3)])
        idx = rng.integers(0, 4, size=(sizes[k + 1], sizes[k]))
        d[f"layer{k}.weight"] = cb[idx]
        d[f"layer{k}.bias"] = rng.normal(size=sizes[k + 1])
        d[f"layer{k}.activation"] = np.array(draw(st.sampled_from(["relu", "none"])))
        if draw(st.booleans()):
            d[f"layer{k}.codebook"], d[f"layer{k}.indices"] = cb, idx
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(d)) | st.builds(
            "layer{}.{}".format, st.integers(0, 4), st.sampled_from(LAYER_KEYS))
            | st.sampled_from(["x", "layer01.weight", "layer-1.weight", "layer0.weights"]))
        if draw(st.integers(0, 3)) == 0:
            d.pop(key, None)
        else:
            d[key] = draw(arrays())
    return d


def check_network(net: Network) -> None:
    """What a loaded network must be, checked without the loader's own code."""
    assert len(net.layers) >= 1
    for a, b in zip(net.layers, net.layers[1:]):
        assert a.weight.shape[0] == b.weight.shape[1]
    for layer in net.layers:
        assert layer.weight.ndim == 2 and layer.weight.size
        assert layer.weight.dtype == np.float64 and np.isfinite(layer.weight).all()
        if layer.bias is not None:
            assert layer.bias.shape == (layer.weight.shape[0],)
            assert np.isfinite(layer.bias).all()
        if layer.codebook is not None:
            assert np.array_equal(layer.codebook[layer.indices], layer.weight)
    y = net.forward(np.ones((2, net.n_in)))
    assert y.shape == (2, net.n_out)


@fuzz(150)
@given(d=network_arrays(), data=st.data())
def test_fuzz_network_npz(tmp_path_factory, d, data):
    tmp = tmp_path_factory.mktemp("npz")
    buf = io.BytesIO()
    np.savez(buf, **d)
    raw = buf.getvalue()
    if data.draw(st.integers(0, 4)) == 0:
        raw = corrupt(raw, data.draw)
    path = tmp / "model.npz"
    path.write_bytes(raw)
    before = file_digests(tmp)
    try:
        net = Network.load(path)
    except NetworkError as e:
        assert "\n" not in str(e)
        event("refused")
    else:
        check_network(net)
        event("loaded")
    assert file_digests(tmp) == before


# ---- ONNX ----

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FINAL_OPS = ("Softmax", "LogSoftmax", "Sigmoid")


@st.composite
def onnx_chains(draw):
    """A chain of ONNX nodes from the graph input, mostly what the importer supports
    (with random shapes, attributes and constants, fitting or not), sometimes an
    unsupported operator or a broken link; the final node's output is the graph's."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in = draw(st.integers(1, 5))
    in_shape = draw(st.sampled_from([["N", n_in], ["N", 1, n_in], [1, n_in], ["N"]]))
    features = n_in
    nodes, inits = [], []
    cur = "x"
    typed = True  # every operand float32, as ONNX requires (else no reference to run)

    def const(name, value):
        inits.append(numpy_helper.from_array(value, name))
        return name

    # half the chains are well formed (supported operators, shapes that chain, float32
    # operands): the importer must take those and match the reference evaluator
    sane = draw(st.booleans())
    ops = ["MatMul", "Gemm", "Add", "Relu", "Flatten", "Reshape", "BatchNormalization",
           "Dropout", "Identity", "Softmax", "Sigmoid", "LogSoftmax"]
    if sane:  # [flatten] (fc [bias] [batchnorm] [relu] [dropout])+ [final]
        seq = [draw(st.sampled_from(["Flatten", "Reshape"]))] if draw(st.booleans()) else []
        for _ in range(draw(st.integers(1, 3))):
            seq.append(draw(st.sampled_from(["MatMul", "Gemm"])))
            seq += [op for op in ("Add", "BatchNormalization", "Relu", "Dropout")
                    if draw(st.booleans()) and (op != "Add" or seq[-1] == "MatMul")]
        seq += [draw(st.sampled_from(FINAL_OPS))] if draw(st.booleans()) else []
    else:
        seq = draw(st.lists(st.sampled_from(ops + ["Tanh", "Conv"]), min_size=1, max_size=6))
    for k, op in enumerate(seq):
        out = f"t{k}"
        fits = sane or draw(st.integers(0, 5)) > 0  # mostly shapes that chain
        n_out = draw(st.integers(1, 5))
        dtype = np.float32 if sane else draw(st.sampled_from([np.float32, np.float64,
                                                              np.int64]))
        typed = typed and dtype is np.float32
        n_rows = features if fits else draw(st.integers(1, 6))
        inp = cur if sane or draw(st.integers(0, 9)) else "x"  # now and then not a chain
        if op == "MatMul":
            w = const(f"w{k}", rng.normal(size=(n_rows, n_out)).astype(dtype))
            nodes.append(helper.make_node(op, [inp, w], [out]))
            features = n_out
        elif op == "Gemm":
            trans_b = draw(st.integers(0, 1))
            shape = (n_out, n_rows) if trans_b else (n_rows, n_out)
            w = const(f"w{k}", rng.normal(size=shape).astype(dtype))
            ins = [inp, w]
            if draw(st.booleans()):
                ins.append(const(f"b{k}", rng.normal(size=draw(st.sampled_from(
                    [(n_out,), (1,), (), (n_out + 1,)]))).astype(dtype)))
            attrs = {"transB": trans_b}
            if draw(st.booleans()):
                attrs["alpha"] = draw(st.sampled_from([0.5, 2.0, -1.0, 0.0]))
            if not sane and draw(st.booleans()):
                attrs["transA"] = draw(st.integers(0, 1))
            nodes.append(helper.make_node(op, ins, [out], **attrs))
            features = n_out
        elif op == "Add":
            size = features if fits else draw(st.integers(1, 6))
            b = const(f"a{k}", rng.normal(size=draw(st.sampled_from(
                [(size,), (1, size), (1,)]))).astype(dtype))
            nodes.append(helper.make_node(op, [inp, b], [out]))
        elif op == "Reshape":
            shape = draw(st.sampled_from([[-1, features], [0, -1]] + ([] if sane else [
                [-1, -1], [features], [1, features], [-1, features, 1]])))
            s = const(f"s{k}", np.array(shape, dtype=np.int64))
            nodes.append(helper.make_node(op, [inp, s], [out]))
        elif op == "BatchNormalization":
            size = features if fits else draw(st.integers(1, 6))
            var = rng.uniform(0.1, 2, size)
            if not fits:
                var[0] = draw(st.sampled_from([0.0, -1.0, float("nan")]))
            names = [const(f"{p}{k}", v.astype(np.float32)) for p, v in
                     (("sc", rng.normal(size=size)), ("bi", rng.normal(size=size)),
                      ("me", rng.normal(size=size)), ("va", var))]
            nodes.append(helper.make_node(op, [inp, *names], [out],
                                          epsilon=draw(st.sampled_from([1e-5, 1e-3]))))
        elif op == "Flatten":
            nodes.append(helper.make_node(op, [inp], [out], axis=1 if sane else draw(
                st.sampled_from([1, 0, 2]))))
        elif op in ("Softmax", "LogSoftmax"):
            nodes.append(helper.make_node(op, [inp], [out], axis=-1 if sane else draw(
                st.sampled_from([-1, 1, 0]))))
        else:
            nodes.append(helper.make_node(op, [inp], [out]))
        cur = out
    return in_shape, nodes, inits, cur, typed


def onnx_model(in_shape, nodes, inits, output):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@fuzz(150)
@given(chain=onnx_chains(), data=st.data())
def test_fuzz_onnx(tmp_path_factory, chain, data):
    from onnx.reference import ReferenceEvaluator

    from eiegen.compiler.import_onnx import import_onnx

    in_shape, nodes, inits, output, typed = chain
    tmp = tmp_path_factory.mktemp("onnx")
    raw = onnx_model(in_shape, nodes, inits, output).SerializeToString()
    broken = data.draw(st.integers(0, 5)) == 0
    if broken:
        raw = corrupt(raw, data.draw)
    path = tmp / "model.onnx"
    path.write_bytes(raw)
    before = file_digests(tmp)
    try:
        net = import_onnx(path)
    except NetworkError as e:
        assert "\n" not in str(e).strip()
        event("refused")
        return
    finally:
        assert file_digests(tmp) == before
    check_network(net)
    event("imported")
    if broken or not typed:
        return  # a corrupt file that still parses, a mistyped graph: no reference
    # The importer drops a final Softmax/LogSoftmax/Sigmoid (argmax unchanged): the
    # reference runs the graph without them.
    while nodes and nodes[-1].op_type in FINAL_OPS + ("Dropout", "Identity"):
        nodes = nodes[:-1]
    assume(nodes)
    # a rank-1 input is one vector, not a batch: the importer takes it as one
    batch = 1 if in_shape[0] == 1 or len(in_shape) == 1 else 3
    x = np.random.default_rng(0).normal(size=(batch, net.n_in)).astype(np.float32)
    shape = [net.n_in] if len(in_shape) == 1 else [batch if d == "N" else d for d in in_shape]
    ref = ReferenceEvaluator(onnx_model(in_shape, nodes, inits, nodes[-1].output[0]))
    want = np.asarray(ref.run(None, {"x": x.reshape(shape)})[0], dtype=np.float64)
    np.testing.assert_allclose(net.forward(x.astype(np.float64)), want.reshape(batch, -1),
                               rtol=1e-4, atol=1e-4)


# ---- config JSON ----

CONFIG_FIELDS = sorted(ArchConfig().to_dict())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from(
        [0, 1, 2, 3, 4, 8, 16, 32, 64, 1024, -1, 2**31, 2**64]) | FLOATS | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=5)


@st.composite
def config_files(draw):
    """Bytes of a config file: the default config with fields changed, dropped or
    added, or any JSON, or text that is not JSON, or bytes that are not UTF-8."""
    kind = draw(st.sampled_from(["edit", "edit", "edit", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    d = ArchConfig().to_dict()
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(CONFIG_FIELDS) | st.text(max_size=6))
        if draw(st.integers(0, 4)) == 0:
            d.pop(key, None)
        else:
            d[key] = draw(JSON_VALUES)
    return json.dumps(d).encode()  # NaN and Infinity as Python writes them


@fuzz(200)
@given(raw=config_files())
def test_fuzz_config_json(tmp_path_factory, capsys, raw):
    tmp = tmp_path_factory.mktemp("cfg")
    path = tmp / "cfg.json"
    path.write_bytes(raw)
    try:
        cfg = ArchConfig.load(path)
    except ConfigError as e:
        assert "\n" not in str(e)
        cfg = None
    rc, out, _ = run_cli(["config", "--config", path], capsys, tmp)
    assert (rc == 0) == (cfg is not None)
    if cfg is not None:
        # valid: every field an int in its documented range, and it round-trips
        from eiegen.arch import field_range
        for name, value in cfg.to_dict().items():
            lo, hi, _ = field_range(name)
            assert type(value) is int and lo <= value <= hi, (name, value)
        assert ArchConfig.from_dict(json.loads(out)) == cfg


# ---- program folder ----

@pytest.fixture(scope="module")
def program_dir(tmp_path_factory):
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network

    rng = np.random.default_rng(3)
    net = random_network(rng, [9, 7, 5], density=0.5)
    program = compile_network(net, ArchConfig(n_pe=2, act_depth=16, ptr_depth=64,
                                              spmat_depth=64, bias_depth=16),
                              calibration=rng.uniform(-1, 1, size=(8, 9)))
    path = tmp_path_factory.mktemp("prog") / "prog"
    program.save(path)
    return path


def _json_paths(obj, prefix=()):
    """Every (path, value) inside a JSON object, for picking what to change."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_paths(v, prefix + (i,))


@st.composite
def program_edits(draw):
    """A list of edits to a program folder: manifest values replaced or deleted (a
    config field, a layer's format, a file name), a file's bytes corrupted (with its
    checksum fixed up or not), a file removed."""
    return draw(st.lists(st.tuples(
        st.sampled_from(["manifest", "manifest", "manifest", "file", "rehash", "remove",
                         "escape"]),
        st.integers(0, 10**6), JSON_VALUES), min_size=1, max_size=3))


def apply_edits(folder: Path, edits, draw) -> None:
    mpath = folder / "manifest.json"
    for what, pick, value in edits:
        if not mpath.exists():
            return  # removed by an edit before
        try:
            m = json.loads(mpath.read_text())
        except ValueError:
            m = None
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.name != "manifest.json")
        if what == "manifest" and m is not None:
            paths = [p for p, _ in _json_paths(m) if p]
            path = paths[pick % len(paths)]
            parent = m
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.integers(0, 4)) == 0:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            mpath.write_text(json.dumps(m))
        elif what in ("file", "rehash") and files:
            name = files[pick % len(files)]
            data = corrupt((folder / name).read_bytes(), draw)
            (folder / name).write_bytes(data)
            if what == "rehash" and isinstance(m, dict) and isinstance(m.get("files"), dict):
                m["files"][name] = hashlib.sha256(data).hexdigest()
                mpath.write_text(json.dumps(m))
        elif what == "remove":
            victim = (files + ["manifest.json"])[pick % (len(files) + 1)]
            (folder / victim).unlink()
        elif what == "escape" and isinstance(m, dict) and isinstance(m.get("files"), dict):
            # a file name that leaves the folder, with the right checksum of what is there
            outside = folder.parent / "outside.txt"
            name = draw(st.sampled_from(["../outside.txt", str(outside)]))
            m["files"][name] = hashlib.sha256(outside.read_bytes()).hexdigest()
            mpath.write_text(json.dumps(m))
        elif what == "manifest" and m is None:
            mpath.write_text(json.dumps(value))


def check_program(program: Program) -> None:
    """A loaded program must run: the golden and cycle models on a few inputs."""
    from eiegen.sim.cycle_model import estimate_batch
    from eiegen.sim.golden import run_golden

    x = np.random.default_rng(1).integers(-100, 100, size=(2, program.n_in))
    outs = run_golden(program, x)
    assert outs[-1].shape == (2, program.layers[-1].n_out)
    assert len(estimate_batch(program, x)) == 2


def rehash_manifest(folder: Path) -> None:
    """Give an edited manifest its own checksum again, as a deliberate editor would, so
    that the loader's checks behind the checksum are reached."""
    from eiegen.compiler.program import manifest_digest

    mpath = folder / "manifest.json"
    try:
        m = json.loads(mpath.read_text())
        m["manifest_sha256"] = manifest_digest(m)
    except (OSError, ValueError, TypeError):
        return  # no manifest, not JSON, not an object, or NaN in it: leave it
    mpath.write_text(json.dumps(m))


@fuzz(150)
@given(edits=program_edits(), data=st.data())
def test_fuzz_program_folder(tmp_path_factory, capsys, program_dir, edits, data):
    tmp = tmp_path_factory.mktemp("fuzzprog")
    folder = tmp / "prog"
    shutil.copytree(program_dir, folder)
    (tmp / "outside.txt").write_text("not part of the program\n")
    apply_edits(folder, edits, data.draw)
    if data.draw(st.integers(0, 3)):
        rehash_manifest(folder)
    try:
        program = Program.load(folder)
    except ProgramError as e:
        assert "\n" not in str(e)
        program = None
        event("refused")
    if program is not None:
        check_program(program)
        event("loaded")
    rc, _, err = run_cli(["info", folder], capsys, tmp)
    assert (rc == 0) == (program is not None), err


# ---- inputs .npy ----

@fuzz(150)
@given(x=arrays(max_side=12), data=st.data())
def test_fuzz_inputs_npy(tmp_path_factory, capsys, program_dir, x, data):
    from eiegen.commands.simulate import load_inputs

    program = Program.load(program_dir)
    tmp = tmp_path_factory.mktemp("inputs")
    if data.draw(st.booleans()):  # the right width, to reach the value checks
        x = data.draw(arrays(max_side=3)).reshape(-1)[:1].repeat(program.n_in) if x.size \
            else np.zeros(program.n_in)
        x = x.reshape(-1, program.n_in)
    buf = io.BytesIO()
    np.save(buf, x)
    raw = buf.getvalue()
    if data.draw(st.integers(0, 5)) == 0:
        raw = corrupt(raw, data.draw)
    path = tmp / "x.npy"
    path.write_bytes(raw)
    limit = data.draw(st.sampled_from([None, None, 1, 3, 0, -1]))
    try:
        got = load_inputs(path, program, limit)
    except CliError as e:
        assert "\n" not in str(e)
        got = None
    if got is not None:
        lo, hi = -(1 << (program.cfg.act_bits - 1)), (1 << (program.cfg.act_bits - 1)) - 1
        assert got.dtype == np.int64 and got.ndim == 2 and got.shape[1] == program.n_in
        assert len(got) >= 1 and lo <= got.min() and got.max() <= hi
    if limit is None:
        rc, _, err = run_cli(["info", program_dir, "--inputs", path], capsys, tmp)
        assert (rc == 0) == (got is not None), err


def test_fuzz_helpers_see_a_stray_write(tmp_path, capsys):
    """The write check is not vacuous: a command's write that is not under the output
    named to ``run_cli`` is caught."""
    with pytest.raises(AssertionError, match="wrote outside"):
        run_cli(["verilog", "--pe", "1", "-o", tmp_path / "eie.v"], capsys, tmp_path)
