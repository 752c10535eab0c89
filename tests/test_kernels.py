"""The kernel catalogue, the STEP syntax and kernel descriptions (convcli.kernels)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from convcli.errors import ConvcliError, SpecError
from convcli.kernels import (
    KernelStep,
    PoolStep,
    catalogue,
    describe,
    gaussian_kernel,
    laplacian_of_gaussian_kernel,
    parse_step,
)

SAMPLES = Path(__file__).parent.parent / "samples"
RNG = np.random.default_rng(7)
IMAGE = RNG.random((9, 11))


def correlate(image: np.ndarray, step_text: str, mode: str = "mirror") -> np.ndarray:
    """Our kernel laid on the image as written (scipy's correlate, centre origin)."""
    return ndimage.correlate(image, parse_step(step_text).weight, mode=mode)


# ---- orientation and values against scipy.ndimage ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "axis", "reference"),
    [
        ("sobel-x", 1, ndimage.sobel),
        ("sobel-y", 0, ndimage.sobel),
        ("prewitt-x", 1, ndimage.prewitt),
        ("prewitt-y", 0, ndimage.prewitt),
    ],
)
def test_derivative_kernels_match_scipy(name, axis, reference):
    np.testing.assert_allclose(
        correlate(IMAGE, name), reference(IMAGE, axis=axis, mode="mirror"), atol=1e-12
    )


def test_sobel_x_is_positive_where_brightness_rises_to_the_right():
    ramp = np.tile(np.arange(6.0), (5, 1))  # brighter to the right
    out = correlate(ramp, "sobel-x", mode="nearest")[1:-1, 1:-1]
    np.testing.assert_array_equal(out, np.full((3, 4), 8.0))  # (1+2+1) * (x+1 - (x-1))
    down = ramp.T  # brighter downwards: y points down
    assert np.all(correlate(down, "sobel-y", mode="nearest")[1:-1, 1:-1] == 8.0)


