"""ROAR (Hooker et al. 2019) on the digits benchmark: feature removal and a reduced end-to-end run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from xai_core.sanity import digits, roar
from xai_core.sanity.roar import RoarResult, remove_top


def test_remove_top_replaces_the_highest_scored_blocks() -> None:
    x = torch.rand(2, 3, 8, 8)
    scores = torch.arange(64.0).view(1, 8, 8).repeat(2, 1, 1)  # the bottom-right blocks score highest
    fill = torch.tensor([7.0, 8.0, 9.0])
    assert torch.equal(remove_top(x, scores, 0.0, fill, block=2), x)
    out = remove_top(x, scores, 0.25, fill, block=2)  # 4 of the 16 blocks of 2x2 pixels
    removed = (out != x).all(dim=1)
    assert int(removed.sum()) == 2 * 4 * 4
    assert removed[:, 6:, :].all() and not removed[:, :6, :].any()
    assert torch.equal(out[0, :, 7, 7], fill)
    single = remove_top(x, scores, 0.5, fill)  # block=1: pixels
    assert int((single != x).all(dim=1).sum()) == 2 * 32
    with pytest.raises(ValueError, match="fraction"):
        remove_top(x, scores, 1.5, fill)
    with pytest.raises(ValueError, match="block"):
        remove_top(x, scores, 0.5, fill, block=3)


@pytest.fixture(scope="module")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RoarResult, list[float]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XAI_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xai-cache"))
        progress: list[float] = []
        yield roar(["saliency"], fractions=(0.0, 0.9), epochs=1, progress=progress.append), progress


def test_reduced_roar_structure(reduced: tuple[RoarResult, list[float]]) -> None:
    result, progress = reduced
    assert result.methods == ("saliency", "random")
    assert result.fractions == (0.0, 0.9) and result.epochs == 1 and result.higher_is_better is False
    assert all(len(acc) == 2 and all(0.0 <= a <= 1.0 for a in acc) for acc in result.accuracy.values())
    assert result.table() == {"fraction": [0.0, 0.9], **{m: list(result.accuracy[m]) for m in result.methods}}
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])  # one shared clean model, then one per ranking
    assert result.seconds > 0


def test_fraction_zero_is_the_clean_model_for_every_ranking(reduced: tuple[RoarResult, list[float]]) -> None:
    result, _ = reduced
    data = digits.load_digits_data(0)
    clean = digits.fit(data.x_train, data.y_train, epochs=1, seed=0)  # same seed: the same model
    expected = digits.accuracy(clean, data.x_test, data.y_test)
    assert result.accuracy["saliency"][0] == result.accuracy["random"][0] == expected


def test_removing_ninety_percent_at_random_hurts(reduced: tuple[RoarResult, list[float]]) -> None:
    result, _ = reduced
    assert result.accuracy["random"][1] < result.accuracy["random"][0] - 0.1


def test_roar_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="fractions"):
        roar(["saliency"], fractions=(0.0, 1.2))
    with pytest.raises(ValueError, match="baseline"):
        roar(["random"])
