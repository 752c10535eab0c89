"""Exact rank (median) filters as min/max networks shared between neighbouring windows.

A ``kh x kw`` median is a selection network: compare-exchanges (a min and a max) wired so
that one output wire carries the value of rank ``kh*kw // 2``. Run on whole arrays, each
wire is an array over the output pixels, and the network is *translation-invariant*:
the sorted column under output ``(y, x + 1)`` is the sorted column under ``(y, x)``,
shifted. So a wire is an array read at an offset, and every array is computed once for
all the windows that read it (:class:`Network` memoises each min and max by its operands
and their relative offset). The network built here (:func:`compile_median`):

1. sorts the column of ``kh`` rows under each pixel by a tree of Batcher odd-even merges
   (the sorted pair of rows ``y, y+1`` is shared by every column that contains both);
2. merges the sorted columns into sorted runs of 2, 4, ... columns the same way (the run
   of columns ``x, x+1`` serves every window that contains both);
3. selects the output rank from the last two runs directly, ``rank r of A + B =
   min_i max(A[i-1], B[r-i])`` (one max and one min per element of the shorter run).

Neighbouring outputs also share work in blocks (A. Adams, *Fast median filters using
separable sorting networks*, 2021): the windows of ``b`` outputs side by side hold
``kw - b + 1`` columns in common, whose sorted run is computed once per block; each
output then selects its rank from that run and its own columns (:func:`_build_blocks`).
An array that only blocks read is computed at one position in ``b`` (its phase:
:meth:`Network.live`). The network is built on the transposed window and run transposed
(:func:`compile_median`), so its blocks are of rows, whose phases are views of the
input; blocks of columns would need copies of strided bytes (~8 passes for uint8).

Wires the outputs cannot depend on are dropped, and of a few shapes (merge trees, block
widths 1 to 4) the smallest is kept: a 5x5 median takes 57 min/max passes per pixel
(88 one output at a time), 7x7 154 (234), 9x9 227 (394), 15x15 891 (1508); a sorting
network per pixel would take 198 for 5x5. The passes run over tiles of about 256 kB, so
that the arrays stay in the caches; the arrays are assigned to a few reused buffers when
the network is compiled (:class:`Program`), so a tile costs one ufunc call per pass and
nothing else. uint8 and uint16 images run in their own dtype, 2-4x more values per SIMD
instruction.

Values are exact (the result is one of the inputs, the one SciPy's ``median_filter``
picks: rank ``kh*kw // 2``, the upper middle for even windows), and each output depends
only on its own window, so row strips give the whole image's bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

from convcli.core._strips import MIN_PARALLEL_ELEMENTS, PaddedRows, run_bands

Ref = tuple[int, int, int]
"""A wire: ``(array, dy, dx)``, the array read at the output position + ``(dy, dx)``."""

INPUT = 0
"""Array 0 is the padded input: the window at output ``(y, x)`` reads it at
``(y + i, x + j)``."""

Node = tuple[bool, int, int, int, int]
"""``(is_max, a, b, dy, dx)``: ``value[p] = max or min(a[p], b[p + (dy, dx)])``."""


class Network:
    """A translation-invariant min/max network: arrays memoised by what they compute."""

    def __init__(self) -> None:
        self.nodes: list[Node | None] = [None]  # node 0 is the input
        self.memo: dict[Node, int] = {}

    def op(self, is_max: bool, first: Ref, second: Ref) -> Ref:
        """The wire ``max(first, second)`` (or ``min``), made once for every offset.

        Parameters
        ----------
        is_max : bool
            ``max`` (True) or ``min`` (False).
        first, second : Ref
            The two wires compared.
        """
        if first == second:
            return first
        (ia, ya, xa), (ib, yb, xb) = sorted((first, second))
        key = (is_max, ia, ib, yb - ya, xb - xa)
        node = self.memo.get(key)
        if node is None:
            node = len(self.nodes)
            self.nodes.append(key)
            self.memo[key] = node
        return node, ya, xa

    def exchange(self, first: Ref, second: Ref) -> tuple[Ref, Ref]:
        """A compare-exchange: (min, max)."""
        return self.op(False, first, second), self.op(True, first, second)

    def merge(self, a: Sequence[Ref], b: Sequence[Ref]) -> list[Ref]:
        """Batcher's odd-even merge of two sorted wire lists, of any lengths."""
        if not a:
            return list(b)
        if not b:
            return list(a)
        if len(a) == 1 and len(b) == 1:
            return list(self.exchange(a[0], b[0]))
        evens = self.merge(a[0::2], b[0::2])
        odds = self.merge(a[1::2], b[1::2])
        out = [evens[0]]
        # odds[i] and evens[i + 1] hold merged ranks 2i + 1 and 2i + 2, in some order.
        for i in range(len(odds)):
            if i + 1 < len(evens):
                out.extend(self.exchange(odds[i], evens[i + 1]))
            else:
                out.append(odds[i])
        out.extend(evens[len(odds) + 1 :])
        return out

    def select(self, a: Sequence[Ref], b: Sequence[Ref], rank: int) -> Ref:
        """Rank ``rank`` (from 0) of the merge of sorted ``a`` and ``b``:
        ``min over i of max(a[i-1], b[rank-i])``, a missing ``[-1]`` being -inf.

        Parameters
        ----------
        a, b : sequence of Ref
            Two sorted lists of wires.
        rank : int
            The rank wanted, from 0, in the merge of both.
        """
        terms = []
        for i in range(rank + 2):
            ai, bi = i - 1, rank - i
            if ai >= len(a) or bi >= len(b) or (ai < 0 and bi < 0):
                continue
            if ai < 0:
                terms.append(b[bi])
            elif bi < 0:
                terms.append(a[ai])
            else:
                terms.append(self.op(True, a[ai], b[bi]))
        result = terms[0]
        for term in terms[1:]:
            result = self.op(False, result, term)
        return result

    def live(self, outputs: Sequence[Ref], width: int = 1) -> list[tuple[int, int]]:
        """The arrays ``outputs`` depend on, as ``(node, phase)`` in the order to compute
        them: with outputs in blocks of ``width`` columns, a node is computed once for
        each column of a block it is read at (its ``phase``, from 0 to ``width - 1``)."""
        live = {(node, x % width) for node, _, x in outputs}
        for node in range(len(self.nodes) - 1, 0, -1):
            for phase in range(width):
                if (node, phase) in live:
                    _, a, b, _, dx = self.nodes[node]  # type: ignore[misc]
                    live.update(((a, phase), (b, (phase + dx) % width)))
        return sorted(item for item in live if item[0] != INPUT)


