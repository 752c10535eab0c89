"""``apply --like`` and ``kernels --as``: convcli against the peers' own pixels.

The fixtures in ``tests/data/peers/`` were made by OpenCV, ImageMagick, libvips and scipy
themselves (``tests/data/make_peer_fixtures.py``); this suite never runs the peers.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.commands import PeerName
from convcli.kernels import parse_step
from convcli.peers import (
    PEERS,
    ROUNDINGS,
    FixedPoint,
    fixed_point_blur,
    gaussian_taps,
    like_settings,
    peer_call,
    round_pixels,
    vips_fixed_point,
    vips_gaussmat,
)
from convcli.pipeline import StepOptions, prepare_steps, run_steps
from tests.conftest import DATA

FIXTURES = DATA / "peers"
STEPS = {
    "sobel-x": "sobel-x",
    "gaussian-2": "gaussian:2",
    "box-3": "box:3",
    "custom": "0.125 0.25 0; 0 0.375 -0.125; 0.125 0 0.25",
    "even": "0.5 0.25; 0.375 -0.125",
}


def read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image).astype(np.int64)


def run_like(cli, tmp_path: Path, image: str, step: str, peer: str, suffix: str = "png"):
    out = tmp_path / f"out.{suffix}"
    result = cli("apply", FIXTURES / f"{image}.png", "-k", step, "--like", peer, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return out


@pytest.mark.parametrize("image", ["gray", "colour"])
@pytest.mark.parametrize("slug", list(STEPS))
@pytest.mark.parametrize("peer", list(PEERS))
def test_like_matches_the_peer(cli, tmp_path, peer, slug, image):
    """Pixel-identical, except where a peer truncates (vips conv, scipy) a result that lies
    within float error of a whole number: there the last bits of each tool's arithmetic
    decide, and the pixels differ by exactly 1 level. vips gaussblur is integer arithmetic
    (see test_like_vips_matches_gaussblur_at_its_default_precision): identical."""
    ours = read(run_like(cli, tmp_path, image, STEPS[slug], peer))
    theirs = read(FIXTURES / f"{peer}-{slug}-{image}.png")
    assert ours.shape == theirs.shape
    differ = ours != theirs
    if PEERS[peer].rounding != "down" or (peer, slug) == ("vips", "gaussian-2"):
        assert not differ.any()
        return
    assert np.abs(ours - theirs).max(initial=0) <= 1
    floats = np.load(run_like(cli, tmp_path, image, STEPS[slug], peer, "npy"))
    floats = floats.reshape(ours.shape)
    near_whole = np.abs(floats - np.round(floats)) < 1e-3
    assert not (differ & ~near_whole).any()
    # How often that happens, measured: scipy's float64 sum of nine 1/9 taps lands a hair
    # below a whole number on 4% of the pixels; elsewhere at most 2 pixels of 9216.
    limit = 0.05 if (peer, slug) == ("scipy", "box-3") else 2 / 9216
    assert differ.mean() <= limit


def test_without_like_the_defaults_differ_from_the_peers(cli, tmp_path):
    """The fixtures can fail: convcli's own defaults (abs edges, half-up, anchor after)
    do not give OpenCV's pixels."""
    out = tmp_path / "out.png"
    assert cli("apply", FIXTURES / "gray.png", "-k", STEPS["even"], "-o", out).exit_code == 0
    assert (read(out) != read(FIXTURES / "opencv-even-gray.png")).mean() > 0.5
    assert cli("apply", FIXTURES / "gray.png", "-k", "sobel-x", "-o", out, "--force").exit_code == 0
    assert (read(out) != read(FIXTURES / "opencv-sobel-x-gray.png")).any()


def test_explicit_options_win_over_like(cli):
    result = cli(
        "apply",
        "--matrix",
        "1 2 3; 4 5 6; 7 8 9",
        "-k",
        "1 -1",
        "--like",
        "scipy",
        "--border",
        "zeros",
        "--explain",
    )
    assert result.exit_code == 0
    # the anchor at k//2 (pad before), scipy's would be symmetric, --border says zeros
    assert "pads top 0, bottom 0, left 1, right 0 (zeros)" in result.stderr
    assert result.stdout == "-1 -1 -1\n-4 -1 -1\n-7 -1 -1\n"  # in[x-1] - in[x]
    padded = cli("apply", "--matrix", "1 2 3", "-k", "1 -1", "--like", "scipy", "-p", "0")
    assert padded.stdout == "-1 -1\n"