def test_scharr_values_and_transpose():
    assert parse_step("scharr-x").weight.tolist() == [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
    np.testing.assert_array_equal(parse_step("scharr-y").weight, parse_step("scharr-x").weight.T)


def test_laplacian_has_positive_centre_and_is_minus_ndimage_laplace():
    assert parse_step("laplacian").weight.tolist() == [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]
    np.testing.assert_allclose(
        correlate(IMAGE, "laplacian"), -ndimage.laplace(IMAGE, mode="mirror"), atol=1e-12
    )
    assert parse_step("laplacian8").weight.tolist() == [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]


@pytest.mark.parametrize(("sigma", "side"), [(1.0, 7), (1.5, 11), (0.5, 5)])
def test_gaussian_matches_gaussian_filter_on_an_impulse(sigma, side):
    kernel = parse_step(f"gaussian:{sigma}").weight
    assert kernel.shape == (side, side)
    impulse = np.zeros((side, side))
    impulse[side // 2, side // 2] = 1.0
    expected = ndimage.gaussian_filter(impulse, sigma, truncate=3.0, mode="constant")
    np.testing.assert_allclose(kernel, expected, atol=1e-15)
    assert math.isclose(kernel.sum(), 1.0)


def test_gaussian_with_size_and_size_alone():
    kernel = parse_step("gaussian:1.5,size=7").weight
    impulse = np.zeros((7, 7))
    impulse[3, 3] = 1
    np.testing.assert_allclose(kernel, ndimage.gaussian_filter(impulse, 1.5, radius=3), atol=1e-15)
    # size alone: the sigma formula OpenCV documents, 0.3*((5-1)/2 - 1) + 0.8 = 1.1
    np.testing.assert_allclose(parse_step("gaussian:size=5").weight, gaussian_kernel(1.1, 5))


def test_log_follows_the_reference_formula_and_sums_to_zero():
    sigma = 1.4
    kernel = parse_step(f"log:{sigma}").weight
    assert kernel.shape == (13, 13)  # radius int(4*1.4 + 0.5) = 6
    u = np.arange(13) - 6.0
    ratio = (u[:, None] ** 2 + u[None, :] ** 2) / (2 * sigma**2)
    formula = (1 - ratio) * np.exp(-ratio) / (math.pi * sigma**4)
    # The sampled formula, shifted by one constant so the kernel sums to exactly 0.
    np.testing.assert_allclose(kernel - formula, np.full((13, 13), -formula.mean()), atol=1e-15)
    assert abs(kernel.sum()) < 1e-15
    assert kernel[6, 6] == kernel.max() > 0
    assert parse_step("log:1,size=5").weight.shape == (5, 5)
    np.testing.assert_allclose(
        laplacian_of_gaussian_kernel(1.0, 5), parse_step("log:size=5").weight
    )


def test_box_matches_uniform_filter():
    np.testing.assert_allclose(
        correlate(IMAGE, "box:3"), ndimage.uniform_filter(IMAGE, 3, mode="mirror"), atol=1e-12
    )
    assert parse_step("box:2x4").weight.shape == (2, 4)
    assert parse_step("box").weight.shape == (3, 3)


def test_diff_identity_sharpen_emboss_roberts():
    assert parse_step("diff-x").weight.tolist() == [[1, -1]]
    assert parse_step("diff-y").weight.tolist() == [[1], [-1]]
    row = np.array([[1.0, 4.0, 9.0, 16.0]])
    # Correlation with no padding: out[x] = in[x] - in[x+1].
    assert ndimage.correlate(row, parse_step("diff-x").weight, origin=(0, -1))[0, :3].tolist() == [
        -3,
        -5,
        -7,
    ]
    assert parse_step("identity").weight.tolist() == [[1]]
    assert parse_step("identity:3").weight.tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert parse_step("sharpen").weight.tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert parse_step("emboss").weight.tolist() == [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
    roberts = parse_step("roberts")
    assert roberts.magnitude[0].tolist() == [[-1, 0], [0, 1]]
    assert roberts.magnitude[1].tolist() == [[0, -1], [1, 0]]


def test_magnitude_steps_hold_both_kernels():
    step = parse_step("sobel")
    gx, gy = step.magnitude
    np.testing.assert_array_equal(step.weight, gx)
    np.testing.assert_array_equal(gx, parse_step("sobel-x").weight)
    np.testing.assert_array_equal(gy, parse_step("sobel-y").weight)
    assert parse_step("scharr").magnitude[0][1, 0] == -10
    assert parse_step("prewitt").magnitude[1].tolist() == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]


def test_every_catalogue_entry_parses():
    for info in catalogue():
        text = f"{info.name}:3" if info.kind == "pool" else info.name
        step = parse_step(text)
        assert isinstance(step, PoolStep if info.kind == "pool" else KernelStep)
        assert (info.kind == "magnitude") == (getattr(step, "magnitude", None) is not None)
    names = {info.name for info in catalogue()}
    assert {"sobel", "scharr", "prewitt", "roberts", "laplacian", "laplacian8", "log"} <= names
    assert {"gaussian", "box", "sharpen", "emboss", "diff-x", "diff-y", "identity"} <= names
    assert {"maxpool", "avgpool", "minpool", "median"} <= names


# ---- step arguments --------------------------------------------------------------------------


def test_kernel_step_geometry_arguments():
    step = parse_step("sobel-x:s=2,p=same,d=1x2,border=Replicate")
    assert (step.stride, step.padding, step.dilation, step.border) == (
        (2, 2),
        "same",
        (1, 2),
        "replicate",
    )
    assert step.slug == "sobel-x-s2-psame-d1x2-borderreplicate"
    plain = parse_step("sobel-x")
    assert (plain.stride, plain.padding, plain.dilation, plain.border) == (None, None, None, None)
    assert parse_step("box:5,p=2x1").padding == (2, 2, 1, 1)
    # Four pads stay one argument, as in LAYER words.
    assert parse_step("box:5,p=0,1,0,1,s=2").padding == (0, 1, 0, 1)
    assert parse_step("gaussian:1").slug == "gaussian-1"
    assert parse_step("Sobel_X").name == "sobel-x"


def test_pool_steps():
    assert parse_step("maxpool:3,s=1,p=1") == PoolStep(
        "maxpool:3,s=1,p=1", "maxpool-3-s1-p1", "max", (3, 3), (1, 1), (1, 1), False
    )
    assert parse_step("avgpool:2").stride == (2, 2)
    assert parse_step("minpool:k=3x2").kernel_size == (3, 2)
    median = parse_step("median:5")
    assert (median.op, median.stride, median.padding) == ("median", (1, 1), (0, 0))
    assert parse_step("maxpool:2,ceil=yes").ceil_mode is True


# ---- inline matrices and files -----------------------------------------------------------------

SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


@pytest.mark.parametrize(
    "text",
    [
        "-1 0 1; -2 0 2; -1 0 1",
        "-1,0,1;-2,0,2;-1,0,1",
        "[[-1,0,1],[-2,0,2],[-1,0,1]]",
        "((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))",
        "3x3: -1,0,1 -2,0,2 -1,0,1",
        "3: -1 0 1 -2 0 2 -1 0 1",
    ],
)
def test_inline_syntaxes_agree(text):
    step = parse_step(text)
    assert step.weight.tolist() == SOBEL_X
    assert step.slug == "kernel-3x3"
    assert step.name is None


def test_inline_shapes():
    assert parse_step("1,-1").weight.tolist() == [[1, -1]]
    assert parse_step("1;-1").weight.tolist() == [[1], [-1]]
    assert parse_step("[1,-1]").weight.shape == (1, 2)
    assert parse_step("2x1: 1 -1").weight.tolist() == [[1, -1]]  # ImageMagick: width first
    three_d = parse_step("0 1; 2 3 | 1 2; 3 4")
    assert three_d.weight.tolist() == [[[0, 1], [2, 3]], [[1, 2], [3, 4]]]
    assert three_d.slug == "kernel-2x2x2"
    assert parse_step("0.5 .25 1e-1").weight.tolist() == [[0.5, 0.25, 0.1]]


def test_text_file_with_comments_and_channels(tmp_path):
    path = tmp_path / "edge.txt"
    path.write_text("# Sobel x\n-1 0 1\n-2 0 2  # middle row\n-1 0 1\n\n1 1 1\n1 1 1\n1 1 1\n")
    step = parse_step(f"@{path}")
    assert step.weight.shape == (2, 3, 3)
    assert step.weight[0].tolist() == SOBEL_X
    assert step.slug == "edge"
    (tmp_path / "im.txt").write_text("3x3: -1,0,1 -2,0,2 -1,0,1\n")
    assert parse_step(f"@{tmp_path / 'im.txt'}").weight.tolist() == SOBEL_X


def test_csv_and_npy_files(tmp_path):
    (tmp_path / "k.csv").write_text("-1,0,1\n-2,0,2\n-1,0,1\n")
    assert parse_step(str(tmp_path / "k.csv")).weight.tolist() == SOBEL_X
    layer = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    np.save(tmp_path / "layer.npy", layer)
    step = parse_step(str(tmp_path / "layer.npy"))
    assert step.weight.dtype == np.float64
    assert step.weight.shape == (2, 3, 3, 3)
    np.save(tmp_path / "row.npy", np.array([1, -1]))
    assert parse_step(f"@{tmp_path / 'row.npy'}").weight.tolist() == [[1, -1]]


def test_samples_parse():
    assert parse_step(f"@{SAMPLES / 'kernels' / 'sobel_x.txt'}").weight.tolist() == SOBEL_X
    assert parse_step(str(SAMPLES / "kernels" / "emboss.csv")).weight.tolist() == (
        parse_step("emboss").weight.tolist()
    )
    assert parse_step(str(SAMPLES / "kernels" / "edges_rgb.npy")).weight.shape == (2, 3, 3, 3)


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sobelx", "unknown kernel 'sobelx' (did you mean 'sobel-x' or 'sobel' or 'sobel-y'?)"),
        ("gausian:2", "unknown kernel 'gausian' (did you mean 'gaussian'?)"),
        ("zzz", "unknown kernel 'zzz' (see `convcli kernels` for the list)"),
        (
            "1 2 3; 4 5",
            "kernel '1 2 3; 4 5': ragged matrix: row 2 has 2 values, row 1 has 3 values",
        ),
        ("[[1,2],[3]]", "kernel '[[1,2],[3]]': ragged matrix (rows of different lengths)"),
        ("1 a; 2 3", "kernel '1 a; 2 3': 'a' is not a number"),
        ('[["a"]]', "kernel '[[\"a\"]]': 'a' is not a number"),
        ("1 nan", "kernel '1 nan': 'nan' is not a finite number"),
        (
            "0 1; 2 3 | 1 2 3",
            "kernel '0 1; 2 3 | 1 2 3': channel 2 is 1x3, channel 1 is 2x2 "
            "(every channel must have the same shape)",
        ),
        (
            "3x3: 1 2 3",
            "kernel '3x3: 1 2 3': 3x3 (width x height) needs 9 values, got 3",
        ),
        (
            "gaussian:0",
            "kernel 'gaussian:0': sigma must be > 0, got '0'",
        ),
        (
            "gaussian:1,foo=2",
            "kernel 'gaussian:1,foo=2': unknown argument 'foo' (expected one of: sigma, size, "
            "s, p, d, border)",
        ),
        ("sobel-x:3", "kernel 'sobel-x:3': sobel-x takes no bare argument, got 1"),
        ("box:0", "kernel 'box:0': size must be >= 1, got 0"),
        ("sobel:s=0", "kernel 'sobel:s=0': s must be >= 1, got 0"),
        (
            "sobel:border=wrap",
            "kernel 'sobel:border=wrap': border must be one of zeros, reflect, replicate, "
            "circular, symmetric, got 'wrap'",
        ),
        ("maxpool", "kernel 'maxpool': the window size is missing, e.g. 'maxpool:3'"),
        (
            "maxpool:2,p=2",
            "kernel 'maxpool:2,p=2': padding must be at most half the window (PyTorch), "
            "got p=2 for k=2 on the height axis",
        ),
        (
            "maxpool:2,ceil=maybe",
            "kernel 'maxpool:2,ceil=maybe': ceil must be true/false, yes/no or 1/0, got 'maybe'",
        ),
        ("  ", "kernel step is empty"),
        ("@", "kernel '@': the file name after '@' is missing"),
    ],
)
def test_spec_errors(text, message):
    with pytest.raises(SpecError) as caught:
        parse_step(text)
    assert str(caught.value) == message


