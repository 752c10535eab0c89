"""convcli.pipeline: steps on (C, H, W) arrays, mapping back, colour, alpha, linear light."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convcli.errors import ConvcliError, SpecError
from convcli.kernels import parse_step
from convcli.pipeline import (
    PictureOptions,
    StepOptions,
    filter_picture,
    linear_to_srgb,
    map_values,
    prepare_steps,
    resolve_map,
    run_steps,
    srgb_to_linear,
    to_gray,
)

NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}


def correlate(plane: np.ndarray, kernel: np.ndarray, pads=(0, 0, 0, 0), mode="zeros"):
    """Plain cross-correlation of one plane, stride 1: the reference for the core's result."""
    top, bottom, left, right = pads
    padded = np.pad(plane.astype(np.float64), ((top, bottom), (left, right)), NUMPY_PAD[mode])
    kh, kw = kernel.shape
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i : i + out_h, j : j + out_w]
    return out


def steps(*texts: str):
    return [parse_step(text) for text in texts]


RNG = np.random.default_rng(7)
X = RNG.integers(0, 256, (3, 9, 11)).astype(np.float32)


# ------------------------------------------------------------------------- run_steps


def test_matrix_defaults_are_pytorchs_valid_zero_padding():
    y, reports = run_steps(np.arange(9, dtype=np.float32).reshape(1, 3, 3), steps("0 1; 2 3"))
    assert y.tolist() == [[[19, 25], [37, 43]]]
    assert reports[0].pads == (0, 0, 0, 0)
    assert reports[0].border == "zeros"


def test_two_d_kernel_filters_each_channel_and_images_keep_their_size():
    y, reports = run_steps(X, steps("sobel-x"), image=True)
    kernel = parse_step("sobel-x").weight
    expected = [correlate(plane, kernel, (1, 1, 1, 1), "reflect") for plane in X]
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-3)
    assert y.shape == X.shape
    assert (reports[0].pads, reports[0].border) == ((1, 1, 1, 1), "reflect")
    assert reports[0].operation == "3x3 kernel, depthwise on 3 channels"
    assert reports[0].algorithms[0][1] in ("direct", "separable", "columns", "gemm", "fft")


def test_magnitude_is_the_root_of_the_squared_gradients():
    y, reports = run_steps(X, steps("sobel"), image=True)
    gx = [correlate(p, parse_step("sobel-x").weight, (1, 1, 1, 1), "reflect") for p in X]
    gy = [correlate(p, parse_step("sobel-y").weight, (1, 1, 1, 1), "reflect") for p in X]
    np.testing.assert_allclose(y, np.hypot(gx, gy), rtol=1e-5, atol=1e-3)
    assert [label for label, _, _ in reports[0].algorithms] == ["gx", "gy"]


def test_three_d_kernel_sums_over_channels():
    kernel = "1 0; 0 0 | 0 2; 0 0 | 0 0; 0 3"
    y, reports = run_steps(X, steps(kernel))
    expected = X[0, :-1, :-1] + 2 * X[1, :-1, 1:] + 3 * X[2, 1:, 1:]
    np.testing.assert_allclose(y, expected[None])
    assert reports[0].operation == "3x2x2 kernel summing 3 channels"


def test_three_d_kernel_must_match_the_channels():
    with pytest.raises(ConvcliError) as caught:
        run_steps(X[:2], steps("1 | 1 | 1"))
    assert str(caught.value) == (
        "step 1 '1 | 1 | 1': a 3-D kernel 3x1x1 (C_in x kh x kw) sums over 3 input channels, "
        "the input has 2"
    )


def test_four_d_kernel_is_a_conv_layer_with_bias(tmp_path):
    weight = RNG.normal(size=(2, 3, 3, 3))
    np.save(tmp_path / "layer.npy", weight)
    bias = np.array([0.5, -1.0], dtype=np.float32)
    y, reports = run_steps(X, steps(str(tmp_path / "layer.npy")), StepOptions(bias=bias))
    expected = [sum(correlate(X[c], weight[o, c]) for c in range(3)) + bias[o] for o in range(2)]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-3)
    assert reports[0].operation == "conv layer 3->2, 3x3"


