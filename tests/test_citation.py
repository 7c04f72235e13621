"""CITATION.cff is valid Citation File Format 1.2.0 and names the paper as the preferred citation.

The schema (tests/fixtures/citation-file-format-1.2.0.schema.json) is the one `cffconvert --validate` uses,
copied from the cffconvert 2.0.0 wheel (cffconvert itself pins jsonschema < 4, which conflicts with
Jupyter Book's, so the same check runs here with jsonschema 4).
"""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "citation-file-format-1.2.0.schema.json").read_text())


def _load_cff() -> dict:
    # CFF is YAML; dates must stay strings for the schema (PyYAML would turn an unquoted date into a date).
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_file_validates_against_the_cff_schema():
    jsonschema.Draft7Validator(SCHEMA).validate(_load_cff())


def test_the_schema_check_has_power():
    broken = _load_cff()
    del broken["authors"]
    with pytest.raises(jsonschema.ValidationError, match="authors"):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)
    broken = {**_load_cff(), "cff-version": "9.9.9"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


def test_preferred_citation_is_the_paper():
    paper = _load_cff()["preferred-citation"]
    assert paper["title"] == "How Does Mixup Help With Robustness and Generalization?"
    assert [a["family-names"] for a in paper["authors"]] == ["Zhang", "Deng", "Kawaguchi", "Ghorbani", "Zou"]
    assert paper["year"] == 2021