def test_missing_file_is_a_convcli_error_naming_it(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConvcliError) as caught:
        parse_step(f"@{missing}")
    assert not isinstance(caught.value, SpecError)
    assert str(caught.value) == f"kernel file '{missing}': not found"
    with pytest.raises(ConvcliError, match="not found"):
        parse_step("nope.npy")


def test_bad_npy_files(tmp_path):
    np.save(tmp_path / "five.npy", np.zeros((1, 1, 1, 1, 2)))
    with pytest.raises(
        ConvcliError, match=r"1 to 4 dimensions, got shape \(1, 1, 1, 1, 2\)"
    ) as bad:
        parse_step(str(tmp_path / "five.npy"))
    assert not isinstance(bad.value, SpecError)  # a file's content: failed input, exit 1
    (tmp_path / "junk.npy").write_bytes(b"not an npy")
    with pytest.raises(ConvcliError, match="not a readable .npy array"):
        parse_step(str(tmp_path / "junk.npy"))


# ---- flipped, normalized, zero_sum --------------------------------------------------------------


def test_flipped_is_true_convolution():
    step = parse_step("1 2 3; 4 5 6; 7 8 10")
    flipped = step.flipped()
    assert flipped.weight.tolist() == [[10, 8, 7], [6, 5, 4], [3, 2, 1]]
    np.testing.assert_allclose(
        ndimage.correlate(IMAGE, flipped.weight), ndimage.convolve(IMAGE, step.weight)
    )
    sobel = parse_step("sobel").flipped()
    assert sobel.magnitude[0].tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    assert sobel.magnitude[1].tolist() == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    assert sobel.weight.tolist() == sobel.magnitude[0].tolist()
    assert parse_step("0 1 | 2 3").flipped().weight.tolist() == [[[1, 0]], [[3, 2]]]


