"""Shared helpers of the compiler-core tests.

- small versions of the seed's three spaces (CI must stay fast);
- the seed's printed ENAS trial, mapped onto nascompiler's parameter names;
- loading a Python file by path (space files and fixtures);
- building emitted modules in a *fresh* interpreter where nascompiler cannot be imported,
  which is how a user's production code sees them.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: quiet TensorFlow, nothing inherited on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHASHSEED", "PYTHONSTARTUP")
    }
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        CUDA_VISIBLE_DEVICES="",
        KERAS_BACKEND="tensorflow",
    )
    env.update(extra)
    return env


def load_file(path: Path | str, name: str | None = None) -> ModuleType:
    """Import the Python file at ``path`` as a fresh module (not left in ``sys.modules``)."""
    path = Path(path)
    name = name or f"_nascompiler_test_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixture(name: str) -> ModuleType:
    return load_file(FIXTURES / f"{name}.py")


# ----------------------------------------------------------------------------- small spaces


def small_dnn():
    from nascompiler.spaces import dnn_search_space

    return dnn_search_space(
        input_shape=(10,),
        output_units=2,
        output_activation="softmax",
        units_choices=[8, 16],
    )


def small_cnn():
    from nascompiler.spaces import cnn_search_space

    return cnn_search_space(
        input_shape=(16, 16, 1),
        output_units=3,
        block_num_choices=[2, 3],
        filters_choices=[4, 8],
        kernel_size_choices=[(1, 1), (3, 3)],
    )


def small_enas(arch: str = "NR"):
    from nascompiler.spaces import enas_micro_search_space

    return enas_micro_search_space(arch=arch, input_shape=(16, 16, 1), init_filters=8)


def dnn_assignment(
    units, reduce_factor, enabled, activation, rate, order, times
) -> dict:
    return {
        "dense_1.units": units,
        "dense_1.reduce_factor": reduce_factor,
        "optional_1.enabled": enabled,
        "activation_1.activation": activation,
        "dropout_1.rate": rate,
        "permutation_1.order": order,
        "repeat_1.times": times,
    }


def enas_assignment(normal, reduction) -> dict:
    """``normal`` / ``reduction``: per node ``((left input, right input), (left op, right op))``."""
    values = {}
    for cell, nodes in (("normal", normal), ("reduction", reduction)):
        for n, ((left_in, right_in), (left_op, right_op)) in enumerate(nodes):
            values[f"{cell}_N{n}_L_input_choice"] = [left_in]
            values[f"{cell}_N{n}_R_input_choice"] = [right_in]
            values[f"{cell}_N{n}_L_op_choice"] = left_op
            values[f"{cell}_N{n}_R_op_choice"] = right_op
    return values


# The seed's "Trial No:1" of enas_micro_search_space(arch='NR'), as Hypernets printed it.
SEED_TRIAL_TEXT = """\
(0) Module_InputChoice_1.hp_choice:                       [0]
(1) Module_InputChoice_2.hp_choice:                       [0]
(2) Module_ModuleChoice_1.hp_or:                                      1
(3) Module_ModuleChoice_2.hp_or:                                      1
(4) Module_InputChoice_3.hp_choice:                       [1]
(5) Module_InputChoice_4.hp_choice:                       [2]
(6) Module_ModuleChoice_3.hp_or:                                      1
(7) Module_ModuleChoice_4.hp_or:                                      3
(8) Module_InputChoice_5.hp_choice:                       [1]
(9) Module_InputChoice_6.hp_choice:                       [2]
(10) Module_ModuleChoice_5.hp_or:                                     1
(11) Module_ModuleChoice_6.hp_or:                                     2
(12) Module_InputChoice_7.hp_choice:                      [1]
(13) Module_InputChoice_8.hp_choice:                      [0]
(14) Module_ModuleChoice_7.hp_or:                                     3
(15) Module_ModuleChoice_8.hp_or:                                     1
(16) Module_InputChoice_10.hp_choice:                     [1]
(17) Module_InputChoice_9.hp_choice:                      [0]
(18) Module_ModuleChoice_10.hp_or:                                    0
(19) Module_ModuleChoice_9.hp_or:                                     4
(20) Module_InputChoice_11.hp_choice:                     [2]
(21) Module_InputChoice_12.hp_choice:                     [0]
(22) Module_ModuleChoice_11.hp_or:                                    1
(23) Module_ModuleChoice_12.hp_or:                                    4
(24) Module_InputChoice_13.hp_choice:                     [2]
(25) Module_InputChoice_14.hp_choice:                     [3]
(26) Module_ModuleChoice_13.hp_or:                                    1
(27) Module_ModuleChoice_14.hp_or:                                    3
(28) Module_InputChoice_15.hp_choice:                     [2]
(29) Module_InputChoice_16.hp_choice:                     [1]
(30) Module_ModuleChoice_15.hp_or:                                    3
(31) Module_ModuleChoice_16.hp_or:                                    0
"""

# The same trial by hand, in nascompiler's names (Hypernets lists InputChoice_10 before _9).
SEED_TRIAL_NORMAL = [
    ((0, 0), (1, 1)),
    ((1, 2), (1, 3)),
    ((1, 2), (1, 2)),
    ((1, 0), (3, 1)),
]
SEED_TRIAL_REDUCTION = [
    ((0, 1), (4, 0)),
    ((2, 0), (1, 4)),
    ((2, 3), (1, 3)),
    ((2, 1), (3, 0)),
]
SEED_TRIAL_PARAMS = 271_818
SEED_TRIAL_TRAINABLE = 267_466
SEED_TRIAL_NON_TRAINABLE = 4_352


def seed_trial_assignment() -> dict:
    return enas_assignment(SEED_TRIAL_NORMAL, SEED_TRIAL_REDUCTION)


# ----------------------------------------------------------------------------- waiting


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    check: Callable[[], None] = lambda: None,
    interval: float = 0.05,
) -> Any:
    """Poll ``predicate`` until it returns something true, and return that; fail naming
    ``what`` after ``timeout`` seconds. ``check`` runs before each poll (e.g. to assert that
    a process is still alive). Tests wait for a condition, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        check()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """The CPU time (user + system, seconds) each live process of ``pids`` has used."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[
            2
        ].split()  # after "pid (name)": state is fields[0]
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return found


def wait_for_cpu(
    pids: Callable[[], Iterable[int]],
    seconds: float,
    timeout: float,
    what: str,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Wait until the processes ``pids()`` (asked anew at each poll, as workers come and go)
    have used ``seconds`` of CPU time more than when this was called: "well into a trial",
    measured by the work done rather than guessed from the clock, so a busy machine waits
    longer instead of acting too early."""
    start = cpu_seconds(pids())

    def progressed() -> bool:
        now = cpu_seconds(pids())
        return sum(t - start.get(pid, 0.0) for pid, t in now.items()) >= seconds

    wait_until(progressed, timeout, what, check)


