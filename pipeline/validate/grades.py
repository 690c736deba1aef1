"""Grades by rule: each observation's publisher kind and reliability, from its source's sidecar and corroboration.

The rule (stated in the README, "Grades by rule"; this module is the one place that applies it):

1. Publisher kind, from the sidecar's `url_kind`, `authority` and `publisher`: a source read from a Q&A page, blog
   or self-media (`url_kind: self_media`, or `authority: low_confidence`) is `self_media`; a news report
   (`url_kind: news` or `authority: news_report`) is `news_report`; a research compilation (`url_kind: compilation`,
   or `authority: third_party_compilation` read elsewhere) is `compilation`; an official publication or a faithful
   mirror of one is `statistics_office` when its publisher is a statistics bureau, survey team or census office,
   else `government_department`.
2. Source grade: `official` (official authority read on the publisher's site), `official_copy` (a faithful mirror of
   an official publication), `compilation` (a research compilation of official publications) or `unofficial`
   (news reports, self-media, Q&A pages and other low-confidence publishers).
3. Corroboration: an observation is corroborated by every independent source (read at another place: another
   web host, another code repository, or another publisher when there is no URL) that prints the same indicator,
   region and year with a value equal within both figures' rounding; `corroborated_by` names them.
4. Reliability: the source grade, except that an `unofficial` figure some independent source corroborates is
   `corroborated`. Status flag `u` (low reliability) is set on every `unofficial` figure and removed from every
   `corroborated` one; on the other grades a `u` stays only where the sidecar's own status rules declare it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from pipeline.core.frames import categorical_per_code, neighbour_equality, per_code

LOW_RELIABILITY_FLAG = "u"
PUBLISHER_KINDS = {
    "statistics_office": ("统计部门", "statistics office"),
    "government_department": ("政府部门", "government department"),
    "news_report": ("新闻报道", "news report"),
    "self_media": ("自媒体、问答或博客", "self-media, Q&A or blog"),
    "compilation": ("研究汇编", "research compilation"),
}
# Best first; a derived value takes the weakest grade of its inputs.
RELIABILITY_GRADES = ["official", "official_copy", "compilation", "corroborated", "unofficial"]
RELIABILITY_LABELS = {
    "official": ("官方发布", "official publication"),
    "official_copy": ("官方发布的镜像", "faithful copy of an official publication"),
    "compilation": ("官方数据的研究汇编", "research compilation of official data"),
    "corroborated": ("非官方来源，另一独立来源印证", "unofficial, corroborated by an independent source"),
    "unofficial": ("单一非官方来源（u）", "single unofficial source (u)"),
}
STATISTICS_PUBLISHER = re.compile(r"统计局|调查队|调查总队|普查|统计年鉴|Statistic|Survey|Census", re.IGNORECASE)
CODE_HOSTS = {"github.com", "gitee.com", "gitlab.com"}
GRADED_COLUMNS = ["publisher_kind", "reliability", "corroborated_by"]
# Tolerance on top of the rounding radii, for figures stored in another unit (float noise only).
RELATIVE_TOLERANCE = 1e-9


def publisher_kind(url_kind: str, authority: str, publisher: str) -> str:
    """The kind of publisher a source's figures come from (rule 1 of the module docstring)."""
    if url_kind == "self_media" or authority == "low_confidence":
        return "self_media"
    if url_kind == "news" or authority == "news_report":
        return "news_report"
    if url_kind == "compilation" or authority == "third_party_compilation":
        return "compilation"
    return "statistics_office" if STATISTICS_PUBLISHER.search(publisher or "") else "government_department"


def source_grade(url_kind: str, authority: str, publisher: str) -> str:
    """official, official_copy, compilation or unofficial (rule 2 of the module docstring)."""
    kind = publisher_kind(url_kind, authority, publisher)
    if kind in ("self_media", "news_report"):
        return "unofficial"
    if kind == "compilation":
        return "compilation"
    return "official" if url_kind == "official" and authority == "official" else "official_copy"


def reading_place(url: object, publisher: str) -> str:
    """Where a source was read, for independence: the web host (a repository on code hosts), else the publisher."""
    if isinstance(url, str) and url.strip():
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").removeprefix("www.").removeprefix("m.")
        if host in CODE_HOSTS:
            return host + "/" + "/".join(parts.path.strip("/").split("/")[:2])
        if host:
            return host
    return (publisher or "").strip()


def source_grades(sources: pd.DataFrame) -> pd.DataFrame:
    """Per source id: publisher kind, source grade and the place it was read."""
    records = [
        {
            "source_id": row.source_id,
            "publisher_kind": publisher_kind(row.url_kind, row.authority, row.publisher),
            "source_grade": source_grade(row.url_kind, row.authority, row.publisher),
            "reading_place": reading_place(row.url, row.publisher),
        }
        for row in sources.itertuples(index=False)
    ]
    return pd.DataFrame(records, columns=["source_id", "publisher_kind", "source_grade", "reading_place"]).set_index(
        "source_id"
    )


