"""Response models: real fixtures, wire variants, malformed data and round-trips.

Everything goes through the STRICT converter (extra keys forbidden) so that a field the
models do not know fails here instead of silently vanishing.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legrand_async._converters import make_converter, structure, unstructure
from legrand_async.errors import ResponseValidationError
from legrand_async.models.smarther import (
    Capability,
    ChronothermostatStatus,
    Function,
    LoadState,
    Measure,
    Measures,
    Mode,
    Module,
    ModuleRef,
    Plant,
    PlantRef,
    Program,
    Receiver,
    Sender,
    Sensor,
    SetPoint,
    Subscription,
    Topology,
)

from .conftest import MODULE, PLANT, SUBSCRIPTION, load

STRICT = make_converter(strict=True)
CEST = timezone(timedelta(hours=2))


def strict(data: Any, cls: Any) -> Any:
    return structure(data, cls, converter=STRICT)


def status_payload() -> dict[str, Any]:
    """A fresh copy of the GET status fixture's chronothermostat."""
    return copy.deepcopy(load("smarther_status.json")["chronothermostats"][0])


def minimal(**fields: Any) -> dict[str, Any]:
    """The smallest valid status, plus ``fields``."""
    return {"function": "HEATING", "mode": "OFF", **fields}


# --------------------------------------------------------------------------- real fixtures


def test_get_status_fixture_structures_strictly() -> None:
    status = strict(status_payload(), ChronothermostatStatus)

    assert status.function is Function.HEATING
    assert status.mode is Mode.AUTOMATIC
    assert status.set_point == SetPoint(value=18.0, unit="C")
    assert status.setpoint == 18.0
    assert status.programs == [1]
    assert status.activation_time is None
    assert status.temperature_format == "C"
    assert status.load_state is LoadState.INACTIVE
    assert status.time == datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST)
    assert status.time.utcoffset() == timedelta(hours=2)
    assert status.temperature == 19.5
    assert status.humidity == 61.9
    assert status.thermometer == Sensor(
        [Measure(19.5, "C", datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST))]
    )
    assert status.hygrometer == Sensor(
        [Measure(61.9, "%", datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST))]
    )
    assert status.online is None
    assert status.sender == Sender(
        plant=PlantRef(id=PLANT, module=ModuleRef(id=MODULE)),
        address_type="addressLocation",
        system="thermoregulation",
    )
    assert status.plant_id == PLANT
    assert status.module_id == MODULE
    assert status.receiver is None


def test_c2c_event_fixture_structures_strictly() -> None:
    event = load("smarther_c2c_event.json")
    status = strict(event[0]["data"]["chronothermostats"][0], ChronothermostatStatus)

    assert status.function is Function.HEATING
    assert status.mode is Mode.AUTOMATIC
    assert status.setpoint == 19.0
    assert status.set_point is not None
    assert status.set_point.unit == "C"
    assert status.programs == [1]  # sent as the string "1"
    assert status.temperature_format == "C"
    assert status.load_state is LoadState.INACTIVE
    assert status.time == datetime(2021, 1, 5, 17, 53, 23, tzinfo=UTC)
    assert status.time.utcoffset() == timedelta(0)
    assert status.temperature == 20.0
    assert status.humidity == 60.0
    assert status.thermometer is not None
    assert status.thermometer.measures[0].timestamp == datetime(2021, 1, 5, 17, 53, 22, tzinfo=UTC)
    assert status.online is False
    assert status.sender is not None
    assert status.sender.address_type == "AddressLocation"
    assert status.sender.system == "thermoregulation"
    assert status.plant_id == PLANT
    assert status.module_id == MODULE
    assert status.receiver == Receiver(oid=[SUBSCRIPTION])


def test_fixture_with_an_unknown_key_fails_strict_but_not_lenient() -> None:
    data = status_payload()
    data["newFirmwareField"] = 1
    with pytest.raises(ResponseValidationError) as info:
        strict(data, ChronothermostatStatus)
    assert any(e.startswith("extra fields found (newFirmwareField)") for e in info.value.errors)
    assert structure(data, ChronothermostatStatus).mode is Mode.AUTOMATIC


