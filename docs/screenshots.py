"""The report screenshots in docs/: ``python docs/screenshots.py STUDIES_FOLDER`` from a folder
whose ``generated/`` holds the studies of README's examples (digits_quick: the main job;
digits_asha: ``--scheduler asha --min-epochs 1 --max-epochs 9 --max-trials 30``; digits_pareto:
``--searcher nsga2 --objective val_accuracy:max --objective params:min``). Each report is
written afresh and photographed in headless Chromium (tests/browser.py), a few sections a
picture, the sticky menu unstuck so that it covers nothing and the winner's module folded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

SHOTS = {  # study -> [(picture, sections from the first to the last)]
    "digits_quick": [
        ("report-digits_quick.png", ("header", "progress")),
        ("report-digits_quick-winner.png", ("winner", "winner")),
    ],
    "digits_asha": [
        ("report-asha.png", ("progress", "curves")),
        ("report-asha-parameters.png", ("importance", "importance")),
    ],
    "digits_pareto": [("report-pareto.png", ("header", "tradeoffs"))],
}


def main(folder: str) -> None:
    from browser import open_report

    from nascompiler.report import write_report

    os.chdir(folder)
    for study, pictures in SHOTS.items():
        path = write_report(Path("generated") / study)
        with open_report(path) as page:
            assert page.errors == [] and page.requests == [], (
                page.errors,
                page.requests,
            )
            page.add_style_tag(content="nav { position: static !important; }")
            # The winner's module is long: fold it, the diagram and the diff tell the story.
            page.evaluate(
                "() => { const d = document.getElementById('winner-code-box');"
                " if (d) d.open = false; }"
            )
            for picture, (first, last) in pictures:
                top = page.eval_on_selector(
                    first if first == "header" else f"#{first}",
                    "e => e.getBoundingClientRect().top + window.scrollY",
                )
                bottom = page.eval_on_selector(
                    f"#{last}", "e => e.getBoundingClientRect().bottom + window.scrollY"
                )
                page.screenshot(
                    path=str(HERE / picture),
                    full_page=True,
                    clip={"x": 0, "y": top, "width": 1400, "height": bottom - top + 8},
                )
                print(f"wrote docs/{picture}")


if __name__ == "__main__":
    main(sys.argv[1])
