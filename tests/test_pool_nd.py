"""``convcli shape`` on 1-D and 3-D pools against PyTorch (tests/data/pool_nd_torch.json,
made by tests/data/make_pool_nd_fixture.py): every size torch gives, every case it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcli.errors import ConvcliError
from convcli.network import Source, size_network

FIXTURE = json.loads((Path(__file__).parent / "data" / "pool_nd_torch.json").read_text())
CASES = [dict(zip(FIXTURE["fields"], row, strict=True)) for row in FIXTURE["cases"]]


def _word(case: dict) -> str:
    rank = len(case["input"])
    kernel = case["kernel"]
    kernel_text = "x".join(map(str, kernel)) if isinstance(kernel, list) else str(kernel)
    words = [f"k={kernel_text}", f"p={case['padding']}"]
    if case["stride"] is not None:
        words.append(f"s={case['stride']}")
    if case["ceil_mode"]:
        words.append("ceil=yes")
    return f"{case['op']}pool{rank}d:" + ",".join(words)


#: convcli's words for each reason torch gives.
_REASONS = {
    "smaller": "is smaller than the kernel",
    "padding": "padding must be at most kernel // 2",
    "size": "output size must be >= 1",
}


def _torch_reason(error: str) -> str:
    if error.startswith("input image"):
        return "smaller"
    return "padding" if "at most half" in error else "size"


def _id(case: dict) -> str:
    return f"{'x'.join(map(str, case['input']))}-{_word(case)}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_pool_sizes_and_refusals_are_pytorchs(case):
    source = Source((_word(case),), input_size="1x" + "x".join(map(str, case["input"])))
    if case["output"] is None:
        with pytest.raises(ConvcliError) as refused:  # SpecError is one too
            size_network(source)
        assert _REASONS[_torch_reason(case["error"])] in str(refused.value)
        return
    report = size_network(source)
    assert list(report.output.spatial) == case["output"]


def test_avgpool3d_smaller_than_its_kernel_is_refused_in_words(cli):
    result = cli("shape", "1x2x8x8", "avgpool3d:k=3,p=1")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: layer 1 'avgpool3d:k=3,p=1': input 2x8x8 is smaller than the kernel 3x3x3: "
        "PyTorch's AvgPool3d refuses that whatever the padding (AvgPool1d, AvgPool2d and "
        "MaxPool3d take it)\n"
    )
    taken = cli("shape", "1x2x8x8", "maxpool3d:k=3,p=1", "--format", "plain")
    assert (taken.exit_code, taken.stdout) == (0, "1x1x3x3\n")
