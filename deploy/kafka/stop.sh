#!/usr/bin/env bash
# Stop the broker started by start.sh: SIGTERM (controlled shutdown), wait, then SIGKILL.
# Idempotent: nothing running is not an error. Data in $KAFKA_DATA_DIR is kept
# (delete deploy/kafka/data for a fresh cluster).
#
# Environment (optional): KAFKA_DATA_DIR (as for start.sh), KAFKA_STOP_TIMEOUT (default 30 s).
set -euo pipefail

log_tag="kafka stop"
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

cd "$repo/deploy/kafka"  # a relative KAFKA_DATA_DIR is taken from here, as start.sh does
data_dir="$(abs_path "${KAFKA_DATA_DIR:-data}")"

# Only ever signals our broker: the pid may have been reused by another program.
stop_pid_file broker "$data_dir/kafka.pid" 'kafka\.Kafka' "${KAFKA_STOP_TIMEOUT:-30}"
