"""What a directory sends, read into plain values: a User (POST, PUT), PATCH operations,
a filter and paging.

Entra ID and Okta send the same changes in different shapes: Entra names each
attribute in ``path`` with string values (``{"op": "Replace", "path": "active",
"value": "False"}``), Okta sends one object without a path (``{"op": "replace",
"value": {"active": false}}``). Both become one ``UserChanges``. Attribute names are
case-insensitive (RFC 7643 §2.1). Attributes of the User schema that Engawa does not
keep (title, phoneNumbers, the enterprise extension's costCenter…) are accepted and left
aside, so a directory's default mapping works; a name no schema knows is refused (400).

The HR facts (``hr.people``) come from ``userType`` (the employee group) and the
enterprise extension (RFC 7643 §4.3): ``employeeNumber``, ``department`` and
``manager``, the Engawa id of the person's manager. Entra names them in ``path``
(``"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"``, the value the
manager's id as a string; ``"op": "Remove"`` clears it), Okta sends the extension as
an object inside ``value``. An HR fact a PUT does not name is not asserted and kept
(RFC 7644 §3.5.1); one sent empty is cleared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from accounts.membership import valid_email
from accounts.services import normalise_email
from core.input_guard import TEXT_REFUSED
from hr.people import MAX_DEPARTMENT, MAX_EMPLOYEE_NUMBER, MAX_GROUP, HrError, clean_text
from identity.scim_schema import ENTERPRISE_SCHEMA, MAX_RESULTS, PATCH_OP, USER_SCHEMA, ScimError

MAX_OPERATIONS = 100
MAX_FILTER_LENGTH = 1000
MAX_NAME = 200  # User.name
MAX_EXTERNAL_ID = 255  # User.external_id

_CORE_PREFIX = USER_SCHEMA.lower() + ":"
_ENTERPRISE = ENTERPRISE_SCHEMA.lower()
# Attributes of RFC 7643's User that Engawa accepts and does not keep.
IGNORED = frozenset(
    {
        "nickname",
        "profileurl",
        "title",
        "preferredlanguage",
        "locale",
        "timezone",
        "password",
        "emails",
        "phonenumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509certificates",
    }
)
NAME_PARTS = {"formatted": "formatted", "givenname": "given", "familyname": "family"}
NAME_IGNORED = frozenset({"middlename", "honorificprefix", "honorificsuffix"})
READ_ONLY = frozenset({"id", "meta", "schemas"})
KEPT = frozenset({"username", "externalid", "active", "displayname", "name", "usertype"})
# The enterprise extension's attributes: the HR facts kept, the others accepted and not.
ENTERPRISE_KEPT = frozenset({"employeenumber", "department", "manager"})
ENTERPRISE_IGNORED = frozenset({"costcenter", "organization", "division"})
# ``manager.displayName`` is the server's to fill and ``$ref`` follows from the id.
MANAGER_IGNORED = frozenset({"displayname", "$ref"})
# The HR facts (SCIM name, ``hr.people`` fact, at most this many characters).
HR_TEXTS = {
    "usertype": ("userType", "employee_group", MAX_GROUP),
    "employeenumber": ("employeeNumber", "employee_number", MAX_EMPLOYEE_NUMBER),
    "department": ("department", "department", MAX_DEPARTMENT),
}
HR_FACTS = ("employee_number", "department", "employee_group", "manager")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_$-]*")
_FILTER = re.compile(r'\s*([A-Za-z][A-Za-z0-9:._$-]*)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*', re.I)
_INTEGER = re.compile(r"\s*-?[0-9]{1,9}\s*", re.ASCII)
# Kana, CJK ideographs, half-width katakana: a Japanese name is written family name first.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass
class UserChanges:
    """What a request asks to change; None (UNSET for ``external_id`` and the HR facts,
    which may be cleared) leaves an attribute as it is. ``manager`` is the manager's id
    as the directory sent it (a string, checked by ``identity.scim``)."""

    user_name: str | None = None
    external_id: Any = UNSET
    formatted: str | None = None
    given: str | None = None
    family: str | None = None
    display: str | None = None
    active: bool | None = None
    employee_number: Any = UNSET
    department: Any = UNSET
    employee_group: Any = UNSET
    manager: Any = UNSET

    def hr_given(self) -> bool:
        """Whether the request names any HR fact."""
        return any(getattr(self, fact) is not UNSET for fact in HR_FACTS)

    def new_name(self, current: str | None) -> str | None:
        """The person's name after these changes, or None when they name nobody.

        ``name.formatted`` first, then the given and family names (a part not sent is
        kept from the current name), then ``displayName``."""
        if self.formatted:
            return self.formatted
        if self.given or self.family:
            old_given, old_family = split_name(current)
            return compose_name(self.given or old_given, self.family or old_family)
        return self.display


def split_name(name: str | None) -> tuple[str | None, str | None]:
    """(given, family) of a name Engawa composed; one word stands for either part."""
    if not name:
        return None, None
    parts = name.split(" ", 1)
    if len(parts) == 1:
        return name, name
    return (parts[1], parts[0]) if _CJK.search(name) else (parts[0], parts[1])


def compose_name(given: str | None, family: str | None) -> str:
    """「山田 太郎」 for a Japanese name, "Taro Yamada" otherwise."""
    if given and family and given == family:
        return given
    ordered = (family, given) if _CJK.search(f"{given or ''}{family or ''}") else (given, family)
    return " ".join(part for part in ordered if part)


# --- Values ---------------------------------------------------------------------------


def _invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def _text(value: Any, what: str, max_length: int) -> str | None:
    """A one-line string (spaces collapsed), or None for null or empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{what} must be a string.")
    text = " ".join(value.split())
    if len(text) > max_length:
        raise _invalid(f"{what} is at most {max_length} characters.")
    return text or None


