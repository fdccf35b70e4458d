#!/bin/sh
# The operator runs spark-submit as a child for every SparkApplication; tini as PID 1 reaps them
# and forwards signals (-s: also when tini is not PID 1).
set -e
exec /usr/bin/tini -s -- /usr/bin/spark-operator "$@"
