"""``--prescreen oneshot:K``: the proposals of each trial slot scored with the weight-sharing
supernet (trained once, in a worker, checkpointed every epoch), the best trained.

Fast tests: the settings it needs and refuses, and a space the supernet cannot express
stopping the search before any work. One slow test runs the search end to end, killed with
kill -9 while the supernet trains and resumed: the training goes on from its checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from helpers import (
    NASCOMPILE,
    assert_one_line_error,
    env,
    nascompile,
    run,
    space_file,
    workers_in,
)
from nascompiler.config.settings import Prescreen
from nascompiler.errors import UsageError
from nascompiler.search.resolve import parse_prescreen, resolve_search

DIGITS_DNN = """
    import numpy as np

    from nascompiler.datasets import load_digits
    from nascompiler.spaces import dnn_search_space


    def search_space():
        return dnn_search_space(
            input_shape=(64,),
            output_units=10,
            output_activation="softmax",
            units_choices=[16, 32],
            layer_num_choices=[1, 2],
        )


    def load_data():
        (x, y), (xv, yv) = load_digits()
        # Repeated so that a supernet epoch takes long enough to be interrupted.
        return (np.tile(x.reshape(-1, 64), (REPEAT, 1)), np.tile(y, REPEAT)), (
            xv.reshape(-1, 64),
            yv,
        )


    REPEAT = 12
    TRAINING = {"epochs": 4, "batch_size": 64}
"""


def test_oneshot_is_a_prescreen_score():
    assert parse_prescreen("oneshot:5", "--prescreen") == Prescreen("oneshot", 5)


def test_oneshot_needs_local_workers_and_a_validation_objective():
    with pytest.raises(UsageError, match="does not run on a cluster"):
        resolve_search(
            flags={"prescreen": "oneshot:3", "cluster": "tcp://127.0.0.1:8786"}
        )
    with pytest.raises(
        UsageError, match="one validation metric; the objective is loss"
    ):
        resolve_search(
            flags={"prescreen": "oneshot:3"}, file_training={"objective": "loss"}
        )
    with pytest.raises(UsageError, match="--supernet-epochs goes with --prescreen"):
        resolve_search(flags={"supernet_epochs": 5, "prescreen": "naswot:3"})
    with pytest.raises(UsageError, match="--supernet-epochs must be at least 1, got 0"):
        resolve_search(flags={"supernet_epochs": 0, "prescreen": "oneshot:3"})
    config = resolve_search(flags={"supernet_epochs": 5, "prescreen": "oneshot:3"})
    assert config.supernet_epochs == 5


def test_a_space_the_supernet_cannot_express_stops_the_search_first(tmp_path, capsys):
    path = space_file(
        tmp_path,
        """
        from nascompiler.datasets import load_digits
        from nascompiler.layers import Conv2D, Dense, Flatten, Input
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Conv2D(Choice([2, 4]), (3, 3))(Input(shape=(8, 8, 1)))
                Dense(10, activation="softmax")(Flatten()(x))
            return space

        def load_data():
            return load_digits()
        """,
    )
    os.chdir(tmp_path)
    code, _, err = run(
        capsys, "search", str(path), "--prescreen", "oneshot:3", "--max-trials", "2"
    )
    assert_one_line_error(
        code, err, "space.py:10: flatten_1 (Flatten)", "the supernet cannot express it"
    )
    assert not (tmp_path / "generated" / "space" / "supernet.py").exists()
    assert not workers_in(tmp_path)


@pytest.mark.slow
def test_a_oneshot_search_killed_while_its_supernet_trains_resumes_it(tmp_path):
    path = space_file(tmp_path, DIGITS_DNN, "digits_dnn.py")
    study = tmp_path / "generated" / "digits_dnn"
    args = ["search", str(path), "--max-trials", "2", "--seed", "3"]
    process = subprocess.Popen(
        [NASCOMPILE, *args, "--prescreen", "oneshot:3", "--supernet-epochs", "3"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    progress = study / "supernet.progress.json"
    deadline = time.monotonic() + 180
    while not (progress.exists() and json.loads(progress.read_text())["epochs"] >= 1):
        assert time.monotonic() < deadline, "the supernet never finished an epoch"
        assert process.poll() is None, "the search ended before it could be killed"
        time.sleep(0.05)
    assert not (study / "supernet.weights.npz").exists(), "killed too late"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 15
    while workers_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)

    # The study keeps oneshot:3 and --supernet-epochs 3 (not its 4 epochs); another value
    # is refused.
    refused = nascompile(*args, "--supernet-epochs", "5", cwd=tmp_path, timeout=300)
    assert refused.returncode == 2
    assert "supernet_epochs=3, not 5" in refused.stderr
    resumed = nascompile(*args, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    log = "".join(p.read_text() for p in sorted((study / "logs").glob("worker-*.log")))
    assert "supernet: training epochs 1-3\n" in log
    assert "(resumed from its checkpoint after epoch" in log
    assert log.count("supernet: trained, its weights in") == 1
    assert "screened out untrained by oneshot" in resumed.stdout

    listing = nascompile("trials", "--study", str(study), "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    by_number = {r["number"]: r for r in rows}
    trained = [r for r in rows if r["status"] == "complete"]
    screened = [r for r in rows if r["status"] == "screened"]
    assert len(trained) == 2 and len(screened) >= 2
    for row in trained + screened:
        assert isinstance(row["oneshot_score"], float), row
        assert row["oneshot_score"] == row["proxies"]["oneshot"]
        assert 0.0 <= row["oneshot_score"] <= 1.0  # val_accuracy with the shared weights
    # Each screened candidate lost to the one its slot trained, by one-shot score.
    for row in screened:
        winner = by_number[int(re.search(r"trial #(\d+) of its slot", row["error"])[1])]
        assert winner["status"] == "complete"
        assert winner["proxies"]["oneshot"] >= row["proxies"]["oneshot"]
    # The report sets each trained candidate's one-shot score against its trained score.
    report = (study / "report.html").read_text()
    section = report[report.index('<section id="oneshot">') :]
    section = section[: section.index("</section>")]
    assert (
        f"{len(trained) + len(screened)} candidate(s) scored with the supernet's shared "
        f"weights (<code>--prescreen oneshot</code>): {len(trained)} trained, "
        f"{len(screened)} screened out untrained." in section
    )
    assert '<div class="plot" id="oneshot-scores"></div>' in section
    assert '<a href="#oneshot">One-shot</a>' in report