def test_normalized_divides_by_the_sum():
    assert parse_step("1 2 1").normalized().weight.tolist() == [[0.25, 0.5, 0.25]]
    assert parse_step("[[[[1,1]]],[[[1,3]]]]").normalized().weight.tolist() == [
        [[[0.5, 0.5]]],
        [[[0.25, 0.75]]],
    ]
    with pytest.raises(ConvcliError, match="^--normalize: kernel 'sobel-x' sums to 0, cannot"):
        parse_step("sobel-x").normalized()
    with pytest.raises(ConvcliError, match="gradient magnitude"):
        parse_step("sobel").normalized()


def test_zero_sum():
    zero = ["sobel", "sobel-x", "laplacian", "log:1.4", "diff-x", "roberts", "1 -1 | 2 -2"]
    for text in zero:
        assert parse_step(text).zero_sum, text
    for text in ["gaussian:1", "box:3", "sharpen", "emboss", "identity", "1 2"]:
        assert not parse_step(text).zero_sum, text


# ---- describe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "row"),
    [
        ("sobel-x", [1, 2, 1], [-1, 0, 1]),
        ("sobel-y", [-1, 0, 1], [1, 2, 1]),
        ("scharr-x", [3, 10, 3], [-1, 0, 1]),
        ("prewitt-x", [1, 1, 1], [-1, 0, 1]),
        ("diff-x", [1], [1, -1]),
        ("2 4; 3 6", [2, 3], [1, 2]),
        ("-2 -4; -3 -6", [2, 3], [-1, -2]),
    ],
)
def test_integer_factors_are_small_integers(text, column, row):
    info = describe(parse_step(text))
    assert info.separable is True
    assert info.rank == 1
    assert info.integer
    assert info.factors[0].tolist() == column
    assert info.factors[1].tolist() == row


