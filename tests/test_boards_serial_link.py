"""boards/serial_link.py: no waiting forever on bad numbers, no swallowed port errors
(issue 19, items 5 and 11). Real pyserial ports (loop://)."""

import math
import time

import pytest
import serial

from eiegen.boards.serial_link import BoardLinkError, LinkTimeout, UARTLink


@pytest.mark.parametrize("kw", [{"timeout": math.nan}, {"timeout": math.inf},
                                {"clock_hz": math.nan}, {"clock_hz": 0.0}, {"baud": 0},
                                {"timeout": -1.0}])
def test_bad_numbers_refused_before_opening(kw):
    with pytest.raises(BoardLinkError, match="must be a finite positive number"):
        UARTLink("loop://", **kw)


def test_silent_port_times_out_within_the_deadline():
    with UARTLink(serial.serial_for_url("loop://", timeout=0.1), timeout=0.3) as link:
        start = time.monotonic()
        with pytest.raises(LinkTimeout):
            link.read(1, timeout_cycles=0)
        assert time.monotonic() - start < 2.0


def test_break_on_a_closed_port_is_an_error_not_silence():
    port = serial.serial_for_url("loop://", timeout=0.1)
    link = UARTLink(port)
    link.reset_board(0.01)  # loop:// supports a break
    port.close()
    with pytest.raises(BoardLinkError, match="sending a break"):
        link.reset_board(0.01)


def test_ports_without_a_break_are_skipped():
    class Plain:  # a port object with no send_break (a host link that is not pyserial)
        port = "plain"

    UARTLink(Plain()).reset_board()

    class NoBreak(Plain):
        def send_break(self, duration):
            raise NotImplementedError

    UARTLink(NoBreak()).reset_board()
