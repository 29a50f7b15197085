"""eiegen/links.py: every link is a WordLink and raises the one exception hierarchy."""

import serial

from eiegen.boards import serial_link
from eiegen.links import LinkError, LinkTimeout, WordLink
from eiegen.sim import link as sim_link


def test_one_exception_hierarchy():
    assert sim_link.LinkTimeout is serial_link.LinkTimeout is LinkTimeout
    assert sim_link.LinkError is LinkError
    assert issubclass(serial_link.BoardLinkError, LinkError)
    assert issubclass(serial_link.LinkGarbled, LinkError)


def test_links_are_word_links():
    with serial_link.UARTLink(serial.serial_for_url("loop://", timeout=0.1)) as link:
        assert isinstance(link, WordLink)
    assert issubclass(sim_link.SimLink, WordLink)
    assert not isinstance(object(), WordLink)
