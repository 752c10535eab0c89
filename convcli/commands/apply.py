"""``convcli apply``: run kernels and pooling on an image or a matrix."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from convcli.commands import Border, PeerName
from convcli.commands.options import Strict, complete_step, shared_option
from convcli.render import OutputFormat

EPILOG = """\
[bold]Examples[/]

  convcli apply --matrix "0 1 2; 3 4 5; 6 7 8" -k "0 1; 2 3"

  convcli apply --matrix "0 1 2; 3 4 5; 6 7 8" -k maxpool:2,s=1

  convcli apply photo.png -k sobel -o edges.png     [dim]# same size as photo.png[/]

  convcli apply photo.png -k gaussian:2 -k sobel-x --map offset -o gx.png

  convcli apply photo.jpg -k avgpool:2 --linear -o half.jpg --quality 92

  cat photo.png | convcli apply - -k box:5 -o - --to png > out.png

  convcli apply photo.png -k sobel-x -o gx.npy      [dim]# raw float32, HxWxC[/]

  convcli apply photos/*.jpg -k sobel -O edges/     [dim]# edges/NAME-sobel.jpg, all cores[/]

  convcli apply photos/ -r -k gaussian:2 -O out/ --name "{parent}-{stem}.{ext}" --to png

Images keep their size (--padding same, --border reflect);
matrices follow PyTorch (--padding 0, zeros).
"""


class MapMode(str, Enum):
    """``--map``: how results come back to the pixel range."""

    auto = "auto"
    clip = "clip"
    abs = "abs"
    offset = "offset"
    minmax = "minmax"
    raw = "raw"


class Depth(str, Enum):
    """``--depth``: bits per channel of an image output."""

    eight = "8"
    sixteen = "16"
    float = "float"


class ToFormat(str, Enum):
    """``--to``: output format (overrides the suffix of -o; needed for -o - with a matrix)."""

    png = "png"
    jpeg = "jpeg"
    jpg = "jpg"
    tiff = "tiff"
    tif = "tif"
    bmp = "bmp"
    webp = "webp"
    gif = "gif"
    pfm = "pfm"
    npy = "npy"
    csv = "csv"
    txt = "txt"


_FORMAT_NAMES = {"jpg": "JPEG", "tif": "TIFF"}

# The common options share Typer's own panel, shown first; the rest follow by topic.
_COMMON = "Options"
_STEPS = "Steps"
_IMAGES = "Images"
_OUTPUT = "Output"
_BATCH = "Many files (-O)"
_MATRICES = "Matrices"


def _parse_bias(text: str):  # -> np.ndarray
    """``--bias 0.5``, ``--bias "1,2,3"`` or ``--bias bias.npy``: finite float32 values."""
    import numpy as np

    from convcli import imageio
    from convcli.errors import SpecError
    from convcli.kernels import is_plain_number
    from convcli.limits import MAX_KERNEL_VALUES, check_value, reading, shorten

    if imageio.is_matrix_path(text):
        values = imageio.load_matrix(text).ravel()
    else:
        with reading(f"--bias {shorten(text)!r}"):
            numbers = []
            for part in text.replace(",", " ").split():
                if not is_plain_number(part):
                    raise SpecError(
                        "--bias must be numbers (0.5 or 1,2,3) or a .npy/.csv/.txt file, "
                        f"got {shorten(text)!r}"
                    )
                numbers.append(check_value(float(part), "--bias"))
            values = np.array(numbers, dtype=np.float64)
    if values.size == 0:
        raise SpecError("--bias needs at least one value")
    if values.size > MAX_KERNEL_VALUES:
        raise SpecError(f"--bias has {values.size:,} values, more than {MAX_KERNEL_VALUES:,}")
    return values.astype(np.float32)


def _option_pair(text: str | None, name: str, largest: int):  # -> tuple[int, int] | None
    """``-s``/``-d``: N or HxW, each 1..largest."""
    from convcli.layers import parse_pair
    from convcli.limits import reading, shorten

    if text is None:
        return None
    with reading(f"{name} {shorten(text)!r}"):
        return parse_pair(text, name, low=1, high=largest)


def _option_padding(text: str | None):  # -> PaddingSpec | None
    """``-p``: N, HxW, top,bottom,left,right, valid or same; each pad 0..MAX_PADDING."""
    from convcli.layers import parse_padding_option
    from convcli.limits import MAX_PADDING

    return None if text is None else parse_padding_option(text, MAX_PADDING)


def _dash_file(values: dict[str, object]) -> str:
    """A hint when a short option's value, put back behind its letter, names a file:
    ``apply -dash.png`` is read as ``-d ash.png``, leaving no INPUT."""
    from pathlib import Path

    for letter, value in values.items():
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(text, str) and text and Path(f"-{letter}{text}").is_file():
                return (
                    f"; '-{letter}{text}' was read as -{letter} {text}: give a file whose name "
                    f"starts with '-' as ./-{letter}{text}"
                )
    return ""


def apply(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT...",
            help=(
                "Image file (PNG, JPEG, TIFF, BMP, WebP, GIF, PFM...; format from content), "
                "'-' for stdin, or a matrix file (.npy, .csv, .txt). Omit it with --matrix. "
                "With -O: any number of files and folders (their images; -r descends), also "
                "as fsspec URLs (s3://bucket/raw/, 's3://bucket/**/*.jpg', file://, memory://)."
            ),
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        list[str],
        shared_option(
            "kernel",
            metavar="STEP",
            autocompletion=complete_step,
            help=(
                "A step, repeatable, run left to right: a named kernel (sobel, gaussian:1.5, "
                'box:5, diff-x...), a pool (maxpool:2,s=1, avgpool:2, median:3), a matrix ("1,-1", '
                '"1 0 -1; 2 0 -2; 1 0 -1"), or a file (@k.txt, k.npy). See `convcli kernels`.'
            ),
            panel=_COMMON,
        ),
    ] = ...,  # type: ignore[assignment]
    stride: Annotated[
        str | None,
        shared_option(
            "stride",
            metavar="N|HxW",
            help="Stride of kernel steps that set no s= (default 1).",
            panel=_COMMON,
        ),
    ] = None,
    padding: Annotated[
        str | None,
        shared_option(
            "padding",
            metavar="PAD",
            help=(
                "Padding of every step that sets no p= (kernels, median, pools as PyTorch pads "
                "them: -inf for max, zeros counted for avg): N, HxW, top,bottom,left,right, "
                "valid or same (TensorFlow's: out = ceil(in/stride)). Default: same for "
                "images' kernels and median, 0 for pools and matrices."
            ),
            panel=_COMMON,
        ),
    ] = None,
    dilation: Annotated[
        str | None,
        shared_option(
            "dilation",
            metavar="N|HxW",
            help="Dilation of kernel steps that set no d= (default 1).",
            panel=_STEPS,
        ),
    ] = None,
    border: Annotated[
        Border | None,
        shared_option(
            "border",
            help=(
                "How padding is filled. reflect = 4 3 2|1 2 3 4 5 (OpenCV BORDER_REFLECT_101, "
                "scipy 'mirror'); symmetric = 3 2 1|1 2 3 (scipy 'reflect', ImageMagick Mirror); "
                "replicate = 1 1 1|1 2 3 (edge); circular = wrap; zeros. Default: reflect for "
                "images, zeros for matrices."
            ),
            panel=_COMMON,
        ),
    ] = None,
    like: Annotated[
        PeerName | None,
        typer.Option(
            "--like",
            help=(
                "opencv, magick, vips or scipy: match that tool's output: its border, its "
                "rounding, edges clipped not abs, "
                "even kernels anchored at k//2, gaussian:SIGMA with its radius and taps; "
                "magick also flips typed matrices (Convolve). Explicit options still win. "
                "`convcli kernels STEP --as TOOL` prints the tool's own command."
            ),
            rich_help_panel=_STEPS,
            show_default=False,
        ),
    ] = None,
    convolve: Annotated[
        bool,
        typer.Option(
            "--convolve",
            help=(
                "Flip kernels (true convolution). Without it kernels are applied as written "
                "(cross-correlation, as PyTorch and OpenCV filter2D do)."
            ),
            rich_help_panel=_STEPS,
        ),
    ] = False,
    normalize: Annotated[
        bool,
        typer.Option("--normalize", help="Divide each kernel by its sum.", rich_help_panel=_STEPS),
    ] = False,
    bias: Annotated[
        str | None,
        typer.Option(
            "--bias",
            metavar="VALUES|FILE",
            help=(
                "Bias added by the chain's kernel step, one value per output channel "
                '(0.5, "1,2,3" or bias.npy): a 4-D (C_out,C_in,kh,kw) kernel (.npy, or text '
                "with || between output filters) is a conv layer."
            ),
            rich_help_panel=_STEPS,
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="On stderr: each step's operation, pads and algorithm (and why), the --map used.",
            rich_help_panel=_STEPS,
        ),
    ] = False,
    map_mode: Annotated[
        MapMode,
        typer.Option(
            "--map",
            help=(
                "Back to the pixel range: clip; abs (edges both ways); offset (0 -> mid-grey); "
                "minmax (stretch to 0..max); raw (float outputs). auto: abs for zero-sum "
                "kernels, clip otherwise, raw for .npy/.pfm."
            ),
            rich_help_panel=_COMMON,
        ),
    ] = MapMode.auto,
    gray: Annotated[
        bool,
        typer.Option(
            "--gray",
            "--grey",
            help="Convert to ITU-R BT.601 luma first (as Pillow's L); alpha is kept.",
            rich_help_panel=_IMAGES,
        ),
    ] = False,
    linear: Annotated[
        bool,
        typer.Option(
            "--linear",
            help="Filter in linear light: decode sRGB, filter, encode back.",
            rich_help_panel=_IMAGES,
        ),
    ] = False,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            min=0,
            max=10**12,
            help=(
                "Refuse larger images before decoding them, and steps whose output (or "
                "memory, 64 bytes a pixel) would be larger, before running them (0: no "
                "limit). Default: Pillow's decompression-bomb limit, 89,478,485."
            ),
            rich_help_panel=_IMAGES,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help=(
                "Write the result here, format from the suffix; '-' is stdout. Images need it; "
                "matrices print to stdout without it (.npy, .csv, .txt)."
            ),
            rich_help_panel=_COMMON,
        ),
    ] = None,
    to: Annotated[
        ToFormat | None,
        typer.Option(
            "--to",
            metavar="FORMAT",
            help=(
                "Output format, for -o - (default: the input's format), to override a suffix, "
                "or for every output of a batch ({ext})."
            ),
            rich_help_panel=_OUTPUT,
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        shared_option(
            "force", help="Replace an existing output file (never an input).", panel=_OUTPUT
        ),
    ] = False,
    depth: Annotated[
        Depth | None,
        typer.Option(
            "--depth",
            help=(
                "Bits per channel of an image output: 8, 16 (PNG, TIFF) or float (TIFF; .npy "
                "and .pfm are always float). Default: the input's."
            ),
            rich_help_panel=_OUTPUT,
            show_default=False,
        ),
    ] = None,
    quality: Annotated[
        int,
        typer.Option(
            "--quality", min=1, max=100, help="JPEG/WebP quality.", rich_help_panel=_OUTPUT
        ),
    ] = 90,
    png_compression: Annotated[
        int,
        typer.Option(
            "--png-compression",
            min=0,
            max=9,
            help=(
                "PNG zlib level. 1 (default) is ~4x faster than Pillow's 6 on a 4K photo, "
                "files a little larger."
            ),
            rich_help_panel=_OUTPUT,
        ),
    ] = 1,
    out_dir: Annotated[
        str | None,
        typer.Option(
            "-O",
            "--out-dir",
            metavar="DIR",
            help=(
                "Batch: write one output per input into DIR (created if missing) or under a "
                "URL prefix (s3://bucket/out/), named by --name; files run in parallel (-j)."
            ),
            rich_help_panel=_COMMON,
        ),
    ] = None,
    name_template: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="TEMPLATE",
            help=(
                "Output file name in DIR. Fields: {stem} (input name without suffix), {ext} "
                "(its suffix, or --to's), {step} (the steps, e.g. gaussian-2_sobel), {parent} "
                "(the input's folder name), {dir} (sub-folder under a folder given with -r, "
                "ending in /). Default: {dir}{stem}-{step}.{ext}"
            ),
            rich_help_panel=_BATCH,
            show_default=False,
        ),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option(
            "-r",
            "--recursive",
            help="Take images from sub-folders of folder INPUTs too (not hidden ones, not DIR).",
            rich_help_panel=_BATCH,
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "-j",
            "--jobs",
            min=1,
            help="Worker processes (default: one per core); 1 runs in this process.",
            rich_help_panel=_BATCH,
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="SCHEDULER",
            help=(
                "Run the batch on a Dask cluster: tcp://host:8786, local[:N] (a LocalCluster "
                "of N worker processes), or auto (DASK_SCHEDULER_ADDRESS, else local). "
                "Workers need the same convcli, with its dask extra."
            ),
            rich_help_panel=_BATCH,
            show_default=False,
        ),
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help=(
                "Skip outputs that exist without a note (resume a stopped run). Without it "
                "they are skipped with a note; --force replaces them."
            ),
            rich_help_panel=_BATCH,
        ),
    ] = False,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            help="Stop at the first failed file (default: report it and go on; exit 1 at the end).",
            rich_help_panel=_BATCH,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        shared_option(
            "quiet",
            help="No progress bar, notes or summary on stderr (failures are still told).",
            panel=_BATCH,
        ),
    ] = False,
    matrix: Annotated[
        str | None,
        typer.Option(
            "--matrix",
            metavar="VALUES",
            help='Input values instead of a file: "0 1 2; 3 4 5" (rows by ;, channels by |).',
            rich_help_panel=_COMMON,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        shared_option(
            "format",
            help=(
                "How a matrix result prints: plain numbers (default), json, csv or table. "
                "With -O: a per-file report (input, output, status, error, notes) on stdout."
            ),
            panel=_COMMON,
        ),
    ] = None,
    channels_last: Annotated[
        bool,
        shared_option(
            "channels_last",
            help=(
                "Read a 3-D .npy matrix as HxWxC (write it back so). Without it the shape "
                "decides: last axis 1-4 and the others larger is HxWxC (an image's, as "
                "apply writes it), else CxHxW; a shape that could be both gets a note."
            ),
            panel=_MATRICES,
        ),
    ] = False,
    show_steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            help=(
                "Show the arithmetic instead of the result: for each output element, in the "
                "order the window slides, the window's values times the weights and the sum "
                "(padding in [ ], per-channel sums, pools' chosen value or divisor). The first "
                "48 elements of each step; --format plain is ASCII, json gives the terms."
            ),
            rich_help_panel=_MATRICES,
        ),
    ] = False,
    all_steps: Annotated[
        bool,
        typer.Option(
            "--all-steps",
            help="--steps with every output element and the whole input, however large.",
            rich_help_panel=_MATRICES,
        ),
    ] = False,
    strict: Strict = False,
) -> None:
    """Run kernels and pooling on an image or a matrix, or on many files with -O.

    Kernels are applied as cross-correlation (the kernel laid on the image as written),
    as PyTorch and OpenCV do; a 2-D kernel filters each channel, a 3-D (C,kh,kw) kernel
    sums over channels, a 4-D .npy kernel is a conv layer. Work is in float32; big images
    are filtered in strips of rows (same pixels, a fraction of the memory).
    """
    from convcli.errors import SpecError

    sources = list(inputs or [])
    for option, value in (("-o/--output", output), ("-O/--out-dir", out_dir)):
        if value is not None and (not value.strip() or "\x00" in value):
            kind = "folder" if option.startswith("-O") else "file"
            raise SpecError(f"{option} needs a {kind} name, got {value!r}")
    if matrix is not None:
        if sources:
            raise SpecError("give either INPUT files or --matrix, not both")
        if out_dir is not None:
            raise SpecError("-O/--out-dir writes one file per INPUT; --matrix gives no file")
        from convcli.imageio import parse_matrix
        from convcli.process import MatrixInput

        sources = [MatrixInput(parse_matrix(matrix, "--matrix"))]  # type: ignore[list-item]
    if not sources:
        raise SpecError(
            "missing INPUT (an image, a matrix file, '-' for stdin) or --matrix"
            + _dash_file(
                {"d": dilation, "s": stride, "p": padding, "k": kernel, "o": output, "O": out_dir}
            )
        )
    _check_batch_options(
        sources,
        output,
        out_dir,
        {
            "--name": name_template is not None,
            "--recursive": recursive,
            "--jobs": jobs is not None,
            "--dask": dask is not None,
            "--skip-existing": skip_existing,
            "--fail-fast": fail_fast,
        },
    )
    if force and skip_existing:
        raise SpecError("--force replaces existing outputs, --skip-existing keeps them: pick one")
    _check_stdout_output(output, to)
    _start_dask(dask, jobs, sources, out_dir, teaching=show_steps or all_steps)
    # The unit of work (NumPy, Pillow, the core), imported once the options are sound.
    from convcli.kernels import KernelStep, check_span, parse_step
    from convcli.limits import MAX_DILATION, MAX_STRIDE, shorten
    from convcli.pipeline import StepOptions, told_before_work
    from convcli.process import ApplyOptions, process_one
    from convcli.render import note

    steps = [parse_step(text) for text in kernel]
    step_options = StepOptions(
        stride=_option_pair(stride, "-s/--stride", MAX_STRIDE),
        padding=_option_padding(padding),
        dilation=_option_pair(dilation, "-d/--dilation", MAX_DILATION),
        border=border.value if border else None,
        convolve=convolve,
        normalize=normalize,
        bias=_parse_bias(bias) if bias is not None else None,
    )
    like_fields: dict[str, str] = {}
    if like is not None:
        from convcli.peers import like_settings

        steps, step_options, like_fields = like_settings(like.value, steps, step_options)
    # Notes from reading the steps (an ImageMagick name that means something else here):
    # told once, before any work, and counted by --strict like the per-file notes.
    step_notes = told_before_work(steps, step_options)
    for line in [] if quiet else step_notes:
        note(line)
    for step in steps:  # a step's own d= was checked with its kernel; -d applies to the rest
        if isinstance(step, KernelStep) and step.dilation is None:
            where = f"kernel '{shorten(step.text.strip())}'"
            check_span(step.weight.shape, step_options.dilation, where)
    options = ApplyOptions(
        steps=step_options,
        map_mode=map_mode.value,
        gray=gray,
        linear=linear,
        to=_FORMAT_NAMES.get(to.value, to.value.upper()) if to else None,
        depth=depth.value if depth else None,
        quality=quality,
        png_compression=png_compression,
        force=force,
        max_pixels=max_pixels,
        channels_last=channels_last,
        **like_fields,  # type: ignore[arg-type]
    )
    if show_steps or all_steps:
        from convcli.commands._teaching import print_apply_steps

        print_apply_steps(
            sources[0],
            steps,
            options,
            output_format,
            output=output,
            out_dir=out_dir,
            explain=explain,
            all_steps=all_steps,
        )
        return
    if out_dir is not None:
        _run_batch(
            sources,  # type: ignore[arg-type]
            out_dir,
            steps,
            options,
            name=name_template,
            recursive=recursive,
            jobs=jobs,
            skip_existing=skip_existing,
            fail_fast=fail_fast,
            quiet=quiet,
            output_format=output_format,
            strict=strict,
            noted=len(step_notes),
            dask=dask,
        )
        return
    from convcli._threads import keep_freed_memory
    from convcli.render.apply import ImageProgress

    # This process filters one file and exits: the bands' freed arrays are better kept
    # than faulted in again (a 4K FFT filter: 0.65 -> 0.45 s), as a batch's processes do.
    keep_freed_memory()
    progress = ImageProgress(quiet=quiet)
    try:
        result = process_one(sources[0], output, steps, options, progress=progress)
    finally:
        progress.stop()
    _tell_result(
        result, output_format, quiet=quiet, explain=explain, strict=strict, noted=len(step_notes)
    )