def test_float_factors_share_the_sum():
    info = describe(parse_step("gaussian:1"))
    taps = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    np.testing.assert_allclose(info.factors[0], taps / taps.sum())
    np.testing.assert_allclose(info.factors[1], taps / taps.sum())
    box = describe(parse_step("box:3"))
    np.testing.assert_allclose(box.factors[0], [1 / 3] * 3)


def test_describe_rank2_magnitude_pool_and_3d():
    laplacian = describe(parse_step("laplacian"))
    assert (laplacian.separable, laplacian.rank, laplacian.total) == (False, 2, 0.0)
    sobel = describe(parse_step("sobel"))
    assert sobel.kind == "magnitude"
    assert [part.factors[0].tolist() for part in sobel.parts] == [[1, 2, 1], [-1, 0, 1]]
    pool = describe(parse_step("maxpool:2"))
    assert (pool.kind, pool.matrix, pool.separable) == ("pool", None, None)
    three_d = describe(parse_step("0 1; 2 3 | 1 2; 3 4"))
    assert (three_d.total, three_d.separable, three_d.summary) == (16.0, None, "inline kernel")


# ---- against OpenCV (values generated by tests/data/make_kernels_fixture.py) ----------------

CV2_FIXTURE = json.loads((Path(__file__).parent / "data" / "kernels_cv2.json").read_text())


