"""Big images in strips: the same pixels as filtering the whole image at once.

Small random images with tiny strips (1 to 7 rows) stand for a 12000x12000 photo: every
strip boundary, the halo of a chain of steps, and the edge strips (where the border is
made) are exercised, bit for bit against ``strip_rows=0`` (the whole image).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convcli import pipeline, process
from convcli.kernels import parse_step
from convcli.pipeline import StepOptions, plan_strips
from convcli.process import ApplyOptions, process_one

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def no_fft(monkeypatch):
    """The core's own choice, except FFT (which never runs in strips). The core prices FFT
    lower once another test has imported scipy.fft, and on these tiny images it could
    then pick it; the chains here must run in strips whatever ran before."""
    real = pipeline.choose_algorithm

    def choose(*args):
        name, reason = real(*args)
        return ("direct", "not fft, for this test") if name == "fft" else (name, reason)

    monkeypatch.setattr(pipeline, "choose_algorithm", choose)


def random_png(folder, name: str, shape, dtype=np.uint8):
    pixels = RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    path = folder / name
    Image.fromarray(pixels).save(path)
    return path


def run(source, output, texts, strip_rows, **options):
    steps = [parse_step(text) for text in texts]
    step_options = options.pop("steps", StepOptions())
    chosen = ApplyOptions(steps=step_options, strip_rows=strip_rows, threads=2, **options)
    return process_one(source, output, steps, chosen)


def pixels_of(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


CHAINS = [
    ["sobel-x"],
    ["sobel"],  # gradient magnitude: two convolutions per strip
    ["gaussian:1", "sobel"],  # a chain: halo 3 + 1 rows
    ["laplacian", "box:3", "sharpen"],
    ["1;2;-3"],  # 3x1: vertical pads only
    ["0 1; 2 3"],  # even kernel: pad 0 above, 1 below
    ["diff-y"],
    ["median:3"],
    ["gaussian:1", "median:3", "emboss"],
    ["box:3,d=2"],  # dilated: halo 2
    ["sobel-x:p=1,border=zeros"],
]


@pytest.mark.parametrize("texts", CHAINS, ids=lambda texts: "+".join(texts))
def test_strips_equal_the_whole_image(tmp_path, texts):
    source = random_png(tmp_path, "in.png", (23, 19, 3))
    whole = run(source, tmp_path / "whole.png", texts, strip_rows=0)
    assert whole.strips == 0
    expected = pixels_of(tmp_path / "whole.png")
    for rows in (1, 2, 3, 7):
        output = tmp_path / f"strips{rows}.png"
        result = run(source, output, texts, strip_rows=rows)
        assert result.strips == -(-23 // rows)
        assert np.array_equal(pixels_of(output), expected), rows
        assert result.out_shape == whole.out_shape
        assert [r.algorithms for r in result.reports] == [r.algorithms for r in whole.reports]


@pytest.mark.parametrize("border", ["zeros", "reflect", "replicate", "symmetric"])
@pytest.mark.parametrize("algorithm", ["direct", "separable", "gemm"])
def test_strips_equal_the_whole_image_for_every_border_and_engine(
    tmp_path, monkeypatch, border, algorithm
):
    monkeypatch.setattr(
        pipeline, "choose_algorithm", lambda *args: (algorithm, f"forced {algorithm}")
    )
    source = random_png(tmp_path, "in.png", (17, 13, 3))
    texts = ["gaussian:1", "sobel"]  # rank-1 kernels: every engine can run them
    options = {"steps": StepOptions(border=border)}
    run(source, tmp_path / "whole.png", texts, strip_rows=0, **options)
    result = run(source, tmp_path / "strips.png", texts, strip_rows=2, **options)
    assert result.strips == 9
    assert result.reports[0].algorithms[0][1] == algorithm
    assert np.array_equal(pixels_of(tmp_path / "strips.png"), pixels_of(tmp_path / "whole.png"))


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "options"),
    [
        ("alpha", (21, 9, 4), np.uint8, {}),  # premultiplied, divided back per strip
        ("gray", (21, 9, 3), np.uint8, {"gray": True}),
        ("linear", (21, 9, 3), np.uint8, {"linear": True}),
        ("offset", (21, 9, 3), np.uint8, {"map_mode": "offset"}),
        ("sixteen", (21, 9), np.uint16, {}),
        ("float npy", (21, 9, 3), np.uint8, {}),
    ],
)
def test_strips_with_alpha_gray_linear_maps_and_depths(tmp_path, name, shape, dtype, options):
    source = random_png(tmp_path, "in.png", shape, dtype)
    suffix = ".npy" if name == "float npy" else ".png"
    whole_out, strips_out = tmp_path / f"whole{suffix}", tmp_path / f"strips{suffix}"
    texts = ["gaussian:1"] if name == "alpha" else ["sobel-x", "box:3"]
    run(source, whole_out, texts, strip_rows=0, **options)
    result = run(source, strips_out, texts, strip_rows=4, **options)
    assert result.strips == 6
    if suffix == ".npy":
        assert np.array_equal(np.load(strips_out), np.load(whole_out))
    else:
        assert np.array_equal(pixels_of(strips_out), pixels_of(whole_out))


@pytest.mark.parametrize(
    ("texts", "options"),
    [
        (["maxpool:2"], {}),  # changes the size
        (["sobel-x:s=2"], {}),  # strided
        (["box:3"], {"steps": StepOptions(border="circular")}),  # wraps top to bottom
        (["sobel"], {"map_mode": "minmax"}),  # needs the whole result's range
        (["gaussian:1", "avgpool:2", "sobel"], {}),
        (["box:3", "1;1"], {"steps": StepOptions(padding=0)}),  # shrinks
    ],
)
def test_chains_that_cannot_run_in_strips_run_whole(tmp_path, texts, options):
    source = random_png(tmp_path, "in.png", (12, 10, 3))
    result = run(source, tmp_path / "out.png", texts, strip_rows=3, **options)
    assert result.strips == 0


def test_fft_sized_kernels_run_whole(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "choose_algorithm", lambda *args: ("fft", "forced fft"))
    source = random_png(tmp_path, "in.png", (12, 10))
    assert run(source, tmp_path / "out.png", ["box:3"], strip_rows=3).strips == 0


def test_plan_strips_halo_and_rows_needed(monkeypatch):
    monkeypatch.setattr(pipeline, "choose_algorithm", lambda *args: ("direct", "forced"))
    steps = [parse_step("gaussian:1"), parse_step("0 1; 2 3"), parse_step("sobel")]
    plan = plan_strips((3, 100, 80), steps)
    assert (plan.halo_top, plan.halo_bottom) == (3 + 0 + 1, 3 + 1 + 1)
    assert plan.min_rows == 4 + 5 + 3 + 1  # halo, and more rows than the widest pad
    assert plan.rows_needed(0, 10) == (0, 15)
    assert plan.rows_needed(50, 60) == (46, 65)
    assert plan.rows_needed(50, 51) == (43, 56)  # widened upwards to 13 rows
    assert plan.rows_needed(99, 100) == (87, 100)
    assert plan_strips((3, 100, 80), [parse_step("maxpool:2")]) is None


def test_default_strips_for_a_large_image(tmp_path):
    source = random_png(tmp_path, "in.png", (700, 1500, 3))
    result = run(source, tmp_path / "out.png", ["sobel"], strip_rows=None)
    rows = (1 << 21) // (3 * 1500)  # about 8 MB of float32 per strip
    assert result.strips == -(-700 // rows) == 2
    whole = run(source, tmp_path / "whole.png", ["sobel"], strip_rows=0)
    assert whole.strips == 0
    assert np.array_equal(pixels_of(tmp_path / "out.png"), pixels_of(tmp_path / "whole.png"))


def test_one_thread_filters_an_image_up_to_8m_elements_whole(tmp_path, monkeypatch):
    """A batch worker (one thread) gains nothing from strips on a photo: they only bound
    the memory, and cost halo rows and set-up. Bigger images, or more threads, go in strips."""
    assert 3 * 1080 * 1920 <= process.ONE_THREAD_WHOLE_ELEMENTS < 3 * 2160 * 3840
    monkeypatch.setattr(process, "ONE_THREAD_WHOLE_ELEMENTS", 3 * 700 * 1500)
    source = random_png(tmp_path, "in.png", (700, 1500, 3))
    one = ApplyOptions(strip_rows=None, threads=1)
    whole = process_one(source, tmp_path / "one.png", [parse_step("sobel")], one)
    assert whole.strips == 0
    two = run(source, tmp_path / "two.png", ["sobel"], strip_rows=None)
    assert two.strips == 2
    assert np.array_equal(pixels_of(tmp_path / "one.png"), pixels_of(tmp_path / "two.png"))
    monkeypatch.setattr(process, "ONE_THREAD_WHOLE_ELEMENTS", 3 * 700 * 1500 - 1)
    bigger = process_one(source, tmp_path / "big.png", [parse_step("sobel")], one)
    assert bigger.strips == 2


def test_explain_says_how_many_strips(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(process, "cpu_count", lambda: 2)  # one core would filter it whole
    source = random_png(tmp_path, "in.png", (700, 1500, 3))
    result = cli("apply", source, "-k", "sobel", "-o", tmp_path / "o.png", "--explain")
    assert "filtered in 2 strips of rows" in result.stderr
    small = random_png(tmp_path, "small.png", (300, 451, 3))
    result = cli("apply", small, "-k", "sobel", "-o", tmp_path / "s.png", "--explain")
    assert "filtered in 1 strip of rows, each read" in result.stderr