# --------------------------------------------------------------------------- enums


@pytest.mark.parametrize(
    ("function", "mode", "load_state"),
    [
        ("HEATING", "MANUAL", "ACTIVE"),
        ("heating", "manual", "active"),
        ("Heating", "mAnUaL", "Active"),
        (" heating ", "MANUAL ", " active"),
    ],
)
def test_enums_accept_any_case(function: str, mode: str, load_state: str) -> None:
    status = strict(
        minimal(function=function, mode=mode, loadState=load_state), ChronothermostatStatus
    )
    assert status.function is Function.HEATING
    assert status.mode is Mode.MANUAL
    assert status.load_state is LoadState.ACTIVE


@pytest.mark.parametrize(
    ("wire", "member"),
    [
        ("COOLING", Function.COOLING),
        ("cooling", Function.COOLING),
        ("HEATING", Function.HEATING),
        ("DEHUMIDIFY", Function.UNKNOWN),
        ("", Function.UNKNOWN),
    ],
)
def test_function_values(wire: str, member: Function) -> None:
    assert strict(minimal(function=wire), ChronothermostatStatus).function is member


@pytest.mark.parametrize(
    ("wire", "member"),
    [
        ("AUTOMATIC", Mode.AUTOMATIC),
        ("MANUAL", Mode.MANUAL),
        ("BOOST", Mode.BOOST),
        ("OFF", Mode.OFF),
        ("PROTECTION", Mode.PROTECTION),
        ("Protection", Mode.PROTECTION),
        ("HOLIDAY", Mode.UNKNOWN),
        ("unknown", Mode.UNKNOWN),
    ],
)
def test_mode_values(wire: str, member: Mode) -> None:
    assert strict(minimal(mode=wire), ChronothermostatStatus).mode is member


def test_unknown_load_state_and_missing_load_state_are_unknown() -> None:
    assert strict(minimal(loadState="FLICKERING"), ChronothermostatStatus).load_state is (
        LoadState.UNKNOWN
    )
    assert strict(minimal(), ChronothermostatStatus).load_state is LoadState.UNKNOWN


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("18.00000", 18.0),
        ("19.1", 19.1),
        (19.1, 19.1),
        (19, 19.0),
        ("19", 19.0),
        (" 21.5 ", 21.5),
        ("-3.5", -3.5),
    ],
)
def test_setpoint_value_variants(value: Any, expected: float) -> None:
    status = strict(minimal(setPoint={"value": value, "unit": "C"}), ChronothermostatStatus)
    assert status.setpoint == expected
    assert isinstance(status.setpoint, float)
    assert status.set_point == SetPoint(expected, "C")


def test_setpoint_unit_defaults_to_celsius_and_fahrenheit_is_kept() -> None:
    assert strict(minimal(setPoint={"value": "20"}), ChronothermostatStatus).set_point == SetPoint(
        20.0, "C"
    )
    assert strict(
        minimal(setPoint={"value": "68", "unit": "F"}), ChronothermostatStatus
    ).set_point == SetPoint(68.0, "F")


@pytest.mark.parametrize(
    ("programs", "expected"),
    [
        ([{"number": 1}], [1]),
        ([{"number": "1"}], [1]),
        ([{"number": " 7 "}], [7]),
        ([{"number": 2.0}], [2]),
        ([{"number": 0}, {"number": "11"}], [0, 11]),
        ([], []),
    ],
)
def test_program_number_variants(programs: list[Any], expected: list[int]) -> None:
    assert strict(minimal(programs=programs), ChronothermostatStatus).programs == expected


@pytest.mark.parametrize("address_type", ["addressLocation", "AddressLocation"])
def test_sender_address_type_is_kept_as_sent(address_type: str) -> None:
    sender = {"addressType": address_type, "system": "thermoregulation", "plant": {"id": PLANT}}
    status = strict(minimal(sender=sender), ChronothermostatStatus)
    assert status.sender == Sender(
        plant=PlantRef(id=PLANT), address_type=address_type, system="thermoregulation"
    )
    assert status.plant_id == PLANT
    assert status.module_id is None


