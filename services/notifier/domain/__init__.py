"""The notifier's decisions as plain functions and data: no sockets, no Kafka, no SQL."""
