"""Packaging: the wheel carries everything emission needs (templates/ included), so a plain,
non-editable install works from any folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.slow

PROJECT_FILES = ("pyproject.toml", "README.md", "nascompiler", "templates")

_EMIT_PROGRAM = textwrap.dedent("""
    import json, random, sys
    import nascompiler
    from nascompiler.codegen import emit, templates
    from nascompiler.ir import compile_space, specialize
    from nascompiler.spaces import dnn_search_space

    ir = compile_space(dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax"))
    graph = specialize(ir, ir.sample(random.Random(0)))
    json.dump({"file": nascompiler.__file__, "templates": templates.template_dir(), "id": graph.id,
               "source": emit(graph), "path": sys.path}, sys.stdout)
    """)


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=helpers.clean_env(),
        timeout=300,
        **kwargs,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_and_emits_outside_the_repository(tmp_path):
    # Build from a copy, so that the build's by-products never land in the repository.
    src = tmp_path / "src"
    src.mkdir()
    for name in PROJECT_FILES:
        origin = helpers.REPO / name
        if origin.is_dir():
            shutil.copytree(
                origin,
                src / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            shutil.copy2(origin, src / name)
    dist = tmp_path / "dist"
    _run(
        [
            helpers.PYTHON,
            "-m",
            "pip",
            "wheel",
            src,
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            dist,
        ],
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("nascompiler-*.whl")

    venv = tmp_path / "venv"
    _run([helpers.PYTHON, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [
            helpers.PYTHON,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "-q",
            wheel,
        ],
        cwd=tmp_path,
    )
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # The dependencies come from the test venv: a plain path line (its editable-install hook,
    # a .pth file there, is not activated by this).
    (site / "test-deps.pth").write_text(helpers.SITE_PACKAGES + "\n")
    assert (site / "nascompiler" / "templates" / "candidate.py.j2").is_file()
    assert not list(site.glob("__editable__*"))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = json.loads(_run([python, "-c", _EMIT_PROGRAM], cwd=elsewhere).stdout)
    assert Path(out["file"]).resolve().is_relative_to(venv.resolve())
    assert Path(out["templates"]).resolve().is_relative_to(venv.resolve())
    assert not any(str(helpers.REPO) == p for p in out["path"])
    assert out["source"].startswith(f'"""Candidate {out["id"]}.')
    assert f'CANDIDATE_ID = "{out["id"]}"' in out["source"]

    # The installed console script works too.
    (elsewhere / "space.py").write_text(textwrap.dedent("""
        from nascompiler.spaces import dnn_search_space


        def search_space():
            return dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax")
        """))
    result = _run(
        [
            venv / "bin" / "nascompile",
            "compile",
            "space.py",
            "--random",
            "1",
            "--out",
            "out",
        ],
        cwd=elsewhere,
    )
    assert "1 candidate module(s)" in result.stdout
    assert len(list((elsewhere / "out").glob("*.py"))) == 1