def _shift(wires: Sequence[Ref], dy: int, dx: int) -> list[Ref]:
    return [(node, y + dy, x + dx) for node, y, x in wires]


Tree = tuple | None
"""How a run of ``n`` copies is merged: None for one copy, else ``(a, left, right)``: the
first ``a`` copies by ``left``, the other ``n - a`` by ``right``."""


def _balanced(count: int) -> Tree:
    if count == 1:
        return None
    half = (count + 1) // 2
    return half, _balanced(half), _balanced(count - half)


def _binary(count: int) -> Tree:
    """Power-of-two runs (2, 4, 8, ...), largest first: the runs most windows share."""
    if count == 1:
        return None
    top = 1 << (count.bit_length() - 1)
    if top == count:
        return top // 2, _binary(top // 2), _binary(top // 2)
    return top, _binary(top), _binary(count - top)


def _sorted_run(net: Network, tree: Tree, wires: list[Ref], dy: int, dx: int) -> list[Ref]:
    """The sorted wires of the copies of sorted ``wires`` shifted by ``(i*dy, i*dx)``,
    merged as ``tree`` says; equal subtrees at other offsets are the same arrays."""
    if tree is None:
        return list(wires)
    first, left, right = tree
    low = _sorted_run(net, left, wires, dy, dx)
    high = _shift(_sorted_run(net, right, wires, dy, dx), first * dy, first * dx)
    return net.merge(low, high)


