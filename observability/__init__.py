"""What operators see of a running process: Prometheus metrics and JSON log lines.

Below every layer: any of them may record here, and nothing here imports them.
"""