@pytest.mark.parametrize(("wire", "expected"), [(True, True), (False, False), ("true", True)])
def test_online_variants(wire: Any, expected: bool) -> None:
    assert strict(minimal(online=wire), ChronothermostatStatus).online is expected


# --------------------------------------------------------------------------- datetimes


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2021-02-27T22:49:32+02:00", datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST)),
        ("2019-11-17T02:00:47Z", datetime(2019, 11, 17, 2, 0, 47, tzinfo=UTC)),
        ("2019-11-17T02:00:47+00:00", datetime(2019, 11, 17, 2, 0, 47, tzinfo=UTC)),
        ("2026-11-21T22:30:00", datetime(2026, 11, 21, 22, 30)),
        (
            "2021-02-27T22:49:32.123456+02:00",
            datetime(2021, 2, 27, 22, 49, 32, 123456, tzinfo=CEST),
        ),
        ("2021-02-27T22:49:32.5Z", datetime(2021, 2, 27, 22, 49, 32, 500000, tzinfo=UTC)),
        ("2021-02-27T22:49:32.250", datetime(2021, 2, 27, 22, 49, 32, 250000)),
    ],
)
def test_datetime_variants(wire: str, expected: datetime) -> None:
    status = strict(minimal(time=wire, activationTime=wire), ChronothermostatStatus)
    for value in (status.time, status.activation_time):
        assert value == expected
        assert value.utcoffset() == expected.utcoffset()  # naive stays naive, offsets kept
    measure = strict({"value": "20", "timeStamp": wire}, Measure)
    assert measure.timestamp == expected


def test_naive_datetime_stays_naive() -> None:
    status = strict(minimal(activationTime="2026-11-21T22:30:00"), ChronothermostatStatus)
    assert status.activation_time is not None
    assert status.activation_time.tzinfo is None


@pytest.mark.parametrize("wire", ["", None])
def test_empty_activation_time_is_none(wire: str | None) -> None:
    assert strict(minimal(activationTime=wire), ChronothermostatStatus).activation_time is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-01-01T10:00:00/2026-01-01T10:30:00", datetime(2026, 1, 1, 10, 30)),
        ("2026-01-01T10:00:00Z/2026-01-01T11:30:00Z", datetime(2026, 1, 1, 11, 30, tzinfo=UTC)),
        ("2026-01-01T10:00:00 / 2026-01-01T10:30:00", datetime(2026, 1, 1, 10, 30)),
    ],
)
def test_activation_time_range_means_its_end(wire: str, expected: datetime) -> None:
    status = strict(minimal(mode="BOOST", activationTime=wire), ChronothermostatStatus)
    assert status.mode is Mode.BOOST
    assert status.activation_time == expected
    assert status.activation_time.utcoffset() == expected.utcoffset()


def test_missing_optional_fields() -> None:
    status = strict({"function": "COOLING", "mode": "PROTECTION"}, ChronothermostatStatus)
    assert status == ChronothermostatStatus(function=Function.COOLING, mode=Mode.PROTECTION)
    assert status.set_point is None
    assert status.setpoint is None
    assert status.programs == []
    assert status.activation_time is None
    assert status.temperature_format is None
    assert status.load_state is LoadState.UNKNOWN
    assert status.time is None
    assert status.thermometer is None
    assert status.temperature is None
    assert status.hygrometer is None
    assert status.humidity is None
    assert status.online is None
    assert status.sender is None
    assert status.plant_id is None
    assert status.module_id is None
    assert status.receiver is None


def test_sender_without_plant_and_empty_sensors() -> None:
    status = strict(
        minimal(sender={"system": "thermoregulation"}, thermometer={}, hygrometer={"measures": []}),
        ChronothermostatStatus,
    )
    assert status.plant_id is None
    assert status.module_id is None
    assert status.thermometer == Sensor()
    assert status.temperature is None
    assert status.humidity is None


def test_measure_without_timestamp_or_unit() -> None:
    assert strict({"value": "20.5"}, Measure) == Measure(20.5)
    assert strict({"value": 20, "timeStamp": ""}, Measure) == Measure(20.0)


