"""The notifier's edges: the Kafka event feed, the read model and the API keys in PostgreSQL."""
