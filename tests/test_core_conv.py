"""convcli.core.conv: seed examples, PyTorch's reference values, errors, algorithms."""

from __future__ import annotations

import numpy as np
import pytest

import convcli
from convcli.core import conv2d, conv_transpose2d

K = np.array([[0, 1], [2, 3]])


# ---------------------------------------------------------------- seed examples


def test_seed_single_channel():
    assert conv2d(np.arange(9).reshape(3, 3), K).tolist() == [[19, 25], [37, 43]]


def test_seed_two_input_channels():
    x = np.stack([np.arange(9).reshape(3, 3), np.arange(1, 10).reshape(3, 3)])
    weight = np.stack([K, K + 1])  # (C_in, kh, kw): one output channel
    assert conv2d(x, weight).tolist() == [[[56, 72], [104, 120]]]


def test_seed_three_output_channels():
    x = np.stack([np.arange(9).reshape(3, 3), np.arange(1, 10).reshape(3, 3)])
    weight_one = np.stack([K, K + 1])
    weight = np.stack([weight_one, weight_one + 1, weight_one + 2])  # (3, 2, 2, 2)
    assert conv2d(x, weight).tolist() == [
        [[56, 72], [104, 120]],
        [[76, 100], [148, 172]],
        [[96, 128], [192, 224]],
    ]


@pytest.mark.parametrize("algorithm", ["auto", "direct", "gemm", "fft"])
def test_seed_one_by_one_is_a_matrix_multiply(algorithm):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 3, 4))
    weight = rng.normal(size=(2, 3, 1, 1))
    expected = (weight.reshape(2, 3) @ x.reshape(3, 12)).reshape(2, 3, 4)
    np.testing.assert_allclose(conv2d(x, weight, algorithm=algorithm), expected, rtol=1e-12)


def edge_image() -> np.ndarray:
    image = np.ones((6, 8))
    image[:, 2:6] = 0
    return image


def test_seed_vertical_edge_detector():
    out = conv2d(edge_image(), [[1, -1]])
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    assert out.shape == (6, 7)
    assert out.tolist() == expected.tolist()


def test_seed_transposed_image_has_no_vertical_edges():
    out = conv2d(edge_image().T, [[1, -1]])
    assert out.shape == (8, 5)
    assert not out.any()


def test_same_with_an_even_kernel_pads_after():
    # PyTorch puts the odd pixel of 'same' padding after: out[x] = in[x] - in[x + 1].
    row = np.array([[1.0, 4.0, 9.0, 16.0]])
    assert conv2d(row, [[1, -1]], padding="same").tolist() == [[-3, -5, -7, 16]]


def test_top_level_lazy_names():
    assert convcli.conv2d is conv2d
    assert convcli.conv_transpose2d is conv_transpose2d
    name, reason = convcli.choose_algorithm((1, 8, 8), [[1.0]])
    assert name in convcli.core.ALGORITHMS
    assert reason


# ---------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.uint8, np.float32),
        (np.int64, np.float32),
        (np.float16, np.float32),
        (bool, np.float32),
    ],
)
def test_dtype_is_decided_by_the_input(dtype, expected):
    x = np.ones((4, 4), dtype=dtype)
    assert conv2d(x, np.ones((3, 3))).dtype == expected
    assert conv_transpose2d(x, np.ones((3, 3))).dtype == expected


def test_lists_are_accepted_and_ranks_are_kept():
    assert conv2d([[1, 2], [3, 4]], [[1]]).shape == (2, 2)
    assert conv2d(np.ones((3, 5, 5)), np.ones((3, 1, 3, 3)), groups=3).shape == (3, 3, 3)
    assert conv2d(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))).shape == (2, 4, 3, 3)


def test_uint8_image_values_do_not_wrap():
    x = np.full((3, 3), 200, dtype=np.uint8)
    assert conv2d(x, np.ones((3, 3))).tolist() == [[1800.0]]


# ---------------------------------------------------------------------- errors