def test_like_magick_flips_typed_matrices_not_named_kernels():
    typed, _, _ = like_settings("magick", [parse_step("1 2; 3 4")], StepOptions())
    assert typed[0].weight.tolist() == [[4, 3], [2, 1]]
    named, _, _ = like_settings("magick", [parse_step("sobel-x")], StepOptions())
    assert named[0].weight.tolist() == parse_step("sobel-x").weight.tolist()
    convolved, _, _ = like_settings("magick", [parse_step("1 2")], StepOptions(convolve=True))
    assert convolved[0].weight.tolist() == [[1, 2]]  # --convolve flips it once, later


def test_like_settings_fields():
    _, options, fields = like_settings("opencv", [], StepOptions())
    assert (options.border, fields) == ("reflect", {"rounding": "half-even", "edge_map": "clip"})
    _, options, _ = like_settings("magick", [], StepOptions(border="circular"))
    assert options.border == "circular"


@pytest.mark.parametrize(
    ("rule", "sigma", "size"),
    # sizes read from the peers: cv2.GaussianBlur on uint8, ImageMagick's
    # -define morphology:showkernel=1 of Gaussian:0xSIGMA, vips_gaussmat (min_ampl 0.2)
    [
        ("opencv", 1, 7),
        ("opencv", 2, 13),
        ("opencv", 3, 19),
        ("magick", 0.5, 5),
        ("magick", 1, 9),
        ("magick", 2, 15),
        ("magick", 3, 23),
        ("vips", 1, 3),
        ("vips", 2, 7),
        ("scipy", 1, 9),
        ("scipy", 2, 17),
    ],
)
def test_gaussian_sizes_per_peer(rule, sigma, size):
    taps = gaussian_taps(float(sigma), rule)
    assert taps.shape == (size,)
    assert taps.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(taps, taps[::-1])


def test_opencv_gaussian_taps_are_eighth_bit_fixed_point():
    taps = gaussian_taps(2.0, "opencv") * 256
    assert taps.tolist() == [1, 2, 7, 16, 31, 45, 52, 45, 31, 16, 7, 2, 1]


def test_round_pixels_each_way():
    values = np.array([0.5, 1.5, 2.5, 99.99999, 127.4, 254.999], np.float32)
    got = {r: round_pixels(values.copy(), r, 255).astype(np.uint8).tolist() for r in ROUNDINGS}
    assert got == {
        "half-up": [1, 2, 3, 100, 127, 255],
        "half-even": [0, 2, 2, 100, 127, 255],
        "down": [0, 1, 2, 100, 127, 254],
        "q16": [0, 1, 2, 100, 127, 255],  # q16: 254.999 * 257 rounds to 65535
    }


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize(("in_scale", "depth"), [(255.0, "8"), (255.0, "16"), (1.0, "8")])
def test_output_pixels_round_as_round_pixels_from_mapped_values(rounding, in_scale, depth):
    """The writer folds half-up's +0.5 into its cast and skips the clip a --map already
    made: the pixels must be round_pixels' own, also for the few-ulp excursions past 0
    and full scale that scaling and sRGB leave (none of which may wrap around)."""
    from convcli.process import _output_array, _to_output_pixels

    unit = np.array(
        [-3e-5, 0.0, 0.49, 0.5, 1.5, 2.5, 127.4, 127.5, 254.5, 254.999, 255.0, 255.00002],
        np.float32,
    ) / np.float32(255 / in_scale)
    values = np.stack([unit, unit[::-1]])[:, None, :]  # (C=2, H=1, W)
    full = {"8": 255.0, "16": 65535.0}[depth]
    expected = np.clip(values * np.float32(full / in_scale), 0, full)
    expected = round_pixels(expected, rounding, full).astype(np.uint16)
    out = _output_array(1, unit.size, 2, depth, "PNG")
    _to_output_pixels(values.copy(), in_scale, depth, out, rounding)
    assert out.transpose(2, 0, 1).astype(np.uint16).tolist() == expected.tolist()
    if (rounding, in_scale, depth) == ("half-up", 255.0, "8"):
        assert out[0, :, 0].tolist() == [0, 0, 0, 1, 2, 3, 127, 128, 255, 255, 255, 255]


def test_round_pixels_refuses_an_unknown_rule():
    with pytest.raises(ValueError, match="rounding must be one of half-up, half-even"):
        round_pixels(np.zeros(1, np.float32), "nearest", 255)


def test_peer_names_are_one_vocabulary():
    assert [member.value for member in PeerName] == list(PEERS)


