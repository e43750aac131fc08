"""Video door entry: the "call home" JWT ticket for the Door Entry SDK."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._clock import Clock
from ._fleet import Fleet
from ._wire import Handler, error, jwt_shaped

__all__ = ["DoorEntry"]


class DoorEntry:
    """The door entry routes."""

    def __init__(self, fleet: Fleet, clock: Clock) -> None:
        self.fleet = fleet
        self.clock = clock

    def handlers(self) -> dict[str, Handler]:
        """The handler of each route of the family, by route name."""
        return {
            "call_home": self.call_home,
        }

    async def call_home(self, request: Request) -> Response:
        plant_id = request.path_params["plant_id"]
        plant = self.fleet.by_id.get(plant_id)
        if plant is None or request.path_params["device_id"] not in plant.door_units:
            return error(404, "Resource not found")
        exp = int((self.clock.now() + timedelta(minutes=5)).timestamp())
        unit = {
            "ticket": jwt_shaped({"sub": plant_id, "exp": exp}),
            "sender": {
                "addressType": "addressLocation",
                "system": "videodoorentry",
                "plant": {"id": plant_id},
            },
        }
        return JSONResponse({"audiovideounits": [unit]})