def _user_name(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("userName must be an e-mail address.")
    email = normalise_email(value)
    if not valid_email(email):
        raise _invalid("userName must be an e-mail address.")
    return email


def _external_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("externalId must be a string.")
    value = value.strip()
    if len(value) > MAX_EXTERNAL_ID:
        raise _invalid(f"externalId is at most {MAX_EXTERNAL_ID} characters.")
    return value or None


def _boolean(value: Any) -> bool:
    """true or false; Entra ID sends "True" and "False" as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _invalid("active must be true or false.")


def _hr_text(value: Any, attribute: str) -> str | None:
    """An HR fact's text as ``hr.people.clean_text`` takes it (stripped, one line),
    None for null or empty; ``attribute`` is a key of ``HR_TEXTS``."""
    name, fact, max_length = HR_TEXTS[attribute]
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string.")
    try:
        return clean_text(value, fact)
    except HrError as exc:
        if exc.code == "too_long":
            raise _invalid(f"{name} is at most {max_length} characters.") from None
        raise _invalid(f"{name} must not contain control characters such as tabs.") from None


def _manager_id(value: Any) -> str | None:
    """The manager's id as sent (a string or an integer), None for null or empty."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _invalid("manager must be the id of a User.")
    return value.strip() or None


def _manager(value: Any, *, patch: bool) -> str | None:
    """``{"value": "<id>"}`` (a User's ``manager``) or, as Entra sends it, the id alone."""
    if not isinstance(value, dict):
        return _manager_id(value)
    manager = None
    for key, item in _object(value, "manager").items():
        if key == "value":
            manager = _manager_id(item)
        elif key not in MANAGER_IGNORED:
            raise ScimError(
                400,
                f"Unknown attribute 'manager.{key}'.",
                "invalidPath" if patch else "invalidSyntax",
            )
    return manager


def _object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object with its keys in lower case (two keys that differ only in case are
    refused: which one would count?)."""
    if not isinstance(value, dict):
        raise ScimError(400, f"{what} must be a JSON object.", "invalidSyntax")
    lowered: dict[str, Any] = {}
    for key, item in value.items():
        if key.lower() in lowered:
            raise ScimError(400, f"The attribute {key!r} is given twice.", "invalidSyntax")
        lowered[key.lower()] = item
    return lowered


def _require_schema(attributes: dict[str, Any], urn: str) -> None:
    schemas = attributes.get("schemas")
    if not isinstance(schemas, list) or urn.lower() not in [
        s.lower() for s in schemas if isinstance(s, str)
    ]:
        raise ScimError(400, f'"schemas" must list {urn}.', "invalidSyntax")


# --- Attributes -----------------------------------------------------------------------


def _target(path: str, unknown: str) -> tuple[str, str | None] | None:
    """(attribute, sub-attribute) named by ``path``, None for one accepted and not kept.
    The enterprise extension as a whole is the attribute ``_ENTERPRISE``; its own
    attributes are named alone (no core attribute shares their names). ``unknown`` is
    the scimType of the refusal for a name no schema knows."""
    path = path.strip().lower()
    if path.startswith(_ENTERPRISE):
        return _enterprise_target(path, unknown)
    path = path.removeprefix(_CORE_PREFIX)
    match = _ATTRIBUTE.match(path)
    attribute = match.group(0) if match else ""
    rest = path[len(attribute) :]
    if attribute in IGNORED and (not rest or rest[0] in ".["):
        return None
    if attribute in KEPT | READ_ONLY:
        if not rest:
            return attribute, None
        if attribute == "name" and rest[0] == "." and rest[1:] in NAME_PARTS.keys() | NAME_IGNORED:
            return attribute, rest[1:]
    raise ScimError(400, f"Unknown attribute {path!r}.", unknown)


def _enterprise_target(path: str, unknown: str) -> tuple[str, str | None] | None:
    rest = path[len(_ENTERPRISE) :]
    if not rest:
        return _ENTERPRISE, None
    match = _ATTRIBUTE.match(rest, 1) if rest[0] == ":" else None
    attribute = match.group(0) if match else ""
    sub = rest[1 + len(attribute) :]
    if attribute in ENTERPRISE_IGNORED and (not sub or sub[0] in ".["):
        return None
    if attribute in ENTERPRISE_KEPT and not sub:
        return attribute, None
    if attribute == "manager" and sub == ".value":
        return attribute, "value"
    if attribute == "manager" and sub[:1] == "." and sub[1:] in MANAGER_IGNORED:
        return None
    raise ScimError(400, f"Unknown attribute {path!r}.", unknown)


def _assign(changes: UserChanges, path: str, value: Any, *, patch: bool) -> None:
    target = _target(path, "invalidPath" if patch else "invalidSyntax")
    if target is None:
        return
    attribute, sub = target
    if attribute in READ_ONLY:
        if patch:
            raise ScimError(400, f"{attribute} cannot be changed.", "mutability")
        return  # RFC 7644 §3.3: read-only attributes in a body are ignored
    if attribute == "username":
        changes.user_name = _user_name(value)
    elif attribute == "externalid":
        changes.external_id = _external_id(value)
    elif attribute == "active":
        changes.active = _boolean(value)
    elif attribute == "displayname":
        changes.display = _text(value, "displayName", MAX_NAME)
    elif attribute in HR_TEXTS:
        setattr(changes, HR_TEXTS[attribute][1], _hr_text(value, attribute))
    elif attribute == "manager":
        changes.manager = _manager(value, patch=patch) if sub is None else _manager_id(value)
    elif attribute == _ENTERPRISE:
        _assign_enterprise(changes, value, patch=patch)
    elif sub is None:
        if value is not None:
            for key, part in _object(value, "name").items():
                _assign_name_part(changes, key, part, patch=patch)
    else:
        _assign_name_part(changes, sub, value, patch=patch)


def _assign_enterprise(changes: UserChanges, value: Any, *, patch: bool) -> None:
    """The enterprise extension's object: each attribute it names (null clears them all)."""
    if value is None:
        _clear_enterprise(changes)
        return
    for key, item in _object(value, ENTERPRISE_SCHEMA).items():
        _assign(changes, f"{_ENTERPRISE}:{key}", item, patch=patch)


def _clear_enterprise(changes: UserChanges) -> None:
    changes.employee_number = changes.department = changes.manager = None


def _assign_name_part(changes: UserChanges, part: str, value: Any, *, patch: bool) -> None:
    if part in NAME_IGNORED:
        return
    if part not in NAME_PARTS:
        raise ScimError(
            400, f"Unknown attribute 'name.{part}'.", "invalidPath" if patch else "invalidSyntax"
        )
    setattr(changes, NAME_PARTS[part], _text(value, f"name.{part}", MAX_NAME))


def _remove(changes: UserChanges, path: str) -> None:
    target = _target(path, "invalidPath")
    if target is None:
        return
    attribute, _sub = target
    if attribute == "externalid":
        changes.external_id = None
    elif attribute in HR_TEXTS:
        setattr(changes, HR_TEXTS[attribute][1], None)
    elif attribute == "manager":
        changes.manager = None
    elif attribute == _ENTERPRISE:
        _clear_enterprise(changes)
    elif attribute in ("username", "active") or attribute in READ_ONLY:
        raise ScimError(400, f"{attribute} cannot be removed.", "mutability")
    # A person keeps a name: removing a name or a part of it changes nothing.


# --- Requests -------------------------------------------------------------------------


def read_user(body: Any) -> UserChanges:
    """A whole User, as POST and PUT send it; ``userName`` is required. The HR facts it
    does not name stay UNSET: PUT keeps them."""
    attributes = _object(body, "The request body")
    _require_schema(attributes, USER_SCHEMA)
    changes = UserChanges()
    for key, value in attributes.items():
        if key != "schemas":
            _assign(changes, key, value, patch=False)
    if changes.user_name is None:
        raise _invalid("userName is required.")
    # An HR fact a PUT leaves out is "not asserted" (RFC 7644 §3.5.1) and kept: a
    # directory that maps none of them must not wipe what the admin set on the
    # console or by CSV. Sent empty (null, ""), a fact is cleared.
    return changes


def read_patch(body: Any) -> UserChanges:
    """RFC 7644 §3.5.2 PatchOp: ``add``, ``replace`` and ``remove``, with or without a path."""
    attributes = _object(body, "The request body")
    _require_schema(attributes, PATCH_OP)
    operations = attributes.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= MAX_OPERATIONS:
        raise ScimError(
            400, f"Operations must list 1 to {MAX_OPERATIONS} operations.", "invalidSyntax"
        )
    changes = UserChanges()
    for raw in operations:
        operation = _object(raw, "Each operation")
        kind = operation.get("op")
        kind = kind.lower() if isinstance(kind, str) else None
        if kind not in ("add", "replace", "remove"):
            raise ScimError(400, 'op must be "add", "replace" or "remove".', "invalidSyntax")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, "path must be a string.", "invalidPath")
        path = path.strip() if path else None
        if kind == "remove":
            if path is None:
                raise ScimError(400, "remove needs a path.", "noTarget")
            _remove(changes, path)
        elif "value" not in operation:
            raise ScimError(400, f"{kind} needs a value.", "invalidSyntax")
        elif path is None:
            for key, value in _object(operation["value"], "value").items():
                _assign(changes, key, value, patch=True)
        else:
            _assign(changes, path, operation["value"], patch=True)
    return changes


