"""SCIM 2.0's shapes (RFC 7643/7644): the error, a User as Engawa answers it, lists, and
the discovery documents (/ServiceProviderConfig, /ResourceTypes, /Schemas).

A company's people are SCIM Users: ``userName`` is the e-mail address they sign in
with, ``name.formatted`` (and ``displayName``) their name, ``externalId`` the id the
directory gave them, ``active`` whether they may sign in. Ids are strings. Their HR
facts (``hr.people``) are ``userType`` (the employee group) and the enterprise
extension's ``employeeNumber``, ``department`` and ``manager``; each appears only when
set, and the extension's schema is listed in ``schemas`` only when one of its is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.models import User
from core.urls import public_url
from hr.people import MAX_DEPARTMENT, MAX_EMPLOYEE_NUMBER, MAX_GROUP

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

# A list answers at most this many Users; without ``count``, this many.
MAX_RESULTS = 200


class ScimError(Exception):
    """A SCIM request refused: the HTTP status, RFC 7644's ``scimType`` (400s and the
    409 ``uniqueness`` only) and a detail in English for the directory's logs."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type
        self.headers = headers or {}

    def as_json(self) -> dict[str, Any]:
        return error_json(self.status, self.detail, self.scim_type)


def error_json(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def user_location(user_id: int) -> str:
    return public_url("scim.user", user_id=str(user_id))


def user_json(user: User, last_modified: datetime | None = None) -> dict[str, Any]:
    """One User resource, with the HR facts that are set."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": str(user.id),
        "userName": user.email,
        "name": {"formatted": user.name},
        "displayName": user.name,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": bool(user.active),
        "meta": {
            "resourceType": "User",
            "created": _timestamp(user.created_at),
            "lastModified": _timestamp(max(user.created_at, last_modified or user.created_at)),
            "location": user_location(user.id),
        },
    }
    if user.external_id is not None:
        body["externalId"] = user.external_id
    if user.employee_group is not None:
        body["userType"] = user.employee_group
    enterprise = enterprise_json(user)
    if enterprise:
        body["schemas"].append(ENTERPRISE_SCHEMA)
        body[ENTERPRISE_SCHEMA] = enterprise
    return body


def enterprise_json(user: User) -> dict[str, Any]:
    """The enterprise extension's attributes that are set (none: empty)."""
    enterprise: dict[str, Any] = {}
    if user.employee_number is not None:
        enterprise["employeeNumber"] = user.employee_number
    if user.department is not None:
        enterprise["department"] = user.department
    if user.manager_id is not None:
        enterprise["manager"] = {
            "value": str(user.manager_id),
            "$ref": user_location(user.manager_id),
        }
    return enterprise


def list_json(resources: list[dict[str, Any]], total: int, start_index: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


# --- Discovery ------------------------------------------------------------------------


def service_provider_config() -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": (
                    "The company's SCIM token, made on the company console's provisioning"
                    " page: Authorization: Bearer scim_…"
                ),
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": public_url("scim.service_provider_config"),
        },
    }


def user_resource_type() -> dict[str, Any]:
    return {
        "schemas": [RESOURCE_TYPE],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A person of the company: an employee or a company admin.",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": False}],
        "meta": {
            "resourceType": "ResourceType",
            "location": public_url("scim.resource_type", name="User"),
        },
    }


def _attribute(name: str, description: str, **kw) -> dict[str, Any]:
    attribute = {
        "name": name,
        "type": kw.pop("type", "string"),
        "multiValued": kw.pop("multi_valued", False),
        "description": description,
        "required": kw.pop("required", False),
        "mutability": kw.pop("mutability", "readWrite"),
        "returned": kw.pop("returned", "default"),
        "uniqueness": kw.pop("uniqueness", "none"),
    }
    if attribute["type"] == "string":
        attribute["caseExact"] = kw.pop("case_exact", False)
    attribute.update(kw)
    return attribute


def user_schema() -> dict[str, Any]:
    """What Engawa keeps of a User; other attributes of RFC 7643's User schema that a
    directory sends (title, phoneNumbers…) are accepted and not kept."""
    name_parts = [
        _attribute("formatted", "The full name, as shown in Engawa."),
        _attribute("familyName", "The family name."),
        _attribute("givenName", "The given name."),
    ]
    return {
        "schemas": [SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A person of the company who books stays.",
        "attributes": [
            _attribute(
                "userName",
                "The person's e-mail address, with which they sign in.",
                required=True,
                uniqueness="server",
            ),
            _attribute("name", "The person's name.", type="complex", subAttributes=name_parts),
            _attribute("displayName", "The name, as shown (the same as name.formatted)."),
            _attribute(
                "emails",
                "The e-mail address (the same as userName).",
                type="complex",
                multi_valued=True,
                mutability="readOnly",
                subAttributes=[_attribute("value", "The address.", mutability="readOnly")],
            ),
            _attribute(
                "active",
                "Whether the person may sign in. false deactivates: sessions and tokens"
                " end, stays not yet begun are cancelled and refunded.",
                type="boolean",
            ),
            _attribute(
                "externalId",
                "The directory's id of the person; unique within the company.",
                case_exact=True,
            ),
            _attribute(
                "userType",
                "The person's employee group (for example 正社員); the company's group"
                " policy of that name says which stays they may book. At most"
                f" {MAX_GROUP} characters.",
                case_exact=True,
            ),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": public_url("scim.schema", schema_id=USER_SCHEMA),
        },
    }


def enterprise_schema() -> dict[str, Any]:
    """What Engawa keeps of RFC 7643's enterprise extension (§4.3): the HR facts. Its
    costCenter, organization and division are accepted and not kept."""
    manager_parts = [
        _attribute(
            "value",
            "The id of the person's manager in Engawa (the id of their User), an active"
            " person of the same company.",
            case_exact=True,
        ),
        _attribute(
            "$ref",
            "The manager's User resource.",
            type="reference",
            mutability="readOnly",
            referenceTypes=["User"],
        ),
    ]
    return {
        "schemas": [SCHEMA],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "The person's HR facts in the company.",
        "attributes": [
            _attribute(
                "employeeNumber",
                "The person's employee number; unique within the company. At most"
                f" {MAX_EMPLOYEE_NUMBER} characters.",
                case_exact=True,
                uniqueness="server",
            ),
            _attribute(
                "department",
                f"The person's department. At most {MAX_DEPARTMENT} characters.",
                case_exact=True,
            ),
            _attribute(
                "manager",
                "The person's manager, who approves their stays where the company's policy"
                " asks; never the person themself nor anyone they manage.",
                type="complex",
                subAttributes=manager_parts,
            ),
        ],
        "meta": {
            "resourceType": "Schema",
            "location": public_url("scim.schema", schema_id=ENTERPRISE_SCHEMA),
        },
    }


def schema_of(schema_id: str) -> dict[str, Any] | None:
    """The schema resource of this id (case-insensitive), or None."""
    for urn, schema in ((USER_SCHEMA, user_schema), (ENTERPRISE_SCHEMA, enterprise_schema)):
        if schema_id.lower() == urn.lower():
            return schema()
    return None


def all_schemas() -> list[dict[str, Any]]:
    return [user_schema(), enterprise_schema()]
