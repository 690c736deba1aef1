"""The National Bureau of Statistics data portal (data.stats.gov.cn easyquery.htm, m=QueryData): JSON → long table."""

from __future__ import annotations

import datetime as dt
import json
import time

from pipeline.connectors.config import HttpSettings, SourceConfig
from pipeline.connectors.http import MalformedResponse, fetch_url, url_with_query
from pipeline.connectors.snapshots import TableSnapshot

NBS_PUBLISHER = "国家统计局 (National Bureau of Statistics of China)"
DEFAULT_PERIOD = "LAST10"
ANNUAL_DATABASES = {"hgnd": "national annual (年度数据)", "fsnd": "provincial annual (分省年度数据)"}


class NbsQueryConnector:
    """One annual series query per configured indicator code (sequential), merged into one long table."""

    def __init__(self, source: SourceConfig, http: HttpSettings, accessed: dt.datetime, sleep=time.sleep):
        self.source = source
        self.http = http
        self.accessed = accessed
        self.sleep = sleep

    def fetch_snapshot(self) -> TableSnapshot:
        """Query every configured indicator, check each answer's shape, and build the snapshot."""
        settings = self.source.settings
        indicators: dict[str, str] = {str(code): str(target) for code, target in settings["indicators"].items()}
        dbcode = str(settings["dbcode"])
        region_code = str(settings.get("region_code") or "") or None
        if dbcode not in ANNUAL_DATABASES:
            raise MalformedResponse(f"dbcode {dbcode!r} is not an annual database ({', '.join(ANNUAL_DATABASES)})")
        if dbcode == "fsnd" and not region_code:
            raise MalformedResponse("a provincial (fsnd) query needs region_code, e.g. 440000")
        period = str(settings.get("period", DEFAULT_PERIOD))
        answers, rows, unpublished, query_urls = [], [], 0, []
        labels: dict[str, str] = {}  # printed label → indicator code
        for number, indicator_code in enumerate(indicators):
            if number:
                self.sleep(self.http.pause_seconds)
            parameters = query_parameters(dbcode, indicator_code, period, region_code)
            stable_url = url_with_query(str(settings["url"]), parameters)
            cache_buster = {"k1": str(int(self.accessed.timestamp() * 1000))}
            response = fetch_url(url_with_query(stable_url, cache_buster), self.http)
            answers.append(answer_record(stable_url, response.body))
            query_urls.append(stable_url)
            records, skipped = parse_answer(response.body, stable_url, str(settings.get("region_name", "全国")))
            unpublished += skipped
            for record in records:
                if record["指标代码"] not in indicators:
                    continue
                label = record["指标"]
                target = indicators[record["指标代码"]]
                if labels.setdefault(label, target) != target:
                    raise MalformedResponse(f"{stable_url}: the label {label!r} names two different indicators")
                rows.append(record)
        answered = {row["指标代码"] for row in rows}
        missing = [code for code in indicators if code not in answered]
        if missing:
            raise MalformedResponse(f"no published figures for indicator code(s) {missing} in the answers")
        return TableSnapshot(
            rows=rows,
            labels=labels,
            provenance=self.provenance(dbcode, list(indicators), period, rows, unpublished, query_urls),
            original_body=json.dumps(answers, ensure_ascii=False, indent=1).encode("utf-8"),
            original_suffix=".answers.json",
            extra_columns=["指标代码"],
        )

    def provenance(
        self, dbcode: str, codes: list[str], period: str, rows: list[dict], unpublished: int, query_urls: list[str]
    ) -> dict:
        """Sidecar provenance: publisher, query as table number, the years answered as edition, and caveats."""
        settings = self.source.settings
        years = sorted({int(row["年份"]) for row in rows})
        caveats = list(settings.get("caveats") or [])
        caveats.append(
            f"Fetched from the NBS data portal query API ({dbcode}, {ANNUAL_DATABASES[dbcode]}, period {period}); "
            f"values are the portal's strdata as displayed. The original JSON answers are kept in the .answers.json file."
        )
        if unpublished:
            caveats.append(
                f"{unpublished} cell(s) the portal marks hasdata=false (not yet published) are not transcribed."
            )
        return {
            "title": settings["title"],
            "publication": settings["publication"],
            "publisher": settings.get("publisher", NBS_PUBLISHER),
            "table_number": f"{dbcode} {', '.join(codes)}",
            "edition": f"portal answer of {self.accessed.date().isoformat()}, years {years[0]}–{years[-1]}",
            "url": query_urls[0],
            "query_urls": query_urls,
            "licence": settings["licence"],
            "caveats": caveats,
        }


def query_parameters(dbcode: str, indicator_code: str, period: str, region_code: str | None) -> dict[str, str]:
    """The QueryData parameters: rows are indicators (zb), columns are years (sj), region fixed in wds for fsnd."""
    fixed = [{"wdcode": "reg", "valuecode": region_code}] if region_code else []
    chosen = [{"wdcode": "zb", "valuecode": indicator_code}, {"wdcode": "sj", "valuecode": period}]
    return {
        "m": "QueryData",
        "dbcode": dbcode,
        "rowcode": "zb",
        "colcode": "sj",
        "wds": json.dumps(fixed, ensure_ascii=False),
        "dfwds": json.dumps(chosen, ensure_ascii=False),
    }


def answer_record(url: str, body: bytes) -> dict:
    """One original answer, kept verbatim as text with its URL (UTF-8 JSON text round-trips exactly)."""
    return {"url": url, "body": body.decode("utf-8", errors="replace")}


def parse_answer(body: bytes, url: str, default_region: str) -> tuple[list[dict[str, str]], int]:
    """returndata.datanodes × wdnodes → rows (地区, 年份, 指标, 指标代码, 数值, 单位); cells without data are counted."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedResponse(f"{url}: the answer is not JSON ({error})") from error
    if not isinstance(document, dict) or document.get("returncode") != 200:
        code = document.get("returncode") if isinstance(document, dict) else None
        raise MalformedResponse(f"{url}: returncode {code!r}, expected 200 with returndata")
    try:
        answer = document["returndata"]
        dimensions = {
            dimension["wdcode"]: {node["code"]: node for node in dimension["nodes"]} for dimension in answer["wdnodes"]
        }
        if "zb" not in dimensions or "sj" not in dimensions:
            raise MalformedResponse(f"{url}: wdnodes lack the zb (indicator) or sj (time) dimension")
        rows, skipped = [], 0
        for datanode in answer["datanodes"]:
            chosen = {dimension["wdcode"]: dimension["valuecode"] for dimension in datanode["wds"]}
            cell = datanode["data"]
            if not cell["hasdata"]:
                skipped += 1
                continue
            indicator = dimensions["zb"][chosen["zb"]]
            region = dimensions["reg"][chosen["reg"]]["cname"] if "reg" in chosen else default_region
            rows.append(
                {
                    "地区": str(region),
                    "年份": str(chosen["sj"]),
                    "指标": str(indicator["cname"]),
                    "指标代码": str(indicator["code"]),
                    "数值": str(cell["strdata"]),
                    "单位": str(indicator["unit"]),
                }
            )
    except (KeyError, TypeError, AttributeError) as error:
        raise MalformedResponse(
            f"{url}: unexpected answer structure (missing or wrong {error}); expected returndata.datanodes[].data"
            ".{hasdata,strdata}, datanodes[].wds[] and wdnodes[].nodes[].{code,cname,unit}"
        ) from error
    return rows, skipped
