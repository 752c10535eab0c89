"""convcli.core.conv: seed examples, PyTorch's reference values, errors, algorithms."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convcli
from convcli._threads import helper_threads
from convcli.core import _engines, _median, _strips, conv2d, conv_transpose2d, pool
from tests.conftest import fuzz_examples

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
            "algorithm must be one of auto, direct, separable, columns, gemm, fft, got 'winograd'",
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


# ------------------------------------------------------- PyTorch's reference values

FIXTURE = Path(__file__).parent / "data" / "core_conv_torch.npz"
PARAMETER_NAMES = ("padding", "stride", "dilation", "groups", "kernel size", "output")


def _fixture_cases() -> list[tuple[int, dict, dict[str, np.ndarray]]]:
    data = np.load(FIXTURE)
    cases = json.loads(str(data["cases"]))
    arrays: dict[int, dict[str, np.ndarray]] = {}
    for key in data.files:
        if "/" in key:
            index, name = key.split("/")
            arrays.setdefault(int(index), {})[name] = data[key]
    return [(index, case, arrays[index]) for index, case in enumerate(cases)]


CASES = _fixture_cases()


def _call(kind: str, args: dict, arrays: dict[str, np.ndarray], algorithm: str | None):
    call_args = {key: tuple(v) if isinstance(v, list) else v for key, v in args.items()}
    if kind == "conv2d":
        return conv2d(
            arrays["x"], arrays["weight"], arrays.get("bias"), algorithm=algorithm, **call_args
        )
    return conv_transpose2d(arrays["x"], arrays["weight"], arrays.get("bias"), **call_args)


def test_fixture_covers_the_grid():
    kinds = {case["kind"] for _, case, _ in CASES}
    modes = {case["args"].get("padding_mode") for _, case, _ in CASES}
    kernels = {tuple(arrays["weight"].shape[2:]) for _, _, arrays in CASES}
    assert kinds == {"conv2d", "conv_transpose2d"}
    assert modes >= {"zeros", "reflect", "replicate", "circular", "symmetric"}
    assert {(k, k) for k in range(1, 8)} | {(15, 15)} <= kernels
    assert len(CASES) > 700


@pytest.mark.parametrize(
    ("index", "case", "arrays"), CASES, ids=[f"{c['kind']}-{i}" for i, c, _ in CASES]
)
def test_agrees_with_pytorch(index, case, arrays):
    kind, args = case["kind"], case["args"]
    if case["error"] is not None and _folds_more_than_once(case["error"]):
        # PyTorch refuses a border wider than the input; convcli folds it back again, as
        # OpenCV does (issue 13): the result is the convolution of the padded input.
        _check_against_explicit_padding(args, arrays)
        return
    if case["error"] is not None:
        with pytest.raises(ValueError) as error:
            _call(kind, args, arrays, "auto")
        assert any(name in str(error.value) for name in PARAMETER_NAMES), str(error.value)
        return
    expected = arrays["expected"]
    tolerance = (1e-12 if expected.dtype == np.float64 else 1e-5) * max(
        1.0, float(np.abs(expected).max(initial=0.0))
    )
    algorithms = ["auto", "direct", "gemm", "fft"] if kind == "conv2d" else [None]
    if kind == "conv2d" and _is_rank1(arrays["weight"]):
        algorithms.append("separable")
    for algorithm in algorithms:
        got = _call(kind, args, arrays, algorithm)
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape, algorithm
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=str(algorithm))


TORCH_FOLD_ERRORS = (
    "Padding size should be less than the corresponding input dimension",
    "Padding value causes wrapping around more than once",
)


def _folds_more_than_once(error: str) -> bool:
    return any(text in error for text in TORCH_FOLD_ERRORS)


def _check_against_explicit_padding(args: dict, arrays: dict[str, np.ndarray]) -> None:
    from convcli.core.padding import pad2d, resolve_padding

    padding = args["padding"]
    pads = resolve_padding(tuple(padding) if isinstance(padding, list) else padding)
    padded = pad2d(arrays["x"], pads, args["padding_mode"])
    explicit = {**args, "padding": 0, "padding_mode": "zeros"}
    expected = _call("conv2d", explicit, {**arrays, "x": padded}, "direct")
    got = _call("conv2d", args, arrays, "auto")
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _is_rank1(weight: np.ndarray) -> bool:
    return all(
        np.linalg.matrix_rank(kernel.astype(np.float64)) <= 1
        for kernel in weight.reshape(-1, *weight.shape[2:])
    )


# --------------------------------------- every algorithm agrees with the direct one


@contextlib.contextmanager
def tiny_bands():
    """Force many bands, two threads and interior/edge pieces on small test images."""
    saved = (
        _engines.Engine.band_bytes,
        _engines.Gemm.band_bytes,
        _engines.MIN_PARALLEL_ELEMENTS,
        _engines.MIN_INTERIOR_COLUMNS,
    )
    _engines.Engine.band_bytes = _engines.Gemm.band_bytes = 64
    _engines.MIN_PARALLEL_ELEMENTS = 0
    _engines.MIN_INTERIOR_COLUMNS = 1
    try:
        yield
    finally:
        (
            _engines.Engine.band_bytes,
            _engines.Gemm.band_bytes,
            _engines.MIN_PARALLEL_ELEMENTS,
            _engines.MIN_INTERIOR_COLUMNS,
        ) = saved


@st.composite
def conv_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    height = dilation[0] * (kh - 1) + 1 + draw(st.integers(0, 12))
    width = dilation[1] * (kw - 1) + 1 + draw(st.integers(0, 12))
    padding = draw(st.sampled_from(["valid", "same", 0, 1, (1, 0), (0, 2, 1, 0), (2, 1, 0, 2)]))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]))
    if mode == "reflect":
        assume(min(height, width) > 2)
    kind = draw(st.sampled_from(["dense", "rank1", "box", "integer"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(draw(st.integers(1, 2)), in_channels, height, width))
    shape = (out_channels, in_channels // groups)
    if kind == "dense":
        weight = rng.normal(size=(*shape, kh, kw))
    elif kind == "integer":
        weight = rng.integers(-2, 3, size=(*shape, kh, kw)).astype(float)
    else:
        column = (
            rng.normal(size=(*shape, kh, 1)) if kind == "rank1" else np.full((*shape, kh, 1), 0.5)
        )
        weight = column * (rng.normal(size=(*shape, 1, kw)) if kind == "rank1" else 1.0)
    bias = rng.normal(size=out_channels) if draw(st.booleans()) else None
    return dict(
        x=x,
        weight=weight,
        bias=bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=mode,
    )


@settings(
    max_examples=fuzz_examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(conv_problems())
def test_every_algorithm_agrees_with_direct(problem):
    try:
        expected = conv2d(**problem, algorithm="direct")
    except ValueError:
        assume(False)  # a kernel larger than the padded input: see the rejection tests
    scale = max(1.0, float(np.abs(expected).max()))
    algorithms = ["gemm", "fft", "auto"]
    if _is_rank1(problem["weight"]):
        algorithms.append("separable")
    with tiny_bands():
        banded = conv2d(**problem, algorithm="direct")
        np.testing.assert_allclose(banded, expected, rtol=0, atol=1e-12 * scale)
        for algorithm in algorithms:
            got = conv2d(**problem, algorithm=algorithm)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * scale, err_msg=algorithm)
    float32 = dict(problem, x=problem["x"].astype(np.float32))
    for algorithm in ["direct", *algorithms]:
        got = conv2d(**float32, algorithm=algorithm)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale, err_msg=algorithm)


def test_edge_columns_with_a_negated_kernel():
    # Regression: NumPy 2.4's np.negative misreads (n, 1) strided views; the narrow
    # edge pieces of a band are exactly that shape.
    x = np.random.default_rng(3).normal(size=(1, 40, 23)).astype(np.float32)
    expected = -(x[0, :, :-1] + x[0, :, 1:])
    got = conv2d(x, [[[[-1.0, -1.0]]]], padding=(0, 0, 1, 1))
    np.testing.assert_allclose(got[0, :, 1:-1], expected, rtol=1e-6)
    np.testing.assert_allclose(got[0, :, 0], -x[0, :, 0], rtol=1e-6)
    np.testing.assert_allclose(got[0, :, -1], -x[0, :, -1], rtol=1e-6)


@pytest.mark.parametrize("algorithm", ["direct", "separable", "columns", "gemm", "fft"])
def test_large_image_in_bands_on_two_threads(algorithm):
    # Big enough for several bands and the thread pool with the real band sizes.
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 260, 530)).astype(np.float32)
    kernel = np.outer([1.0, 4.0, 6.0, 4.0, 1.0], [1.0, 2.0, 1.0]) / 48
    weight = np.broadcast_to(kernel, (2, 1, 5, 3))
    got = conv2d(x, weight, padding="same", groups=2, padding_mode="reflect", algorithm=algorithm)
    padded = np.pad(x, ((0, 0), (2, 2), (1, 1)), mode="reflect")
    expected = sum(
        kernel[i, j] * padded[:, i : i + 260, j : j + 530] for i in range(5) for j in range(3)
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def recorded_pieces(monkeypatch, module) -> list[list[tuple[int, int]]]:
    """The pieces each call of ``module.run_bands`` shares between the threads, recorded."""
    pieces: list[list[tuple[int, int]]] = []
    run_bands = module.run_bands

    def recorded(units, work, parallel, **options):
        pieces.append(list(units))
        run_bands(units, work, parallel, **options)

    monkeypatch.setattr(module, "run_bands", recorded)
    return pieces


NO_CHANNELS = "x must have at least 1 channel, got shape (1, 0, 4, 4)"
EMPTY_WEIGHT = "weight must have at least 1 channel on each side, got shape"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv2d(np.ones((1, 0, 4, 4)), np.ones((2, 0, 2, 2))), NO_CHANNELS),
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((0, 1, 2, 2))), EMPTY_WEIGHT),
        (lambda: conv_transpose2d(np.ones((1, 0, 4, 4)), np.ones((0, 1, 2, 2))), NO_CHANNELS),
        (lambda: conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((1, 0, 2, 2))), EMPTY_WEIGHT),
    ],
)
def test_no_channels_are_refused_as_torch_refuses_them(call, message):
    # torch 2.13 refuses a weight without channels; with x of 0 channels it returns 0
    # channels whatever the weight says (its conv2d), which no caller means: refused too.
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value)


def test_an_empty_batch_gives_an_empty_batch():
    assert conv_transpose2d(np.ones((0, 1, 4, 4)), np.ones((1, 1, 2, 2))).shape == (0, 1, 5, 5)
    assert conv2d(np.ones((0, 1, 4, 4)), np.ones((1, 1, 2, 2))).shape == (0, 1, 3, 3)


@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
def test_one_element_tuples_count_for_both_axes_as_in_torch(name):
    x, weight = np.arange(64.0).reshape(1, 1, 8, 8), np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(conv2d(x, weight, **{name: (2,)}), conv2d(x, weight, **{name: 2}))
    if name != "padding":
        np.testing.assert_array_equal(
            conv_transpose2d(x, weight, **{name: (2,)}), conv_transpose2d(x, weight, **{name: 2})
        )


def buffers_seen(monkeypatch, module) -> list[int]:
    """NumPy's ufunc buffer size in the thread computing each piece of ``module``'s
    ``run_bands``, recorded."""
    seen: list[int] = []
    run_bands = module.run_bands

    def recorded(units, work, parallel, **options):
        def observed(share):
            for piece in share:
                seen.append(np.getbufsize())
                work([piece])

        run_bands(units, observed, parallel, **options)

    monkeypatch.setattr(module, "run_bands", recorded)
    return seen


def test_the_passes_run_with_the_cores_ufunc_buffer_in_every_thread(monkeypatch):
    # NumPy's default buffer (8192 elements) copied every pass over rows shorter than it
    # (a 1080p box took 1.6x as long); the core's threads use a small one, the median's
    # tiles keep NumPy's (their casts go through it), and the caller's is left as it was.
    numpys = np.getbufsize()
    assert numpys != _strips.UFUNC_BUFFER
    x = np.random.default_rng(13).random((3, 512, 700)).astype(np.float32)
    by_conv, by_pool = buffers_seen(monkeypatch, _engines), buffers_seen(monkeypatch, pool)
    by_median = buffers_seen(monkeypatch, _median)
    box = conv2d(x, np.full((3, 1, 9, 9), 1 / 81, np.float32), padding="same", groups=3)
    widest = pool.max_pool2d(x, 5, stride=1, padding=2)
    pool.median_filter2d(x[:, :64, :64], 3)
    assert len(by_conv) == 3 and set(by_conv) == {_strips.UFUNC_BUFFER}
    assert by_pool and set(by_pool) == {_strips.UFUNC_BUFFER}
    assert by_median and set(by_median) == {numpys}
    assert np.getbufsize() == numpys
    # A helper thread runs its share with the core's buffer and gives NumPy's back.
    sized = _strips._with_ufunc_buffer(lambda share: by_conv.append(np.getbufsize()), 512)
    helper = helper_threads()
    helper.submit(sized, []).result()
    assert by_conv[-1] == 512 and helper.submit(np.getbufsize).result() == numpys
    # Elementwise passes: the buffer changes their speed, never their bits.
    monkeypatch.setattr(_strips, "UFUNC_BUFFER", 8192)
    np.testing.assert_array_equal(
        conv2d(x, np.full((3, 1, 9, 9), 1 / 81, np.float32), padding="same", groups=3), box
    )
    np.testing.assert_array_equal(pool.max_pool2d(x, 5, stride=1, padding=2), widest)


def test_the_planes_of_a_one_band_image_are_shared_between_threads(monkeypatch):
    # A 512x512 RGB box is one band: its three depthwise groups are the threads' pieces,
    # and which thread computes a plane does not change its bits.
    x = np.random.default_rng(12).random((3, 512, 512)).astype(np.float32)
    weight = np.full((3, 1, 11, 11), 1 / 121, np.float32)
    pieces = recorded_pieces(monkeypatch, _engines)
    shared = conv2d(x, weight, padding="same", groups=3, algorithm="separable")
    assert pieces == [[(0, 0), (0, 1), (0, 2)]]
    monkeypatch.setattr(_engines, "MIN_PARALLEL_ELEMENTS", 10**12)  # one thread
    alone = conv2d(x, weight, padding="same", groups=3, algorithm="separable")
    np.testing.assert_array_equal(shared, alone)


def test_transposed_scratch_is_kept_between_calls(monkeypatch):
    # The tap products and the phase plane are lent by _scratch and given back: fresh,
    # their pages were faulted in on every call (half of a 256->128 3x3/2 layer's time).
    from convcli.core import _scratch

    taken, given = [], []
    take, give = _scratch.take, _scratch.give
    monkeypatch.setattr(_scratch, "take", lambda *a: taken.append(take(*a)) or taken[-1])
    monkeypatch.setattr(_scratch, "give", lambda *b: given.extend(b) or give(*b))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 8, 6, 7)).astype(np.float32)
    weight = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
    out = conv_transpose2d(x, weight, None, 2, 1, 1)
    assert out.shape == (1, 4, 12, 14)
    assert len(taken) == 2 and [id(b) for b in given] == [id(b) for b in taken]
    assert not any(np.shares_memory(out, b) for b in taken)


def test_transposed_pieces_are_shared_between_threads(monkeypatch):
    # Groups x phases x channel blocks, taken one at a time by the threads: the same
    # values whichever thread computes a piece, and as on one thread.
    from convcli.core import conv

    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 6, 9, 11)).astype(np.float32)
    weight = rng.normal(size=(6, 5, 3, 4)).astype(np.float32)  # 2 groups: 3 -> 5 each
    pieces = recorded_pieces(monkeypatch, conv)
    monkeypatch.setattr(conv, "MIN_PARALLEL_MACS", 0)
    shared = conv_transpose2d(x, weight, None, 2, (1, 2), 1, 2, (1, 2))
    # 2 groups x 2 phases (stride 2 both ways, but dilation 2 across puts every tap in the
    # even columns) x the blocks of 5 channels
    blocks = len(range(0, 5, -(-5 // conv.TRANSPOSE_BLOCKS)))
    assert len(pieces[0]) == 2 * 2 * blocks and len(set(pieces[0])) == len(pieces[0])
    monkeypatch.setattr(conv, "MIN_PARALLEL_MACS", 1 << 62)
    alone = conv_transpose2d(x, weight, None, 2, (1, 2), 1, 2, (1, 2))
    np.testing.assert_array_equal(shared, alone)


def test_transposed_products_in_chunks_fit_every_block(monkeypatch):
    # 5 channels in blocks of 3 and 2: with room for one block's tap at a time, the last
    # block must not take two (its buffer is sized by the whole block).
    from convcli.core import _scratch, conv

    rng = np.random.default_rng(10)
    x = rng.normal(size=(1, 6, 5, 5)).astype(np.float32)
    weight = rng.normal(size=(6, 5, 3, 3)).astype(np.float32)
    whole = conv_transpose2d(x, weight, None, 2, 1)
    monkeypatch.setattr(_scratch, "_kept", [])  # buffers of the sizes asked, none larger
    monkeypatch.setattr(conv, "TRANSPOSE_BLOCKS", 2)
    monkeypatch.setattr(conv, "TRANSPOSE_CHUNK_BYTES", 3 * 25 * 4 + 150)  # 1.5 taps of 3
    np.testing.assert_allclose(conv_transpose2d(x, weight, None, 2, 1), whole, atol=1e-5)


# --------------------------------------------------------------- algorithm choice

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


def depthwise(kernel: np.ndarray, channels: int = 3) -> np.ndarray:
    kernel = np.asarray(kernel, np.float32)
    return np.broadcast_to(kernel, (channels, 1, *kernel.shape))


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (SOBEL_X, "separable"),
        (np.ones((15, 15)) / 225, "separable"),
        (np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256, "separable"),
        ([[1, -1]], "direct"),
        ([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], "direct"),
        (np.random.default_rng(31).normal(size=(31, 31)), "fft"),
    ],
)
def test_auto_on_a_4k_rgb_image(kernel, expected):
    name, reason = convcli.choose_algorithm(
        (3, 2160, 3840), depthwise(kernel), padding="same", groups=3, padding_mode="reflect"
    )
    assert name == expected, reason
    assert "\n" not in reason and "estimated:" in reason


def test_auto_prefers_gemm_for_many_channels_and_never_fft_for_tiny_inputs():
    weight = np.random.default_rng(0).normal(size=(64, 64, 3, 3))
    assert convcli.choose_algorithm((64, 56, 56), weight, padding=1)[0] == "gemm"
    assert convcli.choose_algorithm((3, 3), [[0, 1], [2, 3]])[0] != "fft"
    assert convcli.choose_algorithm((1, 28, 28), np.ones((1, 1, 5, 5)))[0] != "fft"


def test_choose_algorithm_takes_an_array_or_a_shape():
    x = np.zeros((3, 40, 50), np.float32)
    by_array = convcli.choose_algorithm(x, depthwise(SOBEL_X), padding="same", groups=3)
    by_shape = convcli.choose_algorithm(x.shape, depthwise(SOBEL_X), padding="same", groups=3)
    assert by_array == by_shape
    with pytest.raises(ValueError, match="groups=2 does not divide in_channels=3"):
        convcli.choose_algorithm(x.shape, depthwise(SOBEL_X), groups=2)


@pytest.mark.parametrize("algorithm", ["direct", "separable", "columns", "gemm", "fft"])
def test_non_contiguous_input(algorithm):
    # Views with gaps between rows or columns take the non-BLAS paths.
    rng = np.random.default_rng(5)
    base = rng.normal(size=(3, 40, 90)).astype(np.float32)
    x = base[:, ::2, 1::3]  # (3, 20, 30), strided both ways
    kernel = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
    weight = np.broadcast_to(kernel, (3, 1, 3, 3))
    got = conv2d(x, weight, padding="same", groups=3, padding_mode="reflect", algorithm=algorithm)
    expected = conv2d(
        np.ascontiguousarray(x),
        weight,
        padding="same",
        groups=3,
        padding_mode="reflect",
        algorithm="direct",
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    transposed = conv2d(x.transpose(0, 2, 1), weight, groups=3, algorithm=algorithm)
    assert transposed.shape == (3, 28, 18)


# ------------------------------------------- many kernels: depthwise and wide layers


@pytest.mark.parametrize(
    ("channels", "multiplier", "stride", "dilation", "padding", "mode"),
    [
        (8, 1, 1, 1, 1, "zeros"),
        (12, 2, 2, 1, "same", "reflect"),
        (9, 3, 1, 2, (0, 1, 2, 0), "replicate"),
        (16, 1, (2, 1), (1, 2), "same", "circular"),
        (10, 1, 1, 1, 2, "symmetric"),
    ],
)
def test_wide_depthwise_runs_across_channels_and_agrees_with_gemm(
    channels, multiplier, stride, dilation, padding, mode
):
    rng = np.random.default_rng(channels)
    x = rng.normal(size=(2, channels, 11, 13)).astype(np.float32)
    weight = rng.normal(size=(channels * multiplier, 1, 3, 3)).astype(np.float32)
    bias = rng.normal(size=channels * multiplier).astype(np.float32)
    problem = dict(
        stride=stride, padding=padding, dilation=dilation, groups=channels, padding_mode=mode
    )
    assert _engines.is_wide_depthwise(
        convcli.core.conv.prepare_conv(x, weight, bias, stride, padding, dilation, channels, mode)
    )
    expected = conv2d(x, weight, bias, algorithm="gemm", **problem)
    got = conv2d(x, weight, bias, algorithm="direct", **problem)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_wide_depthwise_in_channel_chunks(monkeypatch):
    monkeypatch.setattr(_engines, "BAND_BYTES", 1)  # one channel per chunk
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 9, 9)).astype(np.float32)
    weight = rng.normal(size=(20, 1, 3, 3)).astype(np.float32)
    expected = conv2d(x, weight, padding=1, groups=20, algorithm="gemm")
    got = conv2d(x, weight, padding=1, groups=20, algorithm="direct")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_auto_does_not_factor_a_wide_layer_kernel_by_kernel(monkeypatch):
    # 512 -> 512 1x1 has 262,144 kernels: one SVD each took 7 s before the choice.
    calls = []
    monkeypatch.setattr(convcli.core.conv, "rank1_factors", lambda *a, **k: calls.append(1) or None)
    weight = np.ones((512, 512, 1, 1), np.float32)
    assert convcli.choose_algorithm((512, 14, 14), weight)[0] == "gemm"
    assert calls == []
    depthwise_weight = np.ones((512, 1, 3, 3), np.float32)
    assert (
        convcli.choose_algorithm((512, 14, 14), depthwise_weight, padding=1, groups=512)[0]
        == "direct"
    )


# ------------------------------------------- kernels larger than a small image (issue 13)


@pytest.mark.parametrize("algorithm", ["direct", "separable", "columns", "gemm", "fft"])
@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular"])
def test_kernel_larger_than_a_tiny_image_folds_the_border_back(algorithm, mode):
    """A 9x9 kernel on 1-4 px images keeps their size: the border folds back repeatedly
    (OpenCV's rule; PyTorch refuses reflect pads >= size), every algorithm alike."""
    from convcli.core.padding import pad2d

    rng = np.random.default_rng(3)
    column, row = rng.normal(size=9), rng.normal(size=9)
    weight = np.outer(column, row)[None, None]  # rank 1, so `separable` applies too
    for height in range(1, 5):
        for width in range(1, 5):
            x = rng.normal(size=(2, height, width))
            got = conv2d(
                x,
                np.repeat(weight, 2, 0),
                padding="same",
                groups=2,
                padding_mode=mode,
                algorithm=algorithm,
            )
            assert got.shape == (2, height, width)
            expected = conv2d(
                pad2d(x, (4, 4, 4, 4), mode), np.repeat(weight, 2, 0), groups=2, algorithm="direct"
            )
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_one_pixel_image_under_reflect():
    got = conv2d([[5.0]], np.ones((1, 1, 3, 3)) / 9, padding="same", padding_mode="reflect")
    assert got.tolist() == [[5.0]]


def test_rank1_factors_are_kept_across_calls(monkeypatch):
    """A batch asks for the same kernel again: one SVD, then the kept factors; the key
    includes the shape (a 3x3 and a 1x9 kernel of the same bytes are different)."""
    from convcli.core import conv as conv_module

    monkeypatch.setattr(conv_module, "_FACTORS", {})
    real = conv_module.rank1_factors
    calls = []
    monkeypatch.setattr(
        conv_module, "rank1_factors", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    x = np.random.default_rng(2).normal(size=(12, 12)).astype(np.float32)
    box = np.ones((3, 3), np.float32)
    first = conv2d(x, box, padding=1, algorithm="separable")
    again = conv2d(x, box, padding=1, algorithm="separable")
    assert np.array_equal(first, again) and len(calls) == 1
    row = np.ones((1, 9), np.float32)  # the same 9 ones, another shape
    got = conv2d(x, row, padding=(0, 4), algorithm="separable")
    assert len(calls) == 2
    np.testing.assert_allclose(got, conv2d(x, row, padding=(0, 4), algorithm="direct"), atol=1e-5)


# ------------------------------------------- NaN and infinities: IEEE, as in PyTorch


def _ieee_reference(problem: dict) -> np.ndarray:
    """Every tap times every value it reads, zero taps included (0 x NaN is NaN), in
    float64: what torch.nn.functional.conv2d computes."""
    from convcli.core.padding import pad2d, resolve_padding

    x, weight, groups = problem["x"], problem["weight"], problem["groups"]
    (kh, kw), (sh, sw) = weight.shape[2:], problem["stride"]
    dh, dw = problem["dilation"]
    pads = resolve_padding(problem["padding"], x.shape[2:], (kh, kw), (sh, sw), (dh, dw))
    padded = pad2d(x, pads, problem["padding_mode"])
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C_in, H_out, W_out, kh, kw)
    group_in, group_out = weight.shape[1], weight.shape[0] // groups
    parts = [
        np.einsum(
            "nchwij,ocij->nohw",
            windows[:, g * group_in : (g + 1) * group_in],
            weight[g * group_out : (g + 1) * group_out],
        )
        for g in range(groups)
    ]
    out = np.concatenate(parts, axis=1)
    if problem["bias"] is not None:
        out += problem["bias"][:, None, None]
    return out


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(
    max_examples=fuzz_examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(conv_problems(), st.integers(0, 2**32 - 1), st.integers(1, 3), st.sampled_from([0, 0.3]))
def test_nan_and_infinities_reach_every_window_that_reads_them(problem, seed, count, zeros):
    """Zero taps too (Sobel's middle column, a kernel's zeros, a box's dilation gaps): a
    NaN or an infinity makes NaN (or +-inf) every output whose window holds it, whatever
    the engine, and only those; the FFT does not spread one over its band."""
    rng = np.random.default_rng(seed)
    x = problem["x"].copy()
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, size=min(count, flat.size), replace=False)] = rng.choice(
        [np.nan, np.inf, -np.inf], size=min(count, flat.size)
    )
    problem = dict(
        problem,
        x=x,
        weight=np.where(rng.random(problem["weight"].shape) < zeros, 0.0, problem["weight"]),
    )
    try:
        conv2d(**problem, algorithm="gemm")
    except ValueError:
        assume(False)  # a kernel larger than the padded input
    with np.errstate(invalid="ignore"):
        expected = _ieee_reference(problem)
    algorithms = ["direct", "gemm", "fft", "auto"]
    if _is_rank1(problem["weight"]):
        algorithms.append("separable")
    if problem["weight"].shape[1] == 1:
        algorithms.append("columns")
    scale = max(1.0, float(np.abs(expected[np.isfinite(expected)]).max(initial=0)))
    with np.errstate(invalid="ignore"), tiny_bands():
        for algorithm in algorithms:
            got = conv2d(**problem, algorithm=algorithm)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=algorithm)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * scale, err_msg=algorithm)


