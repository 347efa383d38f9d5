"""``data/CITY-FOLDER.md`` says what ``twin/schemas.py`` declares, column for column."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin import schemas
from twin.city import CityRecipe

DOC = Path(__file__).resolve().parents[1] / "data" / "CITY-FOLDER.md"


@pytest.mark.parametrize("name", list(schemas.TABLES))
def test_every_table_is_documented_as_declared(name):
    assert schemas.markdown(name) in DOC.read_text()


def test_every_manifest_field_is_documented():
    text = DOC.read_text()
    for field in CityRecipe.model_fields:
        assert f"`{field}`" in text, field
    assert f"format version {schemas.CITY_FORMAT_VERSION}" in text
