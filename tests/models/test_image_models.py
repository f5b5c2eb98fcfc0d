"""The image classifiers: shapes, published parameter counts, and that they can learn."""

from __future__ import annotations

import pytest

from calolab.core.errors import ConfigError

torch = pytest.importorskip("torch")
from calolab.models.cnn import SmallCNN, SmallCNNConfig  # noqa: E402
from calolab.models.resnet import ResNet, ResNetConfig, resnet18, resnet34  # noqa: E402


@pytest.fixture
def one_thread():
    """Train on one thread: on a shared CI machine two threads per xdist worker oversubscribe
    the cores (several times slower). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_resnet_parameter_counts_match_the_published_architectures():
    # torchvision's resnet18/resnet34 (He et al. 2016) with 1000 ImageNet classes
    assert n_params(resnet18(n_classes=1000)) == 11_689_512
    assert n_params(resnet34(n_classes=1000)) == 21_797_672


@pytest.mark.parametrize(
    "model, shape",
    [
        (lambda: SmallCNN(), (2, 3, 100, 100)),
        (lambda: SmallCNN(SmallCNNConfig(in_channels=30, n_classes=3)), (2, 30, 10, 10)),
        (lambda: resnet18(), (2, 3, 100, 100)),
        (lambda: resnet34(n_classes=3), (2, 3, 64, 64)),
        (lambda: ResNet(ResNetConfig(in_channels=5, stem="small", n_classes=4)), (2, 5, 8, 8)),
    ],
)
def test_output_shapes(model, shape):
    m = model().eval()
    with torch.no_grad():
        out = m(torch.rand(*shape))
    assert out.shape == (shape[0], m.config.n_classes)


def test_extra_features_join_the_head():
    m = SmallCNN(SmallCNNConfig(in_channels=2, n_features=4))
    out = m(torch.rand(3, 2, 12, 12), torch.rand(3, 4))
    assert out.shape == (3, 2)
    with pytest.raises(ConfigError, match="expects 4 scalar features"):
        m(torch.rand(3, 2, 12, 12))
    r = ResNet(ResNetConfig(n_features=2, stem="small"))
    assert r(torch.rand(2, 3, 8, 8), torch.rand(2, 2)).shape == (2, 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SmallCNN(SmallCNNConfig(channels=(8, 8, 8), hidden=16)),
        lambda: ResNet(ResNetConfig(width=4, stem="small")),
    ],
)
def test_models_learn_a_separable_problem(make, one_thread):
    """Class 1 has its energy in the upper half in η, class 0 in the lower half."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n = 32
    x = torch.zeros(n, 3, 16, 16)
    y = torch.arange(n) % 2
    rows = torch.randint(0, 8, (n,), generator=g) + 8 * y
    cols = torch.randint(0, 16, (n,), generator=g)
    x[torch.arange(n), 0, rows, cols] = 1.0
    m = make()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = (m(x).argmax(1) == y).float().mean().item()
    assert acc > 0.95


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ResNetConfig(depth=50), "depth"),
        (lambda: ResNetConfig(stem="big"), "stem"),
        (lambda: ResNetConfig(n_classes=1), "n_classes"),
        (lambda: SmallCNNConfig(channels=(8, 8)), "channels"),
        (lambda: SmallCNNConfig(dropout=1.5), "dropout"),
        (lambda: SmallCNNConfig.from_dict({"width": 3}), "unknown SmallCNN option"),
        (lambda: ResNetConfig.from_dict({"layers": 3}), "unknown ResNet option"),
    ],
)
def test_bad_configs(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_config_round_trip():
    c = SmallCNNConfig(in_channels=4, channels=(4, 8, 16))
    assert SmallCNNConfig.from_dict(c.to_dict()) == c
    r = ResNetConfig(depth=34, width=16)
    assert ResNetConfig.from_dict(r.to_dict()) == r