Built = tuple[Network, list[Ref]]
"""A network and its outputs: one per column of a block, left to right."""


def _build(kh: int, kw: int, columns: Tree, split: int, left: Tree, right: Tree) -> Built:
    """One output per block: ``kw`` sorted columns in two runs, and a selection."""
    net = Network()
    column = _sorted_run(net, columns, [(INPUT, 0, 0)], 1, 0)
    rank = (kh * kw) // 2
    if kw == 1:
        return net, [column[rank]]
    low = _sorted_run(net, left, column, 0, 1)
    high = _shift(_sorted_run(net, right, column, 0, 1), 0, split)
    return net, [net.select(low, high, rank)]


def _build_blocks(kh: int, kw: int, width: int, columns: Tree, shared: Tree) -> Built:
    """``width`` neighbouring outputs per block: the sorted run of the ``kw - width + 1``
    columns all their windows hold, computed once, and each output's other columns
    selected into it (A. Adams, *Fast median filters using separable sorting networks*,
    2021, shares the same way)."""
    net = Network()
    column = _sorted_run(net, columns, [(INPUT, 0, 0)], 1, 0)
    rank = (kh * kw) // 2
    common = _sorted_run(net, shared, _shift(column, 0, width - 1), 0, 1)
    outputs = []
    for first in range(width):
        own = [*range(first, width - 1), *range(kw, kw + first)]
        merged = _shift(column, 0, own[0])
        for x in own[1:]:
            merged = net.merge(merged, _shift(column, 0, x))
        outputs.append(net.select(common, merged, rank))
    return net, outputs


MAX_BLOCK = 4
"""Outputs per block tried: the best width grows with the window (2 up to 9x9, 4 at 15x15)."""


def _shapes(kh: int, kw: int) -> Sequence[tuple[int, Callable[[], Built]]]:
    """The networks :func:`_best_network` compares, with their block widths."""
    trees = (_balanced, _binary)
    columns_trees = {_balanced(kh), _binary(kh)}
    if kw == 1:
        return [(1, partial(_build, kh, kw, columns, 0, None, None)) for columns in columns_trees]
    return [
        (1, partial(_build, kh, kw, columns, a, tree(a), tree(kw - a)))
        for columns in columns_trees
        for a in range(1, kw)
        for tree in trees
    ] + [
        (width, partial(_build_blocks, kh, kw, width, columns, tree(kw - width + 1)))
        for width in range(2, min(kw, MAX_BLOCK) + 1)
        for columns in columns_trees
        for tree in trees
    ]


def _best_network(kh: int, kw: int) -> tuple[Network, list[Ref], int]:
    """The smallest, in live arrays per output (after dead wires are dropped), of a few
    shapes: one output per block, its columns sorted balanced or by powers of two and the
    last merge (a selection) split anywhere; or blocks of 2 to :data:`MAX_BLOCK` outputs.
    Returns the network, its outputs (one per column of a block) and the block width."""
    best: tuple[float, Network, list[Ref], int] | None = None
    for width, build in _shapes(kh, kw):
        net, outputs = build()
        size = len(net.live(outputs, width)) / width
        if best is None or size < best[0]:
            best = (size, net, outputs, width)
    assert best is not None
    return best[1], best[2], best[3]


Region = tuple[int, int, int, int]