# ----------------------------------------------------------------------------- generated modules


def top_level_imports(source: str) -> list[str]:
    """Every import statement of a module, as ``import x`` / ``from x import y`` text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                for a in node.names
            ]
        elif isinstance(node, ast.ImportFrom):
            found += [f"from {node.module} import {a.name}" for a in node.names]
    return found


def module_constant(source: str, name: str):
    """The literal value assigned to ``name`` at the top of a module (read from the AST)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def black_check_cli(paths: list[Path], tmp: Path) -> subprocess.CompletedProcess:
    """``black --check`` (the real command line, default settings) on files or folders."""
    return subprocess.run(
        [str(BIN / "black"), "--check", "--quiet", *map(str, paths)],
        capture_output=True,
        text=True,
        env=clean_env(BLACK_CACHE_DIR=str(tmp / ".black-cache")),
        cwd=tmp,
    )


# The program run by FreshBuilder. It runs under ``python -I -S``: no site processing, so the
# editable install of nascompiler in the venv is not active, and only the venv's site-packages
# folder is put on the path (for keras and TensorFlow). It reads one JSON request per line on
# stdin ({"key", "path", "run_main"}), builds each module as it arrives, and at the end of its
# input writes the report as JSON.
_BUILD_PROGRAM = textwrap.dedent(r"""
    import contextlib, importlib.util, io, json, runpy, sys, traceback

    out_path, site_packages = sys.argv[1:3]
    sys.path.append(site_packages)
    try:
        import nascompiler  # noqa: F401
    except ImportError:
        importable = False
    else:
        importable = True

    import keras
    import numpy as np

    CONFIG_KEYS = ("units", "activation", "rate", "filters", "kernel_size", "strides", "padding", "pool_size")

    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)

    def describe(layer):
        return {
            "name": layer.name,
            "class": type(layer).__name__,
            "shape": plain(list(layer.output.shape)[1:]),
            "inputs": [] if type(layer).__name__ == "InputLayer"
            else [t._keras_history[0].name for t in keras.tree.flatten(layer.input)],
            "config": {k: plain(v) for k, v in layer.get_config().items() if k in CONFIG_KEYS},
        }

    report = {"nascompiler_importable": importable, "modules": {}}
    for n, line in enumerate(sys.stdin):
        request = json.loads(line)
        result = {}
        try:
            spec = importlib.util.spec_from_file_location(f"candidate_{n}", request["path"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.build_model()
            result.update(
                candidate_id=module.CANDIDATE_ID,
                model_name=model.name,
                count_params=int(model.count_params()),
                trainable=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                non_trainable=int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
                layers=[describe(layer) for layer in model.layers],
                nascompiler_loaded=sorted(m for m in sys.modules if m.split(".")[0] == "nascompiler"),
            )
            if request.get("run_main"):
                with contextlib.redirect_stdout(io.StringIO()) as printed:
                    runpy.run_path(request["path"], run_name="__main__")
                result["main_output"] = printed.getvalue()
        except Exception:
            result["error"] = traceback.format_exc()
        if n % 40 == 39:
            keras.backend.clear_session()  # costs ~0.15 s: only now and then, to bound memory
        report["modules"][request["key"]] = result
    json.dump(report, open(out_path, "w"))
    """)