# ---- kernels --as ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "peer", "lines"),
    [
        (
            "sobel-x",
            "opencv",
            [
                "k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)",
                "out = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)",
            ],
        ),
        (
            "gaussian:1.5",
            "opencv",
            ["out = cv2.GaussianBlur(img, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT_101)"],
        ),
        (
            "sobel-x",
            "magick",
            ["convert in.png -morphology Convolve '3x3: 1,0,-1 2,0,-2 1,0,-1' out.png"],
        ),
        ("1 2; 3 4", "magick", ["convert in.png -morphology Convolve '2x2: 1,2 3,4' out.png"]),
        (
            "laplacian:border=symmetric",
            "magick",
            [
                "convert in.png -virtual-pixel Mirror -morphology Convolve "
                "'3x3: 0,-1,0 -1,4,-1 0,-1,0' out.png"
            ],
        ),
        ("gaussian:2", "magick", ["convert in.png -morphology Convolve Gaussian:0x2 out.png"]),
        (
            "box:3",
            "vips",
            [
                "printf '3 3 9 0\\n1 1 1\\n1 1 1\\n1 1 1\\n' > k.mat",
                "vips conv in.png out.png k.mat",
            ],
        ),
        ("gaussian:2", "vips", ["vips gaussblur in.png out.png 2"]),
        (
            "1 -1",
            "scipy",
            [
                "f = img.astype(np.float64)  # an image H x W x C: k[:, :, None]",
                "k = np.array([[1, -1]], float)",
                "out = ndimage.correlate(f, k, mode='reflect')",
                "out = np.clip(out, 0, 255).astype(np.uint8)",
            ],
        ),
    ],
)
def test_kernels_as_prints_the_peer_call(cli, step, peer, lines):
    result = cli("kernels", step, "--as", peer)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "".join(line + "\n" for line in lines)
    assert peer_call(parse_step(step), PEERS[peer]) == lines


def test_kernels_as_opencv_calls_blur_for_a_box_too_large_to_print(cli, monkeypatch):
    """box:1025 once searched 4,096 scales over its million taps and printed a 24 MB literal
    (25 s): a mean filter with more taps than a table shows is cv2.blur, sized in OpenCV's
    (width, height) order, and no tap is formatted on the way."""
    import convcli.peers

    formatted = []
    monkeypatch.setattr(convcli.peers, "format_number", lambda *a, **k: formatted.append(a))
    assert peer_call(parse_step("box:1025"), PEERS["opencv"]) == [
        "out = cv2.blur(img, (1025, 1025), borderType=cv2.BORDER_REFLECT_101)"
    ]
    assert peer_call(parse_step("box:5x1025,border=zeros"), PEERS["opencv"]) == [
        "out = cv2.blur(img, (1025, 5), borderType=cv2.BORDER_CONSTANT)"
    ]
    assert formatted == []
    monkeypatch.undo()
    result = cli("kernels", "box:65", "--as", "opencv")
    assert result.stdout == "out = cv2.blur(img, (65, 65), borderType=cv2.BORDER_REFLECT_101)\n"
    # Up to 4,096 taps the literal stays: blur rounds an even box's exact halves up,
    # filter2D (and --like opencv) to even.
    small = peer_call(parse_step("box:64"), PEERS["opencv"])
    assert small[0].endswith("np.float32) / 4096") and small[1].startswith("out = cv2.filter2D(")
    # Equal taps that do not sum to 1 are no mean filter.
    ones = str(np.ones((65, 65), int).tolist())
    assert (
        peer_call(parse_step(ones), PEERS["opencv"])[-1]
        == "out = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)"
    )


def test_kernels_as_python_writes_one_repeated_tap_as_np_full(monkeypatch):
    """box:1025 --as scipy printed a literal of a million taps (24 MB): a kernel of one tap
    repeated more often than a table shows is np.full, with the same values."""
    import convcli.peers

    calls = []
    number = convcli.peers.format_number
    monkeypatch.setattr(
        convcli.peers, "format_number", lambda *a, **k: calls.append(a) or number(*a, **k)
    )
    lines = peer_call(parse_step("box:1025,border=zeros"), PEERS["scipy"])
    assert lines[1:3] == [
        "k = np.full((1025, 1025), 9.518143961927424e-07, float)",
        "out = ndimage.correlate(f, k, mode='constant')",
    ]
    assert len(calls) == 1  # one tap formatted, not a million
    for step in ("box:65", "box:1025", "box:5x1025"):
        weight = parse_step(step).weight
        made = peer_call(parse_step(step), PEERS["scipy"])[1].removeprefix("k = ")
        assert np.array_equal(eval(made, {"np": np, "float": float}), weight), step
    ones = str(np.ones((65, 65), int).tolist())  # equal taps, no mean: filter2D, in float32
    assert peer_call(parse_step(ones), PEERS["opencv"])[0] == "k = np.full((65, 65), 1, np.float32)"
    assert "np.array(" in peer_call(parse_step("box:64"), PEERS["scipy"])[1]  # 4,096 taps: a table