@dataclass
class Program:
    """A compiled median network, its arrays assigned to reused buffers.

    Outputs come in blocks of ``width`` neighbouring rows, and every array is over blocks
    (block ``m``, column ``x``): arrays ``0 .. width - 1`` are the padded input's phases
    (phase ``q`` holds its rows ``q, q + width, ...``: a view, rows stay contiguous), array
    ``width + i`` is written by step ``i``. ``steps`` are ``(is_max, a, b, dy, dx,
    slot)``: ``max or min(a[m, x], b[m + dy, x + dx])`` into buffer ``slot``.
    ``outputs[j] = (array, dy, dx)``: output row ``j`` of each block. ``regions[n] = (top,
    left, extra_h, extra_w)``: for a tile of B blocks and C columns, array n covers blocks
    ``top .. top + B + extra_h - 1`` and columns ``left .. left + C + extra_w - 1``.
    """

    kernel: tuple[int, int]
    width: int
    steps: list[tuple[bool, int, int, int, int, int]]
    outputs: list[Ref]
    regions: list[Region]
    slots: int

    @property
    def passes(self) -> float:
        """Min/max passes per output pixel (before the tiles' overlap)."""
        return len(self.steps) / self.width


def _steps(net: Network, outputs: list[Ref], width: int) -> tuple[list, list[Ref]]:
    """The live ``(node, phase)`` arrays as :class:`Program` steps reading arrays by number,
    and the outputs by number, transposed: the network's blocks of columns are the
    program's blocks of rows (offsets ``(dy, dx)`` become ``(blocks, columns)``)."""
    order = net.live(outputs, width)
    number = {(INPUT, phase): phase for phase in range(width)}
    number.update({item: width + index for index, item in enumerate(order)})

    def read(node: int, column: int) -> tuple[int, int]:
        # ``node`` at the block's column ``column``: its array and block offset.
        return number[node, column % width], column // width

    steps = []
    for node, phase in order:
        is_max, a, b, dy, dx = net.nodes[node]  # type: ignore[misc]
        first, _ = read(a, phase)
        second, offset = read(b, phase + dx)
        steps.append((is_max, first, second, offset, dy))
    numbered = []
    for node, y, x in outputs:
        array, offset = read(node, x)
        numbered.append((array, offset, y))
    return steps, numbered


def _regions(steps: list, outputs: list[Ref], count: int) -> list[Region]:
    """Each array's rows and blocks, backwards from the outputs (each covers the tile)."""
    bounds: dict[int, list[int]] = {}

    def need(array: int, top: int, left: int, bottom: int, right: int) -> None:
        old = bounds.get(array)
        bounds[array] = (
            [top, left, bottom, right]
            if old is None
            else [min(old[0], top), min(old[1], left), max(old[2], bottom), max(old[3], right)]
        )

    for array, dy, dx in outputs:
        need(array, dy, dx, dy, dx)
    first_step = count - len(steps)
    for index in range(count - 1, first_step - 1, -1):
        _, a, b, dy, dx = steps[index - first_step]
        top, left, bottom, right = bounds[index]
        need(a, top, left, bottom, right)
        need(b, top + dy, left + dx, bottom + dy, right + dx)
    return [(t, l_, b_ - t, r - l_) for t, l_, b_, r in (bounds[i] for i in range(count))]


def _slots(steps: list, inputs: int) -> tuple[list, int]:
    """Buffers for the steps' arrays: a slot is reused after the last step that reads it."""
    last_use: dict[int, int] = {}
    for index, (_, a, b, _, _) in enumerate(steps, start=inputs):
        last_use[a] = last_use[b] = index
    free: list[int] = []
    slot_of: dict[int, int] = {}
    slots = 0
    placed = []
    for index, (is_max, a, b, dy, dx) in enumerate(steps, start=inputs):
        # A fresh slot before the operands' are freed: a shifted view of the target as an
        # operand would make NumPy copy it first.
        if free:
            slot = free.pop()
        else:
            slot, slots = slots, slots + 1
        slot_of[index] = slot
        placed.append((is_max, a, b, dy, dx, slot))
        for operand in {a, b}:
            if operand >= inputs and last_use[operand] == index:
                free.append(slot_of[operand])
    return placed, slots