class FreshBuilder:
    """A fresh interpreter that cannot import nascompiler, building emitted modules as they are
    submitted (so that TensorFlow's import and the builds overlap the caller's own work).

    ``finish()`` returns ``{"nascompiler_importable": bool, "modules": {key: report}}``; a report
    holds the model's layers (name, class, output shape, producers, main config), parameter
    counts, or ``"error"`` (a traceback) if the module failed to import or build.
    """

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        program = workdir / "build_candidates.py"
        program.write_text(_BUILD_PROGRAM)
        self.out = workdir / "report.json"
        self.log = open(workdir / "build.log", "w")
        self.proc = subprocess.Popen(
            [PYTHON, "-I", "-S", str(program), str(self.out), SITE_PACKAGES],
            cwd=workdir,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def submit(self, key: str, path: Path, run_main: bool = False) -> None:
        self.proc.stdin.write(
            json.dumps({"key": key, "path": str(path), "run_main": run_main}) + "\n"
        )
        self.proc.stdin.flush()

    def finish(self, timeout: float = 600) -> dict:
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()
        log = (self.workdir / "build.log").read_text()
        assert code == 0, f"build interpreter failed ({code}):\n{log[-5000:]}"
        return json.loads(self.out.read_text())


def build_in_fresh_interpreter(
    modules: dict[str, Path], workdir: Path, *, run_main: set[str] = frozenset()
) -> dict:
    """Build every module of ``modules`` (key -> file) in one fresh interpreter; see FreshBuilder."""
    builder = FreshBuilder(workdir)
    for key, path in modules.items():
        builder.submit(key, path, key in run_main)
    return builder.finish()


def layers_by_name(report: dict) -> dict[str, dict]:
    return {layer["name"]: layer for layer in report["layers"]}


# ----------------------------------------------------------------------------- fixed candidates

# Layer names Keras 3 accepts (anything but '/' and '') that must stay data in generated code.
HOSTILE_LAYER_NAMES = [
    'double"quote',
    "single'quote",
    "back\\slash",
    "new\nline",
    "tab\tand\rreturn",
    '"); import os; os.system("touch canary_name") #',
    "'); open('canary_two', 'w') #",
    '"""triple',
    "'''triple",
    "π-层",
    "x",
    "inputs",
    "outputs",
    "keras",
    "layers",
    "build_model",
    "__import__('os').system('touch canary_three')",
]


def hostile_option_strings(canary: Path) -> list[str]:
    """String options that look like code; ``canary`` is a file that must never appear."""
    return [
        f'"); import os; os.system("touch {canary}")',
        f"'); import os; os.system('touch {canary}')",
        '"""',
        "a\\b\n",
        "π-层",
        f"\n__import__('os').system('touch {canary}')\n",
    ]


def hostile_space(canary: Path):
    """A chain of Dense layers with hostile names (some with a Choice, so their names reach the
    parameter table), then an Activation whose Choice offers hostile strings."""
    from nascompiler.layers import Activation, Dense, Input
    from nascompiler.space import Choice, HyperSpace

    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(3,), name='in"put\n')
        for i, name in enumerate(HOSTILE_LAYER_NAMES):
            units = Choice([2, 3]) if i % 2 == 0 else 2
            x = Dense(units, name=name)(x)
        Activation(Choice(["relu"] + hostile_option_strings(canary)), name="act")(x)
    return space