def corroborating_sources(observations: pd.DataFrame, places: pd.Series) -> np.ndarray:
    """Per observation: the ';'-joined independent sources printing the same figure within rounding ('' if none).

    Observations must be in indicator, region and year order (as `ordered_observations` leaves them), so the
    figures of one key are adjacent; only keys with more than one figure are compared.
    """
    result = np.full(len(observations), "", dtype=object)
    if len(observations) < 2:
        return result
    same = np.ones(len(observations) - 1, dtype=bool)
    for column in ("indicator_code", "region_code", "year"):
        same &= neighbour_equality(observations[column])
    repeated = np.zeros(len(observations), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    positions = np.flatnonzero(repeated & observations["value"].notna().to_numpy())
    if positions.size == 0:
        return result
    candidates = observations.iloc[positions]
    frame = pd.DataFrame(
        {
            "position": positions,
            "group": np.cumsum(np.concatenate([[True], ~same])[positions]),
            "source_id": candidates["source_id"].astype(str).to_numpy(),
            "value": candidates["value"].to_numpy(dtype=float),
            "radius": candidates["rounding_radius"].fillna(0.0).to_numpy(dtype=float),
        }
    )
    frame["place"] = per_code(frame["source_id"], places)
    for _, group in frame.groupby("group", sort=False):
        rows = list(group.itertuples(index=False))
        for row in rows:
            matches = sorted(
                other.source_id
                for other in rows
                if other.source_id != row.source_id
                and other.place != row.place
                and figures_agree(row.value, row.radius, other.value, other.radius)
            )
            result[row.position] = ";".join(matches)
    return result


def figures_agree(first: float, first_radius: float, second: float, second_radius: float) -> bool:
    """Whether two printed figures are the same within their rounding (their rounding intervals overlap)."""
    tolerance = RELATIVE_TOLERANCE * max(abs(first), abs(second))
    return abs(first - second) <= first_radius + second_radius + tolerance


def graded_observations(observations: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Observations with publisher kind, reliability and corroborating sources, and the `u` flag set by the rule."""
    grades = source_grades(sources)
    # Kinds and grades as codes of their categories, looked up once per source: no text object per observation.
    kind = categorical_per_code(observations["source_id"], grades["publisher_kind"], sorted(PUBLISHER_KINDS))
    reliability_categories = sorted(RELIABILITY_GRADES)
    grade = categorical_per_code(observations["source_id"], grades["source_grade"], reliability_categories).codes
    corroborated_by = corroborating_sources(observations, grades["reading_place"])
    unofficial = (grade == reliability_categories.index("unofficial")) & observations["value"].notna().to_numpy()
    corroborated = unofficial & (corroborated_by != "")
    reliability = np.where(corroborated, reliability_categories.index("corroborated"), grade)
    status = flagged_statuses(observations["status"], unofficial & ~corroborated, corroborated)
    return observations.assign(
        status=status,
        publisher_kind=kind,
        reliability=pd.Categorical.from_codes(reliability, categories=reliability_categories),
        corroborated_by=mostly_empty_categorical(corroborated_by),
    )


def mostly_empty_categorical(texts: np.ndarray) -> pd.Categorical:
    """pd.Categorical(texts) for an object array of texts that are nearly all '': only the others are hashed."""
    filled = np.flatnonzero(texts != "")
    distinct, filled_codes = np.unique(texts[filled].astype(str), return_inverse=True)
    categories = sorted({*distinct.tolist(), *([""] if len(filled) < len(texts) else [])})
    codes = np.full(len(texts), categories.index("") if "" in categories else -1, dtype="int64")
    codes[filled] = pd.Index(categories).get_indexer(distinct)[filled_codes]
    return pd.Categorical.from_codes(codes, categories=categories)


def flagged_statuses(statuses: pd.Series, add_flag: np.ndarray, remove_flag: np.ndarray) -> pd.Series:
    """The statuses with `u` added where add_flag and removed where remove_flag (flags kept in a stable order)."""
    if isinstance(statuses.dtype, pd.CategoricalDtype) and not statuses.isna().any():
        return flagged_status_codes(statuses, add_flag, remove_flag)
    text = statuses.astype(str).to_numpy(dtype=object)
    changed = np.flatnonzero(add_flag | remove_flag)
    for position in changed:
        flags = set(text[position]) - {LOW_RELIABILITY_FLAG}
        if add_flag[position]:
            flags.add(LOW_RELIABILITY_FLAG)
        text[position] = "".join(sorted(flags))
    if isinstance(statuses.dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(text, categories=sorted(set(text))), index=statuses.index)
    return pd.Series(text, index=statuses.index, dtype=statuses.dtype)


def flagged_status_codes(statuses: pd.Series, add_flag: np.ndarray, remove_flag: np.ndarray) -> pd.Series:
    """flagged_statuses of a categorical without nulls, worked out once per category and change, not per row.

    The same categories (the texts that occur, sorted) and values as the row-by-row rule: unchanged rows keep their
    text; a changed row gets its flags without `u`, `u` added back where add_flag, in sorted order.
    """
    categories = [str(category) for category in statuses.cat.categories]
    # Per category: [as it is, with `u` added, with `u` removed]; a row's change: 0 none, 1 add, 2 remove.
    variants = [
        [text, "".join(sorted(set(text) | {LOW_RELIABILITY_FLAG})), "".join(sorted(set(text) - {LOW_RELIABILITY_FLAG}))]
        for text in categories
    ]
    change = np.where(add_flag, 1, np.where(remove_flag, 2, 0))
    keys = statuses.cat.codes.to_numpy(dtype="int64") * 3 + change
    used = np.flatnonzero(np.bincount(keys, minlength=3 * len(categories)))
    texts = [variants[key // 3][key % 3] for key in used.tolist()]
    result_categories = sorted(set(texts))
    code_of_key = np.full(3 * len(categories), -1, dtype="int64")
    code_of_key[used] = pd.Index(result_categories).get_indexer(texts)
    codes = code_of_key[keys]
    return pd.Series(pd.Categorical.from_codes(codes, categories=result_categories), index=statuses.index)


def weakest_grade(grades: list[str]) -> str:
    """The weakest of several reliability grades (a derived value is as reliable as its weakest input)."""
    known = [grade for grade in grades if grade in RELIABILITY_GRADES]
    return max(known, key=RELIABILITY_GRADES.index) if known else "unofficial"
