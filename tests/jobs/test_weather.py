"""The second pipeline runs on real data shipped inside the vega_datasets package."""
import json
from pathlib import Path

import pandas as pd
import pytest

from etl import weather


def test_a_real_year_becomes_twelve_validated_months(spark, tmp_path):
    layout = weather.WeatherLayout(str(tmp_path))
    stats = weather.run_year(spark, layout, 2012)
    assert stats == {"year": 2012, "rows_in": 366, "good": 366, "quarantined": 0, "rows_out": 12}  # leap year
    months = pd.read_parquet(layout.monthly(2012)).set_index("month")
    source = pd.read_csv(weather.packaged_source())
    january = source[source["date"].str.startswith("2012/01/")]
    assert months.loc[1, "days"] == 31
    assert months.loc[1, "total_precipitation"] == pytest.approx(january["precipitation"].sum())
    assert months.loc[1, "avg_temp_max"] == pytest.approx(january["temp_max"].mean())
    assert json.loads(Path(layout.monthly(2012), "_stats.json").read_text()) == stats


def test_dirty_rows_of_the_real_file_are_quarantined_with_reasons(spark, tmp_path):
    source = Path(weather.packaged_source()).read_text().splitlines()
    dirty = source + [
        "2013/02/30,1.0,5.0,1.0,2.0,rain",  # no such date
        "2013/03/01,0.0,3.0,9.0,2.0,sun",  # min above max
        "2013/03/02,-1.0,8.0,1.0,2.0,sun",  # negative precipitation
        "2013/03/03,0.0,8.0,1.0,2.0,hail",  # unknown weather
        source[100],  # 2012 repeated: not this year's concern
        next(line for line in source if line.startswith("2013/03/04")),  # repeated date
    ]
    path = tmp_path / "seattle-weather.csv"
    path.write_text("\n".join(dirty) + "\n")
    layout = weather.WeatherLayout(str(tmp_path / "out"))
    stats = weather.run_year(spark, layout, 2013, source_uri=str(path))
    assert stats["rows_in"] == stats["good"] + stats["quarantined"]
    assert stats["good"] == 365
    reasons = pd.read_parquet(layout.quarantine(2013))["quarantine_reason"].value_counts().to_dict()
    assert reasons == {"bad_date": 1, "temp_min_above_max": 1, "bad_precipitation": 1, "unknown_weather": 1,
                       "duplicate_date": 1}
