"""Model parameter randomization test (Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018).

https://arxiv.org/abs/1810.03292, sec. 4. Layers are re-initialised from the logits down, either cumulatively
(``"cascading"``) or one at a time (``"independent"``), or cumulatively from the input up (``"bottom_up"``, the order
Quantus 0.6 defaults to after Hedström et al. 2023, https://arxiv.org/abs/2401.06465), and each randomised model's
map is compared with the trained model's map. A method whose maps stay similar while the weights that produce the
prediction are destroyed does not explain the model: similarity should drop (``higher_is_better=False``).

Choices, and why:

* Everything runs on a ``copy.deepcopy`` of the module; the caller's model is never touched (no hooks, no mode
  change, no re-initialisation).
* Layers are the modules that own parameters directly (``parameters(recurse=False)``), in forward order: the
  wrapper's ``parameter_layers()`` when it has one, else ``named_modules()`` registration order, which equals the
  forward order for ``nn.Sequential`` and for torchvision/timm CNNs (they register layers in the order they run).
* Re-initialisation is the layer's own ``reset_parameters()`` (PyTorch's default initialiser for that layer type),
  under ``torch.random.fork_rng`` seeded with ``seed + position`` so the global RNG is untouched and a layer gets
  the same random weights in both modes. Like Adebayo et al., who re-initialise ``tf.trainable_variables()``, only
  parameters are reset: batch-norm running statistics (buffers) are kept, so a norm layer's gamma and beta go back
  to 1 and 0 while its normalisation constants stay. A layer without ``reset_parameters`` has each of its own
  parameters randomly permuted (Quantus' fallback for Keras layers), which keeps the weight distribution.
* ``randomize="shuffle"`` permutes every layer's own parameters instead (each tensor's elements, seeded): the
  weights keep their trained distribution (scale, sparsity) and lose only their arrangement, so a method that
  passes under re-initialisation but not under shuffling reacts to the weight statistics, not to what was learnt.
* The explained class is the trained model's (``target`` or its prediction) at every step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from xai_core.attribution import _module_of, attribute
from xai_core.hooks import model_lock
from xai_core.sanity.similarity import DEFAULT_MEASURES, Reference, check_measures, nanmean, similarities

Mode = Literal["cascading", "bottom_up", "independent"]
MODES: tuple[str, ...] = ("cascading", "bottom_up", "independent")
RANDOMIZE: tuple[str, ...] = ("reinitialize", "shuffle")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _frozen_dict(values: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    return MappingProxyType({k: _frozen(v) for k, v in values.items()})


@dataclass(frozen=True)
class RandomizationStep:
    """One randomised model: the layer re-initialised at this step, its maps ``[B, H, W]``, similarity per image."""

    layer: str
    maps: np.ndarray
    similarity: Mapping[str, np.ndarray]

    def mean(self, measure: str = "spearman_abs") -> float:
        """The measure averaged over the images (undefined values skipped)."""
        return nanmean(self.similarity[measure])


@dataclass(frozen=True)
class RandomizationResult:
    """Maps of the trained model and of each randomised model, from the logits layer down.

    ``steps[i]`` is the model with layers ``0..i`` re-initialised (cascading, from the logits; bottom_up, from the
    input) or layer ``i`` alone (independent).
    Similarities are to ``original_map``; ``higher_is_better`` is False: a method passes when they drop.
    """

    method: str
    mode: str
    original_map: np.ndarray
    target: Tensor
    steps: tuple[RandomizationStep, ...]
    measures: tuple[str, ...]
    seed: int
    higher_is_better: bool = False
    randomize: str = "reinitialize"

    @property
    def layers(self) -> list[str]:
        return [step.layer for step in self.steps]

    def similarity_table(self, include_original: bool = True) -> dict[str, list[Any]]:
        """Columns for plotting: ``layer`` and the mean of each measure per step.

        With ``include_original`` the first row is the trained model compared with itself (the x-axis of the
        paper's figures starts at "original").
        """
        table: dict[str, list[Any]] = {"layer": (["original"] if include_original else []) + self.layers}
        self_similarity = similarities(self.original_map, self.original_map, self.measures)
        for name in self.measures:
            first = [nanmean(self_similarity[name])] if include_original else []
            table[name] = first + [step.mean(name) for step in self.steps]
        return table


def parameter_layers(model: Any) -> list[tuple[str, nn.Module]]:
    """``(dotted name, module)`` of every module owning parameters directly, in forward order (see module notes)."""
    module, _ = _module_of(model)
    provider = getattr(model, "parameter_layers", None)
    if callable(provider):
        names = {id(m): n for n, m in module.named_modules()}
        layers = []
        for item in provider():
            if isinstance(item, str):
                layers.append((item, module.get_submodule(item)))
            elif isinstance(item, nn.Module):
                layers.append((names[id(item)], item))
            else:
                name, layer = item
                layers.append((name, layer if isinstance(layer, nn.Module) else module.get_submodule(name)))
        return layers
    return [(n, m) for n, m in module.named_modules() if next(m.parameters(recurse=False), None) is not None]


def _select(layers: list[tuple[str, nn.Module]], subset: Iterable[str] | None) -> list[int]:
    """Positions (top-down) of the layers to randomise."""
    if subset is None:
        return list(range(len(layers)))
    wanted = [subset] if isinstance(subset, str) else list(subset)
    names = [n for n, _ in layers]
    unknown = [n for n in wanted if n not in names]
    if unknown or not wanted:
        raise ValueError(f"layers must be a non-empty subset of the parameter layers {names}; got {wanted}")
    return [i for i, n in enumerate(names) if n in wanted]  # always from the logits down


def shuffle_weights(layer: nn.Module, seed: int) -> None:
    """Permute the elements of each of ``layer``'s own parameters in place (a ``torch.Generator`` seeded with
    ``seed``, one permutation per tensor in registration order); buffers and child modules are left as they were."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters(recurse=False):
            order = torch.randperm(p.numel(), generator=generator).to(p.device)
            p.copy_(p.flatten()[order].view_as(p))