# --------------------------------------------------------------------------- latest measure


def measure(value: float, stamp: str | None) -> dict[str, Any]:
    return {"value": str(value), "unit": "C"} | ({"timeStamp": stamp} if stamp else {})


@pytest.mark.parametrize(
    ("measures", "latest"),
    [
        # the newest by timestamp, wherever it is in the list
        (
            [
                measure(19.0, "2021-02-27T22:00:00+02:00"),
                measure(21.0, "2021-02-27T23:00:00+02:00"),
                measure(20.0, "2021-02-27T22:30:00+02:00"),
            ],
            21.0,
        ),
        # instants, not wall clocks: 21:30Z is after 23:00+02:00
        (
            [measure(21.5, "2021-02-27T21:30:00Z"), measure(18.0, "2021-02-27T23:00:00+02:00")],
            21.5,
        ),
        ([measure(17.0, "2021-02-27T23:00:00"), measure(16.0, "2021-02-27T22:00:00")], 17.0),
        # no (or some missing) timestamps: the last one sent
        ([measure(19.0, None), measure(22.0, None)], 22.0),
        ([measure(19.0, "2021-02-27T23:00:00Z"), measure(22.0, None)], 22.0),
        # naive and aware mixed cannot be ordered: the last one sent
        ([measure(19.0, "2021-02-27T23:00:00Z"), measure(23.0, "2021-02-27T22:00:00")], 23.0),
        ([measure(19.5, "2021-02-27T23:00:00Z")], 19.5),
        ([], None),
    ],
)
def test_latest_measure(measures: list[dict[str, Any]], latest: float | None) -> None:
    status = strict(
        minimal(thermometer={"measures": measures}, hygrometer={"measures": measures}),
        ChronothermostatStatus,
    )
    assert status.temperature == latest
    assert status.humidity == latest
    assert status.thermometer is not None
    assert len(status.thermometer.measures) == len(measures)
    newest = status.thermometer.latest
    assert (newest.value if newest is not None else None) == latest


# --------------------------------------------------------------------------- malformed data


def with_fields(**changes: Any) -> dict[str, Any]:
    data = status_payload()
    data.update(changes)
    return data