@pytest.mark.parametrize("step_text", sorted(CV2_FIXTURE["cases"]))
def test_named_kernels_match_opencv(step_text):
    case = CV2_FIXTURE["cases"][step_text]
    image = np.array(CV2_FIXTURE["image"])
    # OpenCV's BORDER_REFLECT_101 is scipy's "mirror" (convcli's reflect).
    np.testing.assert_allclose(
        correlate(image, step_text, mode="mirror"),
        case["sign"] * np.array(case["output"]),
        atol=1e-9,
    )


# ---- spellings from other tools ----------------------------------------------------------------


def test_vips_mat_file_with_scale_and_offset(tmp_path):
    path = tmp_path / "blur.mat"
    path.write_text("3 2 8 128\n1 2 1\n1 2 1\n")
    step = parse_step(str(path))
    assert step.weight.tolist() == [[0.125, 0.25, 0.125], [0.125, 0.25, 0.125]]
    assert step.offset == 128.0
    assert parse_step(f"@{path}").slug == "blur"
    path.write_text("2 1\n1 -1\n")  # scale and offset are optional
    plain = parse_step(str(path))
    assert (plain.weight.tolist(), plain.offset) == ([[1.0, -1.0]], 0.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no values"),
        ("3\n1 2 3\n", "starts with 'WIDTH HEIGHT [SCALE [OFFSET]]', got '3'"),
        ("3 x\n1 2 3\n", "got '3 x'"),
        ("2 2 0\n1 1\n1 1\n", "the scale (third number of the header) must not be 0"),
        ("3 2\n1 2 3\n", "the header says 3x2 (width x height), the file has 1 rows of 3"),
        ("2 2\n1 2\n3\n", "the file has 2 rows of 2, 1 values"),
        ("2 1\n1 a\n", "'a' is not a number"),
    ],
)
def test_bad_vips_mat_files(tmp_path, content, message):
    path = tmp_path / "k.mat"
    path.write_text(content)
    with pytest.raises(ConvcliError, match="kernel file .*k.mat") as error:
        parse_step(str(path))
    assert message in str(error.value)
    assert not isinstance(error.value, SpecError)  # a file's content: failed input, exit 1


def test_vips_mat_offset_is_added_to_the_result(cli, tmp_path):
    path = tmp_path / "k.mat"
    path.write_text("2 1 2 10\n1 1\n")
    result = cli("apply", "--matrix", "0 2 4", "-k", str(path))
    assert (result.exit_code, result.stdout) == (0, "11 13\n")


@pytest.mark.parametrize(
    ("text", "size", "sigma"),
    [
        ("Gaussian:0x2", 15, 2.0),  # ImageMagick's own width (-define morphology:showkernel=1)
        ("gaussian:0x0.5", 5, 0.5),
        ("Gaussian:3x1.5", 7, 1.5),  # radius 3
        ("Gaussian:2.5x1", 7, 1.0),  # 2 * ceil(2.5) + 1
    ],
)
def test_imagemagick_gaussian_radius_x_sigma(text, size, sigma):
    step = parse_step(text)
    assert step.weight.shape == (size, size)
    assert np.allclose(step.weight, gaussian_kernel(sigma, size))
    assert step.notes == ()


