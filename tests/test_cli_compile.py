"""``nascompile inspect`` and ``nascompile compile``: output, determinism, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

import helpers
from nascompiler.cli import main
from nascompiler.errors import AssignmentError
from nascompiler.ir import specialize
from nascompiler.ir.cost import candidate_cost
from nascompiler.spacefile import load_space_file

DNN_SPACE = textwrap.dedent("""
    from nascompiler.spaces import dnn_search_space


    def search_space():
        return dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax",
                                units_choices=[8, 16])
    """)

REAL_SPACE = textwrap.dedent("""
    from nascompiler.layers import Dense, Dropout, Input
    from nascompiler.space import HyperSpace, Real


    def search_space():
        space = HyperSpace()
        with space.as_default():
            x = Dense(4)(Input(shape=(3,)))
            Dropout(Real(0.0, 0.5))(x)
        return space
    """)

BROKEN_SPACE = textwrap.dedent("""
    from nascompiler.layers import Dense, Input
    from nascompiler.space import HyperSpace


    def search_space():
        space = HyperSpace()
        with space.as_default():
            Dense(unit=3)(Input(shape=(3,)))
        return space
    """)

TINY_SPACE = textwrap.dedent("""
    from nascompiler.layers import Dense, Input
    from nascompiler.space import Choice, HyperSpace


    def search_space():
        space = HyperSpace()
        with space.as_default():
            x = Dense(Choice([2, 4]), name="hidden")(Input(shape=(4,)))
            Dense(3, name="out")(x)
        return space
    """)

FULL_ASSIGNMENT = [
    "dense_1.units=16",
    "dense_1.reduce_factor=0.5",
    "optional_1.enabled=True",
    "activation_1.activation=tanh",
    "dropout_1.rate=0.2",
    "permutation_1.order=(2,0,1)",
    "repeat_1.times=3",
]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "dnn_space.py").write_text(DNN_SPACE)
    (tmp_path / "real_space.py").write_text(REAL_SPACE)
    (tmp_path / "tiny_space.py").write_text(TINY_SPACE)
    (tmp_path / "broken_space.py").write_text(BROKEN_SPACE)
    (tmp_path / "no_space.py").write_text("x = 1\n")
    (tmp_path / "crash_space.py").write_text("def search_space():\n    return 1 / 0\n")
    return tmp_path


def run(args, capsys) -> tuple[int, str, str]:
    """Call the CLI in-process; returns (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_prints_table_and_exact_count(workdir, capsys):
    code, out, err = run(["inspect", "dnn_space.py"], capsys)
    assert code == 0, err
    for name in (
        "dense_1.units",
        "dense_1.reduce_factor",
        "optional_1.enabled",
        "activation_1.activation",
        "dropout_1.rate",
        "permutation_1.order",
        "repeat_1.times",
    ):
        assert name in out
    assert "{8, 16}" in out and "Choice" in out and "always" in out
    assert "Distinct assignments: 2,592 (exact" in out  # 2 x 3 x 2 x 2 x 6 x 6 x 3


def test_inspect_says_infinite_for_a_continuous_real(workdir, capsys):
    code, out, _ = run(["inspect", "real_space.py"], capsys)
    assert code == 0
    assert "dropout_1.rate" in out and "[0.0, 0.5]" in out
    assert "infinite" in out and "dropout_1.rate is continuous" in out


def test_inspect_gives_exact_costs_of_a_small_space(workdir, capsys):
    # hidden.units u in {2, 4}: parameters 4u + u + 3u + 3, FLOPs 2*4u + 2*3u,
    # peak activations max(4 + u, u + 3) floats
    code, out, err = run(["inspect", "tiny_space.py", "--max-params", "20"], capsys)
    assert code == 0, err
    assert "Cost over all 2 assignments (exact)" in out
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
        for line in out.splitlines()
        if line.count("│") == 5
    }
    assert rows["parameters"] == ["19", "19", "35"]
    assert rows["FLOPs per sample (forward)"] == ["28", "28", "56"]
    assert rows["peak activation bytes per sample"] == ["24", "24", "32"]
    assert "Within budget (parameters <= 20): 1 of 2 assignments (50.0%)." in out


