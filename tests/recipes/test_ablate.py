import csv
import json

import pytest

from acoustemo.cli import main

from conftest import make_corpus

pytestmark = pytest.mark.usefixtures("one_thread")


NAMES = ["AcoustEmo (Full)", "w/o Global Acoustic Q-Former", "w/ fixed-length windows (2s)", "w/o Utterance-Aware A-QF"]
VARIANT_DIRS = ("full", "no_global", "fixed", "no_utterance")


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """One short ablation (4 variants, 2 seeds, stage 1 then the LLM stage, as the release recipe), run once:
    ``(args, out, table, printed)``."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("ablation")
    corpus = make_corpus(tmp / "corpus", sizes=(("train", 4), ("validation", 2), ("test", 2)))
    out = tmp / "ablation"
    args = ["ablate", "--config", "tiny", "--out", str(out), "--seeds", "0,1", "--metric", "exact",
            "--max-new-tokens", "4", "--quiet", "--primary", "emotion", f"--train.train_manifest={corpus['train']}",
            f"--train.validation_manifest={corpus['validation']}", f"--train.test_manifest={corpus['test']}",
            f"--train.cache_dir={corpus['cache']}", "--train.acoustic.epochs=1", "--train.acoustic.batch_size=4",
            "--train.max_steps=1"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return args, out, json.loads((out / "table.json").read_text()), printed.getvalue()


def test_an_ablation_prints_and_writes_the_table_of_its_variants(ablation):
    args, out, table, printed = ablation
    assert all(n in printed for n in NAMES) and "±" in printed
    assert [r["name"] for r in table["rows"]] == NAMES
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [r["variant"] for r in rows] == list(VARIANT_DIRS)
    assert (out / "table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_run_trained_the_configuration_and_seed_it_names(ablation):
    _, out, table, _ = ablation
    for r in table["rows"]:
        for run_dir, val in zip((out / r["variant"] / "seed-0", out / r["variant"] / "seed-1"), r["val loss"]["runs"]):
            log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
            assert val == log[-1]["val_loss"]
            assert f"seed: {run_dir.name[-1]}" in (run_dir / "final" / "config.yaml").read_text()
    assert "global_qformer: false" in (out / "no_global" / "seed-0" / "final" / "config.yaml").read_text()
    assert "windows: fixed" in (out / "fixed" / "seed-0" / "final" / "config.yaml").read_text()
    assert "utterance_qformer: false" in (out / "no_utterance" / "seed-0" / "final" / "config.yaml").read_text()
    full = table["rows"][0]["val loss"]["runs"]
    assert full[0] != full[1]  # different seeds, different runs


def test_the_collapse_and_primary_columns_come_from_each_runs_test_answers(ablation):
    _, out, table, _ = ablation
    assert table["columns"][:1] == ["primary"] and {"distinct", "val drift"} <= set(table["columns"])
    for r in table["rows"]:
        for run_dir, distinct, primary in zip((out / r["variant"] / "seed-0", out / r["variant"] / "seed-1"),
                                              r["distinct"]["runs"], r["primary"]["runs"]):
            answers = [json.loads(x) for x in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
            assert distinct == len({tuple(a["openset"]) for a in answers}) and 1 <= distinct <= 2
            assert primary in (0.0, 50.0, 100.0)  # 2 test samples


def test_a_second_start_reuses_finished_runs_but_refuses_other_settings(ablation, capsys):
    args, out, table, _ = ablation
    stamp = (out / "full" / "seed-0" / "final" / "trainable.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "full" / "seed-0" / "final" / "trainable.safetensors").stat().st_mtime_ns == stamp
    assert json.loads((out / "table.json").read_text())["rows"] == table["rows"]
    # runs finished with other settings would mix configurations in one table
    assert main(args[:-1] + ["--train.max_steps=2"]) == 2
    assert "done before with other settings (train.max_steps)" in capsys.readouterr().err


def test_records_keep_scores_answers_and_curves_without_weights(ablation, tmp_path):
    args, out, table, _ = ablation
    records = tmp_path / "records"
    assert main(args + ["--done-only", "--records", str(records)]) == 0
    kept = sorted(str(p.relative_to(records)) for p in records.rglob("*") if p.is_file())
    assert kept == sorted(["table.csv", "table.json", "table.png"] +
                          [f"{v}/seed-{s}/{f}" for v in VARIANT_DIRS for s in (0, 1)
                           for f in ("eval/scores.json", "eval/predictions.jsonl", "log.jsonl",
                                     "acoustic/history.json")])
    again = [records if a == str(out) else a for a in args]
    assert main([str(a) for a in again] + ["--done-only"]) == 0
    assert json.loads((records / "table.json").read_text())["rows"] == table["rows"]
    assert main(args + ["--records", str(out)]) == 2


def test_probe_ablation_trains_the_acoustic_branch_of_each_variant(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", sizes=(("train", 8), ("validation", 4), ("test", 4)))
    out = tmp_path / "probe"
    args = ["ablate", "--probe", "--config", "tiny", "--out", str(out), "--seeds", "0,1", "--quiet",
            "--model.use_visual=false", f"--train.train_manifest={corpus['train']}",
            f"--train.validation_manifest={corpus['validation']}", f"--train.test_manifest={corpus['test']}",
            f"--train.cache_dir={corpus['cache']}", "--train.acoustic.epochs=2", "--train.acoustic.batch_size=4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "acoustic branch under a label head" in printed and "test top-1" in printed
    table = json.loads((out / "table.json").read_text())
    assert table["columns"] == ["test top-1", "val top-1", "test loss", "val loss", "distinct", "val drift"]
    test_ids = [json.loads(line)["id"] for line in open(corpus["test"])]
    for r in table["rows"]:
        for seed, top1 in zip((0, 1), r["test top-1"]["runs"]):
            done = json.loads((out / r["variant"] / f"seed-{seed}" / "probe.json").read_text())
            assert done["scores"]["test top-1"] == top1 and 0.0 <= top1 <= 100.0
            # per-sample results: top-1 is the share of correct ones, distinct the number of top labels
            assert sorted(done["correct"]) == sorted(test_ids)
            assert top1 == pytest.approx(100 * sum(done["correct"].values()) / len(test_ids))
            assert done["scores"]["distinct"] == len(set(done["top"].values()))
            assert done["config"]["train"]["seed"] == seed
            weights = out / r["variant"] / f"seed-{seed}" / "acoustic" / "qformers.safetensors"
            kinds = {k.split(".")[1] for k in __import__("safetensors.torch", fromlist=["x"]).load_file(str(weights))}
            # each variant's stage 1 holds exactly the Q-Formers its overrides leave
            assert kinds == {"full": {"global", "utterance"}, "no_global": {"utterance"},
                             "fixed": {"global", "utterance"}, "no_utterance": {"global"}}[r["variant"]]
    # each variant against Full, column by column, from the same runs
    assert "vs full" not in table["rows"][0]
    for r in table["rows"][1:]:
        diff = r["vs full"]["test top-1"]["difference"]
        assert diff == pytest.approx(r["test top-1"]["mean"] - table["rows"][0]["test top-1"]["mean"])
        assert set(r["vs full"]) == set(table["columns"])
    assert "Difference from Full" in printed and printed.count("(p ") + printed.count("(p n/a)") >= 3
    fixed = json.loads((out / "fixed" / "seed-0" / "probe.json").read_text())["config"]["model"]
    assert (fixed["windows"], fixed["fixed_window_seconds"]) == ("fixed", 2.0)
    assert [r["variant"] for r in csv.DictReader(open(out / "table.csv"))] == ["full", "no_global", "fixed",
                                                                             "no_utterance"]
    assert (out / "table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 0  # a second start reuses every finished run
    changed = [a.replace("acoustic.epochs=2", "acoustic.epochs=3") for a in args]
    assert main(changed) == 2 and "done before with other settings (train.acoustic.epochs)" in capsys.readouterr().err

    # --breakdown: top-1 per group of test samples, from the runs already done
    groups = tmp_path / "groups.jsonl"
    groups.write_text("".join(json.dumps({"id": i, "design": "a" if n % 2 else "b"}) + "\n"
                              for n, i in enumerate(test_ids)))
    assert main(args + ["--breakdown", f"{groups}:design"]) == 0
    table = json.loads((out / "table.json").read_text())
    assert table["columns"][-2:] == ["test top-1 [design=a]", "test top-1 [design=b]"]
    for r in table["rows"]:
        done = json.loads((out / r["variant"] / "seed-0" / "probe.json").read_text())
        a = [done["correct"][i] for n, i in enumerate(test_ids) if n % 2]
        assert r["test top-1 [design=a]"]["runs"][0] == pytest.approx(100 * sum(a) / len(a))
    groups.write_text(json.dumps({"id": test_ids[0], "design": "a"}) + "\n")
    assert main(args + ["--breakdown", f"{groups}:design"]) == 2
    assert f"test sample {test_ids[1]!r} has no 'design'" in capsys.readouterr().err


def test_done_only_tables_the_finished_runs_and_trains_nothing(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus", sizes=(("train", 8), ("validation", 4), ("test", 4)))
    out = tmp_path / "probe"
    args = ["ablate", "--probe", "--config", "tiny", "--out", str(out), "--quiet", "--model.use_visual=false",
            f"--train.train_manifest={corpus['train']}", f"--train.validation_manifest={corpus['validation']}",
            f"--train.test_manifest={corpus['test']}", f"--train.cache_dir={corpus['cache']}",
            "--train.acoustic.epochs=1", "--train.acoustic.batch_size=4"]
    assert main(args + ["--done-only", "--variants", "full", "--seeds", "0"]) == 2  # nothing finished yet
    assert "no finished run" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--variants", "full", "--seeds", "0,1"]) == 0
    assert main(args + ["--variants", "no_utterance", "--seeds", "0"]) == 0
    capsys.readouterr()
    assert main(args + ["--done-only", "--variants", "full,no_utterance,fixed", "--seeds", "0,1"]) == 0
    captured = capsys.readouterr()
    table = json.loads((out / "table.json").read_text())
    assert table["seeds"] == [0, 1] and table["config"]["train"]["seed"] == 0
    assert [(r["variant"], r["seeds"]) for r in table["rows"]] == [("full", [0, 1]), ("no_utterance", [0])]
    full, no_utt = table["rows"]
    done = {(v, s): json.loads((out / v / f"seed-{s}" / "probe.json").read_text())["scores"]["test top-1"]
            for v, s in (("full", 0), ("full", 1), ("no_utterance", 0))}
    assert full["test top-1"]["runs"] == [done["full", 0], done["full", 1]]  # the finished runs' own numbers
    assert no_utt["test top-1"]["runs"] == [done["no_utterance", 0]]
    assert no_utt["test top-1"]["std"] != no_utt["test top-1"]["std"]  # one run: the spread is unknown (NaN)
    assert "w/o Utterance-Aware A-QF (seed 0)" in captured.out and "AcoustEmo (Full) " in captured.out
    assert "AcoustEmo (Full) (seed" not in captured.out  # all the table's seeds: no suffix
    assert all(f"{v}, seed {s}: not finished" in captured.err for v, s in
               (("no_utterance", 1), ("fixed", 0), ("fixed", 1)))
    assert [r["seeds"] for r in csv.DictReader(open(out / "table.csv"))] == ["0 1", "0"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["full", "no_utterance"]  # nothing trained
    assert [p.name for p in (out / "no_utterance").iterdir()] == ["seed-0"]
    # LLM runs are finished by their eval/scores.json, which no probe run has
    llm = [a for a in args if a != "--probe"] + ["--done-only", "--variants", "full", "--seeds", "0"]
    assert main(llm) == 2 and "full, seed 0: not finished" in capsys.readouterr().err
    assert not (out / "full" / "seed-0" / "eval").exists()
    # --records keeps each probe run's record and stage-1 curves; the table comes back from them alone
    records = tmp_path / "records"
    done_only = args + ["--done-only", "--variants", "full,no_utterance", "--seeds", "0,1"]
    assert main(done_only + ["--records", str(records)]) == 0
    kept = records / "full" / "seed-1" / "probe.json"
    assert kept.read_bytes() == (out / "full" / "seed-1" / "probe.json").read_bytes()
    assert (records / "no_utterance" / "seed-0" / "acoustic" / "history.json").is_file()
    assert not list(records.rglob("*.safetensors"))
    table = json.loads((out / "table.json").read_text())
    assert main([str(records) if a == str(out) else a for a in done_only]) == 0
    assert json.loads((records / "table.json").read_text())["rows"] == table["rows"]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("base", ["small", "configs/small-release.yaml", "paper"])
def test_variants_differ_from_full_only_in_the_overrides_of_table_2(base, tmp_path):
    from pathlib import Path

    from acoustemo.experiments.ablation import VARIANTS, variant_config

    base = str(Path(__file__).parents[2] / base) if base.endswith(".yaml") else base
    full = _flat(variant_config(base, [], "full", 0, tmp_path / "full").to_dict())
    for variant, (_, overrides) in VARIANTS.items():
        cfg = _flat(variant_config(base, [], variant, 0, tmp_path / "full").to_dict())
        changed = {k for k in full if full[k] != cfg[k]}
        # what the override sets, and nothing else (an override equal to the base's value changes nothing)
        assert changed <= {o.split("=")[0] for o in overrides}, variant
        for o in overrides:
            key, value = o.split("=")
            assert str(cfg[key]).lower() == value.lower() or float(cfg[key]) == float(value), (variant, key)
    seeds = _flat(variant_config(base, [], "full", 3, tmp_path / "s3").to_dict())
    assert {k for k in full if full[k] != seeds[k]} == {"train.seed", "train.output_dir"}


def test_primary_of_answers_refuses_gold_labels_outside_the_categories(tmp_path):
    from acoustemo.errors import ConfigError
    from acoustemo.experiments.ablation import primary_of_answers

    answers = [{"name": "a", "openset": ["furious"], "gold": ["angry"]},
               {"name": "b", "openset": ["sad"], "gold": ["calm", "relaxed"]}]
    assert primary_of_answers(answers, "emotion", tmp_path / "p.jsonl") == 50.0
    answers.append({"name": "c", "openset": ["sad"], "gold": ["wistful"]})
    with pytest.raises(ConfigError, match=r"p\.jsonl: --primary emotion: sample 'c'"):
        primary_of_answers(answers, "emotion", tmp_path / "p.jsonl")


def test_primary_is_for_llm_runs(capsys):
    assert main(["ablate", "--probe", "--primary", "emotion", "--config", "tiny", "--out", "x"]) == 2
    assert "--primary scores the LLM's answers" in capsys.readouterr().err


def test_a_finished_two_stage_run_is_reused(tmp_path, capsys):
    """With stage 1 (train.acoustic.epochs) the LLM stage records model.qformer_weights = its own stage 1: a
    second start must count that as the same settings, not refuse the run."""
    corpus = make_corpus(tmp_path / "corpus", sizes=(("train", 4), ("validation", 2), ("test", 2)))
    out = tmp_path / "ablation"
    args = ["ablate", "--config", "tiny", "--out", str(out), "--variants", "full", "--seeds", "0", "--metric",
            "exact", "--max-new-tokens", "4", "--quiet", f"--train.train_manifest={corpus['train']}",
            f"--train.validation_manifest={corpus['validation']}", f"--train.test_manifest={corpus['test']}",
            f"--train.cache_dir={corpus['cache']}", "--train.max_steps=1", "--train.acoustic.epochs=1",
            "--train.acoustic.batch_size=4"]
    assert main(args) == 0
    run = out / "full" / "seed-0"
    recorded = json.loads((run / "eval" / "scores.json").read_text())["config"]["model"]["qformer_weights"]
    assert recorded == str(run / "acoustic" / "qformers.safetensors")
    stamp = (run / "final" / "trainable.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0, capsys.readouterr().err
    assert (run / "final" / "trainable.safetensors").stat().st_mtime_ns == stamp
    assert main(args[:-2] + ["--train.acoustic.epochs=2", "--train.acoustic.batch_size=4"]) == 2
    assert "done before with other settings" in capsys.readouterr().err
