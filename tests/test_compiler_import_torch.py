import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eiegen.compiler.import_torch import export_torch, import_torch  # noqa: E402
from eiegen.compiler.model_import import UnsupportedModelError, import_model  # noqa: E402

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
    (nn.Sequential(nn.Conv2d(1, 2, 3)), "node '0' of type Conv2d is not supported"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), "applies ReLU to the network input"),
    (nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2)), "expects 4 inputs but receives 5"),
    (Sigmoid(), "node 'sigmoid' of type sigmoid is not supported"),
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