def test_integer_scale_tries_every_scale_at_once():
    """The smallest scale up to 4096 that makes every tap whole (1 when none does), the
    answer the one-scale-at-a-time loop gave, on kernels of any size."""
    from convcli.peers import _integer_scale

    assert _integer_scale(parse_step("box:3").weight) == 9
    assert _integer_scale(parse_step("0.125 0.25 0; 0 0.375 -0.125").weight) == 8
    assert _integer_scale(parse_step("sobel-x").weight) == 1
    assert _integer_scale(np.array([[1 / 3, 1 / 7, 1e-12]])) == 21  # a tiny tap is whole
    assert _integer_scale(parse_step("box:64").weight) == 4096
    assert _integer_scale(parse_step("box:65").weight) == 1  # 4225 is beyond the search
    assert _integer_scale(parse_step("gaussian:100,size=1025").weight) == 1


def test_kernels_as_json(cli):
    result = cli("kernels", "sobel-x", "--as", "vips", "--format", "json")
    assert json.loads(result.stdout) == {
        "step": "sobel-x",
        "as": "vips",
        "lines": [
            "printf '3 3 1 0\\n-1 0 1\\n-2 0 2\\n-1 0 1\\n' > k.mat",
            "vips conv in.png out.png k.mat",
        ],
    }


@pytest.mark.parametrize(
    ("step", "peer", "message"),
    [
        ("maxpool:2", "opencv", "'maxpool:2' is a pooling step; only kernels are translated"),
        ("sobel-x:s=2", "scipy", "'sobel-x:s=2' sets s= or d=; scipy.ndimage filters at stride 1"),
        ("box:3,p=0", "opencv", "'box:3,p=0' sets p=; OpenCV keeps the image's size"),
        ("sobel", "magick", "'sobel' is a gradient magnitude; ImageMagick Q16 clamps"),
        ("box:3,border=reflect", "vips", "uses border reflect, which libvips lacks here"),
        ("box:3,border=circular", "opencv", "uses border circular, which OpenCV lacks here"),
    ],
)
def test_kernels_as_refuses_what_the_peer_cannot_do(cli, step, peer, message):
    result = cli("kernels", step, "--as", peer)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: --as {peer}: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_kernels_as_needs_a_step(cli):
    result = cli("kernels", "--as", "opencv")
    assert result.exit_code == 2
    assert "--as needs a STEP" in result.stderr


def test_imagemagick_spelling_with_like_magick_matches_imagemagick(cli, tmp_path):
    out = tmp_path / "out.png"
    result = cli(
        "apply", FIXTURES / "colour.png", "-k", "Gaussian:0x2", "--like", "magick", "-o", out
    )
    assert (result.exit_code, result.stderr) == (0, "")
    assert (read(out) == read(FIXTURES / "magick-gaussian-2-colour.png")).all()


def test_capitalised_name_note_reaches_stderr(cli, tmp_path):
    out = tmp_path / "out.png"
    result = cli("apply", FIXTURES / "gray.png", "-k", "Sobel", "-o", out)
    assert result.exit_code == 0
    assert result.stderr.startswith("note: 'Sobel' read as convcli's sobel: ")
    assert result.stderr.count("\n") == 1
    quiet = cli("apply", FIXTURES / "gray.png", "-k", "Sobel", "-o", out, "--force", "-q")
    assert quiet.stderr == ""
    shown = cli("kernels", "Laplacian", "--format", "json")
    assert shown.exit_code == 0
    assert "laplacian8 here" in shown.stderr
    assert json.loads(shown.stdout)["name"] == "laplacian"


