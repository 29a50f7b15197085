"""Importing convolutional models (compiler/model_import.py ChainBuilder.conv/pool, the
torch and ONNX front ends): every op against torch's eval-mode outputs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from eiegen.compiler.import_onnx import import_onnx  # noqa: E402
from eiegen.compiler.import_torch import import_torch  # noqa: E402
from eiegen.compiler.model_import import UnsupportedModelError  # noqa: E402
from eiegen.compiler.network import ConvLayer  # noqa: E402

nn = torch.nn


def _check(module, shape, n=5):
    module = module.double().eval()
    torch.manual_seed(1)
    x = torch.randn(n, *shape[1:], dtype=torch.double)
    net = import_torch(module, input_shape=shape)
    want = module(x).detach().numpy().reshape(n, -1)
    np.testing.assert_allclose(net.forward(x.reshape(n, -1).numpy()), want, atol=1e-10)
    return net


def _bn(c):
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


@pytest.mark.parametrize("layers, shape", [
    ([nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1), nn.Flatten(), nn.Linear(64, 3)],
     (1, 2, 8, 8)),
    ([nn.Conv2d(2, 4, 3, padding=2, dilation=2, groups=2, bias=False), nn.ReLU()], (1, 2, 6, 6)),
    ([nn.Conv2d(3, 3, 3, padding="same", groups=3), nn.ReLU()], (1, 3, 5, 5)),  # depthwise
    ([nn.Conv2d(1, 4, 3, padding=1), _bn(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
      nn.Linear(64, 3)], (1, 1, 8, 8)),
    ([nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU()], (1, 1, 7, 7)),
    ([nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
      nn.Linear(9, 2)], (1, 2, 12)),
    ([nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 2, 3, padding=1)],
     (1, 1, 8, 8)),  # AvgPool folded into a padded conv (its windows tile the map)
    ([nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(3, stride=2), nn.Conv2d(4, 2, 2, stride=1,
                                                                          dilation=2)],
     (1, 1, 12, 12)),  # overlapping windows into an unpadded, dilated conv
    ([nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
      nn.Linear(64, 3)], (1, 1, 8, 8)),  # AvgPool folded into the Linear
])
def test_torch_conv_ops_match_torch(layers, shape):
    net = _check(nn.Sequential(*layers), shape)
    assert isinstance(net[0], ConvLayer)


def test_torch_refusals_name_the_op():
    with pytest.raises(UnsupportedModelError, match="MaxPool2d.*does not follow a conv"):
        import_torch(nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 2)),
                     input_shape=(1, 1, 8, 8))
    with pytest.raises(UnsupportedModelError, match="BatchNorm2d.*follows a max pool"):
        import_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), _bn(2), nn.ReLU()),
                     input_shape=(1, 1, 8, 8))
    with pytest.raises(UnsupportedModelError, match="Conv2d.*flattened tensor"):
        import_torch(nn.Sequential(nn.Conv2d(1, 2, 3)))
    with pytest.raises(UnsupportedModelError, match="AvgPool2d.*ends the model"):
        import_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2)),
                     input_shape=(1, 1, 8, 8))
    with pytest.raises(UnsupportedModelError, match="needs a ReLU"):
        import_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)),
                     input_shape=(1, 1, 8, 8))


def _onnx_model(nodes, inits, in_shape):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_onnx_conv_bn_relu_pool_flatten_gemm_match_torch():
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4)
    scale, beta = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    mean, var = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    w2 = rng.normal(size=(6, 2, 3, 3))
    wf, bf = rng.normal(size=(3, 18)), rng.normal(size=3)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "be", "m", "v"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=2, strides=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["a2"], kernel_shape=[1, 2], strides=[1, 2]),
        helper.make_node("Flatten", ["a2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    model = _onnx_model(nodes, dict(w1=w1, b1=b1, s=scale, be=beta, m=mean, v=var, w2=w2,
                                    wf=wf, bf=bf), [1, 1, 10, 10])
    net = import_onnx(model)
    F = torch.nn.functional
    x = rng.normal(size=(4, 1, 10, 10))
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float32).astype(np.float64))  # noqa: E731
    h = F.conv2d(t(x), t(w1), t(b1), padding=1)
    h = F.batch_norm(h, t(mean), t(var), t(scale), t(beta), eps=1e-5)
    h = F.max_pool2d(F.relu(h), 2)
    h = F.avg_pool2d(F.relu(F.conv2d(h, t(w2), groups=2)), (1, 2))
    want = (h.flatten(1) @ t(wf).T + t(bf)).numpy()
    np.testing.assert_allclose(net.forward(x.reshape(4, -1)), want, atol=1e-5)


def test_onnx_conv1d_and_refusals():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(2, 3, 3))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1], strides=[2]),
             helper.make_node("Relu", ["c"], ["y"])]
    net = import_onnx(_onnx_model(nodes, dict(w=w), [1, 3, 9]))
    x = rng.normal(size=(2, 3, 9))
    want = torch.relu(torch.nn.functional.conv1d(
        torch.tensor(x), torch.tensor(w.astype(np.float32).astype(np.float64)), padding=1,
        stride=2)).numpy()
    np.testing.assert_allclose(net.forward(x.reshape(2, -1)), want.reshape(2, -1), atol=1e-6)
    bad = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1]),
           helper.make_node("Relu", ["c"], ["y"])]
    with pytest.raises(UnsupportedModelError, match="Conv.*unevenly"):
        import_onnx(_onnx_model(bad, dict(w=w), [1, 3, 9]))
    pool = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2], ceil_mode=1)]
    with pytest.raises(UnsupportedModelError, match="MaxPool.*ceil_mode"):
        import_onnx(_onnx_model(pool, dict(w=w), [1, 3, 9]))
