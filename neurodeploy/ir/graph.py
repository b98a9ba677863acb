"""The one NIR graph walker (no torch): the order of a chain of nodes and its recurrent loops.

Simulators (:mod:`neurodeploy.ir.from_nir`), exporters and energy counting all read graphs
through :func:`chain`, so they accept and refuse the same graphs with the same messages.
"""

from __future__ import annotations

import nir

from neurodeploy.errors import UnsupportedNodeError


def unsupported(name: str, node, why: str, fix: str) -> UnsupportedNodeError:
    """The error for one node: which node, its type, why, and what to do."""
    return UnsupportedNodeError(f"node {name!r} ({type(node).__name__}): {why}; {fix}")


def chain(graph: nir.NIRGraph) -> tuple[list[str], dict[str, str]]:
    """Execution order of the forward chain (Input first) and ``{neuron: recurrent synapse}``.

    The one graph walker every consumer uses (simulators, exporters, energy counting). A
    recurrent synapse is a node ``r`` with edges ``n → r → n``. Every other node must lie on the
    single path from the Input node: branches, skips, merges, dangling nodes and nested graphs
    raise :class:`UnsupportedNodeError` naming the node and what to do.
    """
    nodes = graph.nodes
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise unsupported(name, node, "nested NIRGraph", "flatten the graph into one level first")
    edges = {tuple(e) for e in graph.edges}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise UnsupportedNodeError(f"edge {a!r} → {b!r} names {end!r}, which is not a node")
    degree = {n: 0 for n in nodes}
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    # n → r → n where r has no other edge: r is n's recurrent synapse (n also has its chain edges)
    rec = {a: b for a, b in edges if a != b and (b, a) in edges and degree[b] == 2 and degree[a] > 2}
    fwd = [(a, b) for a, b in edges if rec.get(a) != b and rec.get(b) != a]
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in sorted(fwd):
        succ[a].append(b)
        pred[b].append(a)
    for name in nodes:
        if len(succ[name]) > 1 or len(pred[name]) > 1:
            raise unsupported(name, nodes[name], f"branch (inputs {pred[name]}, outputs {succ[name]})",
                               "only chains (plus recurrent self-loops) are supported; remove "
                               "branches and skips")
    starts = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    if len(starts) != 1:
        raise UnsupportedNodeError(f"graph must have exactly one Input node, found {len(starts)}")
    order, cur = [starts[0]], starts[0]
    while succ[cur]:
        cur = succ[cur][0]
        if cur in order:
            raise unsupported(cur, nodes[cur], "is reached twice (a cycle)", "only chains are supported")
        order.append(cur)
    on_chain = set(order) | set(rec.values())
    for name in nodes:
        if name not in on_chain:
            raise unsupported(name, nodes[name], "not on the chain from the Input node",
                               "remove it or connect it into the chain")
    return order, rec