def without(key: str) -> dict[str, Any]:
    data = status_payload()
    del data[key]
    return data


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param(without("mode"), "$.mode", id="missing-mode"),
        pytest.param(without("function"), "$.function", id="missing-function"),
        pytest.param(
            with_fields(setPoint={"value": "abc", "unit": "C"}), "$.set_point", id="setpoint-abc"
        ),
        pytest.param(with_fields(setPoint={"unit": "C"}), "$.set_point", id="setpoint-no-value"),
        pytest.param(
            with_fields(setPoint={"value": "NaN", "unit": "C"}), "$.set_point", id="setpoint-nan"
        ),
        pytest.param(
            with_fields(setPoint={"value": True, "unit": "C"}), "$.set_point", id="setpoint-bool"
        ),
        pytest.param(with_fields(programs=[{"number": "x"}]), "$.programs", id="program-x"),
        pytest.param(with_fields(programs=[{"number": 1.5}]), "$.programs", id="program-1.5"),
        pytest.param(with_fields(programs=[{"number": True}]), "$.programs", id="program-bool"),
        pytest.param(with_fields(programs=[{}]), "$.programs", id="program-no-number"),
        pytest.param(with_fields(programs={"number": 1}), "$.programs", id="programs-object"),
        pytest.param(with_fields(temperatureFormat=True), "$.temperature_format", id="bool-str"),
        pytest.param(with_fields(function=True), "$.function", id="bool-enum"),
        pytest.param(with_fields(function=1), "$.function", id="int-enum"),
        pytest.param(with_fields(online="yes"), "$.online", id="online-yes"),
        pytest.param(with_fields(setPoint=[]), "$.set_point", id="list-for-setpoint"),
        pytest.param(with_fields(sender=["x"]), "$.sender", id="list-for-sender"),
        pytest.param(with_fields(thermometer=[]), "$.thermometer", id="list-for-sensor"),
        pytest.param(
            with_fields(thermometer={"measures": [[]]}), "$.thermometer", id="list-for-measure"
        ),
        pytest.param(with_fields(time="yesterday"), "$.time", id="bad-time"),
        pytest.param(with_fields(time=1614458972), "$.time", id="epoch-time"),
        pytest.param(with_fields(activationTime="2026-01-01T10:00:00/"), "$.activation", id="/"),
        pytest.param(with_fields(extra=1), "$", id="extra-key"),
        pytest.param([], "$", id="list-for-status"),
        pytest.param(None, "$", id="null-status"),
        pytest.param("status", "$", id="string-for-status"),
    ],
)
def test_malformed_status_raises_response_validation_error(data: Any, path: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        strict(data, ChronothermostatStatus)
    errors = info.value.errors
    assert errors
    assert all(e.split(" @ ")[-1].startswith("$") for e in errors), errors
    assert any(e.split(" @ ")[-1].startswith(path) for e in errors), errors
    assert str(info.value).startswith("the response does not fit the model")


def test_malformed_status_raises_with_the_lenient_converter_too() -> None:
    for data in (without("mode"), with_fields(setPoint={"value": "abc"}), with_fields(setPoint=[])):
        with pytest.raises(ResponseValidationError):
            structure(data, ChronothermostatStatus)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"id": True, "name": "home"}, Plant),
        ({"id": "p", "name": ["home"]}, Plant),
        ({"id": "p"}, Plant),
        ({"id": "p", "name": "home", "modules": [[]]}, Topology),
        ({"id": "p", "name": "home", "modules": [{"id": "m", "name": "x"}]}, Topology),
        ({"capability": "function", "canDo": []}, Capability),
        ({"number": "x"}, Program),
        ({"number": False, "name": "x"}, Program),
        ({"plantId": "p", "subscriptionId": "s", "endPointUrl": "https://x"}, Subscription),
        ({"thermometer": {"measures": [{"value": "abc"}]}}, Measures),
        ({"thermometer": {"measures": {"value": "1"}}}, Measures),
        ({"sender": []}, Measures),
        ({"id": "p", "name": "x"}, list[Plant]),
        ([{"id": "p"}], list[Plant]),
    ],
)
def test_other_malformed_payloads(data: Any, cls: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        strict(data, cls)
    assert info.value.errors
    assert all(e.split(" @ ")[-1].startswith("$") for e in info.value.errors)


# --------------------------------------------------------------------------- other responses

CAN_DO_ALL = {"command": {"do": True}, "request": {"do": True}, "notification": {"do": True}}


def test_topology() -> None:
    data = {
        "id": PLANT,
        "name": "Home",
        "modules": [
            {
                "device": "chronothermostat",
                "id": MODULE,
                "name": "Living room",
                "capabilities": [
                    {"capability": "function", "canDo": CAN_DO_ALL},
                    {"capability": "setPoint", "canDo": {"command": {"do": False}}},
                ],
            },
            {"device": "chronothermostat", "id": "m2", "name": "Bedroom"},
        ],
    }
    topology = strict(data, Topology)
    assert topology == Topology(
        id=PLANT,
        name="Home",
        modules=[
            Module(
                id=MODULE,
                name="Living room",
                device="chronothermostat",
                capabilities=[
                    Capability("function", CAN_DO_ALL),
                    Capability("setPoint", {"command": {"do": False}}),
                ],
            ),
            Module(id="m2", name="Bedroom", device="chronothermostat"),
        ],
    )
    assert topology.modules[1].capabilities == []
    assert strict({"id": PLANT, "name": "Empty"}, Topology).modules == []


def test_capability_can_do_keeps_any_shape_as_sent() -> None:
    odd = {"command": True, "request": {"do": "true"}, "notification": [{"do": 1}]}
    assert strict({"capability": "mode", "canDo": odd}, Capability) == Capability("mode", odd)
    assert strict({"capability": "mode"}, Capability) == Capability("mode", {})


def test_topology_rejects_unknown_keys() -> None:
    data = {
        "id": PLANT,
        "name": "Home",
        "modules": [{"device": "d", "id": "m", "name": "n", "x": 1}],
    }
    with pytest.raises(ResponseValidationError) as info:
        strict(data, Topology)
    assert any("$.modules[0]" in e for e in info.value.errors)


def test_plant_list() -> None:
    body = {"plants": [{"id": PLANT, "name": "Home"}, {"id": "other", "name": "Cottage"}]}
    assert strict(body["plants"], list[Plant]) == [Plant(PLANT, "Home"), Plant("other", "Cottage")]
    assert strict([], list[Plant]) == []


def test_program_list_with_int_and_string_numbers() -> None:
    body = {
        "chronothermostats": [
            {
                "programs": [
                    {"number": 0, "name": "Default"},
                    {"number": "1", "name": "Winter"},
                    {"number": 11},
                ]
            }
        ]
    }
    programs = strict(body["chronothermostats"][0]["programs"], list[Program])
    assert programs == [Program(0, "Default"), Program(1, "Winter"), Program(11, None)]


def test_subscription_list_uses_wire_keys() -> None:
    body = [
        {"plantId": PLANT, "subscriptionId": SUBSCRIPTION, "EndPointUrl": "https://example.org/h"},
        {"plantId": "p2", "subscriptionId": "s2", "EndPointUrl": "https://example.org/other"},
    ]
    subscriptions = strict(body, list[Subscription])
    assert subscriptions == [
        Subscription(
            plant_id=PLANT, subscription_id=SUBSCRIPTION, endpoint_url="https://example.org/h"
        ),
        Subscription(plant_id="p2", subscription_id="s2", endpoint_url="https://example.org/other"),
    ]
    assert unstructure(subscriptions[0]) == body[0]


def test_measures() -> None:
    body = {
        "thermometer": {
            "measures": [
                {"timeStamp": "2021-02-27T22:00:00+02:00", "value": "19.0", "unit": "C"},
                {"timeStamp": "2021-02-27T22:49:32+02:00", "value": "19.5", "unit": "C"},
            ]
        },
        "hygrometer": {
            "measures": [{"timeStamp": "2021-02-27T22:49:32+02:00", "value": "61.9", "unit": "%"}]
        },
        "sender": {
            "addressType": "addressLocation",
            "system": "thermoregulation",
            "plant": {"id": PLANT, "module": {"id": MODULE}},
        },
    }
    measures = strict(body, Measures)
    assert measures.temperature == 19.5
    assert measures.humidity == 61.9
    assert measures.thermometer.measures == [
        Measure(19.0, "C", datetime(2021, 2, 27, 22, 0, tzinfo=CEST)),
        Measure(19.5, "C", datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST)),
    ]
    assert measures.hygrometer.measures == [
        Measure(61.9, "%", datetime(2021, 2, 27, 22, 49, 32, tzinfo=CEST))
    ]
    assert measures.sender == Sender(
        plant=PlantRef(PLANT, ModuleRef(MODULE)),
        address_type="addressLocation",
        system="thermoregulation",
    )