def _tell_result(
    result,
    output_format: OutputFormat | None,
    *,
    quiet: bool,
    explain: bool,
    strict: bool,
    noted: int = 0,
) -> None:
    """One input's outcome: notes and warnings on stderr (whatever the format), --explain,
    a matrix on stdout; then --strict."""
    from convcli.commands.options import check_strict
    from convcli.render import note
    from convcli.render.apply import explain_lines, print_matrix

    told = [f"note: {line}" for line in result.notes]
    told += [f"warning: {line}" for report in result.reports for line in report.warnings]
    for line in [] if quiet else told:
        note(line)
    if explain:
        for line in explain_lines(result):
            note(line)
    if result.values is not None:
        print_matrix(result.values, output_format)
    check_strict(strict, noted + len(told), shown=not quiet)


def _check_stdout_output(output: str | None, to: ToFormat | None) -> None:
    """``-o -`` on a terminal: binary data (an image, .npy) would garble it; text formats
    (--to csv/txt) are fine."""
    from convcli.commands.options import refuse_terminal_stdout

    if to is not None and to.value in ("csv", "txt"):
        return
    refuse_terminal_stdout(output, to.value if to is not None else "")


def _check_batch_options(
    sources: list, output: str | None, out_dir: str | None, batch_only: dict[str, bool]
) -> None:
    """One input with -o, or any number with -O: refuse the mixtures, in one line."""
    import os

    from convcli.errors import SpecError

    if out_dir is not None:
        if output is not None:
            raise SpecError("give -o FILE (one input) or -O DIR (a batch), not both")
        if "-" in sources:
            raise SpecError("-O/--out-dir reads files; '-' (stdin) needs -o")
        return
    for option, given in batch_only.items():
        if given:
            raise SpecError(f"{option} is for a batch: give -O/--out-dir DIR")
    if len(sources) > 1:
        if output is not None:
            raise SpecError(
                f"{len(sources)} inputs given with -o, which names one output; "
                "use -O/--out-dir DIR to write one file per input"
            )
        raise SpecError(f"{len(sources)} inputs given: use -O/--out-dir DIR to filter many files")
    if isinstance(sources[0], str) and os.path.isdir(sources[0]):
        raise SpecError(f"'{sources[0]}' is a folder: use -O/--out-dir DIR to filter its images")