DNN_CASES = {
    # key: (units, reduce_factor, enabled, activation, rate, order, times)
    "dnn_bn_act_first": (16, 0.8, True, "relu", 0.1, (0, 1, 2), 4),
    "dnn_no_bn": (8, 0.5, False, "tanh", 0.2, (2, 0, 1), 2),
    "dnn_bn_last": (16, 0.5, True, "tanh", 0.0, (2, 0, 1), 3),
    "dnn_bn_first": (8, 1, True, "relu", 0.5, (1, 2, 0), 2),
}

CNN_CASES = {
    "cnn_two_blocks": {
        "optional_1.enabled": True,
        "module_choice_1.choice": 0,
        "conv2d_1.filters": 4,
        "conv2d_1.kernel_size": (3, 3),
        "fc1.units": 1024,
        "permutation_1.order": (0, 1),
        "repeat_1.times": 2,
    },
    "cnn_three_blocks": {
        "optional_1.enabled": False,
        "module_choice_1.choice": 1,
        "conv2d_1.filters": 8,
        "conv2d_1.kernel_size": (1, 1),
        "fc1.units": 1024,
        "permutation_1.order": (1, 0),
        "repeat_1.times": 3,
        "repeat_4.times": 4,
    },
    "cnn_three_blocks_bn_after_act": {
        "optional_1.enabled": True,
        "module_choice_1.choice": 0,
        "conv2d_1.filters": 4,
        "conv2d_1.kernel_size": (1, 1),
        "fc1.units": 1024,
        "permutation_1.order": (1, 0),
        "repeat_1.times": 3,
        "repeat_4.times": 3,
    },
}

# A small ENAS candidate whose cells both end with two or more loose ends (so both concatenate).
ENAS_SMALL_NORMAL = [
    ((0, 1), (1, 2)),
    ((0, 2), (4, 3)),
    ((1, 1), (0, 4)),
    ((2, 2), (1, 1)),
]
ENAS_SMALL_REDUCTION = [
    ((1, 0), (3, 1)),
    ((0, 1), (2, 0)),
    ((2, 3), (1, 4)),
    ((2, 2), (0, 2)),
]


