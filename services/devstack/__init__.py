"""The local development stack: Kafka, MinIO, PostgreSQL and Jaeger without Docker."""
