"""One handler table per API family, its methods named after the family's routes.

``SimulatorApp`` serves ``route`` with ``getattr(tables[route.family], route.name)``, so the
library's route table drives both sides. Handlers answer in the wire format real servers use
(UPPERCASE enums, decimal-string setpoints, each family's error format).
"""

from .door_entry import DoorEntry
from .home_control import HomeControl
from .multisocket import Multisocket
from .smarther import Smarther

__all__ = ["DoorEntry", "HomeControl", "Multisocket", "Smarther"]
