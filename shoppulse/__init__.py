"""The `shoppulse` command and the local runtime on an embedded AWS."""
