from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omnicx.bootstrap import Services
from tests.cli.conftest import Invoke
from tests.conftest import table_counts

CUSTOMERS = (
    "E-mail,Celular,First Name,Surname,City,Loyalty\n"
    "Ana.Souza@Example.com ,(11) 98765-4321,Ana,Souza,São Paulo,\n"
    "not-an-email,(11) 91234-5678,Bruno,Lima,Campinas,\n"
    ",,Carla,Dias,Santos,\n"
    ",11 99876 5432,Diego,Alves,,AUR-77\n"
    "joao@example.com,12345,João,Reis,,\n"
)
SUMMARY = [
    'customers.csv → source "Import (store)" (store)',
    "  rows read         5",
    "  imported          2",
    "  already imported  0",
    "  rejected          3",
    "Rejected rows (line 1 is the header):",
    "  line 3, column E-mail: 'not-an-email' is not an email address",
    "  line 4: no usable identifier; fill one of user_id, email, phone, loyalty_id",
    "  line 6, column Celular: '12345' is not a valid phone number",
]


def _write(tmp_path: Path, text: str, name: str = "customers.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _lookup(client: TestClient, admin: dict[str, str], kind: str, value: str) -> Any:
    return client.get("/api/customers/lookup", params={"kind": kind, "value": value}, headers=admin)


def test_good_rows_are_imported_and_bad_ones_reported_by_line(
    invoke: Invoke,
    client: TestClient,
    admin: dict[str, str],
    services: Services,
    tmp_path: Path,
) -> None:
    result = invoke("import", "customers", _write(tmp_path, CUSTOMERS), "--channel", "store")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == SUMMARY
    ana = _lookup(client, admin, "phone", "+5511987654321")
    assert ana.status_code == 200
    assert ana.json()["traits"] == {
        "City": "São Paulo",
        "email": "Ana.Souza@Example.com",
        "firstName": "Ana",
        "lastName": "Souza",
        "phone": "(11) 98765-4321",
    }
    assert ana.json()["display_name"] == "Ana Souza"
    kinds = sorted(i["kind"] for i in ana.json()["identifiers"])
    assert kinds == ["anonymous_id", "email", "phone"]
    assert {i["channel"] for i in ana.json()["identifiers"]} == {"store"}
    diego = _lookup(client, admin, "loyalty_id", "AUR-77")
    assert diego.status_code == 200
    assert diego.json()["phone"] == "+5511998765432"
    assert (
        _lookup(client, admin, "email", "ana.souza@example.com").json()["id"] == (ana.json()["id"])
    )
    for kind, value in (("phone", "(11) 91234-5678"), ("email", "joao@example.com")):
        assert _lookup(client, admin, kind, value).status_code == 404
    assert table_counts(services, "events", "profiles", "identifiers") == {
        "events": 2,
        "profiles": 2,
        "identifiers": 6,
    }


def test_importing_the_same_file_again_adds_nothing(
    invoke: Invoke, services: Services, tmp_path: Path
) -> None:
    path = _write(tmp_path, CUSTOMERS)
    assert invoke("import", "customers", path, "--channel", "store").exit_code == 1
    before = table_counts(services, "events", "profiles", "identifiers", "trait_history")

    again = invoke("import", "customers", path, "--channel", "store")

    assert again.exit_code == 1
    assert again.stdout.splitlines()[1:5] == [
        "  rows read         5",
        "  imported          0",
        "  already imported  2",
        "  rejected          3",
    ]
    assert table_counts(services, "events", "profiles", "identifiers", "trait_history") == before
    assert table_counts(services, "sources") == {"sources": 1}


def test_a_clean_file_exits_zero_with_user_ids_and_custom_kinds(
    invoke: Invoke, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    text = (
        "\ufeffcustomer_id;Name;POS_Customer_ID;Mobile;Notes\n"
        'C-1;Maria Prado;P-900;+55 19 99123-4567;"likes linen;\nprefers Pix"\n'
        "\n"
        "C-2;Otávio Reis;;;\n"
    )
    result = invoke(
        "import",
        "customers",
        _write(tmp_path, text, "crm.csv"),
        "--channel",
        "call_center",
        "--source",
        "CRM export",
        env={"OMNICX_IDENTIFIER_KINDS": "pos_customer_id"},
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        'crm.csv → source "CRM export" (call_center)',
        "  rows read         2",
        "  imported          2",
        "  already imported  0",
        "  rejected          0",
    ]
    maria = _lookup(client, admin, "user_id", "C-1").json()
    assert sorted((i["kind"], i["value"]) for i in maria["identifiers"]) == [
        ("phone", "+5519991234567"),
        ("pos_customer_id", "P-900"),
        ("user_id", "C-1"),
    ]
    assert maria["traits"]["Notes"] == "likes linen;\nprefers Pix"
    assert maria["display_name"] == "Maria Prado"
    otavio = _lookup(client, admin, "user_id", "C-2").json()
    assert [i["kind"] for i in otavio["identifiers"]] == ["user_id"]
    assert otavio["traits"] == {"name": "Otávio Reis"}


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(
    invoke: Invoke, tmp_path: Path
) -> None:
    text = 'email,note\n"a@example.com","two\nlines"\n\n"bad@",x\n'

    result = invoke("import", "customers", _write(tmp_path, text), "--channel", "web")

    assert result.exit_code == 1
    assert (
        result.stdout.splitlines()[-1] == "  line 5, column email: 'bad@' is not an email address"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty: line 1 must be a header naming the columns"),
        (
            "city,notes\nRio,x\n",
            "names an identifier; use one of user_id, email, phone, loyalty_id",
        ),
        ("email,e-mail\na@example.com,b@example.com\n", "columns 'email' and 'e-mail' both mean"),
    ],
)
def test_a_file_that_cannot_be_read_exits_two_and_writes_nothing(
    invoke: Invoke, services: Services, tmp_path: Path, text: str, message: str
) -> None:
    result = invoke("import", "customers", _write(tmp_path, text), "--channel", "store")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert table_counts(services, "events", "sources") == {"events": 0, "sources": 0}


def test_missing_file_bad_channel_and_unknown_encoding_exit_two(
    invoke: Invoke, tmp_path: Path
) -> None:
    path = _write(tmp_path, "email\n")
    missing = invoke("import", "customers", str(tmp_path / "nope.csv"), "--channel", "store")
    channel = invoke("import", "customers", path, "--channel", "Store!")
    encoding = invoke("import", "customers", path, "--channel", "store", "--encoding", "klingon")

    assert (missing.exit_code, channel.exit_code, encoding.exit_code) == (2, 2, 2)
    assert missing.stderr == f"error: {tmp_path / 'nope.csv'} does not exist\n"
    assert channel.stderr == (
        "error: channel 'Store!' must be a lower-case name such as store or web\n"
    )
    assert encoding.stderr == "error: 'klingon' is not an encoding Python knows\n"


def test_a_row_over_the_event_size_limit_is_rejected_alone(
    invoke: Invoke, services: Services, tmp_path: Path
) -> None:
    text = f"email,notes\nbig@example.com,{'x' * 40_000}\nsmall@example.com,ok\n"

    result = invoke("import", "customers", _write(tmp_path, text), "--channel", "web")

    assert result.exit_code == 1
    assert result.stdout.splitlines()[2:] == [
        "  imported          1",
        "  already imported  0",
        "  rejected          1",
        "Rejected rows (line 1 is the header):",
        "  line 2: event is over 32768 bytes",
    ]
    assert table_counts(services, "events") == {"events": 1}


def test_encoding_is_named_when_the_file_is_not_utf8(
    invoke: Invoke, client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "email;nome\njose@example.com;José Conceição\n", encoding="cp1252")

    wrong = invoke("import", "customers", path, "--channel", "store")
    right = invoke("import", "customers", path, "--channel", "store", "--encoding", "cp1252")

    assert wrong.exit_code == 2
    assert "--encoding cp1252" in wrong.stderr
    assert right.exit_code == 0
    found = _lookup(client, admin, "email", "jose@example.com").json()
    assert found["display_name"] == "José Conceição"