def fixed_candidates(canary: Path) -> dict[str, tuple[Any, dict]]:
    """key -> (compiled space, assignment) of every candidate the session builds once."""
    import random

    from nascompiler.ir import compile_space
    from nascompiler.spaces import enas_micro_search_space

    dnn = compile_space(small_dnn())
    cnn = compile_space(small_cnn())
    cases: dict[str, tuple[Any, dict]] = {}
    for key, values in DNN_CASES.items():
        cases[key] = (dnn, dnn_assignment(*values))
    for key, values in CNN_CASES.items():
        cases[key] = (cnn, values)
    cases["enas_small"] = (
        compile_space(small_enas("NR")),
        enas_assignment(ENAS_SMALL_NORMAL, ENAS_SMALL_REDUCTION),
    )
    nrnr = compile_space(small_enas("NRNR"))
    cases["enas_nrnr"] = (nrnr, nrnr.sample(random.Random(4)))
    cases["enas_seed_trial"] = (
        compile_space(enas_micro_search_space(arch="NR")),
        seed_trial_assignment(),
    )
    hostile = compile_space(hostile_space(canary))
    base = {p.name: p.domain.values()[0] for p in hostile.parameters}
    cases["hostile_names"] = (hostile, dict(base, **{"act.activation": "relu"}))
    for i, option in enumerate(hostile_option_strings(canary)):
        cases[f"hostile_option_{i}"] = (
            hostile,
            dict(base, **{"act.activation": option}),
        )
    return cases


# ----------------------------------------------------------------------------- search tests
# Shared by the search, export, Pareto, budget and searcher tests (a test module never imports
# another test module).

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"


NASCOMPILE = str(Path(sys.executable).parent / "nascompile")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    e.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", COLUMNS="160")
    e.update(extra)
    return e


def nascompile(
    *args: str, cwd: Path, timeout: float = 300, **extra_env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NASCOMPILE, *args],
        cwd=cwd,
        env=env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trials(study: Path) -> list[dict]:
    with sqlite3.connect(study / "study.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM trials ORDER BY number")]


def trained(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] in ("complete", "failed")]