def reinitialize(layer: nn.Module, seed: int) -> None:
    """Re-initialise ``layer``'s own parameters in place, seeded; buffers and child modules are left as they were.
    A layer without ``reset_parameters`` has its parameters shuffled (``shuffle_weights``)."""
    reset = getattr(layer, "reset_parameters", None)
    if not callable(reset):
        shuffle_weights(layer, seed)
        return
    own = dict(layer.named_parameters(recurse=False))
    keep = {k: v.detach().clone() for k, v in layer.state_dict().items() if k not in own}
    cuda = sorted({p.device.index or 0 for p in own.values() if p.is_cuda})
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.manual_seed(seed)
        reset()
        if keep:  # reset_parameters of batch norm also resets running stats; of some modules, child parameters
            layer.load_state_dict(keep, strict=False)


def randomize_layer(layer: nn.Module, seed: int, randomize: str = "reinitialize") -> None:
    """``reinitialize`` or ``shuffle_weights`` ``layer``, as ``randomize`` (one of ``RANDOMIZE``) says."""
    if randomize not in RANDOMIZE:
        raise ValueError(f"randomize must be one of {list(RANDOMIZE)}; got {randomize!r}")
    (reinitialize if randomize == "reinitialize" else shuffle_weights)(layer, seed)


def randomization_steps(
    top_down: Sequence[tuple[str, nn.Module]], chosen: Sequence[int], mode: str, randomize: str, seed: int
) -> Iterator[str]:
    """Randomise the layers at positions ``chosen`` of ``top_down`` (the copy's parameter layers, logits first) in
    ``mode``'s order, in place, yielding each layer's name once it is randomised (its state is restored after the
    yield in ``"independent"`` mode). Layer ``i`` gets seed ``seed + i`` whatever the order, so the fully randomised
    model is the same in both cascading orders."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    for position in reversed(chosen) if mode == "bottom_up" else chosen:
        name, layer = top_down[position]
        saved = {k: v.detach().clone() for k, v in layer.state_dict().items()} if mode == "independent" else {}
        randomize_layer(layer, seed + position, randomize)
        yield name
        if mode == "independent":
            layer.load_state_dict(saved)


def model_copy(model: Any) -> tuple[Any, nn.Module]:
    """A deep copy of ``model``'s module and ``model`` around it: the copy itself for a plain module, else a shallow
    copy of the wrapper holding the copied module (so its preprocessing and CAM layer still apply)."""
    module, _ = _module_of(model)
    with model_lock(module):  # no other session's transient hook gets copied
        clone = copy.deepcopy(module)
    if model is module:
        return clone, clone
    wrapper = copy.copy(model)
    wrapper.module = clone
    return wrapper, clone


def top_down_layers(model: Any, clone: nn.Module) -> list[tuple[str, nn.Module]]:
    """``clone``'s modules matching ``parameter_layers(model)``, from the logits down."""
    return [(name, clone.get_submodule(name)) for name, _ in reversed(parameter_layers(model))]


