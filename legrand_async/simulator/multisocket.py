"""Multisocket: sockets addressed by id, name or type; plain-text error bodies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ._fleet import Fleet, Socket
from ._wire import Handler, json_object

__all__ = ["Multisocket"]


class Multisocket:
    """The Multisocket routes."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def handlers(self) -> dict[str, Handler]:
        """The handler of each route of the family, by route name."""
        return {
            "get_plugs": self.get_plugs,
            "set_plugs": self.set_plugs,
        }

    def _sockets(self, request: Request) -> list[Socket] | Response:
        """The sockets the path addresses, or the 404 when there are none."""
        plant = self.fleet.by_id.get(request.path_params["plant_id"])
        if plant is None:
            return PlainTextResponse("The plant identified by 'plantId' does not exist.", 404)
        by, value = request.path_params["by"], request.path_params["value"]
        sockets = [s for s in plant.sockets if getattr(s, by, None) == value]
        return sockets or PlainTextResponse("No Plug were found.", 404)

    async def get_plugs(self, request: Request) -> Response:
        sockets = self._sockets(request)
        if isinstance(sockets, Response):
            return sockets
        plugs = [{"id": s.id, "name": s.name, "status": s.status} for s in sockets]
        return JSONResponse({"plugs": plugs})

    async def set_plugs(self, request: Request) -> Response:
        sockets = self._sockets(request)
        if isinstance(sockets, Response):
            return sockets
        body = await json_object(request)
        if body is None or "status" not in body:
            return PlainTextResponse("A parameter is missing", 400)
        status = body["status"]
        valid = isinstance(status, list) and status and all(isinstance(v, bool) for v in status)
        if not valid:
            return PlainTextResponse("One of the specified parameter should be an array", 400)
        for socket in sockets:
            socket.status = [status[i % len(status)] for i in range(len(socket.status))]
        return Response(status_code=200)