@lru_cache(maxsize=32)
def compile_median(kh: int, kw: int) -> Program:
    """The shared min/max network selecting rank ``kh*kw // 2`` of each ``kh x kw`` window.

    Built on the transposed window (:func:`_best_network` shares work between
    neighbouring columns) and run transposed: its blocks are rows, whose phases are views
    of the input, where columns would need copies that cost ~8 passes (strided bytes).
    """
    net, outputs, width = _best_network(kw, kh)
    steps, numbered = _steps(net, outputs, width)
    regions = _regions(steps, numbered, width + len(steps))
    for phase in range(width):
        assert regions[phase][:2] == (0, 0), regions[phase]
    placed, slots = _slots(steps, width)
    return Program((kh, kw), width, placed, numbered, regions, slots)


def _tile_calls(program: Program, blocks: int, cols: int, dtype: np.dtype) -> tuple:
    """Per thread and tile shape (``blocks`` x ``cols``): the padded input's buffer, the
    ufunc calls, the output views (one per row of a block)."""
    kh, kw = program.kernel
    inputs = program.width
    height = [blocks + region[2] for region in program.regions]
    width = [cols + region[3] for region in program.regions]
    largest = max((h * w for h, w in zip(height[inputs:], width[inputs:], strict=True)), default=0)
    buffers = [np.empty(largest, dtype) for _ in range(program.slots)]
    source = np.empty((inputs * blocks + kh - 1, cols + kw - 1), dtype)
    arrays: list[np.ndarray] = [source[phase::inputs] for phase in range(inputs)]

    def view(array: int, top: int, left: int, h: int, w: int) -> np.ndarray:
        array_top, array_left = program.regions[array][:2]
        row, col = top - array_top, left - array_left
        return arrays[array][row : row + h, col : col + w]

    calls = []
    for index, (is_max, a, b, dy, dx, slot) in enumerate(program.steps, start=inputs):
        top, left = program.regions[index][:2]
        h, w = height[index], width[index]
        target = buffers[slot][: h * w].reshape(h, w)
        first, second = view(a, top, left, h, w), view(b, top + dy, left + dx, h, w)
        arrays.append(target)
        calls.append((np.maximum if is_max else np.minimum, first, second, target))
    results = [view(array, top, left, blocks, cols) for array, top, left in program.outputs]
    return source, calls, results


TILE_BYTES = 1 << 18
"""Bytes of one array of a tile (a tile's input holds a block's ``width`` rows for each
of its arrays' rows): each NumPy call holds the GIL for ~1 us, so a call must do several
us of work for two threads to overlap (64k float32 values); smaller arrays fit L2 better
but serialise the threads. On 4K RGB, two threads, medians of 9 interleaved calls (AMD
EPYC, 1 MB L2 a core), one output at a time: 5x5 uint8 113 ms with 128 kB, 102 ms with
256 kB; 5x5 float32 375 / 325 ms; 7x7 uint8 273 / 264 ms (an older machine: 5x5 float32
with 32 kB 1.16 s, 64 kB 0.77 s, 128 kB 0.57 s, 512 kB 0.63 s). In blocks of 2 rows
(medians of 11): 5x5 float32 181 ms with tiles of 256 kB of input, 156 ms with 512 kB
(arrays of 256 kB); 1080p 67 / 57 ms; uint8 alike (4K 45.0 / 45.2 ms)."""


SCRATCH_BYTES = 32 << 20
"""Bytes of a thread's buffers at most (:attr:`Program.slots` arrays): networks of many
live arrays get smaller tiles. 15x15 keeps 332 arrays; with 256 kB each its two threads
held 383 MB for a 4K float32 image (100 MB), with this cap 103 MB (tracemalloc peaks)."""