def test_imagemagick_gaussian_too_wide_is_refused():
    with pytest.raises(SpecError, match="Gaussian:600x1 is 1201 taps wide, more than 1025"):
        parse_step("Gaussian:600x1")
    # ImageMagick's own width stops growing near 256 taps: a wide sigma is cut there
    assert parse_step("Gaussian:0x400").weight.shape == (253, 253)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Sobel", "'Sobel' read as convcli's sobel: ImageMagick's Sobel is one kernel"),
        ("Prewitt", "prewitt-x here"),
        ("Roberts", "ImageMagick's Roberts is one diagonal kernel"),
        ("Laplacian", "laplacian8 here; convcli's laplacian is the 4-neighbour one"),
        ("Gaussian:2", "ImageMagick reads Gaussian:N as radius N; convcli reads sigma N"),
        ("LoG:1.5", "ImageMagick reads LoG:N as radius N"),
    ],
)
def test_capitalised_imagemagick_names_get_a_note(text, fragment):
    step = parse_step(text)
    assert isinstance(step, KernelStep)
    assert len(step.notes) == 1
    assert fragment in step.notes[0]


@pytest.mark.parametrize(
    "text", ["sobel", "laplacian", "gaussian:2", "Gaussian", "Box:3", "Sobel-X"]
)
def test_no_note_where_the_meaning_is_the_same(text):
    assert parse_step(text).notes == ()


# ---- unsharp mask, difference of Gaussians, compass sets ---------------------------------------


def test_unsharp_is_input_plus_amount_times_detail():
    image = RNG.random((20, 23))
    step = parse_step("unsharp:1.5,amount=0.7")
    blurred = ndimage.gaussian_filter(image, 1.5, mode="mirror", truncate=3.0)
    expected = image + 0.7 * (image - blurred)
    np.testing.assert_allclose(ndimage.correlate(image, step.weight, mode="mirror"), expected)
    assert step.weight.sum() == pytest.approx(1.0, abs=1e-12)
    assert (step.gate, parse_step("unsharp").weight.shape) == (0.0, (7, 7))


def test_unsharp_threshold_keeps_small_changes(cli):
    # a step from 0 to 9 with a 0.25 ripple on the flat side: the ripple's change is
    # below amount*threshold = 1 and stays as it was; the edge is sharpened
    row = "0.25 0 0.25 0 0.25 0 9 9 9 9 9 9"
    matrix = "; ".join([row] * 5)
    common = ("-p", "same", "--border", "replicate")
    gated = cli("apply", "--matrix", matrix, "-k", "unsharp:1,threshold=1", *common)
    plain = cli("apply", "--matrix", matrix, "-k", "unsharp:1", *common)
    assert gated.exit_code == plain.exit_code == 0

    def numbers(text: str) -> np.ndarray:
        return np.array([[float(v) for v in line.split()] for line in text.splitlines()])

    got, sharp = numbers(gated.stdout), numbers(plain.stdout)
    values = numbers(matrix.replace("; ", "\n"))
    changed = np.abs(sharp - values) >= 1
    assert changed.any() and (~changed).any()
    np.testing.assert_allclose(got[changed], sharp[changed], rtol=1e-6)
    np.testing.assert_array_equal(got[~changed], values[~changed])


def test_unsharp_threshold_in_strips_equals_the_whole():
    from convcli.pipeline import plan_strips, run_steps

    image = (RNG.random((2, 90, 31)) * 255).astype(np.float32)
    steps = [parse_step("unsharp:1.2,amount=2,threshold=20")]
    whole, _ = run_steps(image, steps, image=True)
    plan = plan_strips((2, 90, 31), steps)
    assert plan is not None
    pieces = []
    for start in range(0, 90, 17):
        first, last = plan.rows_needed(start, min(90, start + 17))
        rows, first_row = plan.run(image[:, first:last], first)
        pieces.append(rows[:, start - first_row : start - first_row + min(17, 90 - start)])
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), whole)


def test_unsharp_threshold_needs_the_input_size(cli):
    matrix = "; ".join(["1 2 3 4 5 6"] * 6)  # a matrix: padding 0, the output is 2x2
    result = cli("apply", "--matrix", matrix, "-k", "unsharp:0.5,threshold=1")
    assert result.exit_code == 1
    assert "threshold= compares the result with the input" in result.stderr
    assert result.stderr.count("\n") == 1


