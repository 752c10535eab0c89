"""convcli._records.dataclass(eq=False) behaves as dataclasses' (identity equality)."""

from __future__ import annotations

import dataclasses

import pytest

from convcli._records import dataclass


def _pair(frozen: bool) -> tuple[type, type]:
    made = []
    for decorate in (dataclasses.dataclass(frozen=frozen, eq=False),
                     dataclass(frozen=frozen, eq=False)):  # fmt: skip
        namespace = {
            "__module__": __name__,
            "__qualname__": "Thing",
            "__annotations__": {"a": "int", "b": "float"},
            "b": 0.5,
        }
        made.append(decorate(type("Thing", (), namespace)))
    return made[0], made[1]


@pytest.mark.parametrize("frozen", [True, False])
def test_identity_equality_as_dataclasses_give_it(frozen):
    real, ours = _pair(frozen)
    for cls in (real, ours):
        one, same = cls(1), cls(1)
        assert one == one and one != same  # identity, not the fields
        assert hash(one) == object.__hash__(one)
        assert dataclasses.replace(one, a=2).a == 2
        assert cls.__eq__ is object.__eq__
    assert repr(real(1, 2.0)) == repr(ours(1, 2.0))
    assert ("__eq__" in ours.__dict__) is False
    if frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            ours(1).a = 3  # type: ignore[misc]
