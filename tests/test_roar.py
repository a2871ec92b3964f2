"""ROAR (Hooker et al. 2019) on the digits benchmark: feature removal and a reduced end-to-end run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from xai_core.sanity import digits, roar
from xai_core.sanity.roar import Modified, RoarResult, Split, feature_count, remove_top, replace_features


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


def test_kar_keeps_what_roar_removes_and_counts_floor_as_the_authors() -> None:
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    fill = torch.tensor([-1.0, -2.0, -3.0])  # outside [0, 1]: a replaced pixel is unmistakable
    for fraction in (0.0, 0.1, 0.3, 0.7, 1.0):
        removed = (remove_top(x, scores, fraction, fill) == fill.view(1, 3, 1, 1)).all(dim=1)
        kept = ~(replace_features(x, scores, fraction, fill, keep=True) == fill.view(1, 3, 1, 1)).all(dim=1)
        assert torch.equal(removed, kept)  # KAR keeps exactly the features ROAR removes
        assert (removed.sum(dim=(1, 2)) == feature_count(fraction, 64)).all()
        lowest_removed = torch.where(removed, scores, torch.inf).amin(dim=(1, 2))
        highest_left = torch.where(removed, -torch.inf, scores).amax(dim=(1, 2))
        assert (lowest_removed > highest_left).all()  # the top-scored ones
    # np.int((threshold / 100.) * total) in data_input.py: 70% of 10 is 7, 10% of 64 is 6
    assert [feature_count(f, n) for f, n in ((0.7, 10), (0.1, 64), (0.9, 64), (0.3, 150528))] == [7, 6, 57, 45158]
    with pytest.raises(ValueError, match="scores"):
        replace_features(x, scores[:2], 0.5, fill)


def test_modified_uint8_pixels_match_the_float_path() -> None:
    pixels = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    scores, fill = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([0.2, 0.4, 0.6])
    split = Split(pixels, torch.tensor([0, 1, 0, 1]))
    modified = Modified(split, scores, 0.5, True, fill, block=2)
    expected = replace_features(pixels.float() / 255, scores, 0.5, fill, block=2, keep=True)
    assert torch.equal(modified.tensor(), expected)
    assert torch.equal(torch.cat([b for _part, b in modified.batches(3)]), expected)
    assert torch.equal(Modified(split, None, 0.5, True, fill).tensor(), pixels.float() / 255)


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