def test_bias_needs_exactly_one_kernel_step():
    with pytest.raises(SpecError, match="this chain has 2"):
        run_steps(X, steps("box:3", "box:3"), StepOptions(bias=np.ones(1, np.float32)))


def test_global_options_apply_to_steps_without_their_own():
    options = StepOptions(stride=(2, 2), padding=(1, 1, 1, 1), border="replicate")
    y, reports = run_steps(X, steps("box:3"), options, image=True)
    box = np.full((3, 3), 1 / 9)
    full = np.array([correlate(p, box, (1, 1, 1, 1), "replicate") for p in X])
    np.testing.assert_allclose(y, full[:, ::2, ::2], rtol=1e-6)
    assert (reports[0].pads, reports[0].border) == ((1, 1, 1, 1), "replicate")
    # The step's own s= and border= win over the global ones.
    y_own, reports = run_steps(X, steps("box:3,s=1,border=zeros"), options, image=True)
    assert y_own.shape == (3, 9, 11)
    assert reports[0].border == "zeros"


def test_dilation_option():
    y, _ = run_steps(X[:1], steps("1 1"), StepOptions(dilation=(1, 3)))
    np.testing.assert_allclose(y[0], X[0, :, :-3] + X[0, :, 3:])


def test_convolve_flips_and_normalize_divides():
    flipped = prepare_steps(steps("1 2"), StepOptions(convolve=True))[0]
    assert flipped.weight.tolist() == [[2, 1]]
    normalized = prepare_steps(steps("1 3"), StepOptions(normalize=True))[0]
    assert normalized.weight.tolist() == [[0.25, 0.75]]


def test_kernel_larger_than_the_padded_input_names_both_sizes():
    with pytest.raises(ConvcliError) as caught:
        run_steps(np.zeros((1, 3, 3), np.float32), steps("box:5"))
    assert str(caught.value) == (
        "step 1 'box:5': kernel size 5x5 (dilation included) is larger than the padded input 3x3"
    )


def test_pools_and_median():
    matrix = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    assert run_steps(matrix, steps("maxpool:2,s=1"))[0].tolist() == [[[4, 5], [7, 8]]]
    assert run_steps(matrix, steps("minpool:2,s=1"))[0].tolist() == [[[0, 1], [3, 4]]]
    assert run_steps(matrix, steps("avgpool:2,s=1"))[0].tolist() == [[[2, 3], [5, 6]]]
    # A median keeps an image's size (a denoiser), shrinks a matrix (PyTorch-style p=0)...
    assert run_steps(X, steps("median:3"), image=True)[0].shape == (3, 9, 11)
    assert run_steps(X, steps("median:3"))[0].shape == (3, 7, 9)
    # ...and p= typed by the user wins on images too.
    assert run_steps(X, steps("median:3,p=0"), image=True)[0].shape == (3, 7, 9)


# ------------------------------------------------------------------------- mapping


RAMP = np.array([-300, -128, -1, 0, 1, 127.5, 200, 255, 400], dtype=np.float32)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("clip", [0, 0, 0, 0, 1, 127.5, 200, 255, 255]),
        ("abs", [255, 128, 1, 0, 1, 127.5, 200, 255, 255]),
        ("offset", [0, 0, 126.5, 127.5, 128.5, 255, 255, 255, 255]),
        ("minmax", ((RAMP + 300) * 255 / 700).tolist()),  # lowest -> 0, highest -> 255
        ("raw", RAMP.tolist()),
    ],
)
def test_map_modes_on_a_ramp(mode, expected):
    assert map_values(RAMP, mode, 255).tolist() == pytest.approx(expected, abs=1e-4)


def test_minmax_of_a_constant_is_zero():
    assert map_values(np.full(4, 7.0, np.float32), "minmax", 255).tolist() == [0, 0, 0, 0]


def test_resolve_map():
    assert resolve_map("auto", steps("sobel"), float_output=False)[0] == "abs"
    assert resolve_map("auto", steps("gaussian:1", "laplacian"), float_output=False)[0] == "abs"
    assert resolve_map("auto", steps("box:3", "maxpool:2"), float_output=False) == (
        "clip",
        "auto: no zero-sum kernel: clip",
    )
    assert resolve_map("auto", steps("sobel"), float_output=True)[0] == "raw"
    assert resolve_map("offset", steps("sobel"), float_output=True) == (
        "offset",
        "offset (as asked)",
    )
    with pytest.raises(SpecError):
        resolve_map("bogus", [], float_output=False)


