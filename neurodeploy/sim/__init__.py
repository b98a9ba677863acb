"""Reference simulators used to verify exports: float (any NIR graph) and Loihi fixed point."""