def wait_for_running_trial(
    db_path: Path, process: subprocess.Popen, after_complete: int, timeout: float = 240
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=1) as db:
                    done = db.execute(
                        "SELECT COUNT(*) FROM trials WHERE status='complete'"
                    ).fetchone()[0]
                    running = db.execute(
                        "SELECT COUNT(*) FROM trials WHERE status='running'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                done = running = 0
            if done >= after_complete and running:
                return
        time.sleep(0.05)
    raise AssertionError("no trial was running in time")


def workers_in(cwd: Path) -> list[int]:
    """Worker processes started from ``cwd`` (other searches may run on the machine)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"nascompiler.run.worker" in cmdline and os.readlink(
                proc / "cwd"
            ) == str(cwd):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``nascompile ARGS`` in this process: its exit code, stdout and stderr."""
    from nascompiler.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def space_file(tmp_path: Path, body: str, name: str = "space.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


DIGITS_SPACE = """
    from nascompiler.datasets import load_digits
    from nascompiler.layers import Dense, Flatten, Input
    from nascompiler.space import Choice, HyperSpace

    def search_space():
        space = HyperSpace()
        with space.as_default():
            x = Flatten()(Input(shape={shape}))
            Dense({units}, activation=Choice(["softmax", "sigmoid"]))(x)
        return space

    def load_data():
        (x, y), (xv, yv) = load_digits()
        return {data}

    TRAINING = {training}
"""


def digits_space(
    tmp_path: Path,
    shape="(8, 8, 1)",
    units=10,
    data="(x, y), (xv, yv)",
    training="{'epochs': 1}",
):
    return space_file(
        tmp_path,
        DIGITS_SPACE.format(shape=shape, units=units, data=data, training=training),
    )


def copy_study(study: Path, tmp_path: Path) -> Path:
    target = tmp_path / "generated" / "digits_tiny"
    shutil.copytree(study, target)
    return target


def fresh_python(
    program: str, cwd: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    """Run ``program`` in a fresh interpreter that sees keras, numpy, pytest (the venv's
    site-packages) but not the editable nascompiler."""
    prelude = (
        f"import sys; sys.path.append({SITE_PACKAGES!r})\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('nascompiler') is None\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(program), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dense_space(*units_choices):
    """Input, then one Dense per list of unit choices: parameters d0.units, d1.units, ..."""
    from nascompiler.ir import compile_space
    from nascompiler.layers import Dense, Input
    from nascompiler.space import Choice, HyperSpace

    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        for i, choices in enumerate(units_choices):
            x = Dense(units=Choice(choices), name=f"d{i}")(x)
    return compile_space(space)


def objective(space, assignment):
    """Higher for values later in each active parameter's domain: a smooth landscape whose
    optimum (and, for direction='min', pessimum) a learner should find faster than chance.
    """
    total = 0.0
    for p in space.parameters:
        if p.name not in assignment:
            continue
        if p.domain.size is None:  # a continuous Real
            total += (assignment[p.name] - p.domain.low) / (
                p.domain.high - p.domain.low
            )
        else:
            total += p.domain.index(assignment[p.name]) / max(1, p.domain.size - 1)
    return total


def failing_objective(space, assignment):
    """Like :func:`objective`, but about one trial in six fails."""
    value = objective(space, assignment)
    return None if round(value * 10) % 6 == 0 else value


def drive(searcher, space, steps, *, workers=1, fn=objective, log=None):
    """Run ``steps`` asks with up to ``workers`` trials outstanding; with several workers
    results come back out of order (the second oldest finishes first). Returns the proposals;
    records every call in ``log`` as ("ask", assignment) or ("tell", assignment, objective).
    """
    log = [] if log is None else log
    outstanding, proposals = [], []
    while len(proposals) < steps or outstanding:
        if len(proposals) < steps and len(outstanding) < workers:
            a = searcher.ask()
            if a is None:
                break
            log.append(("ask", a))
            proposals.append(a)
            outstanding.append(a)
        else:
            a = outstanding.pop(1 if len(outstanding) > 1 else 0)
            y = fn(space, a)
            log.append(("tell", a, y))
            searcher.tell(a, y)
    return proposals


def replay(searcher, log):
    """Feed a recorded run into a fresh searcher as the study does when it resumes."""
    for event in log:
        if event[0] == "ask":
            assert (
                searcher.ask() == event[1]
            ), "the replayed searcher proposed something else"
        else:
            searcher.tell(event[1], event[2])


def active_names(space, assignment):
    return {p.name for p in space.active_parameters(assignment)}


def add_trial(store, number: int, candidate_id: str, assignment, **result):
    """A hand-made trial in ``store`` (nothing trained); with ``result``, finished."""
    store.start_trial(number, candidate_id, assignment, seed=number, asked_after=0)
    if result:
        if result.get("status") == "complete":
            metrics = result.get("metrics") or {}
            result.setdefault("epochs", max(map(len, metrics.values()), default=0))
        store.finish_trial(number, tell=(None, result.get("objective")), **result)


def check_rung_histories(rows: list[dict]) -> None:
    """Every trial's learning curve is continuous and no rung was recorded twice."""
    for r in rows:
        if r["status"] == "duplicate" or not r["candidate_id"]:
            continue
        rungs = json.loads(r["rungs"])
        assert [e["rung"] for e in rungs] == sorted({e["rung"] for e in rungs}), r
        if r["status"] == "complete":
            metrics = json.loads(r["metrics"])
            assert len(metrics["val_accuracy"]) == r["epochs"], r
            assert rungs[-1]["epochs"] == r["epochs"]
            # Scores are the best epoch so far (--score best, the default): at each rung,
            # the best of the curve up to it, and the epoch it came from.
            assert r["objective"] == max(metrics["val_accuracy"])
            for entry in rungs:
                reached = metrics["val_accuracy"][: entry["epochs"]]
                assert entry["objective"] == max(reached)
                assert entry["epoch"] == reached.index(max(reached)) + 1
