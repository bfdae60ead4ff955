"""The sandbox HubSpot against the real ``hubspot-api-client``, over HTTP on 127.0.0.1.

Time-dependent behaviour (the ten-second rate window, 2-second record locks) runs on a fake
clock the tests move, so the module never sleeps for real except in the timeout and latency
tests.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException, UnauthorizedException
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest
from hubspot.crm.lists.exceptions import ApiException as ListsApiException
from hubspot.crm.properties import OptionInput, PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from sandbox.servers import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY
from sandbox.servers.hubspot import BATCH_PATH, LISTS_PATH, PROPERTIES_PATH, is_valid_email
from sandbox.servers.latency import Latency

UPSERT = f"{BATCH_PATH}/upsert"
AUTH = {"Authorization": f"Bearer {SANDBOX_HUBSPOT_TOKEN}"}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[HubSpotServer]:
    with HubSpotServer(clock=clock) as running:
        yield running


@pytest.fixture
def client(server: HubSpotServer) -> HubSpot:
    return HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=server.url)


# ------------------------------------------------------------------------------ helpers


def upsert_body(
    rows: list[tuple[str, dict[str, str]]], *, traces: bool = True
) -> BatchInputSimplePublicObjectBatchInputUpsert:
    """An upsert by email; trace ids ``trace-<email>`` unless ``traces`` is False."""
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id=email,
                id_property="email",
                object_write_trace_id=f"trace-{email}" if traces else None,
                properties=props,
            )
            for email, props in rows
        ]
    )


def upsert(client: HubSpot, rows: list[tuple[str, dict[str, str]]], **kwargs):
    return client.crm.contacts.batch_api.upsert_with_http_info(
        batch_input_simple_public_object_batch_input_upsert=upsert_body(rows, **kwargs)
    )


def error_body(exc: Exception) -> dict:
    return json.loads(exc.body)


def create_property(client: HubSpot, name: str, kind: str, field_type: str, **more):
    return client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name=name,
            label=name.title(),
            type=kind,
            field_type=field_type,
            group_name="contactinformation",
            **more,
        ),
    )


def create_list(client: HubSpot, name: str, processing_type: str = "MANUAL") -> str:
    request = ListCreateRequest(name=name, object_type_id="0-1", processing_type=processing_type)
    return client.crm.lists.lists_api.create(list_create_request=request).list.list_id


def post(server: HubSpotServer, path: str, body: object, timeout: float = 5.0) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, headers=AUTH, timeout=timeout)


# ------------------------------------------------------------------------------ upsert


def test_upsert_creates_then_updates_and_results_map_by_trace_id(
    client: HubSpot, server: HubSpotServer
) -> None:
    rows = [(f"user{n}@example.com", {"firstname": f"User {n}"}) for n in range(3)]

    data, status, headers = upsert(client, rows)

    assert status == 200
    assert isinstance(data, BatchResponseSimplePublicUpsertObject)
    assert data.status == "COMPLETE"
    # Results are not in input order: clients must map them by trace id (or id).
    assert [r.object_write_trace_id for r in data.results] == [
        f"trace-user{n}@example.com" for n in (2, 1, 0)
    ]
    first = {r.object_write_trace_id: r for r in data.results}
    assert all(r.new for r in data.results)
    result = first["trace-user0@example.com"]
    assert result.properties["email"] == "user0@example.com"
    assert result.properties["firstname"] == "User 0"
    assert result.properties["hs_object_id"] == result.id
    assert {"createdate", "lastmodifieddate"} <= set(result.properties)
    assert headers["X-HubSpot-RateLimit-Remaining"] == "189"

    # Emails match case-insensitively; an update keeps the ids and says new=False.
    again, status, _ = upsert(client, [("USER0@Example.com", {"lastname": "Lovelace"})])
    assert status == 200
    (updated,) = again.results
    assert (updated.id, updated.new) == (result.id, False)
    assert updated.properties["firstname"] == "User 0"
    assert updated.properties["lastname"] == "Lovelace"

    assert len(server.contacts()) == 3
    assert server.contact("user0@example.com")["id"] == result.id
    assert server.writes("user0@example.com") == 2
    assert server.writes("user1@example.com") == 1
    assert server.write_requests() == 2
    logged = json.loads(server.calls(UPSERT)[0].body)
    assert logged["inputs"][0]["objectWriteTraceId"] == "trace-user0@example.com"


def test_ids_are_numeric_and_never_reused(client: HubSpot, server: HubSpotServer) -> None:
    data, _, _ = upsert(client, [("a@example.com", {}), ("b@example.com", {})])
    ids = sorted(int(r.id) for r in data.results)
    assert ids == [1001, 1002]

    post(server, f"{BATCH_PATH}/archive", {"inputs": [{"id": "1002"}]})
    data, _, _ = upsert(client, [("b@example.com", {})])

    (recreated,) = data.results
    assert (recreated.id, recreated.new) == ("1003", True)
    assert [c["id"] for c in server.contacts(include_archived=True)] == ["1001", "1002", "1003"]


def test_bad_value_gives_207_with_the_good_rows_written(
    client: HubSpot, server: HubSpotServer
) -> None:
    create_property(client, "recur_score", "number", "number")
    rows = [
        ("good1@example.com", {"recur_score": "12.5"}),
        ("bad@example.com", {"recur_score": "twelve"}),
        ("good2@example.com", {"recur_score": "3"}),
    ]

    data, status, _ = upsert(client, rows)

    assert status == 207
    assert isinstance(data, BatchResponseSimplePublicUpsertObjectWithErrors)
    assert data.num_errors == 1
    assert sorted(r.properties["email"] for r in data.results) == [
        "good1@example.com",
        "good2@example.com",
    ]
    (error,) = data.errors
    assert error.status == "error"
    assert error.category == "VALIDATION_ERROR"
    assert error.context == {
        "ids": ["bad@example.com"],
        "objectWriteTraceId": ["trace-bad@example.com"],
    }
    assert [(d.code, d._in) for d in error.errors] == [("INVALID_INTEGER", "recur_score")]
    assert error.message.startswith("Property values were not valid: ")
    assert server.contact("bad@example.com") is None
    assert server.contact("good1@example.com")["properties"]["recur_score"] == "12.5"


def test_bad_value_without_unique_trace_ids_fails_the_whole_batch(
    client: HubSpot, server: HubSpotServer
) -> None:
    create_property(client, "recur_score", "number", "number")
    rows = [("good@example.com", {"recur_score": "1"}), ("bad@example.com", {"recur_score": "x"})]

    with pytest.raises(ApiException) as raised:
        upsert(client, rows, traces=False)

    assert raised.value.status == 400
    body = error_body(raised.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"] == [
        {"message": "x was not a valid number.", "code": "INVALID_INTEGER", "in": "recur_score"}
    ]
    assert server.contacts() == []


def test_more_than_100_inputs_is_a_400(client: HubSpot, server: HubSpotServer) -> None:
    rows = [(f"u{n}@example.com", {}) for n in range(101)]

    with pytest.raises(ApiException) as raised:
        upsert(client, rows)

    assert raised.value.status == 400
    assert error_body(raised.value)["category"] == "VALIDATION_ERROR"
    assert server.contacts() == []
    data, status, _ = upsert(client, rows[:100])
    assert (status, len(data.results)) == (200, 100)


def test_one_invalid_email_fails_the_whole_batch(client: HubSpot, server: HubSpotServer) -> None:
    rows = [("ada@example.com", {}), ("grace@example.notatld", {}), ("alan@example.org", {})]

    with pytest.raises(ApiException) as raised:
        upsert(client, rows)

    assert raised.value.status == 400
    body = error_body(raised.value)
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["correlationId"]
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    assert json.loads(body["message"][len(prefix) :]) == [
        {
            "isValid": False,
            "message": "Email address grace@example.notatld is invalid",
            "error": "INVALID_EMAIL",
            "name": "email",
        }
    ]
    assert server.contacts() == []


def test_an_invalid_email_property_value_also_fails_the_batch(
    server: HubSpotServer,
) -> None:
    create = {"inputs": [{"properties": {"email": "no-at-sign.example.com"}}]}

    response = post(server, f"{BATCH_PATH}/create", create)

    assert response.status_code == 400
    assert '"error":"INVALID_EMAIL"' in response.json()["message"]


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ada@example.com", True),
        ("Ada.Lovelace+tag@mail.example.co.uk", True),
        ("x@startup.io", True),
        ("ada@example.notatld", False),
        ("ada@localhost", False),
        ("ada..l@example.com", False),
        ("ada@-example.com", False),
        ("@example.com", False),
        ("ada example@example.com", False),
        # HubSpot's documented rule: unicode domains and TLDs count, unicode or quoted local parts
        # do not, nor anything around the address
        ("ada@exämple.com", True),
        ("ada@email.삼성", True),
        ("üñîçødé@exämple.com", False),
        ('"ada l"@example.com', False),
        ("ada@example.com\n", False),
    ],
)
def test_email_validation(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


def test_unknown_and_read_only_properties_are_a_400(client: HubSpot, server: HubSpotServer) -> None:
    with pytest.raises(ApiException) as unknown:
        upsert(client, [("a@example.com", {"recur_nope": "1"})])
    with pytest.raises(ApiException) as read_only:
        upsert(client, [("a@example.com", {"hs_object_id": "5"})])

    assert unknown.value.status == read_only.value.status == 400
    assert error_body(unknown.value)["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert '"name":"recur_nope"' in error_body(unknown.value)["message"]
    assert error_body(read_only.value)["errors"][0]["code"] == "READ_ONLY_VALUE"
    assert server.contacts() == []


def test_upsert_needs_a_unique_id_property(client: HubSpot, server: HubSpotServer) -> None:
    create_property(client, "recur_customer_id", "string", "text", has_unique_value=True)
    by_firstname = {"inputs": [{"id": "Ada", "idProperty": "firstname", "properties": {}}]}

    refused = post(server, UPSERT, by_firstname)
    inputs = [{"id": "cust-1", "idProperty": "recur_customer_id", "properties": {"city": "Paris"}}]
    created = post(server, UPSERT, {"inputs": inputs})
    again = post(server, UPSERT, {"inputs": inputs})

    assert refused.status_code == 400
    assert "Unable to perform update/upsert by non-unique 0-1 property" in refused.json()["message"]
    assert created.status_code == again.status_code == 200
    assert created.json()["results"][0]["new"] is True
    assert again.json()["results"][0]["new"] is False
    assert created.json()["results"][0]["id"] == again.json()["results"][0]["id"]
    assert created.json()["results"][0]["properties"]["recur_customer_id"] == "cust-1"


def test_duplicate_ids_in_one_batch_are_a_400(server: HubSpotServer) -> None:
    inputs = [{"id": e, "idProperty": "email"} for e in ("a@example.com", "A@example.com")]

    response = post(server, UPSERT, {"inputs": inputs})

    assert response.status_code == 400
    assert "Duplicate IDs" in response.json()["message"]


def test_empty_string_clears_and_enumerations_are_checked(
    client: HubSpot, server: HubSpotServer
) -> None:
    options = [
        OptionInput(label=v.title(), value=v, display_order=n, hidden=False)
        for n, v in enumerate(("a", "b", "c"))
    ]
    create_property(client, "recur_tags", "enumeration", "checkbox", options=options)
    upsert(client, [("a@example.com", {"city": "Paris", "recur_tags": "a;c"})])

    data, status, _ = upsert(
        client,
        [
            ("a@example.com", {"city": "", "lifecyclestage": "customer"}),
            ("b@example.com", {"recur_tags": "a;z"}),
            ("c@example.com", {"lifecyclestage": "vip"}),
        ],
    )

    assert status == 207
    assert sorted(e.context["ids"][0] for e in data.errors) == ["b@example.com", "c@example.com"]
    assert {e.errors[0].code for e in data.errors} == {"INVALID_OPTION"}
    props = server.contact("a@example.com")["properties"]
    assert "city" not in props
    assert (props["recur_tags"], props["lifecyclestage"]) == ("a;c", "customer")


def test_set_property_options_turns_a_property_into_an_enumeration(
    client: HubSpot, server: HubSpotServer
) -> None:
    create_property(client, "recur_tier", "string", "text")
    upsert(client, [("a@example.com", {"recur_tier": "anything"})])

    server.set_property_options("recur_tier", ["low", "high"])
    data, status, _ = upsert(
        client,
        [("a@example.com", {"recur_tier": "high"}), ("b@example.com", {"recur_tier": "vip"})],
    )

    assert status == 207
    assert [r.properties["email"] for r in data.results] == ["a@example.com"]
    assert data.errors[0].errors[0].code == "INVALID_OPTION"
    fetched = client.crm.properties.core_api.get_by_name("contacts", "recur_tier")
    assert (fetched.type, [o.value for o in fetched.options]) == ("enumeration", ["low", "high"])


# ------------------------------------------------------------------------------ update, read, create


def test_update_by_email_of_a_missing_contact_is_a_207(
    client: HubSpot, server: HubSpotServer
) -> None:
    upsert(client, [("here@example.com", {"firstname": "Here"})])
    body = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(
                id=email,
                id_property="email",
                object_write_trace_id=f"t-{email}",
                properties={"lastname": "Updated"},
            )
            for email in ("here@example.com", "gone@example.com")
        ]
    )

    data, status, _ = client.crm.contacts.batch_api.update_with_http_info(
        batch_input_simple_public_object_batch_input=body
    )

    assert status == 207
    assert isinstance(data, BatchResponseSimplePublicObjectWithErrors)
    (result,) = data.results
    assert result.properties["lastname"] == "Updated"
    assert result.object_write_trace_id == "t-here@example.com"
    (error,) = data.errors
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {
        "ids": ["gone@example.com"],
        "objectWriteTraceId": ["t-gone@example.com"],
    }
    assert server.contact("gone@example.com") is None


def test_update_by_record_id_and_missing_ids(client: HubSpot, server: HubSpotServer) -> None:
    data, _, _ = upsert(client, [("a@example.com", {"city": "Paris"})])
    record_id = data.results[0].id
    post(server, f"{BATCH_PATH}/archive", {"inputs": [{"id": record_id}]})
    data, _, _ = upsert(client, [("b@example.com", {"city": "Rome"})])
    live_id = data.results[0].id

    response = post(
        server,
        f"{BATCH_PATH}/update",
        {"inputs": [{"id": live_id, "properties": {"city": ""}}, {"id": record_id}, {"id": "9"}]},
    )

    assert response.status_code == 207
    assert response.json()["errors"][0]["context"]["ids"] == [record_id, "9"]
    assert "city" not in server.contact("b@example.com")["properties"]


def test_batch_read_by_email(client: HubSpot, server: HubSpotServer) -> None:
    upsert(client, [("ada@example.com", {"firstname": "Ada", "city": "London"})])
    body = BatchReadInputSimplePublicObjectId(
        id_property="email",
        properties=["city"],
        properties_with_history=[],
        inputs=[
            SimplePublicObjectId(id="ADA@example.com"),
            SimplePublicObjectId(id="x@example.com"),
        ],
    )

    data = client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=body)

    (result,) = data.results
    assert result.properties["city"] == "London"
    assert result.properties["email"] == "ada@example.com"
    assert "firstname" not in result.properties
    (error,) = data.errors
    assert (error.category, error.context["ids"]) == ("OBJECT_NOT_FOUND", ["x@example.com"])


def test_batch_create_conflicts(client: HubSpot, server: HubSpotServer) -> None:
    upsert(client, [("taken@example.com", {})])
    existing = server.contact("taken@example.com")["id"]

    def create(traces: bool):
        inputs = [
            SimplePublicObjectBatchInputForCreate(
                properties={"email": email},
                associations=[],
                object_write_trace_id=f"t-{email}" if traces else None,
            )
            for email in ("taken@example.com", "fresh@example.com")
        ]
        return client.crm.contacts.batch_api.create_with_http_info(
            batch_input_simple_public_object_batch_input_for_create=(
                BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
            )
        )

    with pytest.raises(ApiException) as raised:
        create(traces=False)
    assert raised.value.status == 409
    assert error_body(raised.value)["category"] == "CONFLICT"
    assert server.contact("fresh@example.com") is None

    data, status, _ = create(traces=True)
    assert status == 207
    (error,) = data.errors
    assert error.category == "CONFLICT"
    assert error.message == f"Contact already exists. Existing ID: {existing}"
    assert error.context == {"objectWriteTraceId": ["t-taken@example.com"]}
    assert data.results[0].properties["email"] == "fresh@example.com"

    only_new = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(
                properties={"email": "n@example.com"}, associations=[]
            )
        ]
    )
    _, status, _ = client.crm.contacts.batch_api.create_with_http_info(
        batch_input_simple_public_object_batch_input_for_create=only_new
    )
    assert status == 201


def test_get_contacts_pages_and_single(client: HubSpot, server: HubSpotServer) -> None:
    upsert(client, [(f"p{n}@example.com", {"city": f"C{n}"}) for n in range(5)])
    basic = client.crm.contacts.basic_api

    first = basic.get_page(limit=2, properties=["city", "email"])
    second = basic.get_page(limit=2, after=first.paging.next.after, properties=["city"])
    one = basic.get_by_id(first.results[0].id, properties=["city"])
    by_email = basic.get_by_id("P3@example.com", id_property="email")

    assert [r.properties["email"] for r in first.results] == ["p0@example.com", "p1@example.com"]
    assert [r.properties["city"] for r in second.results] == ["C2", "C3"]
    assert one.properties["city"] == "C0"
    assert by_email.properties["email"] == "p3@example.com"
    with pytest.raises(ApiException) as raised:
        basic.get_by_id("424242")
    assert raised.value.status == 404


def test_archive_hides_contacts_and_removes_them_from_lists(
    client: HubSpot, server: HubSpotServer
) -> None:
    data, _, _ = upsert(client, [("a@example.com", {}), ("b@example.com", {})])
    ids = {r.properties["email"]: r.id for r in data.results}
    list_id = create_list(client, "audience")
    client.crm.lists.memberships_api.add(list_id, request_body=list(ids.values()))

    client.crm.contacts.batch_api.archive(
        batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=ids["a@example.com"])]
        )
    )

    assert server.list_members("audience") == {"b@example.com"}
    assert [c["email"] for c in server.contacts()] == ["b@example.com"]
    assert server.contacts(include_archived=True)[0]["archived"] is True
    added = client.crm.lists.memberships_api.add(list_id, request_body=[ids["a@example.com"]])
    assert added.record_ids_missing == [ids["a@example.com"]]


# ------------------------------------------------------------------------------ properties


def test_properties_create_get_and_conflict(client: HubSpot, server: HubSpotServer) -> None:
    core = client.crm.properties.core_api
    options = [OptionInput(label="High", value="high", display_order=0, hidden=False)]

    created = create_property(client, "recur_ltv_tier", "enumeration", "select", options=options)
    fetched = core.get_by_name("contacts", "recur_ltv_tier")
    names = {p.name for p in core.get_all("contacts").results}

    assert created.name == fetched.name == "recur_ltv_tier"
    assert [o.value for o in fetched.options] == ["high"]
    assert {"email", "firstname", "lifecyclestage", "hs_object_id", "recur_ltv_tier"} <= names
    assert server.property("recur_ltv_tier")["type"] == "enumeration"
    assert [o.value for o in core.get_by_name("contacts", "lifecyclestage").options][:2] == [
        "subscriber",
        "lead",
    ]
    with pytest.raises(PropertiesApiException) as duplicate:
        create_property(client, "recur_ltv_tier", "string", "text")
    assert duplicate.value.status == 409
    with pytest.raises(PropertiesApiException) as missing:
        core.get_by_name("contacts", "recur_nope")
    assert missing.value.status == 404
    bad_group = {
        "name": "x_y",
        "label": "X",
        "type": "string",
        "fieldType": "text",
        "groupName": "nope",
    }
    assert post(server, PROPERTIES_PATH, bad_group).status_code == 400
    no_field_type = {
        "name": "x_y",
        "label": "X",
        "type": "string",
        "groupName": "contactinformation",
    }
    assert post(server, PROPERTIES_PATH, no_field_type).status_code == 400


# ------------------------------------------------------------------------------ lists


def test_lists_and_memberships(client: HubSpot, server: HubSpotServer) -> None:
    data, _, _ = upsert(client, [(f"m{n}@example.com", {}) for n in range(4)])
    ids = sorted(r.id for r in data.results)
    lists_api, memberships = client.crm.lists.lists_api, client.crm.lists.memberships_api

    list_id = create_list(client, "High LTV / 2024")
    found = lists_api.get_by_name(list_name="High LTV / 2024", object_type_id="0-1")
    added = memberships.add(list_id, request_body=[ids[0], ids[1], "999999", "not-an-id"])
    again = memberships.add(list_id, request_body=[ids[0]])
    removed = memberships.remove(list_id, request_body=[ids[1], ids[2]])
    both = memberships.add_and_remove(
        list_id,
        membership_change_request=MembershipChangeRequest(
            record_ids_to_add=[ids[2], ids[3]], record_ids_to_remove=[ids[0]]
        ),
    )

    assert found.list.list_id == list_id
    assert found.list.processing_type == "MANUAL"
    assert (added.records_ids_added, added.record_ids_missing) == (
        [ids[0], ids[1]],
        ["999999", "not-an-id"],
    )
    assert (again.records_ids_added, again.record_ids_missing) == ([], [])
    assert (removed.record_ids_removed, removed.record_ids_missing) == ([ids[1]], [])
    assert (both.records_ids_added, both.record_ids_removed) == ([ids[2], ids[3]], [ids[0]])
    assert server.list_members("High LTV / 2024") == {"m2@example.com", "m3@example.com"}
    assert server.lists() == {"High LTV / 2024": list_id}
    assert lists_api.get_by_id(list_id).list.size == 2

    page = memberships.get_page(list_id, limit=1)
    rest = memberships.get_page(list_id, limit=1, after=page.paging.next.after)
    assert [m.record_id for m in page.results + rest.results] == [ids[2], ids[3]]
    assert rest.paging is None


def test_list_errors(client: HubSpot, server: HubSpotServer) -> None:
    create_list(client, "audience")
    dynamic = create_list(client, "smart", processing_type="DYNAMIC")

    with pytest.raises(ListsApiException) as duplicate:
        create_list(client, "audience")
    with pytest.raises(ListsApiException) as by_name:
        client.crm.lists.lists_api.get_by_name(list_name="nope", object_type_id="0-1")
    with pytest.raises(ListsApiException) as unknown:
        client.crm.lists.memberships_api.add("4242", request_body=["1"])
    with pytest.raises(ListsApiException) as not_manual:
        client.crm.lists.memberships_api.add(dynamic, request_body=["1"])

    assert (duplicate.value.status, error_body(duplicate.value)["category"]) == (409, "CONFLICT")
    assert by_name.value.status == unknown.value.status == 404
    assert not_manual.value.status == 400
    assert requests.get(f"{server.url}{LISTS_PATH}/{dynamic}", headers=AUTH, timeout=5).ok


# ------------------------------------------------------------------------------ auth and limits


def test_wrong_token_is_a_401(server: HubSpotServer) -> None:
    client = HubSpot(access_token="wrong", host=server.url)

    with pytest.raises(UnauthorizedException) as raised:
        upsert(client, [("a@example.com", {})])

    body = error_body(raised.value)
    assert (raised.value.status, body["category"]) == (401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found")
    assert requests.get(f"{server.url}{PROPERTIES_PATH}", timeout=5).status_code == 401
    assert server.contacts() == []


def test_ten_second_window_and_headers(server: HubSpotServer, clock: FakeClock) -> None:
    url = f"{server.url}{PROPERTIES_PATH}/email"
    with requests.Session() as session:
        session.headers.update(AUTH)
        answers = [session.get(url, timeout=5) for _ in range(191)]
        clock.advance(9.9)
        still = session.get(url, timeout=5)
        clock.advance(0.1)
        later = session.get(url, timeout=5)

    assert [a.status_code for a in answers[:190]] == [200] * 190
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers[:3]] == [
        "189",
        "188",
        "187",
    ]
    assert answers[189].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    refused = answers[190]
    assert refused.status_code == 429
    body = refused.json()
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["correlationId"] and body["requestId"]
    assert "Retry-After" not in refused.headers
    assert refused.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert refused.headers["X-HubSpot-RateLimit-Daily"] == "1000000"
    assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "999810"  # 429s don't count
    assert still.status_code == 429
    assert later.status_code == 200
    assert later.headers["X-HubSpot-RateLimit-Remaining"] == "189"


def test_daily_limit(clock: FakeClock) -> None:
    with HubSpotServer(clock=clock, rate_limit=None, daily_limit=2) as server:
        url = f"{server.url}{PROPERTIES_PATH}"
        answers = [requests.get(url, headers=AUTH, timeout=5) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["policyName"] == "DAILY"
    assert [a.headers["X-HubSpot-RateLimit-Daily-Remaining"] for a in answers] == ["1", "0", "0"]
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers


def test_third_write_of_a_record_within_two_seconds_is_locked(
    client: HubSpot, server: HubSpotServer, clock: FakeClock
) -> None:
    upsert(client, [("hot@example.com", {"city": "A"})])
    clock.advance(0.5)
    upsert(client, [("hot@example.com", {"city": "B"})])
    clock.advance(0.5)

    with pytest.raises(ApiException) as raised:
        upsert(client, [("hot@example.com", {"city": "C"}), ("cold@example.com", {})])

    assert raised.value.status == 423
    body = error_body(raised.value)
    assert body["category"] == "LOCKED"
    assert body["context"]["ids"] == [server.contact("hot@example.com")["id"]]
    assert server.contact("hot@example.com")["properties"]["city"] == "B"
    assert server.contact("cold@example.com") is None  # the whole request applied nothing
    clock.advance(1.0)  # the first write is now 2 s old
    _, status, _ = upsert(client, [("hot@example.com", {"city": "C"})])
    assert status == 200
    assert server.writes("hot@example.com") == 3


# ------------------------------------------------------------------------------ faults


def test_scripted_faults_have_hubspot_bodies(client: HubSpot, server: HubSpotServer) -> None:
    server.script(UPSERT, [429, 500, 477, 423, 200])
    rows = [("a@example.com", {})]

    failures = []
    for _ in range(4):
        with pytest.raises(ApiException) as raised:
            upsert(client, rows)
        failures.append(raised.value)
    data, status, _ = upsert(client, rows)

    assert [f.status for f in failures] == [429, 500, 477, 423]
    rate, internal, migrating, locked = (error_body(f) for f in failures)
    assert (rate["errorType"], rate["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert "Retry-After" not in failures[0].headers
    assert (internal["status"], internal["category"]) == ("error", "INTERNAL_ERROR")
    assert failures[2].headers["Retry-After"] == "3600"
    assert migrating["category"] == "MIGRATION_IN_PROGRESS"
    assert locked["category"] == "LOCKED"
    assert all("X-HubSpot-RateLimit-Remaining" in f.headers for f in failures)
    assert status == 200 and data.results[0].new is True
    assert server.writes("a@example.com") == 1
    assert [r.status for r in server.calls(UPSERT)] == [429, 500, 477, 423, 200]


def test_scripted_daily_limit(client: HubSpot, server: HubSpotServer) -> None:
    server.script(UPSERT, [200, "daily"])
    upsert(client, [("a@example.com", {})])

    with pytest.raises(ApiException) as raised:
        upsert(client, [("b@example.com", {})])

    assert raised.value.status == 429
    assert error_body(raised.value)["policyName"] == "DAILY"
    assert server.contact("b@example.com") is None


def test_client_retries_scripted_429_and_writes_once(server: HubSpotServer) -> None:
    retry = Retry(total=3, status_forcelist=[429, 500], allowed_methods=None, backoff_factor=0)
    client = HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=server.url, retry=retry)
    server.script(UPSERT, [429, 500])

    data, status, _ = upsert(client, [("a@example.com", {})])

    assert status == 200
    assert [r.status for r in server.calls(UPSERT)] == [429, 500, 200]
    assert server.writes("a@example.com") == 1


def test_delay_answers_late_but_applies_the_write(server: HubSpotServer) -> None:
    server.delay(UPSERT, 0.4)
    body = {"inputs": [{"id": "slow@example.com", "idProperty": "email", "properties": {}}]}

    with pytest.raises(requests.exceptions.ReadTimeout):
        post(server, UPSERT, body, timeout=0.1)

    assert server.contact("slow@example.com") is not None
    server.delay(UPSERT, 5.0, count=100)
    server.delay(UPSERT, 0, count=0)  # cancels the pending delay
    retried = post(server, UPSERT, body, timeout=1.0)
    assert retried.status_code == 200
    assert retried.json()["results"][0]["new"] is False
    assert server.writes("slow@example.com") == 2


def test_latency_delays_every_answer_and_requests_are_served_concurrently() -> None:
    with HubSpotServer(latency=Latency(median=0.3, p99=0.3)) as server:
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            answers = list(
                pool.map(
                    lambda _: requests.get(
                        f"{server.url}{PROPERTIES_PATH}", headers=AUTH, timeout=5
                    ),
                    range(6),
                )
            )
        seconds = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 6
        assert server.max_in_flight == 6
    assert 0.3 <= seconds < 6 * 0.3  # answered together, not one after another


def test_latency_is_lognormal_around_its_median_with_the_given_tail() -> None:
    latency = Latency(median=0.4, p99=1.5, seed=3)
    draws = sorted(latency.sample() for _ in range(20_000))
    assert draws[10_000] == pytest.approx(0.4, rel=0.03)
    assert draws[19_800] == pytest.approx(1.5, rel=0.1)
    assert Latency.parse("0.4:1.5", seed=3).sample() == Latency(0.4, 1.5, seed=3).sample()
    with pytest.raises(ValueError, match="MEDIAN:P99"):
        Latency.parse("slow")


# ------------------------------------------------------------------------------ persistence


def test_state_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "sandbox" / "hubspot.sqlite"
    with HubSpotServer(state, clock=clock) as first:
        client = HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=first.url)
        create_property(client, "recur_ltv_tier", "string", "text")
        data, _, _ = upsert(client, [("keep@example.com", {"recur_ltv_tier": "high"})])
        list_id = create_list(client, "audience")
        client.crm.lists.memberships_api.add(list_id, request_body=[data.results[0].id])
        before = first.contacts()

    with HubSpotServer(state, clock=clock) as second:
        client = HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=second.url)
        assert second.contacts() == before
        assert second.property("recur_ltv_tier") is not None
        assert second.lists() == {"audience": list_id}
        assert second.list_members("audience") == {"keep@example.com"}
        again, _, _ = upsert(client, [("keep@example.com", {}), ("new@example.com", {})])
        by_email = {r.properties["email"]: r for r in again.results}
        assert by_email["keep@example.com"].new is False
        assert int(by_email["new@example.com"].id) > int(before[0]["id"])

    second.start()  # the same object restarts on its file
    try:
        assert len(second.contacts()) == 2
    finally:
        second.stop()


# ------------------------------------------------------------------------------ recur sandbox


def _free_port_run() -> int:
    """A free port whose next three are free too (``recur sandbox`` serves four APIs)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            for offset in (1, 2, 3):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError("no four consecutive free ports")


def test_recur_sandbox_serves_hubspot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sandbox.servers import cli

    class Interrupted:
        def wait(self) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "threading", SimpleNamespace(Event=Interrupted))
    exports = tmp_path / "exports"
    exports.mkdir()
    port = _free_port_run()

    assert cli.serve(exports, port=port) == 0

    out = capsys.readouterr().out
    assert f"HUBSPOT_BASE_URL=http://127.0.0.1:{port + 2}" in out
    assert f"HUBSPOT_ACCESS_TOKEN={SANDBOX_HUBSPOT_TOKEN}" in out
    assert (tmp_path / "sandbox" / "hubspot.sqlite").exists()
    # Braze on the next port, its profiles saved when the sandbox stopped
    assert f"BRAZE_REST_URL=http://127.0.0.1:{port + 3}" in out
    assert f"BRAZE_API_KEY={SANDBOX_BRAZE_API_KEY}" in out
    assert (tmp_path / "sandbox" / "braze.json").exists()
