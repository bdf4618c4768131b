"""Kafka topic names (overridable through the settings for isolated deployments and tests)."""

REQUESTS_TOPIC = "predictions.requests"
RESULTS_TOPIC = "predictions.results"
DLQ_TOPIC = "predictions.dlq"

# Headers of the Kafka contract.
REPLY_TO_HEADER = "reply_to"
ERROR_HEADER = "x-error"
ERROR_CODE_HEADER = "x-error-code"
SOURCE_TOPIC_HEADER = "x-source-topic"
SOURCE_PARTITION_HEADER = "x-source-partition"
SOURCE_OFFSET_HEADER = "x-source-offset"
