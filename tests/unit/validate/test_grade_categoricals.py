"""The grading's categorical columns built from codes equal pd.Categorical of the per-row texts (made-up rows).

graded_observations turns publisher kinds, grades and corroborating sources into categoricals through their codes
(issue 17: no text object per observation); these tests hold them to what pd.Categorical gives from the texts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.core.frames import categorical_per_code, per_code
from pipeline.validate.grades import LOW_RELIABILITY_FLAG, flagged_statuses, mostly_empty_categorical

# Made-up source ids and their kinds: one unknown to the mapping, one mapped to a value outside the categories.
MAPPING = pd.Series({"made_up_a": "news_report", "made_up_b": "statistics_office", "made_up_c": "not_a_kind"})
CATEGORIES = ["government_department", "news_report", "statistics_office"]
SOURCE_IDS = ["made_up_b", "made_up_a", None, "made_up_unknown", "made_up_c", "made_up_a"]


@pytest.mark.parametrize("categorical", [True, False])
def test_categorical_per_code_equals_the_categorical_of_the_looked_up_texts(categorical):
    codes = pd.Series(SOURCE_IDS, dtype="category" if categorical else "str")
    texts = [text if text in CATEGORIES else None for text in per_code(codes, MAPPING)]  # outside: missing
    expected = pd.Categorical(texts, categories=CATEGORIES)
    result = categorical_per_code(codes, MAPPING, CATEGORIES)
    pd.testing.assert_extension_array_equal(result, expected)
    assert result.isna().tolist() == [False, False, True, True, True, False]


@pytest.mark.parametrize(
    "texts",
    [
        ["", "made_up_b;made_up_c", "", "made_up_a", "made_up_a", ""],
        ["made_up_a", "made_up_b"],  # no empty text: "" is no category
        ["", ""],
    ],
)
def test_mostly_empty_categorical_equals_the_categorical_of_the_texts(texts):
    array = np.array(texts, dtype=object)
    pd.testing.assert_extension_array_equal(mostly_empty_categorical(array), pd.Categorical(array))


def row_by_row_statuses(texts: list[str], add_flag: np.ndarray, remove_flag: np.ndarray) -> pd.Categorical:
    """The flag rule applied row by row to texts: `u` added where add_flag, else removed where remove_flag."""
    result = []
    for text, add, remove in zip(texts, add_flag.tolist(), remove_flag.tolist(), strict=True):
        if add or remove:
            flags = set(text) - {LOW_RELIABILITY_FLAG}
            text = "".join(sorted(flags | ({LOW_RELIABILITY_FLAG} if add else set())))
        result.append(text)
    return pd.Categorical(result, categories=sorted(set(result)))


def test_flagged_statuses_of_a_categorical_equal_the_rule_row_by_row():
    """Made-up statuses (unsorted flags, unused categories, `u` already there) and changes: same values, categories."""
    texts = ["", "bu", "ub", "e", "", "u", "eb", "", "e", "ub"]
    statuses = pd.Series(pd.Categorical(texts, categories=["", "b", "bu", "e", "eb", "u", "ub", "zz"]))
    add_flag = np.array([True, False, True, True, False, False, False, False, True, False])
    remove_flag = np.array([False, True, True, False, False, True, True, False, False, False])
    result = flagged_statuses(statuses, add_flag, remove_flag)
    pd.testing.assert_extension_array_equal(result.array, row_by_row_statuses(texts, add_flag, remove_flag))
    assert result.tolist() == ["u", "b", "bu", "eu", "", "", "be", "", "eu", "ub"]