def test_measures_missing_sensors() -> None:
    measures = strict({}, Measures)
    assert measures == Measures()
    assert measures.temperature is None
    assert measures.humidity is None
    assert strict({"thermometer": {"measures": []}}, Measures).thermometer == Sensor()


# --------------------------------------------------------------------------- known bugs


def test_string_for_list_of_strings_is_rejected() -> None:
    with pytest.raises(ResponseValidationError):
        strict({"oid": "abc"}, Receiver)


def test_object_for_list_is_rejected() -> None:
    with pytest.raises(ResponseValidationError):
        strict({"id": PLANT, "name": "Home", "modules": {}}, Topology)


def test_strict_forbids_extra_keys_in_status_programs() -> None:
    with pytest.raises(ResponseValidationError):
        strict(minimal(programs=[{"number": 1, "name": "Winter"}]), ChronothermostatStatus)


# --------------------------------------------------------------------------- round-trips

texts = st.text(max_size=12)
opt_texts = st.none() | texts
finite = st.floats(allow_nan=False, allow_infinity=False)
fixed_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.none() | st.just(UTC) | fixed_offsets,
)
opt_datetimes = st.none() | datetimes


def lenient_enum(cls: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(cls))


measures_st = st.builds(Measure, value=finite, unit=opt_texts, timestamp=opt_datetimes)
sensors = st.builds(Sensor, measures=st.lists(measures_st, max_size=3))
plant_refs = st.builds(PlantRef, id=texts, module=st.none() | st.builds(ModuleRef, id=texts))
senders = st.builds(Sender, plant=st.none() | plant_refs, address_type=opt_texts, system=opt_texts)
statuses = st.builds(
    ChronothermostatStatus,
    function=lenient_enum(Function),
    mode=lenient_enum(Mode),
    set_point=st.none() | st.builds(SetPoint, value=finite, unit=texts),
    programs=st.lists(st.integers(), max_size=3),
    activation_time=opt_datetimes,
    temperature_format=opt_texts,
    load_state=lenient_enum(LoadState),
    time=opt_datetimes,
    thermometer=st.none() | sensors,
    hygrometer=st.none() | sensors,
    online=st.none() | st.booleans(),
    sender=st.none() | senders,
    receiver=st.none() | st.builds(Receiver, oid=st.lists(texts, max_size=3)),
)
capabilities = st.builds(
    Capability,
    capability=texts,
    can_do=st.dictionaries(
        texts,
        st.booleans() | st.dictionaries(texts, st.booleans() | texts | st.integers(), max_size=3),
        max_size=3,
    ),
)
modules = st.builds(
    Module, id=texts, name=texts, device=texts, capabilities=st.lists(capabilities, max_size=3)
)
topologies = st.builds(Topology, id=texts, name=texts, modules=st.lists(modules, max_size=3))
plants = st.builds(Plant, id=texts, name=texts)
programs = st.builds(Program, number=st.integers(), name=opt_texts)
subscriptions = st.builds(Subscription, plant_id=texts, subscription_id=texts, endpoint_url=texts)
measures_responses = st.builds(
    Measures, thermometer=sensors, hygrometer=sensors, sender=st.none() | senders
)


