"""Target-independent simulators used to verify exports: float (any NIR graph) and other writers'
own simulators (``against``). A target's own simulators live in its package (neurodeploy/targets/)."""