def test_inspect_estimates_costs_of_a_large_space_from_a_seeded_sample(workdir, capsys):
    args = ["inspect", "dnn_space.py", "--max-params", "0.5k", "--max-flops", "1k"]
    code, out, err = run(args + ["--sample", "50"], capsys)
    assert code == 0, err
    assert "Cost over 50 random assignments (seed 0; an estimate)" in out
    assert "Within budget (parameters <= 500 and FLOPs <= 1,000): " in out
    assert "sampled assignments, about" in out
    assert run(args + ["--sample", "50"], capsys)[1] == out  # the same sample again
    assert run(args + ["--sample", "50", "--seed", "3"], capsys)[1] != out


def test_compile_writes_an_index_of_costs(workdir, capsys):
    args = ["compile", "dnn_space.py", "--random", "3", "--seed", "1"]
    assert run(args + ["--out", "a"], capsys)[0] == 0
    assert run(args + ["--out", "b"], capsys)[0] == 0
    index = (workdir / "a" / "index.json").read_bytes()
    assert (workdir / "b" / "index.json").read_bytes() == index
    entries = json.loads(index)
    ir = load_space_file(workdir / "dnn_space.py").compile()
    assert [e["candidate_id"] for e in entries] == sorted(
        p.stem for p in (workdir / "a").glob("*.py")
    )
    for entry in entries:
        assert list(entry) == [
            "candidate_id",
            "file",
            "assignment",
            "params",
            "trainable_params",
            "flops",
            "activation_bytes",
        ]
        graph = specialize(ir, entry["assignment"])
        cost = candidate_cost(graph)
        assert graph.id == entry["candidate_id"] and entry["file"] == f"{graph.id}.py"
        assert (entry["params"], entry["flops"], entry["activation_bytes"]) == (
            cost.params,
            cost.flops,
            cost.activation_bytes,
        )
        assert list(entry["assignment"]) == list(dict(graph.assignment))
    # a later compile into the same folder adds its candidate to the index
    code, _, err = run(
        ["compile", "dnn_space.py", "--assign", *FULL_ASSIGNMENT, "--out", "a"],
        capsys,
    )
    assert code == 0, err
    again = json.loads((workdir / "a" / "index.json").read_text())
    assert len(again) == 4 and again == sorted(again, key=lambda e: e["candidate_id"])
    (workdir / "a" / "index.json").write_text("not json")
    code, _, err = run(args + ["--out", "a"], capsys)
    assert (
        code == 2
        and "index.json exists and was not written by nascompile compile" in err
    )


def test_compile_random_writes_files_deterministically(workdir, capsys):
    code, out, err = run(
        ["compile", "dnn_space.py", "--random", "3", "--seed", "1", "--out", "first"],
        capsys,
    )
    assert code == 0, err
    files = sorted((workdir / "first").glob("*.py"))
    assert len(files) == 3
    for f in files:
        assert f"wrote first/{f.name}" in out
    assert "3 candidate module(s) in first/" in out
    code, _, _ = run(
        ["compile", "dnn_space.py", "--random", "3", "--seed", "1", "--out", "second"],
        capsys,
    )
    assert code == 0
    again = sorted((workdir / "second").glob("*.py"))
    assert [f.name for f in again] == [f.name for f in files]
    assert [f.read_bytes() for f in again] == [f.read_bytes() for f in files]
    code, _, _ = run(
        ["compile", "dnn_space.py", "--random", "3", "--seed", "2", "--out", "third"],
        capsys,
    )
    assert sorted(f.name for f in (workdir / "third").glob("*.py")) != [
        f.name for f in files
    ]


