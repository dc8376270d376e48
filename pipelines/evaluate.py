"""Figures for labelled data: precision, recall, F1, confusion matrix,
per-category accuracy and the misclassified items."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Evaluation:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    per_category: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # cat -> [right, total]
    misses: list = field(default_factory=list)          # label 1 predicted 0
    false_alarms: list = field(default_factory=list)    # label 0 predicted 1
    errors: list = field(default_factory=list)          # (line, message)

    def add(self, label: int, predicted: bool, category: str, item: dict) -> None:
        right = bool(label) == bool(predicted)
        if label and predicted:
            self.tp += 1
        elif label:
            self.fn += 1
            self.misses.append(item)
        elif predicted:
            self.fp += 1
            self.false_alarms.append(item)
        else:
            self.tn += 1
        cat = self.per_category[category or "未分类"]
        cat[0] += int(right)
        cat[1] += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0
