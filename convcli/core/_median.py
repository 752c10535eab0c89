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

Wires the output cannot depend on are dropped (:meth:`Network.live`), and of a few
shapes of merge trees the smallest is kept: a 5x5 median takes 88 min/max passes per
pixel, 7x7 234, 9x9 394, 15x15 1508 (a sorting network per pixel: 198 for 5x5). The
passes run over tiles of about 256 kB, so that the arrays stay in the caches; the arrays
are assigned to a few reused buffers when the network is compiled (:class:`Program`), so
a tile costs one ufunc call per pass and nothing else. uint8 and uint16 images run in
their own dtype, 2-4x more values per SIMD instruction.

Values are exact (the result is one of the inputs, the one SciPy's ``median_filter``
picks: rank ``kh*kw // 2``, the upper middle for even windows), and each output depends
only on its own window, so row strips give the whole image's bits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

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

    def live(self, output: Ref) -> list[int]:
        """The nodes ``output`` depends on, in the order to compute them."""
        live = {output[0]}
        for node in range(len(self.nodes) - 1, 0, -1):
            if node in live:
                _, a, b, _, _ = self.nodes[node]  # type: ignore[misc]
                live.update((a, b))
        live.discard(INPUT)
        return sorted(live)


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


def _build(kh: int, kw: int, columns: Tree, split: int, left: Tree, right: Tree):
    net = Network()
    column = _sorted_run(net, columns, [(INPUT, 0, 0)], 1, 0)
    rank = (kh * kw) // 2
    if kw == 1:
        return net, column[rank]
    low = _sorted_run(net, left, column, 0, 1)
    high = _shift(_sorted_run(net, right, column, 0, 1), 0, split)
    return net, net.select(low, high, rank)


def _best_network(kh: int, kw: int) -> tuple[Network, Ref]:
    """The smallest of a few shapes of merge trees (after dead wires are dropped): columns
    balanced or by powers of two; the last merge (a selection) split anywhere."""
    best = None
    for columns in {_balanced(kh), _binary(kh)}:
        splits = (
            [(None, 0, None, None)]
            if kw == 1
            else [
                (None, a, tree(a), tree(kw - a))
                for a in range(1, kw)
                for tree in (_balanced, _binary)
            ]
        )
        for _, split, left, right in splits:
            net, output = _build(kh, kw, columns, split, left, right)
            size = len(net.live(output))
            if best is None or size < best[0]:
                best = (size, net, output)
    assert best is not None
    return best[1], best[2]


@dataclass
class Program:
    """A compiled median network, its arrays assigned to reused buffers.

    ``steps`` are ``(is_max, a, b, dy, dx, slot)``: node ``i + 1`` of the program is
    written into buffer ``slot``. ``regions[n] = (top, left, extra_h, extra_w)``: for a
    tile of R x C outputs, node n covers rows ``top .. top + R + extra_h - 1`` of output
    coordinates (columns alike); node 0 is the tile's padded input.
    """

    kernel: tuple[int, int]
    steps: list[tuple[bool, int, int, int, int, int]]
    output: Ref
    regions: list[tuple[int, int, int, int]]
    slots: int
    views: dict[tuple[int, int], list] = field(default_factory=dict, repr=False)

    @property
    def passes(self) -> int:
        """Min/max passes per output pixel (before the tiles' overlap)."""
        return len(self.steps)


@lru_cache(maxsize=32)
def compile_median(kh: int, kw: int) -> Program:
    """The shared min/max network selecting rank ``kh*kw // 2`` of each ``kh x kw`` window."""
    net, output = _best_network(kh, kw)
    order = net.live(output)
    renumber = {INPUT: 0, **{node: index + 1 for index, node in enumerate(order)}}
    nodes = [net.nodes[node] for node in order]
    final = renumber[output[0]]
    # Regions, backwards from the output (which covers the tile exactly, at its offset).
    bounds: dict[int, list[int]] = {final: [output[1], output[2], output[1], output[2]]}

    def need(node: int, top: int, left: int, bottom: int, right: int) -> None:
        old = bounds.get(node)
        bounds[node] = (
            [top, left, bottom, right]
            if old is None
            else [min(old[0], top), min(old[1], left), max(old[2], bottom), max(old[3], right)]
        )

    for index in range(len(nodes), 0, -1):
        _, a, b, dy, dx = nodes[index - 1]  # type: ignore[misc]
        top, left, bottom, right = bounds[index]
        need(renumber[a], top, left, bottom, right)
        need(renumber[b], top + dy, left + dx, bottom + dy, right + dx)
    regions = [
        (t, l_, b_ - t, r - l_) for t, l_, b_, r in (bounds[i] for i in range(len(nodes) + 1))
    ]
    assert regions[0] == (0, 0, kh - 1, kw - 1), regions[0]
    # Buffers: a node's slot is freed after the last step that reads it.
    last_use: dict[int, int] = {}
    for index, (_, a, b, _, _) in enumerate(nodes, start=1):  # type: ignore[misc]
        last_use[renumber[a]] = index
        last_use[renumber[b]] = index
    free: list[int] = []
    slot_of: dict[int, int] = {}
    slots = 0
    steps = []
    for index, (is_max, a, b, dy, dx) in enumerate(nodes, start=1):  # type: ignore[misc]
        # A fresh slot before the operands' are freed: a shifted view of the target as an
        # operand would make NumPy copy it first.
        if free:
            slot = free.pop()
        else:
            slot, slots = slots, slots + 1
        slot_of[index] = slot
        steps.append((is_max, renumber[a], renumber[b], dy, dx, slot))
        for operand in {renumber[a], renumber[b]}:
            if operand and last_use[operand] == index:
                free.append(slot_of[operand])
    return Program((kh, kw), steps, (final, output[1], output[2]), regions, slots)


def _tile_calls(program: Program, rows: int, cols: int, dtype: np.dtype) -> tuple:
    """Per thread and tile shape: the input buffer, the ufunc calls, the output view."""
    height = [rows + region[2] for region in program.regions]
    width = [cols + region[3] for region in program.regions]
    largest = max(h * w for h, w in zip(height[1:], width[1:], strict=True))
    buffers = [np.empty(largest, dtype) for _ in range(program.slots)]
    source = np.empty((height[0], width[0]), dtype)
    arrays: list[np.ndarray] = [source]

    def view(node: int, top: int, left: int, h: int, w: int) -> np.ndarray:
        node_top, node_left = program.regions[node][:2]
        row, col = top - node_top, left - node_left
        return arrays[node][row : row + h, col : col + w]

    calls = []
    for index, (is_max, a, b, dy, dx, slot) in enumerate(program.steps, start=1):
        top, left = program.regions[index][:2]
        h, w = height[index], width[index]
        target = buffers[slot][: h * w].reshape(h, w)
        first, second = view(a, top, left, h, w), view(b, top + dy, left + dx, h, w)
        arrays.append(target)
        calls.append((np.maximum if is_max else np.minimum, first, second, target))
    final, top, left = program.output
    result = view(final, top, left, rows, cols)
    return source, calls, result


TILE_BYTES = 1 << 18
"""Bytes of one tile's arrays: each NumPy call holds the GIL for ~1 us, so a call must do
several us of work for two threads to overlap (64k float32 values); smaller tiles fit
L2 better but serialise the threads. On 4K RGB, two threads, medians of 9 interleaved
calls (AMD EPYC, 1 MB L2 a core): 5x5 uint8 113 ms with 128 kB tiles, 102 ms with
256 kB; 5x5 float32 375 / 325 ms; 7x7 uint8 273 / 264 ms (an older machine: 5x5
float32 with 32 kB tiles 1.16 s, 64 kB 0.77 s, 128 kB 0.57 s, 512 kB 0.63 s)."""


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
    elements = max(1, TILE_BYTES // dtype.itemsize)
    cols = width if width <= elements // 4 else max(256, elements // 16)
    rows = max(1, min(height, elements // cols))
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
            shape = (tile_rows, tile_cols)
            if shape not in prepared:
                prepared[shape] = _tile_calls(program, tile_rows, tile_cols, dtype)
            source, calls, result = prepared[shape]
            block = gatherers[plane].block(
                y, y + tile_rows + kh - 1, x, x + tile_cols + kw - 1, source.reshape(-1)
            )
            if not np.may_share_memory(block, source):  # a view of the input: copy (cast) it
                source[...] = block[0]
            for ufunc, first, second, target in calls:
                ufunc(first, second, out=target)
            out[plane, y : y + tile_rows, x : x + tile_cols] = result

    # NumPy's own buffer: the tiles' casts on the way in and out go through it. 512
    # elements cost 7-13% at 0.25 MP, gained 5-9% at 1080p and nothing at 4K.
    run_bands(
        [(index, index + 1) for index in range(len(tiles))],
        work,
        out.size >= MIN_PARALLEL_ELEMENTS,
        numpy_buffer=True,
    )


def network_passes(kh: int, kw: int) -> int:
    """Min/max passes per output pixel of the network for a ``kh x kw`` window."""
    return compile_median(kh, kw).passes


__all__ = ["Network", "Program", "compile_median", "median_by_network", "network_passes"]
