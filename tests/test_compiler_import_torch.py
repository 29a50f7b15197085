import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eiegen.compiler.import_torch import (export_torch, import_state_dict,  # noqa: E402
                                          import_torch)
from eiegen.compiler.model_import import UnsupportedModelError, import_model  # noqa: E402
from eiegen.compiler.network import NetworkError  # noqa: E402

nn = torch.nn


def check_same(module, net, x):
    module.eval()
    with torch.no_grad():
        ref = module(torch.tensor(x, dtype=torch.float32)).double().numpy()
    assert np.allclose(net.forward(x.reshape(len(x), -1)), ref, atol=1e-5)


def test_sequential():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.2),
                      nn.Sequential(nn.Linear(12, 6, bias=False), nn.Identity()), nn.ReLU(),
                      nn.Linear(6, 3))
    net = import_model(m)
    assert [la.activation for la in net] == ["relu", "relu", "none"]
    assert net[1].bias is None
    check_same(m, net, np.random.default_rng(0).random((5, 1, 4, 4)))


class Traced(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(16, 10), nn.Linear(10, 4), nn.Dropout()

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.fc1(x))
        return self.fc2(self.drop(x)).relu()


def test_traced_module():
    torch.manual_seed(1)
    m = Traced()
    net = import_torch(m, input_shape=(1, 16))
    assert [la.activation for la in net] == ["relu", "relu"]
    assert [la.name for la in net] == ["fc1", "fc2"]
    check_same(m, net, np.random.default_rng(1).random((4, 16)))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + self.b(x)


class Sigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.a(x))


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.Linear(4, 4), nn.Tanh()), "node '1' of type Tanh is not supported"),
    (nn.Sequential(nn.Conv3d(1, 2, 3)), "node '0' of type Conv3d is not supported"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), "applies ReLU to the network input"),
    (nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2)), "expects 4 inputs but receives 5"),
    (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)),
     "node '1' of type Sigmoid: is followed by node '2' \\(Linear\\)"),
    (Branchy(), "straight chain"),
])
def test_unsupported_models_named(module, match):
    with pytest.raises(UnsupportedModelError, match=match) as e:
        import_torch(module)
    assert "supported: Linear, ReLU" in str(e.value)


def test_export_round_trip():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 2))
    net = import_torch(m)
    back = export_torch(net)
    x = np.random.default_rng(2).random((3, 8))
    check_same(back, net, x)


def trained_bn_mlp(affine=True):
    """An MLP whose BatchNorms have running statistics far from (0, 1) and, if affine,
    non-trivial scales and shifts, left in eval mode."""
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8, affine=affine), nn.ReLU(),
                      nn.Dropout(0.1), nn.Linear(8, 4, bias=False),
                      nn.BatchNorm1d(4, affine=affine))
    m.train()
    with torch.no_grad():
        for _ in range(30):
            m(torch.randn(64, 6) * 2.5 + 1.5)
        if affine:
            for bn in (m[1], m[5]):
                bn.weight.uniform_(0.5, 2.0)
                bn.bias.uniform_(-1.0, 1.0)
    assert m[1].running_var.min() > 1.2 and abs(m[1].running_mean).max() > 0.3
    return m.eval()


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_folded_matches_eval_mode(affine):
    m = trained_bn_mlp(affine)
    net = import_model(m)
    assert len(net) == 2 and [la.name for la in net] == ["0", "4"]
    assert net[1].bias is not None  # the BatchNorm's shift becomes the bias
    check_same(m, net, np.random.default_rng(4).normal(1.5, 2.5, (16, 6)))


