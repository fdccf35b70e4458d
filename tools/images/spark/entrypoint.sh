#!/bin/bash
# The local spark base's entrypoint: the contract apache/spark's image keeps for Spark on
# Kubernetes. spark-submit (in the Spark operator) starts the driver pod with the arguments
# `driver <spark-submit arguments>`, and the driver starts executor pods with `executor` and the
# SPARK_* variables it sets on them; anything else runs as given (the standalone master, workers
# and history server name their own command). Written for this repository from those variables'
# documented meaning; tini reaps the JVM's children and passes signals on.
set -euo pipefail

java_opts() {
  # SPARK_JAVA_OPT_<n>: one JVM option per variable, in order (the driver's executor Java options).
  local name
  for name in $(compgen -v SPARK_JAVA_OPT_ | sort -t_ -k4 -n); do
    printf '%s\0' "${!name}"
  done
}

classpath="${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}${SPARK_HOME}/jars/*"
if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then classpath="$classpath:$SPARK_EXTRA_CLASSPATH"; fi
if [ -n "${HADOOP_CONF_DIR:-}" ]; then classpath="$HADOOP_CONF_DIR:$classpath"; fi
if [ -n "${SPARK_CONF_DIR:-}" ]; then classpath="$SPARK_CONF_DIR:$classpath"; fi

case "${1:-}" in
  driver)
    shift
    exec tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    mapfile -d '' opts < <(java_opts)
    exec tini -s -- "${JAVA_HOME}/bin/java" "${opts[@]}" \
      "-Xms${SPARK_EXECUTOR_MEMORY}" "-Xmx${SPARK_EXECUTOR_MEMORY}" -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" --podName "$SPARK_EXECUTOR_POD_NAME" "$@"
    ;;
  *)
    exec tini -s -- "$@"
    ;;
esac