def _start_dask(
    address: str | None,
    jobs: int | None,
    sources: list[str],
    out_dir: str | None,
    *,
    teaching: bool,
) -> None:
    """``--dask``: refuse -j beside it, and start what a LocalCluster waits for longest
    now (:func:`convcli.cluster.start_early`), its workers' imports running while this
    process imports the unit of work and lists the batch. Not for a batch that will
    not run on it: ``--steps`` and ``--all-steps`` show one matrix here, and the batch
    refuses ``memory://`` outputs (one process's memory) with Dask."""
    from convcli import storage
    from convcli.errors import SpecError

    if address is None or out_dir is None:  # --dask without -O was refused before
        return
    if jobs is not None:  # -j would be ignored
        raise SpecError(
            "-j/--jobs sizes the local pool; with --dask the cluster's workers run: drop -j"
        )
    if not teaching and storage.shared_by_processes(out_dir):
        from convcli.cluster import start_early

        start_early(address, [*sources, out_dir])


def _run_batch(
    sources: list[str],
    out_dir: str,
    steps: list,
    options,  # ApplyOptions
    *,
    name: str | None,
    recursive: bool,
    jobs: int | None,
    skip_existing: bool,
    fail_fast: bool,
    quiet: bool,
    output_format: OutputFormat | None,
    strict: bool = False,
    noted: int = 0,
    dask: str | None = None,
) -> None:
    """``-O``: find the files, name the outputs, run them, report; exit 1/130 as it went
    (and 1 with --strict when any file had a note)."""
    from convcli.batch import DEFAULT_NAME, find_inputs, plan_batch, run_batch
    from convcli.commands.options import check_strict
    from convcli.errors import ConvcliError
    from convcli.pipeline import prepare_steps
    from convcli.render.apply import (
        BatchProgress,
        batch_summary,
        ignored_line,
        print_batch_report,
        retry_lines,
        skipped_lines,
    )

    ignored: list[str] = []
    found = find_inputs(sources, recursive=recursive, exclude=out_dir, ignored=ignored)
    if not found:
        hint = "" if recursive else " (-r/--recursive descends into sub-folders)"
        raise ConvcliError(f"no images found in {', '.join(sources)}{hint}")
    prepare_steps(steps, options.steps)  # a bad --convolve/--normalize fails before any work
    items = plan_batch(found, out_dir, steps, options, name=DEFAULT_NAME if name is None else name)
    progress = BatchProgress(quiet=quiet, skip_notes=not skip_existing)
    if ignored and not quiet:
        progress.print(ignored_line(ignored))
    planned_skips = skipped_lines(items)
    if not (quiet or skip_existing):
        for line in planned_skips:
            progress.print(line)
    try:
        report = run_batch(
            items,
            steps,
            options,
            jobs=jobs,
            fail_fast=fail_fast,
            on_start=progress.start,
            on_result=progress.advance,
            dask=dask,
        )
    finally:
        progress.stop()
    for line in [] if quiet else retry_lines(report):
        progress.print(line)
    if output_format is not None:
        print_batch_report(report, output_format)
    if not quiet or report.interrupted:
        progress.print(batch_summary(report))
    if report.interrupted:
        raise typer.Exit(128 + (report.signal or 2))
    if report.count("failed"):
        raise typer.Exit(1)
    # --strict counts the lines told: the one line for the outputs found at planning, and a
    # line for each output that appeared while the batch ran.
    skipped_meanwhile = report.count("skipped") - sum(i.status == "skipped" for i in items)
    told = noted + sum(len(item.notes) for item in report.items) + len(retry_lines(report))
    told += bool(ignored)
    told += 0 if skip_existing else len(planned_skips) + max(skipped_meanwhile, 0)
    check_strict(strict, told, shown=not quiet)
