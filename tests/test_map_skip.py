"""``--map clip`` is skipped where it cannot change an integer output (a pass saved on
every blur of an 8- or 16-bit image): the same bytes as with the clip, and the clip kept
wherever a result can leave the range."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convcli import process
from convcli.kernels import parse_step
from convcli.pipeline import StepOptions, prepare_steps, result_range
from convcli.process import ApplyOptions, process_one

RNG = np.random.default_rng(23)


def random_image(folder, shape, dtype=np.uint8, name="in.png"):
    top = np.iinfo(dtype).max
    pixels = RNG.integers(0, top, shape, endpoint=True).astype(dtype)
    pixels[:4] = top  # saturated rows: the blur's sums reach full scale exactly
    pixels[-4:] = 0
    path = folder / name
    Image.fromarray(pixels).save(path)
    return path


def decided(monkeypatch) -> list[str]:
    """The map modes the filter ran with, in order."""
    chosen: list[str] = []
    real = process._map_mode_to_run

    def spy(*args):
        chosen.append(real(*args))
        return chosen[-1]

    monkeypatch.setattr(process, "_map_mode_to_run", spy)
    return chosen


# (steps, the map run on 8-bit input, on 16-bit input): 16 bits leave less room for the
# float32 rounding's bound (n u S: 169 taps of 65535 reach 1.3 levels), so the larger
# kernels keep their clip there.
CASES = [
    (["gaussian:2"], "raw", "clip"),
    (["box:3"], "raw", "raw"),
    (["box:31"], "raw", "clip"),
    (["gaussian:1", "maxpool:3,s=1"], "raw", "raw"),
    (["sharpen"], "clip", "clip"),  # negative taps: results leave 0 .. 255
    (["1 1 1"], "clip", "clip"),  # sums to 3
]


@pytest.mark.parametrize(("texts", "mode8", "mode16"), CASES, ids=[" ".join(c[0]) for c in CASES])
@pytest.mark.parametrize(("dtype", "shape", "suffix"), [
    (np.uint8, (37, 45, 3), ".png"),
    (np.uint8, (37, 45), ".jpg"),
    (np.uint16, (37, 45), ".png"),
])  # fmt: skip
def test_same_bytes_with_and_without_the_clip(
    tmp_path, monkeypatch, texts, mode8, mode16, dtype, shape, suffix
):
    mode = mode8 if dtype == np.uint8 else mode16
    source = random_image(tmp_path, shape, dtype)
    steps = [parse_step(text) for text in texts]
    chosen = decided(monkeypatch)
    process_one(source, tmp_path / f"skip{suffix}", steps, ApplyOptions(threads=1))
    assert chosen == [mode]
    monkeypatch.setattr(process, "_map_mode_to_run", lambda plan, *rest: plan.map_mode)
    process_one(source, tmp_path / f"clip{suffix}", steps, ApplyOptions(threads=1))
    skipped = (tmp_path / f"skip{suffix}").read_bytes()
    assert skipped == (tmp_path / f"clip{suffix}").read_bytes()


def test_the_clip_stays_for_8_bit_input_written_in_16_bits(tmp_path, monkeypatch):
    # 8 -> 16 bits: half an output level is 0.002 of an input level; a 63-tap box's
    # float32 sums may stray further than that past 255.
    source = random_image(tmp_path, (20, 80), np.uint8)
    chosen = decided(monkeypatch)
    options = ApplyOptions(threads=1, depth="16")
    process_one(source, tmp_path / "o.png", [parse_step("box:63")], options)
    assert chosen == ["clip"]


def test_the_clip_stays_for_float_input_and_asked_maps(tmp_path, monkeypatch):
    chosen = decided(monkeypatch)
    values = RNG.random((30, 30), dtype=np.float32) * 3 - 1  # a float image may hold anything
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    process_one(tmp_path / "f.tif", tmp_path / "o.png", [parse_step("box:3")], ApplyOptions())
    source = random_image(tmp_path, (30, 30), np.uint8)
    process_one(source, tmp_path / "a.png", [parse_step("box:3")], ApplyOptions(map_mode="abs"))
    assert chosen == ["clip", "abs"]


def test_result_range_of_chains_and_steps_it_cannot_bound():
    steps = prepare_steps([parse_step("gaussian:2"), parse_step("box:3")], StepOptions())
    low, high, rounding = result_range(steps, StepOptions(), 0, 255)
    assert (low, round(high, 9)) == (0.0, 255.0) and 0 < rounding < 0.05
    biased = result_range([parse_step("box:3")], StepOptions(bias=np.array([10.0])), 0, 255)
    assert biased[:2] == pytest.approx((10.0, 265.0))
    assert result_range([parse_step("sobel")], StepOptions(), 0, 255) is None  # a magnitude
    assert result_range([parse_step("kirsch")], StepOptions(), 0, 255) is None
