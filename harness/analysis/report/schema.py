"""report.json's JSON Schema, generated from the report model; docs/report.schema.json is its committed copy.

    python -m harness.analysis.report.schema > docs/report.schema.json

The schema describes report.json as written (serialisation mode: the computed verdict, exit code,
summary and regression count are in it, and every key is present except `baseline`).
"""

from __future__ import annotations

import json
from typing import Any

from harness.analysis.report.model import SCHEMA_VERSION, ReportData

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    schema = ReportData.model_json_schema(mode="serialization")
    return {
        "$schema": DIALECT,
        "title": f"chatbot-harness report.json, schema_version {SCHEMA_VERSION}",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
