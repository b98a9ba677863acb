"""Energy estimation: count activity on data, price it with hardware profiles, write reports.

Pipeline: :func:`count_activity` (float simulation of a NIR graph, counts per layer and step)
→ :func:`energy_report` (a convention from :data:`CONVENTIONS` × profile costs, pJ per
inference, ANN baseline) → :func:`write_report` (json / md / html) and :func:`render_table`.
Conventions: ``fanout`` (seed 004), ``neurobench`` (NeuroBench 2.3 exact), ``rate-flops``
(Spikformer-style), ``memory`` (Lemaire-style). See docs/energy.md.
"""

from neurodeploy.energy.activity import Activity, NeuronActivity, SynapseActivity, count_activity
from neurodeploy.energy.conventions import CONVENTIONS, Convention, Counts, neurobench_metrics
from neurodeploy.energy.render import render_table, to_markdown, write_report
from neurodeploy.energy.report import EnergyReport, energy_report

__all__ = [
    "CONVENTIONS", "Activity", "Convention", "Counts", "EnergyReport", "NeuronActivity",
    "SynapseActivity", "count_activity", "energy_report", "neurobench_metrics", "render_table",
    "to_markdown", "write_report",
]

from neurodeploy._callable import make_callable  # noqa: E402

make_callable(__name__)  # neurodeploy.energy(...) is neurodeploy.api.energy (docs/python-api.md)
