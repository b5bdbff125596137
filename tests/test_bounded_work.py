"""Work that stays bounded on any space: lazy domains, counting by dynamic programming, wide
choices without recursion, hashed duplicate checks, ``compile --random`` that stops."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nascompiler.cli import main
from nascompiler.errors import SpaceDefinitionError
from nascompiler.ir import compile_space, specialize
from nascompiler.ir.domains import IntRange, RealRange
from nascompiler.layers import Dense, Dropout, Input
from nascompiler.ops import ModuleChoice, Optional, Repeat
from nascompiler.search.searchers import make_searcher
from nascompiler.search.searchers.grid import GridSearch
from nascompiler.space import Choice, HyperSpace, Int, Real

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"


def repeat_of_optional(n: int) -> HyperSpace:
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Repeat(
            lambda step: Optional(Dense(Choice([4, 8]))),
            repeat_times=list(range(1, n + 1)),
        )(x)
        Dense(2)(x)
    return space


def test_a_real_with_a_tiny_step_is_a_lazy_range():
    domain = RealRange(0.0, 0.5, step=1e-9)
    values = domain.values()
    assert not isinstance(values, tuple)
    assert domain.size == len(values) == 500_000_001
    assert values[0] == 0.0 and values[-1] == 0.5 and values[123] == 1.23e-07
    assert domain.normalize(0.25) == 0.25 and domain.index(0.25) == 250_000_000
    with pytest.raises(ValueError, match="not one of"):
        domain.normalize(0.25 + 4e-10)
    rng = random.Random(0)
    drawn = [domain.sample(rng) for _ in range(5)]
    assert all(domain.contains(v) for v in drawn)
    assert domain.mutate(drawn[0], rng) != drawn[0]
    # A coarse step still lists (and compares) as before.
    assert RealRange(0.0, 0.4, step=0.1).values() == (0.0, 0.1, 0.2, 0.3, 0.4)
    assert IntRange(0, 10**12).values()[-1] == 10**12
    assert IntRange(0, 10**12).index(5 * 10**11) == 5 * 10**11


@pytest.mark.parametrize("searcher", ["random", "evolution", "mcts", "grid"])
def test_searchers_propose_from_a_huge_stepped_real(searcher):
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Dropout(Real(0, 0.5, step=1e-9, name="rate"))(x)
        Dense(Int(1, 10**9, name="units"))(x)
    ir = compile_space(space)
    s = make_searcher(searcher, ir, seed=0, direction="max")
    for k in range(6):
        values = s.ask()
        assert values is not None
        specialize(ir, values)
        s.tell(values, float(k))
    assert ir.count() == 500_000_001 * 10**9


def brute_count(ir) -> int:
    return sum(1 for _ in iter(GridSearch(ir).ask, None))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_dynamic_count_equals_enumeration(n):
    ir = compile_space(repeat_of_optional(n))
    assert ir.count() == brute_count(ir) == sum(3**t for t in range(1, n + 1))


@pytest.mark.parametrize("n", [40, 200])
def test_long_repeat_of_optional_is_counted_exactly(n):
    # Each step: skipped, or a Dense of 2 widths -> 3 ways; the repeat count picks 1..n steps.
    ir = compile_space(repeat_of_optional(n))
    assert ir.count() == sum(3**t for t in range(1, n + 1))


def test_a_thousand_way_module_choice_compiles_counts_and_samples():
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = ModuleChoice([Dense(Choice([i + 1, i + 2])) for i in range(1000)])(x)
        Dense(2)(x)
    ir = compile_space(space)
    assert len(ir.parameters) == 1001
    assert ir.count() == 2000
    specialize(ir, ir.sample(random.Random(1)))


def test_choice_of_ten_thousand_options_and_its_duplicate_check():
    assert len(Choice(list(range(10_000))).options) == 10_000
    with pytest.raises(SpaceDefinitionError, match="option 1.0 appears twice"):
        Choice([1, 2, 1.0])
    with pytest.raises(SpaceDefinitionError, match=r"option \(3, 3\) appears twice"):
        Choice([(3, 3), [3, 3]])
    with pytest.raises(SpaceDefinitionError, match="option 9999 appears twice"):
        Choice(list(range(10_000)) + [9999])
    # True and 1, "1" and 1, (1, True) and (1, 1) are different options.
    assert len(Choice([1, True, "1", (1, True), (1, 1), None, 0, False]).options) == 8


def test_compile_random_stops_when_the_space_is_smaller(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["compile", str(SPACE), "--random", "20000", "--out", "out"])
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert info.value.code in (0, None)
    written = sorted((tmp_path / "out").glob("*.py"))
    assert 0 < len(written) <= 36
    assert f"only {len(written)} distinct candidate(s)" in out
    assert "fewer than --random 20000" in out


def test_compile_random_gives_up_after_draws_without_a_new_candidate(
    tmp_path, capsys, monkeypatch
):
    # A million assignments, one architecture: the Dynamic ignores the parameter.
    path = tmp_path / "space.py"
    path.write_text(
        "from nascompiler.layers import Dense, Input\n"
        "from nascompiler.space import Dynamic, HyperSpace, Int\n"
        "def search_space():\n"
        "    space = HyperSpace()\n"
        "    with space.as_default():\n"
        "        x = Input(shape=(4,))\n"
        "        Dense(Dynamic(lambda u: 3, u=Int(1, 10**6)))(x)\n"
        "    return space\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("nascompiler.cli.compile.STALE_DRAWS", 50)
    with pytest.raises(SystemExit):
        main(["compile", str(path), "--random", "3", "--out", "out"])
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "the last 50 without a new one" in out, out
