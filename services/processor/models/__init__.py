"""The model registry and the verified on-disk model cache."""
