"""eiegen/timing.py: its latencies are the HDL units' own."""

from eiegen import timing
from eiegen.hw.control import Control
from eiegen.hw.lnzd import LeadingNonZeroDetector
from eiegen.hw.pe import ProcessingElement


def test_latencies_agree_with_the_hdl():
    assert timing.FIRST_ROW == LeadingNonZeroDetector.first_row
    assert timing.DRAIN == ProcessingElement.drain_latency
    assert timing.END == Control.end_latency


def test_a_layer_without_non_zeros():
    # the LNZD scans every row once, then COMPUTE ends END cycles later
    t = timing.layer_timing([[1, 2, 3]], [0, 0, 0], n_pe=1, queue_depth=2, n_out=2)
    assert t.compute == 3 + timing.FIRST_ROW + timing.END
    assert t.cycles == 1 + 2 * 2 + t.compute and t.broadcasts == 0
