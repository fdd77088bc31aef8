"""fastdl's ResNet-18 against a hand-written torch ResNet-18 with torchvision's module
names: fastdl's state_dict loads into it (strict), and both give the same outputs (eval
and train mode), running statistics and gradients; a torch checkpoint loads back with
fastdl.models.load_torch_state_dict."""

import numpy as np
import pytest

import fastdl as fd
import fastdl.models as M
import fastdl.nn.functional as F

torch = pytest.importorskip("torch")
nn = torch.nn


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchResNet18(nn.Module):
    def __init__(self, num_classes, small_input):
        super().__init__()
        if small_input:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        cin, layers = 64, []
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(cin, planes, stride),
                                        BasicBlock(planes, planes)))
            cin = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def to_torch(sd):
    return {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}


def close(a, b, rel):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= rel * np.abs(b).max() + 1e-7


@pytest.fixture(params=[(True, 32), (False, 64)], ids=["cifar32", "imagenet64"])
def pair(request):
    small_input, size = request.param
    fd.manual_seed(0)
    model = M.resnet18(num_classes=10, small_input=small_input)
    ref = TorchResNet18(10, small_input)
    ref.load_state_dict(to_torch(model.state_dict()), strict=True)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size), dtype=np.float32)
    return model, ref, x


def test_state_dict_matches_torch_layout(pair):
    model, ref, _ = pair
    ours, theirs = model.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k


def test_eval_outputs_match(pair):
    model, ref, x = pair
    model.eval()
    ref.eval()
    with fd.no_grad():
        y = model(fd.Tensor(x)).data
    with torch.no_grad():
        t = ref(torch.from_numpy(x)).numpy()
    close(y, t, 1e-4)


def test_train_outputs_statistics_and_gradients_match(pair):
    model, ref, x = pair
    model.train()
    ref.train()
    target = np.array([1, 9])
    y = model(fd.Tensor(x))
    loss = F.cross_entropy(y, target)
    loss.backward()
    t = ref(torch.from_numpy(x))
    tloss = nn.functional.cross_entropy(t, torch.from_numpy(target))
    tloss.backward()
    close(y.data, t.detach().numpy(), 1e-4)
    assert abs(float(loss.data) - tloss.item()) < 1e-4 * abs(tloss.item())
    theirs = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        close(p.grad, theirs[name].grad.numpy(), 2e-3)
    tsd = ref.state_dict()
    for name, b in model.named_buffers():
        close(b, tsd[name].numpy(), 1e-4)


def test_load_torch_checkpoint(pair, tmp_path):
    model, ref, x = pair
    ref.train()
    with torch.no_grad():                   # move the running statistics off their defaults
        ref(torch.from_numpy(x))
    ref.eval()
    path = tmp_path / "resnet18.pt"
    torch.save(ref.state_dict(), path)
    fresh = M.resnet18(num_classes=10, small_input=model.conv1.kernel_size == (3, 3))
    missing, unexpected = M.load_torch_state_dict(fresh, path)
    assert missing == [] and unexpected == []
    fresh.eval()
    with fd.no_grad():
        y = fresh(fd.Tensor(x)).data
    with torch.no_grad():
        t = ref(torch.from_numpy(x)).numpy()
    close(y, t, 1e-4)
    # wrapped in {"state_dict": ...} with DataParallel's "module." prefixes
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}},
               wrapped)
    again = M.resnet18(num_classes=10, small_input=model.conv1.kernel_size == (3, 3))
    M.load_torch_state_dict(again, wrapped)
    for k, v in again.state_dict().items():
        np.testing.assert_array_equal(v, fresh.state_dict()[k])