# ------------------------------------------------------------------------- colour


def test_srgb_round_trip_and_the_black_white_average():
    levels = np.linspace(-0.5, 1.5, 81, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(levels)), levels, atol=2e-6)
    assert float(linear_to_srgb(np.float32(0.5))) * 255 == pytest.approx(187.52, abs=0.01)
    assert float(srgb_to_linear(np.float32(0.04045))) == pytest.approx(0.04045 / 12.92)


def test_gray_is_pillows_luma_within_rounding():
    rgb = RNG.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    pillow = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    ours = to_gray(np.moveaxis(rgb, -1, 0).astype(np.float32), has_alpha=False)[0]
    assert np.abs(np.rint(ours) - pillow).max() <= 1
    with_alpha = to_gray(np.ones((4, 2, 2), np.float32), has_alpha=True)
    assert with_alpha.shape == (2, 2, 2)


def test_checkerboard_average_is_188_in_linear_light_and_128_without():
    board = (np.indices((4, 4)).sum(axis=0) % 2 * 255).astype(np.float32)[None]
    plain = filter_picture(board, "L", 255.0, steps("avgpool:2"))
    linear = filter_picture(
        board, "L", 255.0, steps("avgpool:2"), picture=PictureOptions(linear=True)
    )
    assert np.rint(plain.values).tolist() == [[[128, 128], [128, 128]]]
    assert np.rint(linear.values).tolist() == [[[188, 188], [188, 188]]]


def test_linear_refuses_float_images():
    with pytest.raises(ConvcliError, match="--linear decodes sRGB"):
        filter_picture(
            np.zeros((1, 2, 2), np.float32),
            "L",
            1.0,
            steps("box:1"),
            picture=PictureOptions(linear=True),
        )


def rgba_with_hidden_red() -> np.ndarray:
    """Opaque green on the left, fully transparent *red* on the right: (4, 6, 8)."""
    rgba = np.zeros((4, 6, 8), np.float32)
    rgba[1, :, :4] = 255
    rgba[3, :, :4] = 255
    rgba[0, :, 4:] = 255  # hidden colour
    return rgba


def test_transparent_colour_never_bleeds_into_a_blur():
    result = filter_picture(rgba_with_hidden_red(), "RGBA", 255.0, steps("box:3"))
    red, green, _, alpha = result.values
    assert result.channels == "RGBA"
    assert red.max() == 0
    # Where the blur reaches from the green side, colour stays pure green, alpha fades.
    assert np.allclose(green[alpha > 0], 255)
    assert alpha[0].tolist() == pytest.approx([255, 255, 255, 170, 85, 0, 0, 0])


def test_edges_of_an_rgba_image_are_opaque_and_premultiplied():
    result = filter_picture(
        rgba_with_hidden_red(), "RGBA", 255.0, steps("sobel-x"), picture=PictureOptions("abs")
    )
    red, green, _, alpha = result.values
    assert red.max() == 0  # the hidden red makes no edge
    assert green[:, 3:5].min() > 0 and green[:, :2].max() == 0  # the shape's outline does
    assert alpha.min() == 255


def test_channel_mixing_kernels_drop_alpha_with_a_note():
    result = filter_picture(rgba_with_hidden_red(), "RGBA", 255.0, steps("1 | 1 | 1"))
    assert result.channels == "L"
    assert result.notes == ["alpha dropped: a 3-D/4-D kernel mixes channels and sees colour only"]


# ------------------------------------------------------------------------- -p on pools


FIVE = np.arange(1, 26, dtype=np.float32).reshape(1, 5, 5)


