"""Make the fixtures of ``tests/test_peers.py``: each peer's own output on two small crops.

Run from the repository root, with the real peers installed (the suite never needs them)::

    apt-get install -y imagemagick libvips-tools   # ImageMagick 6 `convert`, vips 8.14
    pip install opencv-python-headless scipy
    python tests/data/make_peer_fixtures.py

It writes ``tests/data/peers/``: ``gray.png`` (64x48 crop of samples/camera.png) and
``colour.png`` (64x48 crop of samples/chelsea.png), then ``PEER-STEP-IMAGE.png`` for every
peer and step in :data:`STEPS` (and ``vips-offset-mat-IMAGE.png`` from ``offset.mat``,
``vips-gaussian-1/3-IMAGE.png`` from ``vips gaussblur`` at its default precision,
``opencv-gaussian-2-bands.png`` from ``bands.png``, where GaussianBlur rounds halves up),
each made by the peer called the way its users call it
(written by hand below, not by convcli). Then it runs what ``convcli kernels STEP --as
PEER`` prints and checks that it gives the same pixels, and prints how far convcli
``apply --like PEER`` is from each fixture.

Versions used: OpenCV 5.0 (cv2), ImageMagick 6.9.11-60 Q16, libvips 8.14.1, SciPy 1.17.
``/usr/local/bin/convert`` on the build machines is a stand-in: the real one is
``/usr/bin/convert`` (:data:`CONVERT`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "peers"
CONVERT = os.environ.get("CONVERT", "/usr/bin/convert")
VIPS = shutil.which("vips") or "vips"

#: (slug, STEP as given to convcli, correlation kernel or None for named blurs)
CUSTOM = "0.125 0.25 0; 0 0.375 -0.125; 0.125 0 0.25"  # asymmetric, sums to 1, eighths
EVEN = "0.5 0.25; 0.375 -0.125"  # 2x2: the anchor decides where it sits
STEPS = {
    "sobel-x": "sobel-x",
    "gaussian-2": "gaussian:2",
    "box-3": "box:3",
    "custom": CUSTOM,
    "even": EVEN,
}
IMAGES = {
    "gray": ("camera.png", (200, 100, 264, 148)),
    "colour": ("chelsea.png", (150, 60, 214, 108)),
}
PEERS = ("opencv", "magick", "vips", "scipy")

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
CUSTOM_K = np.array([[1, 2, 0], [0, 3, -1], [1, 0, 2]], np.float64) / 8
EVEN_K = np.array([[4, 2], [3, -1]], np.float64) / 8


def matrix_text(kernel: np.ndarray, scale: int = 1) -> str:
    return " ".join(",".join(f"{v * scale:g}" for v in row) for row in kernel)


def opencv(img: np.ndarray, slug: str) -> np.ndarray:
    import cv2

    border = cv2.BORDER_REFLECT_101  # OpenCV's default
    if slug == "gaussian-2":
        return cv2.GaussianBlur(img, (0, 0), 2, borderType=border)
    kernel = {"sobel-x": SOBEL_X, "box-3": np.ones((3, 3)) / 9, "custom": CUSTOM_K, "even": EVEN_K}
    return cv2.filter2D(img, -1, kernel[slug].astype(np.float32), borderType=border)


def magick(path: Path, slug: str, out: Path) -> None:
    # What an ImageMagick user types; Convolve flips the kernel (true convolution).
    arguments = {
        "sobel-x": ["-morphology", "Convolve", "Sobel"],
        "gaussian-2": ["-morphology", "Convolve", "Gaussian:0x2"],
        "box-3": ["-define", "convolve:scale=!", "-morphology", "Convolve", "Square:1"],
        "custom": ["-morphology", "Convolve", "3x3: " + matrix_text(CUSTOM_K)],
        "even": ["-morphology", "Convolve", "2x2: " + matrix_text(EVEN_K)],
    }[slug]
    # no date/time chunks, so that a re-run writes the same bytes
    quiet = ["-define", "png:exclude-chunks=date,time"]
    subprocess.run([CONVERT, str(path), *arguments, *quiet, str(out)], check=True)


def vips(path: Path, slug: str, out: Path, work: Path) -> None:
    if slug.startswith("gaussian-"):
        # gaussblur's default (integer) precision: what a vips user gets
        sigma = slug.removeprefix("gaussian-")
        subprocess.run([VIPS, "gaussblur", str(path), str(out), sigma], check=True)
        return
    mats = {
        "sobel-x": "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n",
        "box-3": "3 3 9 0\n1 1 1\n1 1 1\n1 1 1\n",
        "custom": "3 3 8 0\n1 2 0\n0 3 -1\n1 0 2\n",
        "even": "2 2 8 0\n4 2\n3 -1\n",
    }
    mat = work / f"{slug}.mat"
    mat.write_text(mats[slug])
    subprocess.run([VIPS, "conv", str(path), str(out), str(mat)], check=True)


def scipy(img: np.ndarray, slug: str) -> np.ndarray:
    from scipy import ndimage

    f = img.astype(np.float64)
    colour = img.ndim == 3
    if slug == "gaussian-2":
        out = ndimage.gaussian_filter(f, (2, 2, 0) if colour else 2, mode="reflect", truncate=4.0)
    else:
        kernel = {"sobel-x": SOBEL_X, "box-3": np.ones((3, 3)) / 9, "custom": CUSTOM_K}.get(
            slug, EVEN_K
        )
        out = ndimage.correlate(f, kernel[:, :, None] if colour else kernel, mode="reflect")
    return np.clip(out, 0, 255).astype(np.uint8)  # what ndimage writes into a uint8 array


def make_inputs() -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (sample, box) in IMAGES.items():
        with Image.open(ROOT / "samples" / sample) as image:
            image.crop(box).save(OUT / f"{name}.png")
        paths[name] = OUT / f"{name}.png"
    return paths


def read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def make_fixture(peer: str, slug: str, path: Path, out: Path, work: Path) -> None:
    if peer == "magick":
        magick(path, slug, out)
    elif peer == "vips":
        vips(path, slug, out, work)
    else:
        maker = opencv if peer == "opencv" else scipy
        Image.fromarray(maker(read(path), slug)).save(out)


def printed_gives_fixture(peer: str, step: str, path: Path, fixture: Path, work: Path) -> str:
    """Run what ``convcli kernels STEP --as PEER`` prints on ``path``; compare."""
    from convcli.kernels import parse_step
    from convcli.peers import PEERS, peer_call

    lines = peer_call(parse_step(step), PEERS[peer])
    img = read(path)
    if peer in ("opencv", "scipy"):
        if img.ndim == 3:
            return "(Python call checked on the grey image)"
        import cv2
        from scipy import ndimage

        namespace = {"img": img, "np": np, "cv2": cv2, "ndimage": ndimage}
        exec("\n".join(lines), namespace)  # noqa: S102 - our own printed text
        got = namespace["out"]
    else:
        shutil.copy(path, work / "in.png")
        script = "\n".join(lines).replace("convert ", f"{CONVERT} ", 1)
        subprocess.run(["bash", "-c", script], cwd=work, check=True)
        got = read(work / "out.png")
    differ = int(np.count_nonzero(got.astype(int) - read(fixture).astype(int)))
    return "printed command: identical" if differ == 0 else f"printed command: {differ} differ"


#: A vips matrix file with a scale and an offset (``apply -k offset.mat`` reads it).
OFFSET_MAT = "3 3 8 64\n1 2 0\n0 3 -1\n1 0 2\n"


def make_vips_mat(inputs: dict[str, Path]) -> None:
    """``vips conv IMAGE out.png offset.mat``: the taps divided by 8, then 64 added."""
    mat = OUT / "offset.mat"
    mat.write_text(OFFSET_MAT)
    for name, path in inputs.items():
        out = OUT / f"vips-offset-mat-{name}.png"
        subprocess.run([VIPS, "conv", str(path), str(out), str(mat)], check=True)


def make_half_case() -> None:
    """``bands.png``: 64x48 grey, bands of 0 and 128 with a random width each, on which
    cv2.GaussianBlur(sigma 2) gives results of exactly n + 1/2 (128 * a tap sum / 256 with
    an odd tap sum): its 8-bit fixed point rounds them up, where filter2D would round them
    to even. Writes ``opencv-gaussian-2-bands.png`` from it."""
    import cv2
    from scipy import ndimage

    from convcli.peers import gaussian_taps

    widths = np.random.default_rng(13).integers(1, 9, 64)
    columns = np.repeat(np.arange(64) % 2, widths)[:64] * 128
    img = np.tile(columns.astype(np.uint8), (48, 1))
    img[:, : widths[0]] = 0
    taps = gaussian_taps(2.0, "opencv")
    exact = ndimage.correlate1d(img.astype(np.float64), taps, axis=1, mode="mirror")
    halves = np.count_nonzero(exact % 1 == 0.5)
    Image.fromarray(img).save(OUT / "bands.png")
    blurred = cv2.GaussianBlur(img, (0, 0), 2, borderType=cv2.BORDER_REFLECT_101)
    Image.fromarray(blurred).save(OUT / "opencv-gaussian-2-bands.png")
    print(f"bands.png: {halves} of {img.size} results at n + 1/2")


#: ``vips gaussblur IN OUT SIGMA`` at its default integer precision, for more sigmas than
#: :data:`STEPS` has: ``vips-gaussian-SIGMA-IMAGE.png`` (sigma 2 is in STEPS).
VIPS_SIGMAS = (1, 3)


def make_vips_gaussians(inputs: dict[str, Path]) -> None:
    """``vips-gaussian-1-*.png`` and ``vips-gaussian-3-*.png``: gaussblur's integer mask
    (gaussmat, ``rint(20 g)``) in two 8-bit passes, each rounding (libvips' Orc fixed
    point); ``apply --like vips`` must give the same pixels."""
    with tempfile.TemporaryDirectory() as tmp:
        for sigma in VIPS_SIGMAS:
            for name, path in inputs.items():
                out = OUT / f"vips-gaussian-{sigma}-{name}.png"
                vips(path, f"gaussian-{sigma}", out, Path(tmp))


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from typer.testing import CliRunner

    from convcli.cli import app

    inputs = make_inputs()
    make_vips_mat(inputs)
    make_vips_gaussians(inputs)
    make_half_case()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for peer in PEERS:
            for slug, step in STEPS.items():
                for name, path in inputs.items():
                    fixture = OUT / f"{peer}-{slug}-{name}.png"
                    make_fixture(peer, slug, path, fixture, work)
                    check = printed_gives_fixture(peer, step, path, fixture, work)
                    failures += "differ" in check
                    ours = work / "ours.png"
                    result = CliRunner().invoke(
                        app,
                        [
                            "apply",
                            str(path),
                            "-k",
                            step,
                            "--like",
                            peer,
                            "-o",
                            str(ours),
                            "--force",
                        ],
                    )
                    assert result.exit_code == 0, result.output
                    diff = read(ours).astype(int) - read(fixture).astype(int)
                    print(
                        f"{fixture.name:32} --like: max |d| {abs(diff).max()}, "
                        f"{np.count_nonzero(diff)}/{diff.size} differ; {check}"
                    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