def test_a_zero_tap_reads_a_nan_as_torch_does():
    x = np.ones((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = np.nan
    weight = np.array([[[[1, 0], [0, 1]]]], np.float32)
    for algorithm in ("direct", "gemm", "fft", "columns", "auto"):
        got = conv2d(x, weight, algorithm=algorithm)[0, 0]
        assert np.isnan(got).tolist() == [[True, True, False]] * 2 + [[False] * 3], algorithm
    sobel = conv2d(x, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]), padding=1)
    assert np.isnan(sobel[0, 0]).sum() == 9  # the middle column's zeros too
    x[0, 0, 1, 1] = np.inf
    assert np.isnan(conv2d(x, np.zeros((1, 1, 2, 2)), algorithm="direct")[0, 0, :2, :2]).all()


def test_transposed_zero_taps_read_a_nan_as_torch_does():
    x = np.array([[[[np.nan, 1.0]]]], np.float32)
    out = conv_transpose2d(x, np.array([[[[1.0, 0.0]]]], np.float32))
    assert np.isnan(out).tolist() == [[[[True, True, False]]]]
    with np.errstate(invalid="ignore"):
        zeros = conv_transpose2d(np.array([[[[np.inf]]]]), np.zeros((1, 1, 2, 2)))
    assert np.isnan(zeros).all()


