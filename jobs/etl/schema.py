"""The declared contract of a raw event line (JSON, one object per line)."""
from datetime import timedelta

from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

# Spark fills this column with the raw line when it cannot parse it against the schema.
CORRUPT_COLUMN = "_corrupt_record"

RAW_EVENT_SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("user_id", LongType()),
        StructField("event_type", StringType()),
        StructField("event_time", StringType()),  # parsed in validation so bad values get a reason
        StructField("amount", DoubleType()),
        StructField("country", StringType()),
        StructField("session_id", StringType()),
        StructField(CORRUPT_COLUMN, StringType()),
    ]
)

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
EVENT_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss"  # Spark datetime pattern; UTC

# Events that arrive up to this long after they happened still count for the arrival date.
ALLOWED_LATENESS = timedelta(days=2)
