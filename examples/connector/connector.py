"""Example Connector SDK connector that syncs orders from a fictional API.

The API key and secret arrive through the connection's secrets_list, which the
end user fills in on the Fivetran Connect Card.
"""

import requests
from fivetran_connector_sdk import Connector
from fivetran_connector_sdk import Logging as log
from fivetran_connector_sdk import Operations as op

BASE_URL = "https://api.example-orders.test/v1"
PAGE_SIZE = 100
REQUEST_TIMEOUT_SECONDS = 30


def validate_configuration(configuration: dict):
    for key in ("API_KEY", "API_SECRET"):
        if not configuration.get(key):
            raise ValueError(f"Missing required configuration value: {key}")


def schema(configuration: dict):
    return [
        {"table": "orders", "primary_key": ["id"]},
        {"table": "customers", "primary_key": ["id"]},
    ]


def fetch_page(configuration: dict, resource: str, cursor: str | None):
    params = {"limit": PAGE_SIZE}
    if cursor:
        params["updated_since"] = cursor
    response = requests.get(
        f"{BASE_URL}/{resource}",
        params=params,
        auth=(configuration["API_KEY"], configuration["API_SECRET"]),
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    return response.json().get("items", [])


def sync_resource(configuration: dict, state: dict, resource: str):
    # Each table keeps its own cursor so one slow resource does not hold back
    # the other on the next sync.
    cursor = state.get(f"{resource}_cursor")
    rows = fetch_page(configuration, resource, cursor)
    for row in rows:
        op.upsert(table=resource, data=row)
        cursor = max(cursor or "", row.get("updated_at", ""))
    state[f"{resource}_cursor"] = cursor
    log.info(f"Upserted {len(rows)} rows into {resource}")


def update(configuration: dict, state: dict):
    validate_configuration(configuration)
    for resource in ("customers", "orders"):
        sync_resource(configuration, state, resource)
        # Checkpoint after every table so a failure resumes where it stopped.
        op.checkpoint(state)


connector = Connector(update=update, schema=schema)

if __name__ == "__main__":
    connector.debug()
