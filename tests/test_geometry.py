"""Sizes, pads, costs and receptive fields (convcli.geometry), against hand values."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import (
    Layer,
    Shape,
    analyze,
    conv_output_size,
    dropped_inputs,
    expand,
    pool_output_size,
    same_padding,
    target_options,
    transposed_output_size,
)
from convcli.layers import parse_layer, parse_size


def chain(size: str, *words: str):
    return analyze(parse_size(size), [parse_layer(w, i) for i, w in enumerate(words, 1)])


def test_per_axis_formulas():
    assert conv_output_size(8, 3, padding=1) == 8
    assert conv_output_size(8, 3, stride=2, padding=1) == 4
    assert conv_output_size(224, 3, stride=2, padding=(0, 1)) == 112
    assert conv_output_size(10, 3, dilation=2) == 6
    assert pool_output_size(4, 3, stride=2, padding=1) == 2
    assert pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert pool_output_size(5, 2, stride=2, padding=1) == 3
    assert pool_output_size(6, 3, ceil_mode=True) == 2
    assert pool_output_size(7, 3, ceil_mode=True) == 3
    assert transposed_output_size(16, 4, stride=2, padding=1) == 32
    assert transposed_output_size(7, 3, stride=2, padding=1, output_padding=1) == 14


def test_tf_same_padding():
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(224, 7, 2) == (2, 3)
    assert same_padding(225, 3, 2) == (1, 1)
    assert same_padding(8, 3, 1, dilation=2) == (2, 2)
    assert same_padding(5, 1, 3) == (0, 0)
    report = chain("3x224x224", "conv:8,k=7,s=2,p=same")
    assert report.output == Shape(8, 112, 112)
    assert report.layers[0].padding == (2, 3, 2, 3)


def test_dropped_inputs():
    assert dropped_inputs(224, 109, 7, 2, 0) == 1
    assert dropped_inputs(224, 112, 3, 2, 1) == 0  # only a padding row is left over
    report = chain("3x224x224", "conv:8,k=7,s=2")
    assert report.layers[0].warnings == (
        "floor division drops 1 input row at the bottom",
        "floor division drops 1 input column at the right",
    )
    report = chain("10x13", "maxpool:k=4")
    assert report.layers[0].warnings == (
        "floor division drops 2 input rows at the bottom",
        "floor division drops 1 input column at the right",
    )


def test_seed_example_costs():
    report = chain("3x12x12", "conv:256,k=5")
    assert report.output == Shape(256, 8, 8)
    assert report.total.params == 19456
    assert report.total.macs == 256 * 8 * 8 * 3 * 25
    assert report.total.flops == 2 * report.total.macs
    assert report.total.memory_bytes == 256 * 8 * 8 * 4


def test_deconv_counts_from_the_input_side():
    report = chain("64x16x16", "deconv:32,k=4,s=2,p=1")
    layer = report.layers[0]
    assert layer.output == Shape(32, 32, 32)
    assert layer.macs == 8_388_608
    assert layer.params == 64 * 32 * 16 + 32
    # Each output reads 2 inputs (taps 0,2 or 1,3); the grid is twice as fine.
    assert layer.rf == (2, 2)
    assert layer.jump == (Fraction(1, 2), Fraction(1, 2))
    # Centre of output u: u/2 - 1/4 (outputs 0 and 1 read inputs {-1, 0} and {0, 1}).
    assert layer.rf_padding == (Fraction(3, 4), Fraction(3, 4))


def brute_force_fields(size: int, steps: list[tuple[str, int, int, int, int]]) -> list[set]:
    """For each output position, the input positions it depends on (1-D, real pixels).

    ``steps`` are ``(kind, kernel, stride, pad_before, dilation)``, kind conv or deconv.
    """
    fields = [{i} for i in range(size)]
    for kind, kernel, stride, pad, dilation in steps:
        new: dict[int, set] = {}
        for i, field in enumerate(fields):
            for t in range(kernel):
                if kind == "conv":
                    # out[o] reads in[o*s - p + t*d]
                    offset = i + pad - t * dilation
                    if offset % stride == 0 and offset >= 0:
                        new.setdefault(offset // stride, set()).update(field)
                else:
                    new.setdefault(i * stride - pad + t * dilation, set()).update(field)
        fields = [new[o] for o in sorted(new) if o >= 0]
    return fields


@pytest.mark.parametrize(
    "steps",
    [
        [("deconv", 4, 2, 1, 1)],
        [("deconv", 3, 2, 1, 1)],
        [("deconv", 5, 3, 2, 1)],
        [("deconv", 3, 2, 0, 2)],
        [("conv", 3, 2, 1, 1), ("deconv", 4, 2, 1, 1)],
        [("conv", 5, 2, 2, 1), ("conv", 3, 1, 1, 1), ("deconv", 3, 3, 0, 1)],
        [("conv", 3, 1, 2, 2), ("conv", 3, 2, 0, 1)],
    ],
)
def test_receptive_field_size_matches_brute_force(steps):
    words = []
    for kind, kernel, stride, pad, dilation in steps:
        words.append(f"{kind}:k={kernel}x1,s={stride}x1,p={pad}x0,d={dilation}x1")
    report = chain("1x40x1", *words)
    fields = brute_force_fields(40, steps)
    widest = max(max(field) - min(field) + 1 for field in fields[3:-3])
    assert report.layers[-1].rf[0] == widest


def test_dilated_receptive_fields():
    report = chain(
        "1x64x64",
        "conv:1,k=3,p=1",
        "conv:1,k=3,p=2,d=2",
        "conv:1,k=3,p=4,d=4",
        "conv:1,k=3,p=8,d=8",
    )
    assert [r.rf for r in report.layers] == [(n, n) for n in (3, 7, 15, 31)]
    assert all(r.output == Shape(1, 64, 64) for r in report.layers)


def test_receptive_field_jump_and_padding():
    report = chain("3x224x224", "conv:64,k=7,s=2,p=3", "maxpool:k=3,s=2,p=1")
    stem, pool = report.layers
    assert (stem.rf, stem.jump, stem.rf_padding) == ((7, 7), (2, 2), (3, 3))
    assert (pool.rf, pool.jump, pool.rf_padding) == ((11, 11), (4, 4), (5, 5))
    rect = chain("32x32", "conv:k=5x3,s=2x1,p=2x1")
    assert (rect.layers[0].rf, rect.layers[0].jump) == ((5, 3), (2, 1))


def test_sepconv_expands_into_dw_and_pw():
    report = chain("32x56x56", "sepconv:64,k=3,p=1")
    layer = report.layers[0]
    dw, pw = layer.parts
    assert (dw.kind, pw.kind) == ("dwconv", "pwconv")
    assert dw.params == 32 * 9 and dw.macs == 32 * 56 * 56 * 9
    assert pw.params == 64 * 32 + 64 and pw.macs == 64 * 32 * 56 * 56
    assert layer.params == dw.params + pw.params
    assert layer.macs == dw.macs + pw.macs
    assert [part.kind for part in expand(parse_layer("sepconv:64,k=3"))] == ["dwconv", "pwconv"]


def test_dwconv_depth_multiplier_and_groups():
    assert chain("8x10x10", "dwconv:k=3,dm=2").output == Shape(16, 8, 8)
    assert chain("8x10x10", "dwconv:24,k=3").output == Shape(24, 8, 8)
    report = chain("8x10x10", "conv:16,k=3,g=4,bias=no")
    assert report.total.params == 16 * 2 * 9


def test_pools_gap_flatten_fc_and_batch():
    report = chain("2x3x32x32", "maxpool:k=2", "gap", "flatten", "fc:10")
    pool, gap, flat, fc = report.layers
    assert pool.output == Shape(3, 16, 16, 2)
    assert (pool.params, pool.macs, pool.window_ops) == (0, 0, 2 * 3 * 16 * 16 * 4)
    assert gap.output == Shape(3, 1, 1, 2)
    assert flat.output == Shape.features(3, 2)
    assert fc.output == Shape.features(10, 2)
    assert (fc.params, fc.macs) == (10 * 3 + 10, 2 * 10 * 3)
    assert str(fc.output) == "2x10"
    assert gap.rf == (32, 32)


def test_fc_flattens_a_spatial_input():
    report = chain("3x4x4", "fc:5,bias=no")
    assert report.total.params == 5 * 48


def test_channel_less_input_stays_channel_less():
    assert str(chain("8x8", "conv:k=3,p=1").output) == "8x8"
    assert str(chain("8x8", "conv:4,k=3,p=1").output) == "4x8x8"
    assert chain("8x8", "conv:k=3,p=1").total.params == 9 + 1


def label_error(size, word, kind=ConvcliError):
    with pytest.raises(kind) as caught:
        chain(size, "conv:4,k=1", word)
    assert type(caught.value) is kind
    return str(caught.value)


def test_geometry_errors():
    assert label_error("3x4x4", "conv:8,k=7") == (
        "layer 2 'conv:8,k=7': output size must be >= 1, got -2x-2 (input 4x4, effective "
        "kernel 7x7, stride 1x1, padding 0,0,0,0)"
    )
    assert label_error("3x8x8", "conv:8,k=3,g=3") == (
        "layer 2 'conv:8,k=3,g=3': input channels 4 must be divisible by groups 3"
    )
    assert label_error("3x8x8", "conv:6,k=3,g=4") == (
        "layer 2 'conv:6,k=3,g=4': out channels 6 must be divisible by groups 4"
    )
    assert label_error("3x8x8", "maxpool:k=2,d=3,p=2") == (
        "layer 2 'maxpool:k=2,d=3,p=2': padding must be at most kernel // 2 = 1 (PyTorch's rule, "
        "on the undilated kernel 2), got 2"
    )
    assert label_error("3x8x8", "deconv:4,k=3,s=2,op=2") == (
        "layer 2 'deconv:4,k=3,s=2,op=2': output_padding must be smaller than max(stride, "
        "dilation) = 2, got 2"
    )
    assert label_error("3x8x8", "maxpool:k=2,s=1,d=3,p=same") == (
        "layer 2 'maxpool:k=2,s=1,d=3,p=same': padding 'same' cannot be honoured: it needs 2 on "
        "one side, more than kernel // 2 = 1 (PyTorch's pooling rule)"
    )


def test_range_errors_are_spec_errors():
    assert label_error("3x8x8", "conv:8,k=3,s=0", SpecError) == (
        "layer 2 'conv:8,k=3,s=0': stride must be >= 1, got 0"
    )
    assert label_error("3x8x8", "conv:8,k=3,p=-1", SpecError) == (
        "layer 2 'conv:8,k=3,p=-1': padding must be >= 0, got -1"
    )
    assert label_error("3x8x8", "conv:8", SpecError) == (
        "layer 2 'conv:8': conv needs a kernel size (k=K or k=KHxKW)"
    )
    assert label_error("3x8x8", "conv:8,k=3,d=0", SpecError) == (
        "layer 2 'conv:8,k=3,d=0': dilation must be >= 1, got 0"
    )


def test_spatial_layer_after_flatten_is_an_error():
    with pytest.raises(ConvcliError) as caught:
        chain("3x8x8", "flatten", "conv:8,k=3")
    assert str(caught.value) == (
        "layer 2 'conv:8,k=3': conv needs a spatial input (C x H x W), got 192 flat features"
    )


def test_target_options():
    options = target_options(224, 112, 3, stride=2)
    assert [(o.stride, o.pads, o.pytorch, o.tf_same) for o in options] == [
        (2, (0, 1), "", True),
        (2, (1, 1), "padding=1", False),
    ]
    same = target_options(8, 8, 3, stride=1)
    assert [(o.pads, o.pytorch, o.tf_same) for o in same] == [
        ((1, 1), "padding=1 or padding='same'", True)
    ]
    strides = {o.stride for o in target_options(224, 112, 7)}
    assert strides == {2}
    deconv = target_options(16, 32, 4, stride=2, kind="deconv")
    assert [(o.pads, o.output_padding, o.pytorch) for o in deconv] == [
        ((1, 1), 0, "padding=1"),
    ]


@pytest.mark.parametrize(("kind", "ceil"), [("conv", False), ("maxpool", False), ("avgpool", True)])
def test_a_target_past_the_kernel_gets_the_smallest_stride_that_reaches_it(kind, ceil):
    """Small outputs from long inputs need strides past the kernel span: the options are
    those of the smallest stride any padding within the limits brings to the target, as
    trying every stride in turn finds it (here, on a grid small enough to try them)."""

    def reaches(size: int, target: int, kernel: int, dilation: int, stride: int) -> bool:
        ke = (kernel - 1) * dilation + 1
        limit = ke - 1 if kind == "conv" else kernel // 2
        pairs = [(b, a) for b in range(limit + 1) for a in range(limit + 1)]
        if kind == "conv":
            return any(conv_output_size(size, kernel, stride, p, dilation) == target for p in pairs)
        return any(
            pool_output_size(size, kernel, stride, p, dilation, ceil) == target for p in pairs
        )

    checked = 0
    for size in range(1, 30):
        for target in (1, 2, 3, 5):
            for kernel, dilation in ((1, 1), (2, 1), (3, 1), (3, 2), (5, 1)):
                ke = (kernel - 1) * dilation + 1
                if any(reaches(size, target, kernel, dilation, s) for s in range(1, ke + 1)):
                    continue  # the strides up to the span answer (test_target_options)
                tried = range(ke + 1, size + 2 * ke + 2)
                least = next((s for s in tried if reaches(size, target, kernel, dilation, s)), None)
                found = target_options(size, target, kernel, dilation, None, kind, ceil)
                assert {o.stride for o in found} == ({least} if least else set()), (size, target)
                checked += 1
    assert checked > 100  # the grid does reach the search past the span


def _ceil_options_by_every_pair(size, target, kernel, dilation, stride):
    """The ceil-mode options of one stride as the search found them before it was
    computed: every (before, after) pair tried, then SAME, the symmetric pairs, else the
    smallest pair by total then before."""
    limit = kernel // 2
    found = [
        (b, a)
        for b in range(limit + 1)
        for a in range(limit + 1)
        if pool_output_size(size, kernel, stride, (b, a), dilation, True) == target
    ]
    tf_pads = same_padding(size, kernel, stride, dilation)
    chosen = [tf_pads] if -(-size // stride) == target and tf_pads in found else []
    chosen += [pads for pads in found if pads[0] == pads[1] and pads not in chosen]
    if not chosen and found:
        chosen = [min(found, key=lambda pads: (pads[0] + pads[1], pads))]
    return [(stride, pads) for pads in chosen]


def test_ceil_mode_paddings_are_computed_as_every_pair_finds_them():
    """Ceil mode's output depends on the total padding and on the padding before through
    one threshold: each total's befores are one run (``_PadSearch.ceil_befores``), not a
    search of every pair (pool 330 took 5.2 s, pool 500 now 0.8 s)."""
    checked = 0
    for size in range(1, 19):
        for target in range(1, 6):
            for kernel, dilation in ((1, 1), (2, 1), (3, 1), (4, 2), (5, 1), (6, 3), (7, 1)):
                for stride in (1, 2, 3, 5):
                    found = target_options(size, target, kernel, dilation, stride, "maxpool", True)
                    expected = _ceil_options_by_every_pair(size, target, kernel, dilation, stride)
                    assert [(o.stride, o.pads) for o in found] == expected, (size, target, kernel)
                    checked += bool(expected)
    assert checked > 500


def test_a_target_far_from_the_input_is_answered_at_once():
    """A target no stride reaches, or one a stride of half a billion reaches: answered
    without trying the strides one by one (that took forever)."""
    assert target_options(61, 999_999_999, 19, 34) == []
    (option,) = target_options(999_999_999, 2, 3)
    assert (option.stride, option.pads) == (499_999_999, (0, 0))
    deconv = target_options(2, 999_999_999, 3, kind="deconv")
    assert [(o.stride, o.pads, o.output_padding) for o in deconv] == [
        (999_999_996, (0, 0), 0),
        (999_999_998, (1, 1), 0),
    ]
    with pytest.raises(SpecError) as refused:  # a one-pixel input: every stride would do
        target_options(1, 999_999_999, 2, 999_999_999, kind="deconv")
    assert str(refused.value) == (
        "--target 999999999 from 1: 999,999,999 strides to try with kernel 2, "
        "dilation 999999999; give -s/--stride"
    )
    with pytest.raises(SpecError) as refused:  # every stride up to the span would be listed
        target_options(61, 23, 999_999_999, 23)
    assert str(refused.value) == (
        "--target 23 from 61: 22,999,999,955 strides to try with kernel 999999999, "
        "dilation 23; give -s/--stride"
    )


def test_a_target_with_more_paddings_than_anyone_reads_is_refused_before_listing():
    """A one-pixel input reaches 1 with every stride and ~stride/2 symmetric paddings
    each: 2.4 million options took 16 s and 1.5 GB; a given stride alone, 50 million."""
    with pytest.raises(SpecError) as refused:
        target_options(1, 1, 32, 100)
    assert str(refused.value) == (
        "--target 1 from 1: 2,405,601 paddings reach it at strides 1 to 3,101 with kernel 32, "
        "dilation 100 (10,000 are listed at most); give -s/--stride"
    )
    with pytest.raises(SpecError) as refused:
        target_options(1, 1, 99_999_999, 1, 99_999_999, kind="dwconv")
    assert str(refused.value) == (
        "--target 1 from 1: 50,000,000 paddings reach it at stride 99999999 with kernel "
        "99999999, dilation 1 (10,000 are listed at most)"
    )
    # What is counted is what would be listed: under the bound, every symmetric padding
    # that gives the target, by brute force (span 187: pads up to 186 a side).
    listed = {(o.stride, o.pads[0]) for o in target_options(1, 1, 32, 6) if o.pads[0] == o.pads[1]}
    every = {
        (s, p) for s in range(1, 188) for p in range(187) if conv_output_size(1, 32, s, p, 6) == 1
    }
    assert listed == every and 8_000 < len(every) <= 10_000


def test_layer_built_in_code_has_a_word():
    layer = Layer("conv", out_channels=64, kernel=(3, 3), stride=(2, 2), padding=(1, 1, 1, 1))
    assert layer.to_word() == "conv:64,k=3,s=2,p=1"
    assert layer.label(2) == "layer 2 'conv:64,k=3,s=2,p=1'"


# ---------------------------------------------------------------------------------------
# Agreement with PyTorch: tests/data/shape_torch.json (made by make_shape_fixture.py)

FIXTURE = json.loads((Path(__file__).parent / "data" / "shape_torch.json").read_text())
#: What our message says for each kind of rejection torch makes.
REJECTION = {
    "size": "output size must be >= 1",
    "groups": "must be divisible by groups",
    "padding": "padding must be at most kernel // 2",
    "output_padding": "output_padding must be smaller than max(stride, dilation)",
}


def rows(table: str) -> list[dict]:
    fields = FIXTURE[table]["fields"]
    return [dict(zip(fields, case, strict=True)) for case in FIXTURE[table]["cases"]]


def check_against_torch(case: dict, layer: Layer, input_shape: Shape) -> str | None:
    """None when we agree with torch on this case, else a description of the difference."""
    if case["error"] is None and 0 in case["output"]:
        # ConvTranspose2d returns an empty tensor when the output size is 0; an empty
        # layer is never what a user meant, so convcli rejects it like any size < 1.
        case = {**case, "error": "size"}
    try:
        report = analyze(input_shape, [layer])
    except ConvcliError as error:
        if case["error"] is None:
            return f"{case}: we reject ({error}), torch accepts"
        if REJECTION[case["error"]] not in str(error):
            return f"{case}: torch rejects for {case['error']}, we say {error}"
        return None
    if case["error"] is not None:
        return f"{case}: torch rejects ({case['error']}), we give {report.output}"
    got = report.output.dims()
    if got != case["output"]:
        return f"{case}: torch {case['output']}, we {got}"
    if "params" in case and report.total.params != case["params"]:
        return f"{case}: torch {case['params']} params, we {report.total.params}"
    if "flops" in case and report.total.flops != case["flops"]:
        return f"{case}: torch {case['flops']} FLOPs, we {report.total.flops}"
    return None


def test_conv_agrees_with_torch():
    cases = rows("conv")
    assert len(cases) > 5000
    assert {c["error"] for c in cases} == {None, "size", "groups"}
    problems = []
    for case in cases:
        layer = Layer(
            "conv",
            out_channels=case["out_channels"],
            kernel=tuple(case["kernel"]),
            stride=tuple(case["stride"]),
            padding=tuple(case["padding"]),
            dilation=tuple(case["dilation"]),
            groups=case["groups"],
            bias=case["bias"],
        )
        problems.append(check_against_torch(case, layer, Shape(*case["input"])))
    assert [p for p in problems if p] == []


def test_deconv_agrees_with_torch():
    cases = rows("deconv")
    assert {c["error"] for c in cases} == {None, "size", "groups", "output_padding"}
    problems = []
    for case in cases:
        layer = Layer(
            "deconv",
            out_channels=case["out_channels"],
            kernel=tuple(case["kernel"]),
            stride=tuple(case["stride"]),
            padding=tuple(case["padding"]),
            dilation=tuple(case["dilation"]),
            groups=case["groups"],
            bias=case["bias"],
            output_padding=tuple(case["output_padding"]),
        )
        problems.append(check_against_torch(case, layer, Shape(*case["input"])))
    assert [p for p in problems if p] == []


def test_pooling_agrees_with_torch():
    cases = rows("pool")
    assert {c["error"] for c in cases} == {None, "size", "padding"}
    assert any(c["ceil_mode"] and c["error"] is None for c in cases)
    problems = []
    for case in cases:
        pad_h, pad_w = case["padding"]
        layer = Layer(
            f"{case['op']}pool",
            kernel=tuple(case["kernel"]),
            stride=None if case["stride"] is None else tuple(case["stride"]),
            padding=(pad_h, pad_h, pad_w, pad_w),
            dilation=tuple(case["dilation"]),
            ceil_mode=case["ceil_mode"],
        )
        problems.append(check_against_torch(case, layer, Shape(*case["input"])))
    assert [p for p in problems if p] == []


def test_same_padding_matches_torch_at_stride_1():
    cases = rows("same")
    checked = 0
    for case in cases:
        (height, width), (kh, kw), dilation = case["input"], case["kernel"], case["dilation"]
        assert case["output"] == [height, width]
        if case["pads"] is None:
            continue
        ours = [*same_padding(height, kh, 1, dilation), *same_padding(width, kw, 1, dilation)]
        assert ours == case["pads"], case
        checked += 1
    assert checked > 150


def test_target_options_stride_search():
    # Strides up to the kernel span are listed; beyond it only the smallest that works.
    assert [(o.stride, o.pads) for o in target_options(224, 8, 2)] == [(28, (0, 0))]
    assert {o.stride for o in target_options(9, 3, 3, kind="maxpool")} == {3}
    # Transposed: the options that need the least output_padding.
    far = target_options(16, 4096, 4, kind="deconv")
    assert [(o.stride, o.pads, o.output_padding) for o in far] == [(273, (2, 2), 1)]
    assert far[0].pytorch == "padding=2, output_padding=1"
    # Pools never offer padding='same' (PyTorch's pools have no such mode).
    assert all("same" not in o.pytorch for o in target_options(8, 8, 3, 1, 1, kind="maxpool"))


def test_transposed_span_counts_the_widest_phase_without_a_loop_over_taps():
    """The closed form equals the per-tap count it replaced (every phase's first and last
    tap), and a kernel of a trillion taps is answered at once (the loop took seconds per
    ten million taps, and a fuzz test under Hypothesis's tracing never ended)."""
    from convcli.geometry import transposed_span

    def per_tap(kernel, dilation, stride):
        first, last = {}, {}
        for tap in range(kernel):
            phase = (tap * dilation) % stride
            first.setdefault(phase, tap)
            last[phase] = tap
        return max((last[p] - first[p]) * dilation // stride + 1 for p in first)

    for kernel in range(1, 30):
        for dilation in range(1, 7):
            for stride in range(1, 11):
                assert transposed_span(kernel, dilation, stride) == per_tap(
                    kernel, dilation, stride
                ), (kernel, dilation, stride)
    assert transposed_span(10**12, 3, 6) == (10**12 - 1) // 2 + 1


def test_a_stride_and_dilation_with_a_common_factor_are_warned_to_skip_rows(cli):
    result = cli("shape", "1x64x64", "conv:1,k=3,s=2,d=2,p=2", "--format", "plain")
    assert (result.exit_code, result.stdout) == (0, "1x32x32\n")
    assert result.stderr == (
        "warning: layer 1 'conv:1,k=3,s=2,d=2,p=2': stride 2 and dilation 2 share the factor "
        "2: the taps read 1 row in 2, the others never\n"
    )
    coprime = cli("shape", "1x64x64", "conv:1,k=3,s=2,d=3,p=3", "--format", "plain")
    assert "share the factor" not in coprime.stderr
