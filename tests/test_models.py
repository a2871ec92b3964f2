"""Model zoo: the bundled EfficientNet-Lite0 really classifies, torchvision stays offline, checkpoints load safely."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from skimage import data
from torch import nn

from xai_core import models
from xai_core.models import ModelError, ModelWrapper, available_models, default_device, load_model

SIDE_EFFECTS: list[str] = []
STATS = (models.IMAGENET_MEAN, models.IMAGENET_STD)


def _record(note: str) -> str:
    SIDE_EFFECTS.append(note)
    return note


class _Payload:
    """Unpickling this would call _record: a stand-in for code hidden in a checkpoint."""

    def __reduce__(self) -> tuple:
        return (_record, ("unpickled",))


@pytest.fixture(scope="module")
def lite0() -> ModelWrapper:
    return load_model(device="cpu")


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.fromarray(data.chelsea())


def _forward_order(module: nn.Module, size: int = 64) -> list[str]:
    """Names of parameter-owning modules in the order a forward pass calls them (a test-only hook probe)."""
    order: list[str] = []
    handles = [
        sub.register_forward_pre_hook(lambda *_, name=name: order.append(name))
        for name, sub in module.named_modules()
        if next(sub.parameters(recurse=False), None) is not None
    ]
    try:
        with torch.inference_mode():
            module(torch.zeros(1, 3, size, size))
    finally:
        for handle in handles:
            handle.remove()
    return list(dict.fromkeys(order))


def _resnet18_checkpoint(path: Path, classes: int = 10, wrap: bool = False) -> nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=classes).eval()
    state = net.state_dict()
    if wrap:  # as saved by a training loop around DataParallel
        state = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": torch.tensor(3)}
    torch.save(state, path)
    return net


# --- bundled EfficientNet-Lite0 --------------------------------------------------------------------------------


@pytest.mark.slow
def test_bundled_model_loads_in_eval_mode_with_its_settings(lite0: ModelWrapper) -> None:
    assert available_models()[0] == lite0.name == "efficientnet_lite0"
    assert not any(m.training for m in lite0.module.modules())
    assert lite0.device == torch.device("cpu") and lite0.num_classes == 1000
    assert lite0.labels[281] == "tabby" and lite0.labels[967] == "espresso"
    # The preprocessing agrees with timm's own config for tf_efficientnet_lite0 (crop_pct 0.875 = 224 / 256).
    cfg = lite0.module.pretrained_cfg
    assert (lite0.mean, lite0.std) == (cfg["mean"], cfg["std"]) == ((0.5,) * 3, (0.5,) * 3)
    assert lite0.interpolation == cfg["interpolation"] == "bicubic"
    assert lite0.input_size == cfg["input_size"][1:] and lite0.resize / 224 == pytest.approx(1 / cfg["crop_pct"])


@pytest.mark.slow
def test_cam_layer_is_the_final_activated_feature_map(lite0: ModelWrapper, chelsea: Image.Image) -> None:
    layer = lite0.module.get_submodule(lite0.cam_layer)
    features = lite0.module.forward_features(lite0.preprocess(chelsea)).detach()
    assert features.shape == (1, 1280, 7, 7)
    assert features.min() >= 0 and features.max() <= 6  # after ReLU6
    assert isinstance(layer.act, nn.ReLU6)


def test_bundled_weights_match_the_recorded_checksum() -> None:
    assert models._sha256(models._bundled_weights_path()) == models.BUNDLED_SHA256


@pytest.mark.slow
def test_corrupted_bundled_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "efficientnet-lite0-57934424.pth"
    shutil.copyfile(models._bundled_weights_path(), copy)
    with copy.open("r+b") as fh:  # flip one byte inside the tensor data
        fh.seek(copy.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(models, "_packaged_weights_path", lambda name: copy)
    with pytest.raises(ModelError, match=rf"packaged weights file .*{copy.name} is corrupt: SHA-256 expected 579344"):
        load_model(device="cpu")
    monkeypatch.setattr(models, "_packaged_weights_path", lambda name: tmp_path / "gone.pth")
    with pytest.raises(ModelError, match=r"packaged weights file missing: .*gone.pth; reinstall"):
        load_model(device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "size", "resize"), [("efficientnet_lite1", 240, 272), ("efficientnet_lite2", 260, 292)]
)
def test_larger_lites_load_strictly_offline_and_see_a_cat(
    name: str, size: int, resize: int, chelsea: Image.Image
) -> None:
    """Lite1 and Lite2 ship as pinned packages too: checksummed, strict keys, their own crop (timm's settings)."""
    assert models._sha256(models._packaged_weights_path(name)) == models._PACKAGED[name].sha256
    wrapper = load_model(name, device="cpu")
    assert (wrapper.input_size, wrapper.resize) == ((size, size), resize)
    x = wrapper.preprocess(chelsea)
    assert x.shape == (1, 3, size, size)
    assert wrapper.top_k(x, k=1)[0][0][0] in range(281, 286)  # a cat (tabby ... Egyptian cat)


@pytest.mark.slow
def test_chelsea_is_a_cat(lite0: ModelWrapper, chelsea: Image.Image) -> None:
    top = lite0.top_k(lite0.preprocess(chelsea), k=5)[0]
    assert 281 <= top[0][0] <= 285, top  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert sum(p for c, _, p in top if 281 <= c <= 285) > 0.9


@pytest.mark.slow
def test_coffee_is_an_espresso(lite0: ModelWrapper) -> None:
    top = lite0.top_k(lite0.preprocess(Image.fromarray(data.coffee())), k=5)[0]
    assert top[0][:2] == (967, "espresso") and top[0][2] > 0.8, top
    assert 968 in [c for c, _, _ in top]  # cup


@pytest.mark.slow
def test_preprocess_shape_and_range(lite0: ModelWrapper, chelsea: Image.Image) -> None:
    x = lite0.preprocess(chelsea)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.9  # [0, 1] pixels scaled to [-1, 1]
    assert lite0.preprocess(chelsea.convert("L")).shape == (1, 3, 224, 224)
    with pytest.raises(TypeError, match="PIL image"):
        lite0.preprocess(np.zeros((8, 8, 3)))  # type: ignore[arg-type]


@pytest.mark.slow
def test_to_display_undoes_preprocess_up_to_rounding(lite0: ModelWrapper, chelsea: Image.Image) -> None:
    # Reference geometry by hand: 451x300 -> shorter side 256 -> 384x256 (torchvision truncates), centre crop 224.
    resized = chelsea.resize((384, 256), Image.Resampling.BICUBIC)
    expected = np.asarray(resized.crop((80, 16, 304, 240)), dtype=np.int16)
    shown = lite0.to_display(lite0.preprocess(chelsea))
    assert shown.shape == (1, 224, 224, 3) and shown.dtype == np.uint8
    assert np.abs(shown[0].astype(np.int16) - expected).max() <= 1
    assert lite0.to_display(lite0.preprocess(chelsea)[0]).shape == (224, 224, 3)
    with pytest.raises(ValueError, match=r"got shape \(224, 224\)"):
        lite0.to_display(torch.zeros(224, 224))


def test_pixel_and_model_space_are_inverse() -> None:
    wrapper = ModelWrapper("toy", nn.Identity(), ["a"], "", (4, 4), 4, "bilinear", (0.4, 0.5, 0.6), (0.2, 0.3, 0.4))
    pixels = torch.rand(2, 3, 4, 4)
    assert torch.allclose(wrapper.to_pixels(wrapper.to_model_space(pixels)), pixels, atol=1e-6)
    assert torch.allclose(wrapper.to_model_space(pixels)[:, 1], (pixels[:, 1] - 0.5) / 0.3)
    assert wrapper.to("cpu") is wrapper and wrapper.device == torch.device("cpu") and wrapper.num_classes == 1


@pytest.mark.slow
def test_predict_and_top_k(lite0: ModelWrapper, chelsea: Image.Image) -> None:
    x = torch.cat([lite0.preprocess(chelsea), lite0.preprocess(chelsea.transpose(Image.Transpose.FLIP_LEFT_RIGHT))])
    probs = lite0.predict(x)
    assert probs.shape == (2, 1000) and not probs.requires_grad
    assert torch.allclose(probs.sum(dim=1), torch.ones(2), atol=1e-5)
    ranked = lite0.top_k(x, k=7)
    assert len(ranked) == 2 and all(len(row) == 7 for row in ranked)
    for row, p in zip(ranked, probs, strict=True):
        assert [c for c, _, _ in row] == p.topk(7).indices.tolist()
        assert [q for _, _, q in row] == sorted((q for _, _, q in row), reverse=True)
        assert all(label == lite0.labels[c] for c, label, _ in row)
    with pytest.raises(ValueError, match="k must be at least 1"):
        lite0.top_k(x, k=0)


@pytest.mark.slow
def test_parameter_layers_follow_forward_order(lite0: ModelWrapper, tmp_path: Path) -> None:
    names = [name for name, _ in lite0.parameter_layers()]
    assert names == _forward_order(lite0.module)
    assert names[0] == "conv_stem" and names[-1] == "classifier" and "bn2" in names
    _resnet18_checkpoint(tmp_path / "r18.pt")
    resnet = load_model("resnet18", tmp_path / "r18.pt", device="cpu")
    assert [n for n, _ in resnet.parameter_layers()] == _forward_order(resnet.module)


@pytest.mark.slow
def test_lite0_user_weights_in_either_key_layout(lite0: ModelWrapper, tmp_path: Path) -> None:
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    original = load_model(weights=models._bundled_weights_path(), device="cpu")  # lukemelas-style keys
    torch.save(lite0.module.state_dict(), tmp_path / "timm.pt")  # timm-style keys
    renamed = load_model("efficientnet_lite0", tmp_path / "timm.pt", device="cpu")
    assert torch.equal(original.predict(x), lite0.predict(x)) and torch.equal(renamed.predict(x), lite0.predict(x))
    assert renamed.source == str(tmp_path / "timm.pt") and renamed.num_classes == 1000


# --- torchvision architectures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(models._TORCHVISION))
def test_missing_torchvision_cache_names_the_file(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    file = torchvision.models.get_model_weights(name).DEFAULT.url.rsplit("/", 1)[-1]
    expected = tmp_path / "checkpoints" / file
    with pytest.raises(ModelError, match="not in the local cache") as info:
        load_model(name, device="cpu")
    assert str(expected) in str(info.value) and "offline" in str(info.value)
    assert not (tmp_path / "checkpoints").exists()  # nothing was downloaded


@pytest.mark.parametrize("name", list(models._TORCHVISION))
def test_torchvision_settings_match_default_weights(name: str) -> None:
    arch = models._TORCHVISION[name]
    preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    assert preset.resize_size == [arch.resize] and preset.crop_size == [224]
    assert preset.interpolation.value == arch.interpolation
    assert (tuple(preset.mean), tuple(preset.std)) == (models.IMAGENET_MEAN, models.IMAGENET_STD)
    with torch.device("meta"):  # builds the graph without allocating or initialising weights
        net = torchvision.models.get_model(name, weights=None)
        net.eval()
        captured: list[torch.Tensor] = []
        handle = net.get_submodule(arch.cam_layer).register_forward_hook(lambda *a: captured.append(a[2]))
        try:
            net(torch.zeros(1, 3, 224, 224))
        finally:
            handle.remove()
        wrapper = ModelWrapper(name, net, ["?"] * 1000, arch.cam_layer, (224, 224), arch.resize, "bilinear", *STATS)
        assert [n for n, _ in wrapper.parameter_layers()] == _forward_order(net, 224)
    assert net.get_submodule(arch.head).weight.shape[0] == 1000
    assert captured[0].dim() == 4 and captured[0].shape[-1] in (7, 14)  # a spatial map before pooling


def test_cached_torchvision_weights_load_and_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _resnet18_checkpoint(tmp_path / "tmp.pth", classes=1000)
    digest = models._sha256(tmp_path / "tmp.pth")
    cached = tmp_path / f"resnet18-{digest[:8]}.pth"  # torch hub names files <name>-<sha256 prefix>.pth
    (tmp_path / "tmp.pth").rename(cached)
    monkeypatch.setattr(models, "_hub_weights_path", lambda name: cached)
    model = load_model("resnet18", device="cpu")
    assert model.labels[0] == "tench" and model.cam_layer == "layer4" and not model.module.training
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.predict(x), net(x).softmax(-1))
    corrupt = tmp_path / "resnet18-deadbeef.pth"
    cached.rename(corrupt)
    monkeypatch.setattr(models, "_hub_weights_path", lambda name: corrupt)
    with pytest.raises(ModelError, match=r"resnet18-deadbeef.pth is corrupt: its name says SHA-256 deadbeef"):
        load_model("resnet18", device="cpu")
    with pytest.raises(ModelError, match=r"num_classes=10 needs weights="):
        load_model("resnet18", num_classes=10)


# --- user checkpoints ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [False, True])
def test_user_checkpoint_round_trip(tmp_path: Path, wrap: bool) -> None:
    net = _resnet18_checkpoint(tmp_path / "my.pt", classes=10, wrap=wrap)
    model = load_model("resnet18", weights=str(tmp_path / "my.pt"), num_classes=10 if wrap else None, device="cpu")
    assert model.labels == [f"class {i}" for i in range(10)] and model.num_classes == 10
    assert not any(m.training for m in model.module.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model.module(x), net(x))


def test_pickled_objects_are_refused_unopened(tmp_path: Path) -> None:
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    torch.save({"state_dict": state, "config": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ModelError, match=r"refused for safety: .*evil.pt contains pickled Python objects") as info:
        load_model("resnet18", tmp_path / "evil.pt")
    assert "_record" in str(info.value) and SIDE_EFFECTS == []


def test_checkpoint_keys_and_shapes_are_named(tmp_path: Path) -> None:
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    state["head.weight"] = state.pop("fc.weight")
    torch.save(state, tmp_path / "keys.pt")
    with pytest.raises(ModelError, match=r"1 missing keys \(e.g. fc.weight\); 1 unexpected keys \(e.g. head.weight\)"):
        load_model("resnet18", tmp_path / "keys.pt", num_classes=10)
    _resnet18_checkpoint(tmp_path / "ten.pt", classes=10)
    with pytest.raises(
        ModelError, match=r"first shape mismatch: fc.weight expected \(5, 512\), got \(10, 512\); pass num_classes="
    ):
        load_model("resnet18", tmp_path / "ten.pt", num_classes=5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"weights file not found: .*ckpt.pt"),
        (b"", r"weights file is empty \(0 bytes\)"),
        (b"definitely not a checkpoint", r"ckpt.pt is not a readable PyTorch checkpoint"),
        ([torch.zeros(2)], r"not a state dict: .*ckpt.pt holds a list"),
        ({"fc.weight": torch.zeros(2), "note": "hi"}, r"not a state dict: .* entries that are not name -> tensor"),
    ],
)
def test_unreadable_checkpoints_say_why(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "ckpt.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ModelError, match=message):
        load_model("resnet18", path)


def test_unknown_model_and_bad_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ModelError,
        match=r"unknown model 'resnet1000'; available: efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, res",
    ):
        load_model("resnet1000")
    monkeypatch.setenv("XAI_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("XAI_DEVICE", "gpu-please")
    with pytest.raises(ModelError, match=r"XAI_DEVICE 'gpu-please' is not a torch device"):
        default_device()
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            load_model("resnet18", device="cuda")
