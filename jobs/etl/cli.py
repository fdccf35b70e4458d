"""Entry point of the spark-etl image: `python -m etl.cli <step> --date D --root URI [...]`.

The SparkApplication's `mainApplicationFile` points here, so in the cluster each Airflow task
runs exactly the function it runs locally.
"""
import argparse
import json
import sys
from datetime import date

from etl import pipeline, weather
from etl.layout import EventsLayout
from etl.session import cluster_session, local_session

STEPS = ("validate", "features", "quality", "publish", "weather")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="etl.cli", description="Run one ETL step.")
    parser.add_argument("step", choices=STEPS)
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="logical date, YYYY-MM-DD")
    parser.add_argument("--root", required=True, help="data root URI (local dir or s3a://bucket)")
    parser.add_argument("--part", help="input partition id (validate) or year (weather)")
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("--local", action="store_true", help="use a local[*] SparkSession")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, spark) -> object:
    layout = EventsLayout(args.root)
    if args.step == "validate":
        if not args.part:
            raise SystemExit("etl.cli validate: --part is required")
        return pipeline.validate_partition(spark, layout, args.date, args.part)
    if args.step == "features":
        return pipeline.build_user_features(spark, layout, args.date)
    if args.step == "quality":
        return pipeline.check_quality(spark, layout, args.date)
    if args.step == "publish":
        return pipeline.publish_manifest(spark, layout, args.date, args.run_id)
    return weather.run_year(spark, weather.WeatherLayout(args.root), int(args.part))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = local_session(f"etl-{args.step}") if args.local else cluster_session(f"etl-{args.step}")
    print(json.dumps(run(args, spark), default=str, indent=2))


if __name__ == "__main__":
    main()