@pytest.mark.parametrize("image", ["gray", "colour"])
def test_vips_mat_with_offset_matches_vips_conv(cli, tmp_path, image):
    """``offset.mat`` (scale 8, offset 64) through ``vips conv``, and here with --like vips."""
    out = tmp_path / "out.png"
    mat = FIXTURES / "offset.mat"
    result = cli("apply", FIXTURES / f"{image}.png", "-k", mat, "--like", "vips", "-o", out)
    assert (result.exit_code, result.stderr) == (0, "")
    assert (read(out) == read(FIXTURES / f"vips-offset-mat-{image}.png")).all()
    shown = cli("kernels", mat, "--as", "opencv")
    assert "cv2.filter2D(img, -1, k, delta=64, borderType=cv2.BORDER_REFLECT_101)" in shown.stdout
    assert (
        "out = ndimage.correlate(f, k, mode='reflect') + 64\n"
        in cli("kernels", mat, "--as", "scipy").stdout
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("kirsch", "'kirsch' is the maximum of 8 kernels; translate one direction"),
        ("unsharp:1,threshold=3", "has threshold=, which no single linear call does"),
    ],
)
def test_kernels_as_refuses_nonlinear_steps(cli, step, message):
    result = cli("kernels", step, "--as", "scipy")
    assert result.exit_code == 1 and message in result.stderr


def test_kernels_as_magick_refuses_an_offset(cli):
    result = cli("kernels", FIXTURES / "offset.mat", "--as", "magick")
    assert (
        result.exit_code == 1 and "has an offset; ImageMagick's Convolve adds none" in result.stderr
    )


def test_opencv_gaussian_rounds_halves_up_like_its_fixed_point(cli, tmp_path):
    """On bands of 0 and 128, 1,296 of 3,072 GaussianBlur results are exactly n + 1/2: its
    8-bit fixed point rounds them up (filter2D's half-to-even gave 672 wrong pixels)."""
    out = tmp_path / "out.png"
    result = cli("apply", FIXTURES / "bands.png", "-k", "gaussian:2", "--like", "opencv", "-o", out)
    assert result.exit_code == 0
    assert (read(out) == read(FIXTURES / "opencv-gaussian-2-bands.png")).all()
    _, _, blur = like_settings("opencv", [parse_step("gaussian:2")], StepOptions())
    _, _, mixed = like_settings(
        "opencv", [parse_step("gaussian:2"), parse_step("sobel-x")], StepOptions()
    )
    assert (blur["rounding"], mixed["rounding"]) == ("half-up", "half-even")


# ---- vips gaussblur at its default (integer) precision ------------------------------------


@pytest.mark.parametrize(
    ("sigma", "taps"),
    # printed by `vips gaussmat m.mat SIGMA 0.2 --precision integer --separable` (8.14.1)
    [
        (1, (12, 20, 12)),
        (2, (6, 12, 18, 20, 18, 12, 6)),
        (3, (5, 8, 12, 16, 19, 20, 19, 16, 12, 8, 5)),
    ],
)
def test_vips_gaussmat_integer_mask(sigma, taps):
    assert vips_gaussmat(float(sigma)) == taps


def test_vips_fixed_point_masks():
    """The fixed point read from `vips conv --precision integer` on random rows: 8-bit taps
    with e = 7 - ceil(log2(max) + 1) fraction bits, products rounded by ceil(log2 n) bits."""
    assert vips_fixed_point((12, 20, 12)) == FixedPoint((35, 58, 35), 2, 32)
    assert vips_fixed_point(vips_gaussmat(2.0)) == FixedPoint((17, 33, 50, 56, 50, 33, 17), 3, 32)
    # 257/256: still the vector path (a constant 128 comes out 130 after two passes)
    assert vips_fixed_point(vips_gaussmat(3.0)) == FixedPoint(
        (9, 15, 22, 29, 35, 37, 35, 29, 22, 15, 9), 4, 16
    )
    # sigma 0.6: 11 43 11 overshoots by 1/64, libvips runs its exact C path
    assert vips_fixed_point(vips_gaussmat(0.6)) == FixedPoint((5, 20, 5), 0, 30)


def test_fixed_point_blur_on_probes():
    """What `vips gaussblur` gave on one-row probes (sigma 2, then 3): an impulse of 100
    and a constant 128 (sigma 3's taps sum to 257/256, so each pass adds one level)."""
    impulse = np.zeros((1, 1, 25), np.float32)
    impulse[0, 0, 12] = 100
    mask2 = vips_fixed_point(vips_gaussmat(2.0))
    out = fixed_point_blur(impulse, mask2, (3, 3, 3, 3), "replicate")
    assert out[0, 0, 6:19].tolist() == [0, 0, 0, 7, 13, 20, 22, 20, 13, 7, 0, 0, 0]
    constant = np.full((1, 1, 25), 128, np.float32)
    mask3 = vips_fixed_point(vips_gaussmat(3.0))
    assert fixed_point_blur(constant, mask3, (5, 5, 5, 5), "replicate")[0, 0, 10] == 130