def test_global_padding_pads_pools_as_pytorch_does():
    # torch.nn.functional.max_pool2d(x, 2, padding=1) on 1..25: windows start at -1, so
    # rows/columns 0, 2, 4 are each a window's last; padding (-inf) never wins.
    y, reports = run_steps(FIVE, steps("maxpool:2"), StepOptions(padding=1))
    assert y.tolist() == [[[1, 3, 5], [11, 13, 15], [21, 23, 25]]]
    assert (reports[0].pads, reports[0].warnings) == ((1, 1, 1, 1), [])
    # avg_pool2d(x, 2, padding=1), count_include_pad=True: the corner divides 1 by 4.
    y, _ = run_steps(FIVE, steps("avgpool:2"), StepOptions(padding=1))
    assert y[0, 0].tolist() == [0.25, 2.5 / 4 * 2, 4.5 / 4 * 2]
    assert y[0, 1, 1] == (7 + 8 + 12 + 13) / 4
    # min pool pads with +inf.
    assert run_steps(FIVE, steps("minpool:2"), StepOptions(padding=1))[0][0, 0].tolist() == [
        1,
        2,
        4,
    ]


def test_a_pools_own_p_wins_and_same_keeps_ceil_in_over_s():
    options = StepOptions(padding=1)
    assert run_steps(FIVE, steps("maxpool:2,p=0"), options)[0].tolist() == [[[7, 9], [17, 19]]]
    y, reports = run_steps(FIVE, steps("maxpool:2"), StepOptions(padding="same"), image=True)
    assert y.tolist() == [[[7, 9, 10], [17, 19, 20], [22, 24, 25]]]  # TF SAME: ceil(5/2)
    assert reports[0].pads == (0, 1, 0, 1)


def test_global_padding_pads_the_median_on_matrices_and_images():
    y, reports = run_steps(FIVE, steps("median:3"), StepOptions(padding=1))
    assert y.shape == (1, 5, 5) and reports[0].pads == (1, 1, 1, 1)
    assert y[0, 2, 2] == 13  # an inner window is untouched
    assert run_steps(X, steps("median:3"), StepOptions(padding=0), image=True)[0].shape == (
        3,
        7,
        9,
    )


def test_global_padding_too_wide_for_a_pool_is_refused_with_the_way_out():
    with pytest.raises(ConvcliError) as caught:
        run_steps(FIVE, steps("box:3", "maxpool:2"), StepOptions(padding=2))
    assert str(caught.value) == (
        "step 2 'maxpool:2': padding 2 is more than half the window (1 at most, as in "
        "PyTorch); -p/--padding pads every step without its own p=: give this one p=0"
    )
    with pytest.raises(SpecError, match="padding must be at most half the window"):
        steps("maxpool:2,p=2")  # a pool's own p= is checked as it is read


def test_dropped_rows_are_warned_in_shapes_words():
    _, reports = run_steps(FIVE, steps("maxpool:2"))
    assert reports[0].warnings == [
        "step 1 'maxpool:2': floor division drops 1 input row at the bottom",
        "step 1 'maxpool:2': floor division drops 1 input column at the right",
    ]
    # A 1x1 kernel at stride 3 skips rows by design: on 7 rows windows 0, 3, 6 read the last.
    _, reports = run_steps(np.zeros((1, 7, 8), np.float32), steps("1"), StepOptions(stride=(3, 3)))
    assert reports[0].warnings == []
    # A 3x3 at stride 3: 7 rows -> 2 windows (rows 0-5), 8 columns -> 2 (columns 0-5).
    box = run_steps(np.zeros((1, 7, 8), np.float32), steps("box:3"), StepOptions(stride=(3, 3)))
    assert box[1][0].warnings == [
        "step 1 'box:3': floor division drops 1 input row at the bottom",
        "step 1 'box:3': floor division drops 2 input columns at the right",
    ]
    # Images keep their size ('same'): nothing dropped.
    assert run_steps(X, steps("maxpool:3,p=1", "box:3"), image=True)[1][1].warnings == []


def test_the_paper_walk_pads_pools_as_the_pipeline_does():
    from convcli.limits import estimate_chain

    chain = steps("gaussian:1", "maxpool:2", "median:3", "avgpool:3,s=2")
    for options in (StepOptions(), StepOptions(padding=1), StepOptions(padding="same")):
        for image in (False, True):
            ran = run_steps(np.zeros((1, 21, 17), np.float32), chain, options, image=image)
            shapes = [(1, 21, 17), *(r.out_shape for r in ran[1])]
            assert estimate_chain((1, 21, 17), chain, options, image=image).shapes == shapes
