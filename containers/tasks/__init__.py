"""What both ECS tasks share at their edge: configuration, exit codes, logs, summaries."""
