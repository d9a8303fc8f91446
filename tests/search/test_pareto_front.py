"""tinynets.search.pareto, quick (no training): the front written at a search's root from a study
whose trials are made by hand, where a dominated trial, a tie and the direction of each objective
each change the answer. What pareto.csv, pareto.md and front/ hold is checked against the trials
that no other trial dominates, found here by brute force."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from tinynets.files import read_csv
from tinynets.search.pareto import write_pareto

FRONTIER = {"best_val_acc": "maximize", "params": "minimize"}  # hparams_search=frontier's objectives
# (best_val_acc, params) of trials 0..9
TRIALS = [
    (99.20, 4000.0),  # 0 dominated by 2 (more accurate and smaller)
    (99.00, 5000.0),  # 1 dominated by 0 and by 2
    (99.30, 3000.0),  # 2 on the front, dominates 0
    (99.30, 3000.0),  # 3 the same values as 2: neither dominates the other, both on the front
    (99.30, 3500.0),  # 4 as accurate as 2 but larger: dominated
    (98.90, 1200.0),  # 5 as small as 6, less accurate: dominated
    (99.10, 1200.0),  # 6 on the front: the smallest
    (99.45, 9000.0),  # 7 as accurate as 8, larger: dominated
    (99.45, 8000.0),  # 8 on the front: the most accurate
    (97.00, 15000.0),  # 9 dominated by every other trial
]


def study_of(trials, objectives, failed: int = 0):
    """An in-memory study with the sweeper's directions (the objectives' values, in their order) and
    `trials` as complete trials (values in the objectives' order), then `failed` failed ones."""
    study = optuna.create_study(directions=list(objectives.values()))
    for i, (acc, params) in enumerate(trials):
        values = {"best_val_acc": acc, "params": params}
        study.add_trial(create_trial(
            values=[values[k] for k in objectives], params={"model.net.c2": 4 + i},
            distributions={"model.net.c2": IntDistribution(1, 64)},
            user_attrs={"model": {"net": {"c2": 4 + i}}, "job_dir": f"sweep/{i}"}))
    for _ in range(failed):
        study.add_trial(create_trial(state=TrialState.FAIL))
    return study


def brute_force_front(trials, objectives) -> list[int]:
    """The trials no other trial dominates (at least as good in every objective, better in one),
    smallest first, ties by trial number."""
    sign = {k: 1 if d == "maximize" else -1 for k, d in objectives.items()}

    def score(t):
        acc, params = t
        return [sign["best_val_acc"] * acc, sign["params"] * params]

    def dominates(b, a):
        return all(x >= y for x, y in zip(score(b), score(a))) and score(b) != score(a)

    front = [i for i, t in enumerate(trials) if not any(dominates(u, t) for u in trials)]
    return sorted(front, key=lambda i: (trials[i][1], i))


@pytest.mark.parametrize("objectives", [FRONTIER, dict(reversed(FRONTIER.items()))], ids=["acc-first", "params-first"])
def test_the_front_is_the_undominated_trials_smallest_first(tmp_path, objectives):
    study = study_of(TRIALS, objectives, failed=1)
    front = write_pareto(tmp_path, study, objectives, max_params=20_000, target_acc=99.4)

    expected = brute_force_front(TRIALS, objectives)
    assert expected == [6, 2, 3, 8]  # the oracle itself, read off the table above
    assert [t.number for t in front] == expected
    rows = read_csv(tmp_path / "pareto.csv")
    assert list(rows[0]) == ["trial", "params", "best_val_acc", "model.net.c2"]  # size first, whatever the order
    assert [(r["trial"], r["params"], r["best_val_acc"], r["model.net.c2"]) for r in rows] == [
        (str(i), str(int(TRIALS[i][1])), str(TRIALS[i][0]), str(4 + i)) for i in expected]
    md = (tmp_path / "pareto.md").read_text()
    assert "11 trials (10 complete, 0 pruned, 1 failed)" in md and "4 trials on the front" in md
    assert [line.split(" | ")[0] for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:] \
        == [f"| {i}" for i in expected]
    assert sorted(p.name for p in (tmp_path / "front").iterdir()) == sorted(f"trial={i}.yaml" for i in expected)
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_the_direction_of_each_objective_decides_the_front(tmp_path):
    """params maximised instead: the largest trials win, so a direction taken from the wrong place shows."""
    flipped = {"best_val_acc": "maximize", "params": "maximize"}
    front = write_pareto(tmp_path, study_of(TRIALS, flipped), flipped)
    expected = brute_force_front(TRIALS, flipped)
    assert expected == [7, 9]  # the most accurate (of 7 and 8, now the larger), the largest
    assert [t.number for t in front] == expected
    assert [r["trial"] for r in read_csv(tmp_path / "pareto.csv")] == ["7", "9"]


def test_the_command_draws_a_stored_study_as_it_stands(tmp_path, capsys):
    """`python -m tinynets.search.pareto journal:<file> <study> --out DIR`: the same front from a journal,
    the objectives read from the study's record; an unknown study is one line and exit 2."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from tinynets.search.pareto import main

    journal = tmp_path / "s.journal"
    memory = study_of(TRIALS, FRONTIER)
    study = optuna.create_study(study_name="s", directions=list(FRONTIER.values()),
                                storage=JournalStorage(JournalFileBackend(str(journal))))
    study.set_user_attr("tinynets_search", {"objectives": FRONTIER})
    for t in memory.trials:
        study.add_trial(t)
    assert main([f"journal:{journal}", "s", "--out", str(tmp_path / "out"), "--max-params", "3700"]) == 0
    rows = read_csv(tmp_path / "out" / "pareto.csv")
    assert [int(r["trial"]) for r in rows] == brute_force_front(TRIALS, FRONTIER)
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 0
    assert f"{len(rows)} trials on the front of 10" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main([f"journal:{journal}", "nope", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "study='nope'" in capsys.readouterr().err and not (tmp_path / "x").exists()