def read_filter(text: str | None) -> tuple[str, str] | None:
    """``userName eq "…"`` or ``externalId eq "…"`` as (attribute in lower case, value)."""
    if text is None or not text.strip():
        return None
    match = _FILTER.fullmatch(text) if len(text) <= MAX_FILTER_LENGTH else None
    attribute = match.group(1).lower().removeprefix(_CORE_PREFIX) if match else ""
    if attribute not in ("username", "externalid"):
        raise ScimError(
            400,
            'Only the filters userName eq "…" and externalId eq "…" are supported.',
            "invalidFilter",
        )
    try:
        value = json.loads(f'"{match.group(2)}"')
    except ValueError:
        raise ScimError(400, "The filter's value is not a valid string.", "invalidFilter") from None
    # The escapes are decoded only now (core.input_guard saw "\u0000", plain ASCII): a
    # NUL, another control character or a lone surrogate ("\ud800") names nobody, and
    # neither database could even compare it (PostgreSQL refuses a NUL, UTF-8 a surrogate).
    if TEXT_REFUSED.search(value):
        raise ScimError(
            400,
            "The filter's value contains a control character or a lone surrogate.",
            "invalidFilter",
        )
    return attribute, value


def _integer(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise _invalid(f"{name} must be an integer.")
    return int(raw)


def read_paging(start_index: str | None, count: str | None) -> tuple[int, int]:
    """(startIndex, count): 1-based; below 1 counts as 1, a negative count as 0 (RFC 7644
    §3.4.2.4), and no more than ``MAX_RESULTS`` a page."""
    start = max(1, _integer(start_index, "startIndex", 1))
    size = min(max(0, _integer(count, "count", MAX_RESULTS)), MAX_RESULTS)
    return start, size
