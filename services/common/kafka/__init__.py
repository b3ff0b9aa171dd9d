"""Kafka runtime shared by every service: producer, consumer settings, admin, dead letters."""