def assert_round_trips(value: Any) -> None:
    wire = unstructure(value, converter=STRICT)
    back = strict(wire, type(value))
    assert back == value
    # the wire form is stable too (a second pass gives the same JSON-ready data)
    assert unstructure(back, converter=STRICT) == wire


@settings(max_examples=60, deadline=None)
@given(statuses)
def test_status_round_trips(value: ChronothermostatStatus) -> None:
    assert_round_trips(value)


@settings(max_examples=30, deadline=None)
@given(topologies)
def test_topology_round_trips(value: Topology) -> None:
    assert_round_trips(value)


@settings(max_examples=30, deadline=None)
@given(st.one_of(plants, programs, subscriptions))
def test_small_models_round_trip(value: Plant | Program | Subscription) -> None:
    assert_round_trips(value)


@settings(max_examples=40, deadline=None)
@given(measures_responses)
def test_measures_round_trip(value: Measures) -> None:
    assert_round_trips(value)


LISTS = st.one_of(
    *(
        st.tuples(st.just(cls), st.lists(strategy, max_size=3))
        for cls, strategy in [
            (Plant, plants),
            (Program, programs),
            (Subscription, subscriptions),
            (Topology, topologies),
        ]
    )
)


@settings(max_examples=30, deadline=None)
@given(LISTS)
def test_lists_round_trip(case: tuple[type, list[Any]]) -> None:
    cls, values = case
    wire = unstructure(values, converter=STRICT)
    assert strict(wire, list[cls]) == values


@settings(max_examples=40, deadline=None)
@given(datetimes)
def test_datetime_round_trip_keeps_offset(moment: datetime) -> None:
    status = ChronothermostatStatus(Function.HEATING, Mode.OFF, time=moment)
    back = strict(unstructure(status, converter=STRICT), ChronothermostatStatus)
    assert back.time == moment
    assert back.time is not None
    assert back.time.utcoffset() == moment.utcoffset()
