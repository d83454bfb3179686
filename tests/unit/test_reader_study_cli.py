"""`spinegui reader-study new|score` end to end: exit codes, the one-line errors, the printed table."""

from __future__ import annotations

import json

import pytest

from spinegui.cli.entry import main
from spinegui.core.reader_study import open_study, session
from test_reader_study import arrays, key_rows, make_real_root, make_samples


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rs-cli")
    return make_real_root(tmp, arrays(4, (96, 48), 20)), make_samples(tmp, arrays(4, (48, 48), 60), "png")


def new(inputs, out, *extra):
    real, syn = inputs
    return main(["reader-study", "new", "--real", str(real), "--synthetic", str(syn), "--out", str(out),
                 "--size", "64", *extra])


def test_new_answer_score(inputs, tmp_path, capsys):
    out = tmp_path / "study"
    assert new(inputs, out, "--classes", "Osteophytes,Vertebral collapse", "--seed", "5") == 0
    printed = capsys.readouterr().out
    assert "reader study of 8 items" in printed and str(out) in printed
    study = open_study(out)
    key = key_rows(study)
    for reader, right in (("rad1", True), ("rad2", False)):
        s = session(study, reader)
        while (item := s.next_item()) is not None:
            truth = key[item]["origin"]
            wrong = "real" if truth == "synthetic" else "synthetic"
            s.record(item, truth if right or item == study.items[0] else wrong, 4, 3.0)
    assert main(["reader-study", "score", str(out)]) == 0
    table = capsys.readouterr().out
    scores = json.loads((out / "scores.json").read_text())
    assert scores["readers"]["rad1"]["accuracy"] == 1.0 and scores["readers"]["rad2"]["accuracy"] == 1 / 8
    assert scores["readers"]["rad1"]["p_value"] == 1 / 256
    lines = {line.split()[0]: line.split() for line in table.splitlines() if line.startswith("rad")}
    assert lines["rad1"][1:3] == ["8", "1.000"] and lines["rad2"][1:3] == ["8", "0.125"]
    assert "Cohen's kappa" in table and f"wrote {out / 'scores.json'}" in table
    assert "most often judged wrongly" in table


def test_too_few_images_is_one_line_naming_the_folder(inputs, tmp_path, capsys):
    assert new(inputs, tmp_path / "s", "--n-real", "2", "--n-synthetic", "9") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"spinegui: error: {inputs[1]}: holds 4 synthetic images of the chosen classes; 9 asked for"
    assert not (tmp_path / "s").exists()


def test_bad_answers_exit_2_naming_file_and_line(inputs, tmp_path, capsys):
    out = tmp_path / "study"
    assert new(inputs, out) == 0
    bad = out / "answers" / "rad1.csv"
    bad.parent.mkdir()
    bad.write_text("item,answer,confidence,seconds\nitem-0001,synthetic,9,2\n")
    capsys.readouterr()
    assert main(["reader-study", "score", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"spinegui: error: {bad}: line 2: confidence '9'") and "\n" not in err
    assert not (out / "scores.json").exists()


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reader-study"])
    assert exc.value.code == 2 and "{new,score}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["reader-study", "new", "--real", "x", "--synthetic", "y", "--out", "z", "--size", "8"])
    assert exc.value.code == 2
    assert main(["reader-study", "score", str(tmp_path)]) == 2
    assert "not a reader study" in capsys.readouterr().err