def _layer_name_in(module: nn.Module, layer: Any) -> Any:
    """A CAM layer given as a module of the caller's model, as its dotted name (valid in the copy too)."""
    if isinstance(layer, nn.Module):
        for name, m in module.named_modules():
            if m is layer:
                return name
        raise ValueError("layer= is a module that is not part of the model")
    return layer


def model_randomization(
    model: Any,
    inputs: Tensor,
    method: str,
    *,
    target: int | Sequence[int] | Tensor | None = None,
    mode: str = "cascading",
    layers: Iterable[str] | None = None,
    seed: int = 0,
    similarity: Sequence[str] = DEFAULT_MEASURES,
    progress: Callable[[float], None] | None = None,
    randomize: str = "reinitialize",
    **params: Any,
) -> RandomizationResult:
    """Run the model parameter randomization test for ``method`` on ``inputs``.

    Args:
        model: a wrapper from ``xai_core.load_model`` or an ``nn.Module``; it is deep-copied, never changed.
        inputs: ``[B, C, H, W]`` images in the model's input space.
        method: a registry id (see ``xai_core.methods.describe()``).
        target: the class explained at every step; ``None`` means the trained model's prediction.
        mode: ``"cascading"`` (re-initialise layers cumulatively from the logits down), ``"bottom_up"``
            (cumulatively from the input up) or ``"independent"`` (one layer at a time, the others trained).
        layers: dotted names of a subset of the parameter layers (``parameter_layers``); always run top-down.
        seed: layer ``i`` (top-down position) is re-initialised with seed ``seed + i``.
        similarity: names from ``similarity.MEASURES``.
        progress: called with the fraction done after the original map and after each layer.
        randomize: ``"reinitialize"`` (the layer's own initialiser) or ``"shuffle"`` (permute its trained weights).
        **params: passed to ``attribute`` (method hyperparameters, ``layer=``, ``output=``, ``noise=``, ...).

    Returns:
        A ``RandomizationResult``; ``similarity_table()`` gives the curves of the paper's figures.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    if randomize not in RANDOMIZE:
        raise ValueError(f"randomize must be one of {list(RANDOMIZE)}; got {randomize!r}")
    measures = check_measures(similarity)
    module, cam_layer = _module_of(model)
    _, clone = model_copy(module)
    top_down = top_down_layers(model, clone)
    chosen = _select(top_down, layers)
    layer_arg = params.pop("layer", None)
    params["layer"] = _layer_name_in(module, layer_arg if layer_arg is not None else cam_layer)
    if params["layer"] is None:
        params.pop("layer")

    original = attribute(clone, inputs, method, target=target, **params)
    fixed_target = original.target
    original_map = original.to_maps()
    reference = Reference(original_map, measures)  # ranked and described once, compared at every step
    total = len(chosen) + 1
    if progress is not None:
        progress(1 / total)

    steps = []
    for done, name in enumerate(randomization_steps(top_down, chosen, mode, randomize, seed), start=2):
        maps = attribute(clone, inputs, method, target=fixed_target, **params).to_maps()
        sims = reference.compare(maps)
        steps.append(RandomizationStep(name, _frozen(maps), _frozen_dict(sims)))
        if progress is not None:
            progress(done / total)
    return RandomizationResult(
        method=method,
        mode=mode,
        original_map=_frozen(original_map),
        target=fixed_target,
        steps=tuple(steps),
        measures=measures,
        seed=seed,
        randomize=randomize,
    )