def test_compile_assign_writes_the_chosen_candidate(workdir, capsys):
    code, out, err = run(
        ["compile", "dnn_space.py", "--assign", *FULL_ASSIGNMENT, "--out", "chosen"],
        capsys,
    )
    assert code == 0, err
    ir = load_space_file(workdir / "dnn_space.py").compile()
    graph = specialize(
        ir, helpers.dnn_assignment(16, 0.5, True, "tanh", 0.2, (2, 0, 1), 3)
    )
    path = workdir / "chosen" / f"{graph.id}.py"
    assert path.is_file() and f"wrote chosen/{graph.id}.py" in out
    source = path.read_text()
    assert helpers.module_constant(source, "HYPERPARAMETERS")[
        "permutation_1.order"
    ] == (2, 0, 1)
    assert (
        helpers.module_constant(source, "HYPERPARAMETERS")["activation_1.activation"]
        == "tanh"
    )
    # the repeated-flag spelling is the same candidate
    repeated = [arg for pair in FULL_ASSIGNMENT for arg in ("--assign", pair)]
    code, _, _ = run(["compile", "dnn_space.py", *repeated, "--out", "chosen2"], capsys)
    assert (
        code == 0
        and (workdir / "chosen2" / f"{graph.id}.py").read_bytes() == path.read_bytes()
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["compile", "missing.py", "--random", "1"], ["missing.py", "no such file"]),
        (["inspect", "missing.py"], ["missing.py", "no such file"]),
        (
            ["compile", "no_space.py", "--random", "1"],
            ["no_space.py", "search_space()"],
        ),
        (
            ["compile", "crash_space.py", "--random", "1"],
            ["crash_space.py:2", "ZeroDivisionError"],
        ),
        (["inspect", "broken_space.py"], ["broken_space.py:9", "did you mean 'units'"]),
        (
            [
                "compile",
                "dnn_space.py",
                "--assign",
                *FULL_ASSIGNMENT[:-1],
                "repeat_1.times=7",
            ],
            ["'repeat_1.times'", "{2, 3, 4}"],
        ),
        (
            ["compile", "dnn_space.py", "--assign", *FULL_ASSIGNMENT, "dense_1.unit=8"],
            ["unknown parameter 'dense_1.unit'", "did you mean 'dense_1.units'"],
        ),
        (
            ["compile", "dnn_space.py", "--assign", *FULL_ASSIGNMENT[1:]],
            ["missing a value", "'dense_1.units'"],
        ),
        (["compile", "dnn_space.py"], ["--random N or --assign"]),
        (["inspect", "dnn_space.py", "--max-params", "ten"], ["--max-params", "'ten'"]),
        (["inspect", "dnn_space.py", "--max-flops", "1.5"], ["--max-flops", "1.5"]),
    ],
)
def test_bad_input_is_one_error_line_exit_2(workdir, capsys, args, words):
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    for word in words:
        assert word in lines[0]
    assert not list(workdir.glob("generated/**/*.py"))


def test_debug_raises_instead_of_one_line(workdir, capsys):
    with pytest.raises(AssignmentError):
        main(
            [
                "--debug",
                "compile",
                "dnn_space.py",
                "--assign",
                *FULL_ASSIGNMENT,
                "bogus=1",
            ]
        )


@pytest.mark.slow
def test_console_script_errors_and_debug_traceback(workdir):
    """The installed ``nascompile`` script: exit 2 with one line; with --debug a traceback."""
    script = str(helpers.BIN / "nascompile")
    plain = subprocess.run(
        [script, "compile", "dnn_space.py", "--assign", "dense_1.units=7"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=helpers.clean_env(),
        timeout=120,
    )
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        "error: value for parameter 'dense_1.units' is out of its domain: 7 is not one of {8, 16}"
    ]
    debug = subprocess.run(
        [script, "--debug", "compile", "dnn_space.py", "--assign", "dense_1.units=7"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=helpers.clean_env(),
        timeout=120,
    )
    assert debug.returncode not in (0, 2)
    assert (
        "Traceback (most recent call last)" in debug.stderr
        and "AssignmentError" in debug.stderr
    )
