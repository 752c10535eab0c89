"""The kernel-recovery solver (convcli.learn) on NumPy arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from convcli.core import conv2d
from convcli.errors import ConvcliError, SpecError
from convcli.kernels import parse_step
from convcli.learn import (
    fit_kernel,
    fit_kernel_gd,
    infer_pads,
    learn_kernel,
    parse_kernel_size,
)

SAMPLES = Path(__file__).parent.parent / "samples"

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)


def seed_example() -> tuple[np.ndarray, np.ndarray]:
    """The seed's 6x8 input (ones, columns 2..5 zero) and its [1,-1] valid output."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    return x, x[:, :-1] - x[:, 1:]


def correlate(x: np.ndarray, kernel: np.ndarray, border: str = "reflect") -> np.ndarray:
    """'Same' cross-correlation of each channel in float32, by the core's conv2d."""
    channels = np.asarray(x, dtype=np.float32).reshape(-1, *x.shape[-2:])
    out = [conv2d(channel, kernel, padding="same", padding_mode=border) for channel in channels]
    return np.stack(out).reshape(x.shape)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 48x48 crop of a real photograph (Chelsea the cat), (3, H, W) in 0..255."""
    from PIL import Image

    with Image.open(SAMPLES / "chelsea.png") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    return pixels[120:168, 180:228].transpose(2, 0, 1).copy()


# ------------------------------------------------------------------ sizes and padding


@pytest.mark.parametrize(
    ("text", "size"), [("3", (3, 3)), ("1x2", (1, 2)), ("3x5", (3, 5)), (" 2X1 ", (2, 1))]
)
def test_parse_kernel_size(text, size):
    assert parse_kernel_size(text) == size


@pytest.mark.parametrize("text", ["", "x3", "3x", "3x3x3", "-1", "a"])
def test_parse_kernel_size_rejects_words(text):
    with pytest.raises(SpecError) as caught:
        parse_kernel_size(text)
    assert str(caught.value) == f"--size must be K or KHxKW (e.g. 3, 3x5, 1x2), got {text!r}"


def test_parse_kernel_size_rejects_zero():
    with pytest.raises(SpecError, match=r"^--size must be at least 1x1, got '0x2'$"):
        parse_kernel_size("0x2")


def test_infer_pads_valid_same_and_full():
    assert infer_pads((6, 8), (6, 7), (1, 2)) == (0, 0, 0, 0)
    # 'same' with an even kernel: PyTorch puts the extra pixel after (right).
    assert infer_pads((6, 8), (6, 8), (1, 2)) == (0, 0, 0, 1)
    assert infer_pads((5, 5), (5, 5), (3, 3)) == (1, 1, 1, 1)
    assert infer_pads((5, 5), (7, 9), (3, 5)) == (2, 2, 4, 4)  # 'full'


def test_infer_pads_names_the_sizes_that_fit():
    with pytest.raises(ConvcliError) as caught:
        infer_pads((6, 8), (6, 5), (1, 2))
    assert str(caught.value) == (
        "TARGET 6x5 cannot come from INPUT 6x8 with a 1x2 kernel and any padding: that "
        "kernel gives heights 6, widths 7..9 (6x7 with no padding, 6x8 'same', 6x9 'full'); "
        "a 1x4 kernel fits these sizes with no padding"
    )


def test_explicit_padding_must_explain_the_target():
    x, y = seed_example()
    with pytest.raises(ConvcliError) as caught:
        fit_kernel(x, y, (1, 2), padding=1)
    assert str(caught.value) == (
        "padding 1 (pads (1, 1, 1, 1)) and a 1x2 kernel turn INPUT 6x8 into 8x9, but "
        "TARGET is 6x7; leave the padding out to infer it"
    )
    assert fit_kernel(x, y, (1, 2), padding="valid").rmse < 1e-12


# ------------------------------------------------------------------ the seed's example


def test_seed_example_least_squares_recovers_the_edge_detector():
    x, y = seed_example()
    fit = learn_kernel(x, y, (1, 2))
    np.testing.assert_allclose(fit.kernel, [[1, -1]], atol=1e-6)
    assert fit.pads == (0, 0, 0, 0)
    assert fit.rmse < 1e-12 and fit.max_error < 1e-12 and fit.fits
    assert (fit.rank, fit.unknowns, fit.samples, fit.excluded) == (2, 2, 42, 0)
    # Unit-norm columns: windows (1,1),(1,0),(0,1) give [[1, 2/3], [2/3, 1]], ratio sqrt(5).
    assert fit.condition_number == pytest.approx(math.sqrt(5), rel=1e-9)
    assert fit.rounded_kernel().tolist() == [[1.0, -1.0]]
    assert fit.decimals == 6


def test_seed_example_gradient_descent_reproduces_the_seed():
    x, y = seed_example()
    seen: list[tuple[int, float]] = []
    fit = fit_kernel_gd(
        x, y, (1, 2), epochs=10, lr=0.03, seed=0, on_epoch=lambda e, loss: seen.append((e, loss))
    )
    assert [epoch for epoch, _ in fit.losses] == list(range(11))
    assert seen == fit.losses
    assert fit.losses[-1][1] < fit.losses[0][1] / 100
    np.testing.assert_allclose(fit.kernel, [[1, -1]], atol=0.03)
    assert fit.method == "gd" and fit.decimals == 4
    # Same seed, same run.
    again = fit_kernel_gd(x, y, (1, 2), epochs=10, lr=0.03, seed=0)
    np.testing.assert_array_equal(again.kernel, fit.kernel)


def test_full_batch_steps_of_the_mean_loss_barely_move():
    """Why an epoch is a pass of per-pixel steps: ten full-batch steps stay near the start."""
    x, y = seed_example()
    per_pixel = fit_kernel_gd(x, y, (1, 2), seed=0)
    full_batch = fit_kernel_gd(x, y, (1, 2), seed=0, batch_size=42)
    assert full_batch.losses[-1][1] > 100 * per_pixel.losses[-1][1]
    assert np.abs(full_batch.kernel - [[1, -1]]).max() > 0.5


def test_gradient_descent_with_bias_and_zero_epochs():
    x, y = seed_example()
    fit = fit_kernel_gd(x, y + 0.5, (1, 2), bias=True, epochs=40, seed=1)
    np.testing.assert_allclose(fit.kernel, [[1, -1]], atol=0.02)
    assert fit.bias == pytest.approx(0.5, abs=0.02)
    untrained = fit_kernel_gd(x, y, (1, 2), epochs=0, seed=0)
    assert untrained.losses == [(0, untrained.losses[0][1])]


def test_gradient_descent_that_grows_a_millionfold_has_diverged_before_1e100(cli):
    # --lr 0.01 here grows the loss ~1e5 an epoch; it once ended at 2e46 with exit 0.
    words = ("learn", "0 1 2 3 4; 5 6 7 8 9; 1 3 5 7 9; 2 4 6 8 0", "1 1 1 1; 1 1 1 1; 2 2 2 2",
             "-k", "2x2", "--method", "gd", "--epochs", "20")  # fmt: skip
    diverged = cli(*words, "--lr", "0.01")
    assert diverged.exit_code == 1
    assert diverged.stderr.endswith(
        "Error: gradient descent diverged at epoch 2 (loss 9.37e+07): --lr 0.01 is too large "
        "for this data; per-pixel steps are stable below about 0.0036\n"
    )
    wandering = cli(*words, "--lr", "0.006")  # its loss rises 4x on the way, and settles
    assert wandering.exit_code == 0, wandering.stderr


def test_gradient_descent_divergence_is_an_error():
    x, y = seed_example()
    with pytest.raises(ConvcliError) as caught:
        fit_kernel_gd(x * 255, y * 255, (1, 2), lr=0.03, epochs=10)
    message = str(caught.value)
    assert message.startswith("gradient descent diverged at epoch ")
    assert message.endswith(
        "--lr 0.03 is too large for this data; per-pixel steps are stable below about 7.7e-06"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": -1}, "--epochs must be >= 0, got -1"),
        ({"lr": 0}, "--lr must be > 0, got 0"),
        ({"batch_size": 0}, "--batch-size must be >= 1, got 0"),
    ],
)
def test_gradient_descent_rejects_bad_options(options, message):
    x, y = seed_example()
    with pytest.raises(ConvcliError, match=f"^{message}$"):
        fit_kernel_gd(x, y, (1, 2), **options)


# ------------------------------------------------------------------ a real photograph


@pytest.mark.parametrize(
    ("step", "size"), [("sobel-x", (3, 3)), ("gaussian:1", (7, 7)), ("sharpen", (3, 3))]
)
def test_photo_float_targets_are_recovered_within_1e_3(photo, step, size):
    kernel = parse_step(step).weight
    target = correlate(photo, kernel)
    fit = learn_kernel(photo, target, size, border="reflect")
    assert np.abs(fit.kernel - kernel).max() < 1e-3
    assert fit.fits and fit.pads == tuple([size[0] // 2] * 2 + [size[1] // 2] * 2)
    assert fit.condition_number < 1e3


# Sharpen has integer weights: on 8-bit input nothing is rounded away, so the fit is exact.
@pytest.mark.parametrize(("step", "decimals"), [("gaussian:1", 4), ("sharpen", 6)])
def test_photo_8bit_clipped_targets_exclude_saturated_pixels(photo, step, decimals):
    kernel = parse_step(step).weight
    target = np.clip(np.round(correlate(photo, kernel)), 0, 255).astype(np.uint8)
    saturated = (target == 0) | (target == 255)
    fit = learn_kernel(photo, target, kernel.shape, border="reflect", mask=~saturated)
    assert fit.tolerance == 1.0  # an 8-bit target: one level
    assert fit.excluded == int(saturated.sum())
    assert fit.fits and fit.rmse < 0.35  # rounding: at most about 1/sqrt(12)
    assert np.abs(fit.kernel - kernel).max() < 0.02
    assert fit.decimals == decimals


def test_size_search_finds_the_smallest_size_that_fits(photo):
    fit = learn_kernel(photo, correlate(photo, SOBEL_X), border="reflect")
    assert fit.kernel_size == (3, 3)
    np.testing.assert_allclose(fit.kernel, SOBEL_X, atol=1e-6)
    x, y = seed_example()
    searched = learn_kernel(x, y)
    assert searched.kernel_size == (1, 2)
    assert searched.searched == [((1, 1), "sizes do not match"), ((1, 2), "fits")]
    assert learn_kernel(x, y, (1, 2)).searched == []
    # Same size: a 1x2 kernel with PyTorch's 'same' padding (the extra pixel on the right).
    fit = learn_kernel(photo, correlate(photo, np.array([[1.0, -1.0]])), border="reflect")
    assert fit.kernel_size == (1, 2) and fit.pads == (0, 0, 0, 1)


def test_shared_and_per_channel_kernels(photo):
    kernels = [SOBEL_X, SOBEL_X.T, SHARPEN]
    target = np.stack([correlate(channel, k) for channel, k in zip(photo, kernels, strict=True)])
    fit = learn_kernel(photo, target, (3, 3), border="reflect", per_channel=True)
    assert fit.per_channel and fit.kernel.shape == (3, 3, 3)
    np.testing.assert_allclose(fit.kernel, kernels, atol=1e-5)
    with pytest.raises(ConvcliError, match=r"^no linear 3x3 kernel fits: the best leaves RMSE "):
        learn_kernel(photo, target, (3, 3), border="reflect")


def test_bias_is_fitted(photo):
    target = correlate(photo, SHARPEN) + 7.5
    fit = learn_kernel(photo, target, (3, 3), border="reflect", bias=True)
    assert fit.bias == pytest.approx(7.5, abs=1e-3)
    np.testing.assert_allclose(fit.kernel, SHARPEN, atol=1e-5)
    assert fit.unknowns == 10


def test_border_mode_is_tried_only_when_the_interior_fits(photo):
    target = correlate(photo, SHARPEN, border="replicate")
    fit = learn_kernel(photo, target, (3, 3), border=["reflect", "zeros", "replicate"])
    assert fit.border == "replicate" and fit.fits


# ------------------------------------------------------------------ refusals


def test_median_target_is_not_a_confident_wrong_kernel(photo):
    from scipy.ndimage import median_filter

    target = median_filter(photo, size=(1, 3, 3), mode="mirror")
    with pytest.raises(ConvcliError) as caught:
        learn_kernel(photo, target, (3, 3), border="reflect")
    message = str(caught.value)
    assert message.startswith("no linear 3x3 kernel fits: the best leaves RMSE ")
    assert "over 6,912 pixels; TARGET is not a linear filter of INPUT" in message
    with pytest.raises(ConvcliError, match=r"^no linear kernel from 1x1 to 7x7 fits: the best, "):
        learn_kernel(photo, target, border="reflect")
    best = learn_kernel(photo, target, (3, 3), border="reflect", require_fit=False)
    assert not best.fits and best.max_error > 10


def test_flat_image_is_a_singular_system():
    flat = np.full((3, 12, 12), 100.0)
    with pytest.raises(ConvcliError) as caught:
        learn_kernel(flat, flat, (3, 3), border="reflect")
    assert str(caught.value) == (
        "the system is singular (rank 1 of 9 unknowns): INPUT has too little structure to "
        "determine a 3x3 kernel (a flat image is explained by any kernel with the same sum)"
    )
    with pytest.raises(ConvcliError, match="singular for every kernel size tried"):
        learn_kernel(flat, flat, border="reflect", candidates=[(3, 3), (5, 5)])


def test_mismatched_channels():
    with pytest.raises(ConvcliError) as caught:
        learn_kernel(np.zeros((3, 8, 8)), np.zeros((8, 8)), (3, 3))
    assert str(caught.value) == (
        "INPUT has 3 channel(s) but TARGET has 1: learn fits kernels that map each channel "
        "to the same channel"
    )


def test_sizes_no_kernel_explains():
    with pytest.raises(ConvcliError) as caught:
        learn_kernel(np.ones((6, 8)), np.ones((16, 5)))
    assert str(caught.value) == (
        "no kernel from 1x1 to 7x7 explains TARGET 16x5 from INPUT 6x8 with any padding "
        "(and more target pixels than unknowns); TARGET is larger than INPUT plus any "
        "kernel's 'full' padding"
    )


def test_too_few_pixels():
    with pytest.raises(ConvcliError, match=r"^only 4 target pixels for 9 unknowns"):
        learn_kernel(np.arange(16.0).reshape(4, 4), np.zeros((2, 2)), (3, 3))


def test_gd_needs_a_size():
    x, y = seed_example()
    with pytest.raises(SpecError, match=r"^--method gd needs --size"):
        learn_kernel(x, y, method="gd")


def test_a_tiny_target_is_fitted_to_its_own_scale_not_to_1e_9():
    from convcli.learn import default_tolerance

    x = np.random.default_rng(0).random((6, 8)).astype(np.float32)
    noise = (np.random.default_rng(1).random((6, 7)) * 1e-20).astype(np.float32)
    assert default_tolerance(noise) == pytest.approx(1e-5 * float(noise.max()))
    edges = ((x[:, :-1] - x[:, 1:]) * 1e-20).astype(np.float32)
    assert default_tolerance(edges) < 1e-24  # a floor of 1e-9 counted pure noise as a fit


def test_noise_at_1e_20_does_not_fit(cli, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.random((6, 8)).astype(np.float32))
    np.save(tmp_path / "y.npy", (rng.random((6, 7)) * 1e-20).astype(np.float32))
    result = cli("learn", tmp_path / "x.npy", tmp_path / "y.npy", "--size", "1x2")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no linear 1x2 kernel fits")


def test_descent_above_the_tolerance_and_an_unsaved_bias_are_noted(cli, tmp_path):
    x = np.ones((6, 8), np.float32)
    x[:, 2:6] = 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (x[:, :-1] - x[:, 1:]).astype(np.float32))
    args = ["--size", "1x2", "--method", "gd", "--epochs", "10", "--lr", "0.03", "--seed", "0"]
    descent = cli("learn", tmp_path / "x.npy", tmp_path / "y.npy", *args, "-q")
    assert descent.exit_code == 0
    assert descent.stderr == ""  # -q
    shown = cli("learn", tmp_path / "x.npy", tmp_path / "y.npy", *args)
    assert shown.stderr.splitlines()[-1] == (
        "note: gradient descent stopped above the tolerance (max error 0.01963 > 1e-05): "
        "more --epochs, or --method lstsq for the exact kernel"
    )
    np.save(tmp_path / "yb.npy", (x[:, :-1] - x[:, 1:] + 0.5).astype(np.float32))
    saved = tmp_path / "b.npy"
    biased = cli("learn", tmp_path / "x.npy", tmp_path / "yb.npy", "--size", "1x2", "--bias",
                 "--save", saved)  # fmt: skip
    assert biased.exit_code == 0
    assert biased.stderr == (
        f"note: {saved} holds the kernel only: give apply the fitted bias with --bias 0.5\n"
    )
