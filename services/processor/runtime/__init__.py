"""ONNX Runtime: execution provider choice, sessions, batched inference."""