IMAGE = np.ones((1, 4, 4))
KERNEL = np.ones((1, 1, 3, 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv2d(IMAGE, KERNEL, stride=0), "stride must be >= 1, got 0"),
        (lambda: conv2d(IMAGE, KERNEL, stride=(1, -1)), "stride must be >= 1, got (1, -1)"),
        (lambda: conv2d(IMAGE, KERNEL, dilation=0), "dilation must be >= 1, got 0"),
        (lambda: conv2d(IMAGE, KERNEL, padding=-1), "padding must be >= 0, got -1"),
        (
            lambda: conv2d(IMAGE, KERNEL, padding="full"),
            "padding must be an int, (h, w), (top, bottom, left, right), 'valid' or 'same', "
            "got 'full'",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, padding_mode="mirror"),
            "padding_mode must be one of zeros, reflect, replicate, circular, symmetric, "
            "got 'mirror'",
        ),
        (
            lambda: conv2d(np.ones((4, 5, 5)), np.ones((3, 1, 3, 3)), groups=3),
            "groups=3 does not divide in_channels=4",
        ),
        (
            lambda: conv2d(np.ones((4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
            "groups=2 does not divide out_channels=3",
        ),
        (lambda: conv2d(IMAGE, KERNEL, groups=0), "groups must be >= 1, got 0"),
        (
            lambda: conv2d(np.ones((2, 4, 4)), KERNEL),
            "weight expects 1 input channels (shape (1, 1, 3, 3), groups=1), x has in_channels=2",
        ),
        (
            lambda: conv2d(IMAGE, np.ones((1, 1, 5, 5))),
            "kernel size 5x5 (dilation included) is larger than the padded input 4x4",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, dilation=2),
            "kernel size 5x5 (dilation included) is larger than the padded input 4x4",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, padding=4, padding_mode="reflect"),
            "padding_mode='reflect' needs padding < input height: top padding 4, input height 4",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, padding=5, padding_mode="circular"),
            "padding_mode='circular' needs padding <= input height: top padding 5, input height 4",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, bias=[1, 2]),
            "bias must have shape (1,) (one value per output channel), got (2,)",
        ),
        (
            lambda: conv2d(np.ones(4), KERNEL),
            "x must be (H, W), (C, H, W) or (N, C, H, W), got 1-D shape (4,)",
        ),
        (
            lambda: conv2d(IMAGE, np.ones((1, 1, 1, 3, 3))),
            "weight must be 2-D (kh, kw), 3-D (C_in, kh, kw) or 4-D (C_out, C_in/groups, kh, kw), "
            "got shape (1, 1, 1, 3, 3)",
        ),
        (
            lambda: conv2d(np.ones((4, 4)), np.ones((2, 1, 3, 3))),
            "an (H, W) input gives one output channel, weight has out_channels=2: "
            "pass x as (1, H, W)",
        ),
        (
            lambda: conv2d(IMAGE, KERNEL, algorithm="winograd"),
            "algorithm must be one of auto, direct, separable, gemm, fft, got 'winograd'",
        ),
        (
            lambda: conv2d(IMAGE, np.eye(3)[None, None], algorithm="separable"),
            "algorithm='separable' needs every kernel to have rank 1 (SVD), "
            "weight of shape (1, 1, 3, 3) does not",
        ),
        (lambda: conv2d(IMAGE.astype(complex), KERNEL), "x must be numeric, got dtype complex128"),
        (
            lambda: conv2d(np.ones((1, 0, 4)), KERNEL, padding=1),
            "x must have a non-empty height and width, got shape (0, 4)",
        ),
        (
            lambda: conv_transpose2d(IMAGE, KERNEL, stride=2, output_padding=2),
            "output_padding must be smaller than stride or dilation, got output_padding=2 "
            "with stride=2, dilation=1 (h axis)",
        ),
        (
            lambda: conv_transpose2d(IMAGE, KERNEL, padding="same"),
            "padding must be an int or a pair for conv_transpose2d, got 'same'",
        ),
        (
            lambda: conv_transpose2d(IMAGE, KERNEL, padding=4),
            "conv_transpose2d output would be -2x-2: padding=4 is too large for input 4x4 "
            "and kernel 3x3",
        ),
        (
            lambda: conv_transpose2d(np.ones((2, 4, 4)), KERNEL),
            "weight has 1 input channels (shape (1, 1, 3, 3)), x has in_channels=2",
        ),
        (lambda: conv_transpose2d(IMAGE, KERNEL, stride=0), "stride must be >= 1, got 0"),
    ],
)
def test_rejections_name_the_parameter(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message