def test_a_large_kernel_does_not_spread_one_nan_over_the_image():
    x = np.ones((1, 1, 96, 96), np.float32)
    x[0, 0, 0, 0] = np.nan
    weight = np.random.default_rng(0).normal(size=(1, 1, 31, 31)).astype(np.float32)
    for algorithm in ("fft", "auto"):
        assert int(np.isnan(conv2d(x, weight, algorithm=algorithm)).sum()) == 1, algorithm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_gaussians_tiny_tails_still_read_a_nan(dtype):
    """sigma 0.5 over 9 taps: no tap is 0, but the separable split snaps the tails'
    ~1e-14 to 0 in its factors, which the passes then skip: the 81 windows holding the
    NaN are NaN all the same."""
    taps = np.exp(-((np.arange(9) - 4) ** 2) / 0.5)
    kernel = np.outer(taps, taps).astype(dtype)
    assert (kernel != 0).all()
    x = np.zeros((60, 70), dtype)
    x[30, 30] = np.nan
    for algorithm in ("auto", "separable", "direct"):
        assert int(np.isnan(conv2d(x, kernel, padding=4, algorithm=algorithm)).sum()) == 81


@pytest.mark.parametrize("algorithm", ["direct", "separable", "auto"])
def test_outputs_no_nan_reaches_keep_their_bits_and_strips_agree(algorithm):
    """Only the outputs whose windows read a NaN are computed again: the others have the
    bits of the same image without it, and strips of rows give the whole image's bits."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 48, 40)).astype(np.float32)
    sobel = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)
    clean = conv2d(x, sobel, algorithm=algorithm)
    x[0, 10, 7] = x[0, 30, 33] = np.nan
    whole = conv2d(x, sobel, algorithm=algorithm)
    reached = np.zeros(whole.shape, bool)
    for row, col in ((10, 7), (30, 33)):
        reached[0, max(0, row - 2) : row + 1, max(0, col - 2) : col + 1] = True
    np.testing.assert_array_equal(np.isnan(whole), reached)
    np.testing.assert_array_equal(whole[~reached], clean[~reached])
    for start, stop in ((0, 17), (17, 29), (29, 46)):
        strip = conv2d(x[:, start : stop + 2], sobel, algorithm=algorithm, rows_from=start)
        np.testing.assert_array_equal(strip, whole[:, start:stop])
