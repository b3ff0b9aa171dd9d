"""Operating Clearcut: the monitoring artefacts generated from the Prometheus rules (the
Kubernetes PrometheusRule, the Grafana dashboard) and the operator's status screen."""