def test_dog_is_the_difference_of_two_gaussians():
    step = parse_step("dog:1,ratio=2")
    size = 2 * int(3 * 2 + 0.5) + 1
    assert step.weight.shape == (size, size)
    np.testing.assert_allclose(step.weight, gaussian_kernel(1, size) - gaussian_kernel(2, size))
    assert abs(step.weight.sum()) < 1e-12 and step.weight[6, 6] > 0 and step.zero_sum
    assert parse_step("dog").weight.shape == (11, 11)  # ratio 1.6: radius int(4.8 + 0.5)
    with pytest.raises(SpecError, match="ratio must be > 1 and at most 1000 .*, got '1'"):
        parse_step("dog:1,ratio=1")
    with pytest.raises(SpecError, match="below 1 turns the centre negative.*, got '0.5'"):
        parse_step("dog:1,ratio=0.5")
    assert parse_step("dog:1,ratio=1.01").weight[3, 3] > 0  # 7x7: just above 1, positive
    with pytest.raises(SpecError, match="amount must be > 0 and at most 1000, got '-1'"):
        parse_step("unsharp:1,amount=-1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kirsch:n", [[5, 5, 5], [-3, 0, -3], [-3, -3, -3]]),
        ("kirsch:nw", [[5, 5, -3], [5, 0, -3], [-3, -3, -3]]),
        ("kirsch:e", [[-3, -3, 5], [-3, 0, 5], [-3, -3, 5]]),  # ImageMagick's Kirsch, flipped
        ("kirsch:SE", [[-3, -3, -3], [-3, 0, 5], [-3, 5, 5]]),
        ("compass:e", [[-1, 1, 1], [-1, -2, 1], [-1, 1, 1]]),  # ImageMagick's Compass, flipped
        ("compass:s", [[-1, -1, -1], [1, -2, 1], [1, 1, 1]]),
    ],
)
def test_compass_directions(text, expected):
    assert parse_step(text).weight.tolist() == expected


def test_compass_sets_take_the_maximum_of_eight_directions(cli):
    from convcli.kernels import COMPASS_DIRECTIONS
    from convcli.pipeline import run_steps

    image = RNG.random((1, 12, 14)).astype(np.float32)
    step = parse_step("kirsch")
    assert step.directions is not None and len(step.directions) == 8 and step.zero_sum
    got, reports = run_steps(image, [step], image=True)
    each = [
        ndimage.correlate(image[0], parse_step(f"kirsch:{d}").weight, mode="mirror")
        for d in COMPASS_DIRECTIONS
    ]
    np.testing.assert_allclose(got[0], np.max(each, axis=0), rtol=1e-5, atol=1e-5)
    assert reports[0].operation.startswith("maximum of 8 directions of 3x3 kernel")
    flipped = step.flipped()
    assert flipped.directions is not None
    assert flipped.directions[0].tolist() == step.directions[0][::-1, ::-1].tolist()
    shown = json.loads(cli("kernels", "compass", "--format", "json").stdout)
    assert shown["kind"] == "compass"
    assert [part["label"] for part in shown["components"]] == list(COMPASS_DIRECTIONS)
    refused = cli("apply", "--matrix", "1 2 3; 4 5 6; 7 8 9", "-k", "kirsch", "--steps")
    assert refused.exit_code == 2 and "'kirsch' is the maximum of 8 kernels" in refused.stderr


def test_compass_direction_errors():
    with pytest.raises(
        SpecError, match="direction must be one of n, nw, w, sw, s, se, e, ne, got 'up'"
    ):
        parse_step("kirsch:up")
    with pytest.raises(SpecError, match="direction given twice"):
        parse_step("kirsch:n,direction=s")
    assert "kirsch:e here" in parse_step("Kirsch").notes[0]
