import csv
import json

import pytest

from acoustemo.cli import main
from acoustemo.inference.evaluation import Generation, evaluate
from acoustemo.metrics import read_labels
from acoustemo.training import train

from conftest import make_corpus, tiny_train_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    corpus = make_corpus(root, sizes=(("train", 8), ("validation", 2), ("test", 5)))
    result = train(tiny_train_config(corpus, root / "run", "train.max_steps=2"), progress=False)
    return corpus, result.final


def test_evaluate_writes_files_that_the_score_command_reads(trained, tmp_path, capsys):
    corpus, final = trained
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(final), "--out", str(out), "--max-new-tokens", "12",
                 "--metrics", "exact,wheel", "--quiet"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["metric", "Avg", "Acc_s", "Rec_s"]
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    ids = [json.loads(line)["id"] for line in open(corpus["test"])]
    assert [r["name"] for r in rows] == ids and set(rows[0]) == {"name", "openset"}
    lines = [json.loads(line) for line in open(out / "predictions.jsonl")]
    assert [x["name"] for x in lines] == ids and all(isinstance(x["text"], str) for x in lines)
    assert read_labels(out / "predictions.csv") == {x["name"]: x["openset"] for x in lines}
    saved = json.loads((out / "scores.json").read_text())
    assert saved["num_samples"] == 5 and saved["config"]["train"]["test_manifest"] == str(corpus["test"])
    # the metrics command reads the same files and gets the same numbers
    assert main(["score", "--gold", str(out / "gold.csv"), "--pred", str(out / "predictions.csv"), "--metric",
                 "wheel", "--json"]) == 0
    wheel = json.loads(capsys.readouterr().out)
    assert wheel["M-avg"] == pytest.approx(saved["scores"]["wheel"]["M-avg"], abs=1e-3)


def test_scores_follow_the_predictions(trained, tmp_path):
    corpus, final = trained
    result = evaluate(final, out=tmp_path, metrics=["exact"], generation=Generation(max_new_tokens=8),
                      progress=False)
    gold = read_labels(tmp_path / "gold.csv", gold=True)
    pred = {p.id: p.emotions for p in result["predictions"]}
    hits = sum(len(set(pred[k]) & set(gold[k])) / len(set(pred[k])) for k in gold if pred[k])
    assert result["scores"]["exact"]["accuracy_s"] == pytest.approx(100 * hits / len(gold), abs=1e-6)


def test_sampling_is_seeded(trained, tmp_path):
    _, final = trained
    runs = [evaluate(final, out=tmp_path / str(i), metrics=["exact"], progress=False,
                     generation=Generation(max_new_tokens=8, do_sample=True, temperature=1.5, seed=s))
            for i, s in enumerate((3, 3, 4))]
    texts = [[p.text for p in r["predictions"]] for r in runs]
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_openset_cells_read_back_intact():
    from acoustemo.inference.evaluation import openset_cell
    from acoustemo.metrics import parse_labels

    labels = ["happy", "a, b", "it's", "x]y[", "calm"]
    assert parse_labels(openset_cell(labels)) == labels and parse_labels(openset_cell([])) == []
