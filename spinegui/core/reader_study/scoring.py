"""Scores of a reader study: can readers tell synthetic from real?

    scores = score_study("study/")     # also writes study/scores.json

Per reader ("synthetic" is the positive class): accuracy, sensitivity, specificity, AUROC of the
confidence-weighted answer (+confidence when answered synthetic, -confidence when real; ties count
half), n, and the exact one-sided binomial p-value of the number correct against chance (1/2):
p = sum_{k >= correct} C(n, k) / 2^n. Agreement between readers on the items all of them answered:
Cohen's kappa for two readers, Fleiss' kappa for more (with each pair's Cohen's kappa beside it).
Per class (an item of several classes counts in each) and the items most often judged wrongly.
Every answers file is checked before anything is written.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from itertools import combinations

from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.ids import id_problem
from spinegui.core.reader_study.session import Answer, read_answers
from spinegui.core.reader_study.study import KeyRow, open_study, read_key

SCORES_FILE = "scores.json"
MOST_MISTAKEN = 20


def score_study(folder) -> dict:
    study = open_study(folder)
    key = read_key(study)
    answers: dict[str, dict[str, Answer]] = {}
    for path in sorted((study.folder / "answers").glob("*.csv")):
        if id_problem(path.stem) or path.stem.startswith("."):
            raise InputError(path, "not a reader's answers file (the name is no plain reader name)")
        answers[path.stem] = read_answers(path, study)
    if not any(answers.values()):
        raise InputError(study.folder / "answers", "no reader has answered yet")
    scores = {
        "format": 1,
        "items": len(study.items),
        "readers": {name: reader_scores(rows.values(), key) for name, rows in answers.items()},
        "kappa": agreement({name: {i: a.answer for i, a in rows.items()} for name, rows in answers.items()}),
        "per_class": per_class(answers, key),
        "most_mistaken": most_mistaken(answers, key),
    }
    atomic_write_bytes(study.folder / SCORES_FILE, (json.dumps(scores, indent=1) + "\n").encode("utf-8"))
    return scores


# --- per reader -----------------------------------------------------------------------------------
def reader_scores(rows, key: dict[str, KeyRow]) -> dict:
    rows = list(rows)
    truth = [key[a.item].origin == "synthetic" for a in rows]
    said = [a.answer == "synthetic" for a in rows]
    n, correct = len(rows), sum(t == s for t, s in zip(truth, said))
    pos, neg = sum(truth), n - sum(truth)
    tp = sum(t and s for t, s in zip(truth, said))
    tn = sum(not t and not s for t, s in zip(truth, said))
    weighted = [a.confidence if a.answer == "synthetic" else -a.confidence for a in rows]
    return {
        "n": n, "correct": correct, "n_synthetic": pos, "n_real": neg,
        "accuracy": _ratio(correct, n), "sensitivity": _ratio(tp, pos), "specificity": _ratio(tn, neg),
        "auroc": auroc([w for w, t in zip(weighted, truth) if t], [w for w, t in zip(weighted, truth) if not t]),
        "p_value": binomial_tail(correct, n) if n else None,
        "mean_seconds": sum(a.seconds for a in rows) / n if n else None,
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact (integer sums; one rounding at the end)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, j) for j in range(k, n + 1)) / 2**n


def auroc(positives: list[float], negatives: list[float]) -> float | None:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney); None without both."""
    if not positives or not negatives:
        return None
    neg = Counter(negatives)   # confidence-weighted answers take at most ten values
    total = sum(sum(c for v, c in neg.items() if v < p) + 0.5 * neg[p] for p in positives)
    return total / (len(positives) * len(negatives))


# --- agreement ------------------------------------------------------------------------------------
def agreement(answers: dict[str, dict[str, str]]) -> dict:
    """Kappa on the items every reader with answers has answered."""
    readers = sorted(r for r, rows in answers.items() if rows)
    common = sorted(set.intersection(*(set(answers[r]) for r in readers))) if readers else []
    out = {"method": None, "value": None, "readers": readers, "n_items": len(common)}
    if len(readers) < 2 or not common:
        return out
    if len(readers) == 2:
        a, b = readers
        return {**out, "method": "cohen", "value": cohen_kappa([answers[a][i] for i in common],
                                                                 [answers[b][i] for i in common])}
    table = [Counter(answers[r][i] for r in readers) for i in common]
    pairwise = {f"{a} / {b}": cohen_kappa([answers[a][i] for i in common], [answers[b][i] for i in common])
                for a, b in combinations(readers, 2)}
    return {**out, "method": "fleiss", "value": fleiss_kappa(table, len(readers)), "pairwise": pairwise}


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """(p_o - p_e) / (1 - p_e); None when chance agreement is already perfect (p_e = 1)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    return None if pe >= 1.0 else (po - pe) / (1.0 - pe)


def fleiss_kappa(table: list[Counter], raters: int) -> float | None:
    """Fleiss (1971): each row counts the ratings per category of one item, every item by `raters`."""
    if not table or raters < 2:
        return None
    n_items = len(table)
    p_bar = sum((sum(c * c for c in row.values()) - raters) / (raters * (raters - 1)) for row in table) / n_items
    totals: Counter = Counter()
    for row in table:
        totals.update(row)
    pe = sum((t / (n_items * raters)) ** 2 for t in totals.values())
    return None if pe >= 1.0 else (p_bar - pe) / (1.0 - pe)


# --- per class and per item -----------------------------------------------------------------------
def per_class(answers: dict[str, dict[str, Answer]], key: dict[str, KeyRow]) -> dict:
    classes = sorted({c for row in key.values() for c in row.classes}, key=_class_order)
    out = {}
    for cls in classes:
        readers = {name: [a for a in rows.values() if cls in key[a.item].classes] for name, rows in answers.items()}
        pooled = [a for rows in readers.values() for a in rows]
        s = reader_scores(pooled, key)
        out[cls] = {"n": s["n"], "items": sum(cls in k.classes for k in key.values()), "accuracy": s["accuracy"],
                    "sensitivity": s["sensitivity"], "specificity": s["specificity"],
                    "readers": {name: {"n": len(rows), "accuracy": _ratio(
                        sum((key[a.item].origin == a.answer) for a in rows), len(rows))}
                        for name, rows in readers.items()}}
    return out


def _class_order(cls: str) -> int:
    from spinegui.core.dataset.vindr import LABELS

    return LABELS.index(cls) if cls in LABELS else len(LABELS)


def most_mistaken(answers: dict[str, dict[str, Answer]], key: dict[str, KeyRow], limit: int = MOST_MISTAKEN
                  ) -> list[dict]:
    wrong: Counter = Counter()
    seen: Counter = Counter()
    for rows in answers.values():
        for a in rows.values():
            seen[a.item] += 1
            wrong[a.item] += key[a.item].origin != a.answer
    ranked = sorted((i for i in seen if wrong[i]), key=lambda i: (-wrong[i], -wrong[i] / seen[i], i))
    return [{"item": i, "origin": key[i].origin, "class": key[i].class_text, "wrong": wrong[i], "n": seen[i],
             "source": key[i].source} for i in ranked[:limit]]

