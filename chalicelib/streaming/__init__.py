"""What the pipes' functions and the dead-letter functions do: batches, effects, failures, redrive."""
