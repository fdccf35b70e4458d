"""Where each dataset of the events pipeline lives under one root URI."""
from dataclasses import dataclass
from datetime import date

from etl.storage import join


@dataclass(frozen=True)
class EventsLayout:
    root: str  # a local directory or e.g. s3a://mlops-prod-data

    def raw_dir(self, day: date) -> str:
        return join(self.root, "raw/events", f"dt={day.isoformat()}")

    def raw_file(self, day: date, part: str) -> str:
        return join(self.raw_dir(day), f"part-{part}.jsonl")

    def staged_dir(self, day: date) -> str:
        return join(self.root, "staged/events", f"dt={day.isoformat()}")

    def staged(self, day: date, part: str) -> str:
        return join(self.staged_dir(day), f"part={part}")

    def quarantine(self, day: date, part: str) -> str:
        return join(self.root, "quarantine/events", f"dt={day.isoformat()}", f"part={part}")

    def features_dataset(self) -> str:
        return join(self.root, "features/user_daily")

    def features(self, day: date) -> str:
        return join(self.features_dataset(), f"dt={day.isoformat()}")

    def manifest(self, day: date) -> str:
        return join(self.root, "manifests/user_daily", f"dt={day.isoformat()}.json")