def _tile_shape(program: Program, height: int, width: int, itemsize: int) -> tuple[int, int]:
    """Output rows and columns of a tile: each of its arrays, halo included, holds about
    :data:`TILE_BYTES`, and a thread's arrays together at most :data:`SCRATCH_BYTES`; the
    rows are whole blocks."""
    block = program.width
    computed = program.regions[block:]
    extra_h = max((region[2] for region in computed), default=0)
    extra_w = max((region[3] for region in computed), default=0)
    elements = max(1, min(TILE_BYTES, SCRATCH_BYTES // max(1, program.slots)) // itemsize)
    cols = width if width <= elements // 4 else max(256, elements // 16)
    blocks = max(1, elements // (cols + extra_w) - extra_h)
    return min(blocks, -(-height // block)) * block, cols


def median_by_network(
    planes: np.ndarray,
    kernel: tuple[int, int],
    pads: tuple[int, int, int, int],
    mode: str,
    out: np.ndarray,
    dtype: np.dtype | None = None,
) -> None:
    """The rank ``kh*kw // 2`` of every ``kernel`` window of ``planes`` (P, H, W) padded by
    ``pads`` in border ``mode``, at stride 1, into ``out`` (P, H', W'), by
    :func:`compile_median`'s network, computed in ``dtype``. Tiles of rows (and columns,
    for wide images) are gathered with their border straight from ``planes`` (no padded
    copy) and shared between the cores; each tile is cast to ``dtype`` as it is gathered
    and to ``out``'s dtype as it is stored, so neither conversion is a pass of its own
    over the image (on one thread).

    Parameters
    ----------
    planes : ndarray, shape (P, H, W)
        The unpadded input planes.
    kernel : (kh, kw)
        Window size.
    pads : (top, bottom, left, right)
        Padding of ``planes``, filled by ``mode``.
    mode : str
        A border mode of :data:`~convcli.core.padding.PADDING_MODES`.
    out : ndarray, shape (P, H', W')
        Written in place, in any dtype that holds the values.
    dtype : numpy.dtype, optional
        The dtype the network runs in (default: the planes'): one that holds every value
        of ``planes`` exactly (:func:`convcli.core.pool.median_dtype`).
    """
    kh, kw = kernel
    count, height, width = out.shape
    dtype = planes.dtype if dtype is None else np.dtype(dtype)
    program = compile_median(kh, kw)
    block = program.width
    rows, cols = _tile_shape(program, height, width, dtype.itemsize)
    tiles = [
        (plane, y, x)
        for plane in range(count)
        for y in range(0, height, rows)
        for x in range(0, width, cols)
    ]
    gatherers = [PaddedRows(planes[plane : plane + 1], pads, mode) for plane in range(count)]

    def work(share: Iterable[tuple[int, int]]) -> None:
        prepared: dict[tuple[int, int], tuple] = {}
        for index, _ in share:
            plane, y, x = tiles[index]
            tile_rows, tile_cols = min(rows, height - y), min(cols, width - x)
            shape = (-(-tile_rows // block), tile_cols)
            if shape not in prepared:
                prepared[shape] = _tile_calls(program, *shape, dtype)
            source, calls, results = prepared[shape]
            gathered = tile_rows + kh - 1
            window = gatherers[plane].block(
                y, y + gathered, x, x + tile_cols + kw - 1, source.reshape(-1)
            )
            if not np.may_share_memory(window, source):  # a view of the input: copy (cast) it
                source[:gathered] = window[0]
            # Rows past the image's last block only feed outputs that are not stored.
            source[gathered:] = source[gathered - 1]
            for ufunc, first, second, target in calls:
                ufunc(first, second, out=target)
            for row, result in enumerate(results[:tile_rows]):
                stored = out[plane, y + row : y + tile_rows : block, x : x + tile_cols]
                stored[...] = result[: stored.shape[0]]

    # NumPy's own buffer: the tiles' casts on the way in and out go through it. 512
    # elements cost 7-13% at 0.25 MP, gained 5-9% at 1080p and nothing at 4K.
    run_bands(
        [(index, index + 1) for index in range(len(tiles))],
        work,
        out.size >= MIN_PARALLEL_ELEMENTS,
        numpy_buffer=True,
    )


def network_passes(kh: int, kw: int) -> float:
    """Min/max passes per output pixel of the network for a ``kh x kw`` window."""
    return compile_median(kh, kw).passes


__all__ = ["Network", "Program", "compile_median", "median_by_network", "network_passes"]
