"""Real time: sources -> face detection -> classification -> tracking/smoothing -> sinks.

The pipeline is a generator with no GUI inside; a window is one sink among others."""
