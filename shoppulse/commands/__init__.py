"""One module per `shoppulse` verb."""