class BNTraced(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.bn, self.out = nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Linear(7, 3)

    def forward(self, x):
        return F.softmax(self.out(F.relu(self.bn(self.fc(x)))), dim=-1)


F = nn.functional


def test_batchnorm_and_final_softmax_in_traced_module():
    torch.manual_seed(5)
    m = BNTraced().train()
    with torch.no_grad():
        for _ in range(10):
            m(torch.randn(32, 5) * 3 - 1)
    m.eval()
    net = import_torch(m)
    assert len(net) == 2 and len(net.notes) == 1
    assert "dropped the final softmax" in net.notes[0] and "argmax" in net.notes[0]
    x = np.random.default_rng(5).normal(-1, 3, (8, 5))
    with torch.no_grad():
        probs = m(torch.tensor(x, dtype=torch.float32)).numpy()
    logits = net.forward(x)
    assert np.array_equal(np.argmax(logits, 1), np.argmax(probs, 1))
    soft = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(soft / soft.sum(1, keepdims=True), probs, atol=1e-5)


class Method(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)

    def forward(self, x):
        return self.a(x).log_softmax(1)


@pytest.mark.parametrize("module, op", [
    (nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), "Softmax"),
    (nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=-1), nn.Dropout()), "LogSoftmax"),
    (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid()), "Sigmoid"),
    (Sigmoid(), "sigmoid"),
    (Method(), "log_softmax"),
])
def test_final_order_preserving_op_dropped_with_note(module, op):
    net = import_torch(module)
    assert len(net) == 1 and net[0].activation == "none"
    assert net.notes == (f"dropped the final {op} (node {net.notes[0].split(chr(39))[1]!r}): "
                         f"the accelerator returns the logits before it, whose argmax (the "
                         f"predicted class) is the same; apply {op} on the host for its values",)


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)),
     "node '0' of type BatchNorm1d: normalises the network input; a BatchNorm is only "
     "supported straight after a fully connected layer"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)),
     "node '2' of type BatchNorm1d: follows a ReLU"),
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)),
     "node '1' of type BatchNorm1d: keeps no running statistics"),
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(5)),
     "normalises \\[5\\] features but the layer before it has 4 outputs"),
    (nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=1), nn.ReLU(), nn.Linear(4, 2)),
     "node '1' of type Softmax: is followed by node '2' \\(ReLU\\); a Softmax is only "
     "supported as the model's last operation.*apply it on the host"),
    (nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=0)),
     "node '1' of type Softmax: normalises over dim 0"),
    (nn.Sequential(nn.Softmax(dim=1)), "applies to the network input"),
])
def test_unfoldable_batchnorm_and_middle_softmax_refused(module, match):
    with pytest.raises(UnsupportedModelError, match=match) as e:
        import_torch(module.eval())
    assert "\n" not in str(e.value)


def test_state_dict_import_matches_module(tmp_path):
    m = trained_bn_mlp()
    x = np.random.default_rng(6).normal(1.5, 2.5, (10, 6))
    # a ReLU between the layers is all a state_dict can imply: none after the last
    net = import_state_dict(m.state_dict())
    assert [la.activation for la in net] == ["relu", "none"]
    check_same(m, net, x)
    torch.save(m.state_dict(), tmp_path / "model.pt")
    check_same(m, import_model(tmp_path / "model.pt"), x)
    # numpy arrays need no torch
    arrays = {k: v.numpy() for k, v in m.state_dict().items()}
    assert np.allclose(import_state_dict(arrays).forward(x), net.forward(x))


def test_state_dict_refusals(tmp_path):
    with pytest.raises(UnsupportedModelError, match="'conv.weight' of type parameter: is "
                                                    "neither a Linear weight"):
        import_state_dict({"conv.weight": torch.zeros(2, 1, 3, 3)})
    with pytest.raises(UnsupportedModelError, match="'epoch' holds a int, not a tensor"):
        import_state_dict({"epoch": 3})
    torch.save(nn.Sequential(nn.Linear(2, 2)), tmp_path / "whole.pt")
    with pytest.raises(NetworkError, match="whole.pt: torch.load\\(weights_only=True\\) "
                                           "cannot read it .*save model.state_dict\\(\\) "
                                           "instead, or call import_model\\(model\\)") as e:
        import_model(tmp_path / "whole.pt")
    assert "\x1b" not in str(e.value) and "\n" not in str(e.value)
