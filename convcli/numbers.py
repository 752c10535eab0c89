"""Numbers as text and as JSON: the one formatter and the one JSON-number policy.

Every command prints numbers through these functions, so a number reads the same in
``apply``, ``kernels``, ``learn --steps`` and ``shape``:

- :func:`format_number`: whole numbers without a decimal point (``-0`` as ``0``), others
  to ``digits`` significant digits, or the shortest text that reads back to the same
  float32 (values computed in float32) or float64 (exact kernels) number;
- :func:`json_number`: whole numbers as ints, others rounded to ``significant`` digits
  (9 is float32's round-trip precision, without float64 noise; None keeps every digit),
  NaN and infinities as ``null`` (JSON has none); :func:`json_nested` applies it to an
  array of any rank; :func:`json_fraction` to an exact ``Fraction`` (receptive fields);
- counts: :func:`thousands`, :func:`compact` (``21.7M``) and :func:`memory` (``3.06 MiB``).

The data types' ``to_dict()`` methods use the JSON policy too, which is why this module
sits beside them rather than in ``render/``. Pure Python: NumPy is imported only to
print a non-whole float32, never on the ``shape`` path.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from fractions import Fraction

#: Below this a whole float is printed as an int (float64 holds every int up to 2**53).
_WHOLE_LIMIT = 1e16


def _whole(value: float) -> bool:
    return math.isfinite(value) and float(value).is_integer() and abs(value) < _WHOLE_LIMIT


def format_number(
    value: float, digits: int | None = None, *, shortest: Literal["float32", "float64"] = "float32"
) -> str:
    """One number as a person would write it: ``19``, ``-1``, ``0.5``, ``1e-20``.

    Parameters
    ----------
    value : float
        The number.
    digits : int or None
        Significant digits of a non-whole number; None: the shortest text that reads back.
    shortest : {"float32", "float64"}
        Which precision "reads back" means (float32 for computed values, float64 for
        kernels written exactly).

    Returns
    -------
    str
        ``inf``, ``-inf`` and ``nan`` as such.

    Examples
    --------
    >>> [format_number(v) for v in (19.0, -0.0, 0.1, 2.5e-7, float("nan"), -math.inf)]
    ['19', '0', '0.1', '2.5e-07', 'nan', '-inf']
    >>> format_number(1 / 3, 4), format_number(1 / 3, shortest="float64")
    ('0.3333', '0.3333333333333333')
    """
    if _whole(value):
        return str(int(value))
    if digits is not None:
        return f"{value:.{digits}g}"
    if shortest == "float64":
        return repr(float(value))
    import numpy as np  # only here: the float32 repr is NumPy's

    return str(np.float32(value))


def json_number(value: float, significant: int | None = 9) -> int | float | None:
    """A number for JSON: whole numbers as ints, NaN/inf as null (JSON has no NaN).

    ``significant`` digits are kept (9: float32's precision, without float64 noise);
    None keeps the float64 value as it is.

    >>> json_number(19.0), json_number(0.1 + 0.2), json_number(0.1 + 0.2, None)
    (19, 0.3, 0.30000000000000004)
    >>> json_number(float("inf")) is None
    True
    """
    if not math.isfinite(value):
        return None
    if _whole(value):
        return int(value)
    return float(value) if significant is None else float(f"{value:.{significant}g}")


def json_nested(array: Any, significant: int | None = 9) -> Any:
    """An array (NumPy, or nested sequences of numbers) as nested lists of
    :func:`json_number` values.

    >>> json_nested([[1.0, 0.5], [float("-inf"), 2.0]])
    [[1, 0.5], [None, 2]]
    """
    if getattr(array, "ndim", None) == 0 or isinstance(array, (int, float)):
        return json_number(float(array), significant)
    return [json_nested(item, significant) for item in array]


def json_fraction(value: Fraction | int) -> int | float:
    """An exact Fraction as JSON wants it: an int when whole, else a float (6 decimals).

    >>> from fractions import Fraction
    >>> json_fraction(Fraction(5, 2)), json_fraction(Fraction(4, 1)), json_fraction(3)
    (2.5, 4, 3)
    """
    if type(value) is int:  # receptive fields stay ints until a transposed layer
        return value
    from fractions import Fraction

    value = Fraction(value)
    if value.denominator == 1:
        return int(value)
    return round(float(value), 6)


def thousands(value: int | float) -> str:
    """``19456`` -> ``19,456``; floats keep up to three decimals.

    >>> thousands(19456), thousands(2.5), thousands(3.0)
    ('19,456', '2.5', '3')
    """
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


#: The suffixes of :func:`compact` and the units of :func:`memory`, smallest first.
_SI = (("K", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12))
_BINARY = ((" KiB", 2**10), (" MiB", 2**20), (" GiB", 2**30), (" TiB", 2**40))


def _scientific(value: int) -> str:
    """Three significant digits in scientific notation, in ``f"{value:.3g}"``'s form
    (``3.62e+48``), computed in integers (rounded half up): an int past 1.8e308 has no
    float.

    >>> _scientific(3_620_000 * 10**42), _scientific(10**15), _scientific(9_995 * 10**11)
    ('3.62e+48', '1e+15', '1e+15')
    >>> _scientific(7 * 10**400)
    '7e+400'
    """
    exponent = int(math.log10(value))  # may be one off next to a power of ten
    if 10**exponent > value:
        exponent -= 1
    elif 10 ** (exponent + 1) <= value:
        exponent += 1
    digits = (value * 200 // 10**exponent + 1) // 2  # 100 to 1000, rounded half up
    if digits == 1000:
        digits, exponent = 100, exponent + 1
    mantissa = f"{digits // 100}.{digits % 100:02d}".rstrip("0").rstrip(".")
    return f"{mantissa}e+{exponent:02d}"


def _in_units(value: int, units: tuple[tuple[str, int], ...], beyond: str) -> str:
    """``value`` to three significant digits in the first of ``units`` where it stays
    below 1000 once rounded (``1e+03K`` is never written: 999,999 is ``1M``); past the
    largest unit, scientific notation followed by ``beyond``, never a unit with an
    exponent (``2.74e+20T`` read as neither). In Python's integers: a NumPy int64 would
    overflow in ``value * 2``."""
    value = int(value)
    for name, scale in units:
        if value * 2 < 1999 * scale:  # value / scale < 999.5, in exact integers
            return f"{value / scale:.3g}{name}"
    return f"{_scientific(value)}{beyond}"


def compact(value: int) -> str:
    """Three significant digits with an SI suffix above 9,999: ``21.7M``; from a thousand
    T on, scientific notation without a suffix.

    >>> compact(1792), compact(21676032), compact(8388608), compact(999_999)
    ('1,792', '21.7M', '8.39M', '1M')
    >>> compact(999 * 10**12), compact(274 * 10**30)
    ('999T', '2.74e+32')
    """
    if value < 10_000:
        return thousands(value)
    return _in_units(value, _SI, "")


def memory(size: int) -> str:
    """Bytes in binary units: ``3.06 MiB``; from a thousand TiB on, bytes in scientific
    notation.

    >>> memory(512), memory(3211264), memory(2**20 - 1), memory(2**40)
    ('512 B', '3.06 MiB', '1 MiB', '1 TiB')
    >>> memory(1814 * 10**21)
    '1.81e+24 B'
    """
    if size < 1024:
        return f"{size} B"
    return _in_units(size, _BINARY, " B")