@pytest.mark.parametrize("image", ["gray", "colour"])
@pytest.mark.parametrize("sigma", [1, 2, 3])
def test_like_vips_matches_gaussblur_at_its_default_precision(cli, tmp_path, sigma, image):
    """`vips gaussblur IN OUT SIGMA` (fixtures by the real vips 8.14.1): identical. The
    float taps with one final rounding (what --like vips did before) are 1 to 3 levels
    off the same fixtures, so the comparison can fail."""
    ours = read(run_like(cli, tmp_path, image, f"gaussian:{sigma}", "vips"))
    theirs = read(FIXTURES / f"vips-gaussian-{sigma}-{image}.png")
    assert ours.shape == theirs.shape
    assert (ours == theirs).all()
    steps, options, _ = like_settings("vips", [parse_step(f"gaussian:{sigma}")], StepOptions())
    floats_only = [replace(steps[0], fixed_point=None)]
    x = np.moveaxis(np.atleast_3d(read(FIXTURES / f"{image}.png")), -1, 0).astype(np.float32)
    prepared = prepare_steps(floats_only, options)
    values, _ = run_steps(x, prepared, options, image=True)
    before = np.moveaxis(np.floor(np.clip(values, 0, 255) + 2.0**-14), 0, -1).reshape(ours.shape)
    # measured: max 1 (sigma 1), 2 (sigma 2), 3 (sigma 3: its 257/256 gain in each pass)
    assert np.abs(before - theirs).max() == {1: 1, 2: 2, 3: 3}[sigma]


def test_like_vips_keeps_float_taps_off_8_bit_values(cli):
    """Values that are not whole 0..255 (a matrix, a chain's floats, 16 bits) get the
    float taps: vips's integer passes are defined on 8-bit pixels only."""
    result = cli(
        "apply", "--matrix", "0.5 0.5 0.5; 0.5 0.5 0.5", "-k", "gaussian:1", "--like", "vips"
    )
    assert (result.exit_code, result.stdout) == (0, "0.5 0.5 0.5\n0.5 0.5 0.5\n")
    whole = cli("apply", "--matrix", "100 0 0; 0 0 0; 0 0 0", "-k", "gaussian:1", "--like", "vips")
    # what `vips gaussblur m.png out.png 1` gave for this 3x3 uchar image
    assert (whole.exit_code, whole.stdout) == (0, "53 20 0\n20  7 0\n 0  0 0\n")


def test_explain_says_the_vips_integer_blur(cli, tmp_path):
    out = tmp_path / "out.png"
    result = cli(
        "apply", FIXTURES / "gray.png", "-k", "gaussian:2", "--like", "vips", "-o", out, "--explain"
    )
    assert result.exit_code == 0
    assert (
        "7x7 kernel; on 8-bit values vips gaussblur's way: integer taps 17 33 50 56 50 33 17 "
        "/ 256 along rows, then columns, rounding each pass;" in result.stderr
    )
    plain = cli(
        "apply", FIXTURES / "gray.png", "-k", "gaussian:2", "-o", out, "--force", "--explain"
    )
    assert "gaussblur" not in plain.stderr


def test_the_vips_integer_blur_is_decided_by_the_input_not_by_a_strips_values(cli, tmp_path):
    """A 16-bit image whose values all fit in 0..255 keeps the float taps (vips runs its C
    path on ushort), and so does a second step; strips then never mix the two paths."""
    values = (np.arange(48 * 64).reshape(48, 64) % 200).astype(np.uint16)
    deep = tmp_path / "dark16.png"
    Image.fromarray(values).save(deep)
    shallow = tmp_path / "dark8.png"
    Image.fromarray(values.astype(np.uint8)).save(shallow)
    out = tmp_path / "out.png"

    def explained(path, *steps):
        args = ["apply", path, *(a for s in steps for a in ("-k", s)), "--like", "vips"]
        result = cli(*args, "-o", out, "--force", "--explain")
        assert result.exit_code == 0
        return result.stderr

    assert "gaussblur's way" in explained(shallow, "gaussian:2")
    assert "gaussblur's way" not in explained(deep, "gaussian:2")
    assert explained(shallow, "box:3", "gaussian:2").count("gaussblur's way") == 0
    assert explained(shallow, "gaussian:2", "gaussian:2").count("gaussblur's way") == 1
