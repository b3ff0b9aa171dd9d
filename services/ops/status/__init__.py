"""`clearcut status`: one screen for an operator, from Prometheus or, when it does not
answer, from the services' own /metrics; readiness always from the services' probes."""
