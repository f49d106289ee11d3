#!/usr/bin/env python3
"""A fake Kubernetes API server for ringlb's tests (Python 3 standard library only).

It serves the parts of the Kubernetes API that ringlb-operator, kubectl and helm use, with the
semantics a controller author relies on:

  * discovery (/api, /apis, /api/v1, /apis/<g>/<v>, legacy JSON form) and OpenAPI v3
    (/openapi/v3 and per group-version documents; /openapi/v2 answers 404, as kubectl tolerates);
  * CustomResourceDefinitions (apiextensions.k8s.io/v1): creating one serves its resource, with
    structural-schema defaulting, pruning, validation (types, enums, min/max, lengths, patterns,
    required, list-map keys) and fieldValidation=Strict|Warn|Ignore. CEL rules are NOT evaluated;
  * built-in resources: v1 Pods and Namespaces, apps/v1 StatefulSets, coordination.k8s.io/v1
    Leases, events.k8s.io/v1 Events;
  * create/get/list/update/patch/delete/watch with metadata.uid, generation (bumped only by spec
    changes), a global resourceVersion counter, 409 Conflict on a stale resourceVersion, finalizers,
    deletionTimestamp and ownerReference garbage collection;
  * list with limit/continue, label and field selectors;
  * watch: chunked newline-delimited JSON, ADDED/MODIFIED/DELETED/BOOKMARK/ERROR, timeoutSeconds,
    allowWatchBookmarks, sendInitialEvents; 410 Gone for compacted resourceVersions, either in the
    stream (ERROR with code 410, the default, as the watch cache does) or as the HTTP status;
  * patches: JSON merge patch, JSON patch, strategic merge patch (approximate: merge keys of the
    common built-in lists and the $patch/$deleteFromPrimitiveList directives) and server-side apply
    (application/apply-patch+yaml, JSON or YAML body, fieldManager, force, managedFields, conflicts,
    removal of fields a manager stops applying);
  * the status and scale subresources (autoscaling/v1 Scale);
  * server-side printing (meta.k8s.io/v1 Table) with a CRD's additionalPrinterColumns, so
    `kubectl get` shows them.

Test hooks live under /_fake/ (JSON in, JSON out); see FakeHandler._fake_hooks.

Run:  fake_apiserver.py [--port 0] [--tls] [--kubeconfig PATH] [--token-file F]
It prints one JSON line on stdout once it listens: {"url", "port", "caFile", "kubeconfig"}.
"""

import argparse
import base64
import copy
import hashlib
import datetime
import json
import os
import re
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_VERSION = {
    "major": "1", "minor": "35", "gitVersion": "v1.35.0-ringlb-fake", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25",
    "compiler": "gc", "platform": "linux/amd64",
}

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    try:
        text = text.replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(text)
    except (ValueError, AttributeError):
        return None


def human_duration(seconds):
    """Like k8s.io/apimachinery/pkg/util/duration.HumanDuration (coarse)."""
    seconds = int(seconds)
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        h = hours % 24
        return f"{days}d{h}h" if h else f"{days}d"
    return f"{days}d" if days < 365 * 2 else f"{days // 365}y"


class ApiError(Exception):
    """An error answered as a metav1.Status."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(rtype, name):
    return ApiError(404, "NotFound", f'{rtype.qualified} "{name}" not found',
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


def conflict(rtype, name, message=None):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rtype.qualified} "{name}": '
                    + (message or "the object has been modified; please apply your changes to the latest version and try again"),
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


def invalid(rtype, name, causes):
    text = "; ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{c['field']}: {c['message']}" for c in causes) + "]"
    return ApiError(422, "Invalid", f'{rtype.kind}.{rtype.group or "core"} "{name}" is invalid: {text}'
                    if rtype.group else f'{rtype.kind} "{name}" is invalid: {text}',
                    {"name": name, "group": rtype.group, "kind": rtype.kind, "causes": [
                        {"reason": c.get("reason", "FieldValueInvalid"), "message": c["message"], "field": c.get("field", "")}
                        for c in causes]})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


# ---------------------------------------------------------------------------------------------
# Resource types


class ResourceType:
    """One served resource: group/version/kind/plural plus behaviour switches."""

    def __init__(self, group, version, kind, plural, namespaced, *, singular=None, short_names=(),
                 categories=(), status=False, scale=None, schema=None, printer_columns=None,
                 has_generation=True, unconditional_update=True, custom=False, list_info=None):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.scale = scale  # {specReplicasPath, statusReplicasPath, labelSelectorPath}
        self.schema = schema
        self.printer_columns = printer_columns
        self.has_generation = has_generation
        self.unconditional_update = unconditional_update
        self.custom = custom
        self.list_info = list_info or {}  # dotted path -> ("map", keys) | ("set",) | ("atomic",)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def store_key(self):
        return (self.group, self.plural)

    def verbs(self):
        return ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


# Merge keys of common built-in lists (strategic merge patch and server-side apply).
POD_LIST_INFO = {
    "spec.containers": ("map", ["name"]), "spec.initContainers": ("map", ["name"]),
    "spec.containers[].env": ("map", ["name"]), "spec.initContainers[].env": ("map", ["name"]),
    "spec.containers[].ports": ("map", ["containerPort", "protocol"]),
    "spec.containers[].volumeMounts": ("map", ["mountPath"]),
    "spec.volumes": ("map", ["name"]), "spec.imagePullSecrets": ("map", ["name"]),
    "status.conditions": ("map", ["type"]), "status.containerStatuses": ("atomic",),
    "status.podIPs": ("map", ["ip"]),
}
META_LIST_INFO = {
    "metadata.finalizers": ("set",), "metadata.ownerReferences": ("map", ["uid"]),
    "metadata.managedFields": ("atomic",),
}


def builtin_types():
    pod_columns = None  # pods get their own table below
    sts_info = dict(POD_LIST_INFO)
    sts_info = {k.replace("spec.", "spec.template.spec.", 1) if k.startswith("spec.") else k: v
                for k, v in POD_LIST_INFO.items()}
    sts_info["status.conditions"] = ("map", ["type"])
    return [
        ResourceType("", "v1", "Namespace", "namespaces", False, short_names=["ns"], status=True,
                     has_generation=False),
        ResourceType("", "v1", "Pod", "pods", True, short_names=["po"], categories=["all"], status=True,
                     printer_columns=pod_columns, list_info=POD_LIST_INFO),
        ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, short_names=["sts"],
                     categories=["all"], status=True, list_info=sts_info,
                     scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": None}),
        ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True, has_generation=False),
        ResourceType("events.k8s.io", "v1", "Event", "events", True, short_names=["ev"], has_generation=False),
        ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
                     False, short_names=["crd", "crds"], categories=["api-extensions"], status=True),
    ]


# ---------------------------------------------------------------------------------------------
# Small JSON helpers


def get_path(obj, dotted):
    """Value at a JSONPath-like '.a.b' path, or None."""
    cur = obj
    for part in [p for p in dotted.strip(".").split(".") if p]:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def set_path(obj, dotted, value):
    parts = [p for p in dotted.strip(".").split(".") if p]
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer_parts(pointer):
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise bad_request(f"invalid JSON pointer {pointer!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _resolve_parent(doc, parts, op):
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: doc is missing path")
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return cur


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def get(parts):
        cur = doc
        for part in parts:
            if isinstance(cur, list):
                cur = cur[int(part)]
            else:
                cur = cur[part]
        return cur

    def remove(parts, op):
        parent = _resolve_parent(doc, parts, op)
        last = parts[-1]
        try:
            if isinstance(parent, list):
                return parent.pop(int(last))
            return parent.pop(last)
        except (KeyError, IndexError, ValueError):
            raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: doc is missing key: /{'/'.join(parts)}")

    def add(parts, value, op, replace=False):
        nonlocal doc
        if not parts:
            doc = value
            return
        parent = _resolve_parent(doc, parts, op)
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
                return
            try:
                index = int(last)
            except ValueError:
                raise ApiError(422, "Invalid", f"jsonpatch {op}: bad array index {last!r}")
            if replace:
                if index >= len(parent):
                    raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: index out of range")
                parent[index] = value
            else:
                if index > len(parent):
                    raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply: index out of range")
                parent.insert(index, value)
        elif isinstance(parent, dict):
            if replace and last not in parent:
                raise ApiError(422, "Invalid", f"jsonpatch replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
            parent[last] = value
        else:
            raise ApiError(422, "Invalid", f"jsonpatch {op} operation does not apply")

    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request("json patch operation needs 'op' and 'path'")
        kind = op["op"]
        parts = _pointer_parts(op["path"])
        if kind == "add":
            add(parts, copy.deepcopy(op.get("value")), kind)
        elif kind == "remove":
            remove(parts, kind)
        elif kind == "replace":
            add(parts, copy.deepcopy(op.get("value")), kind, replace=True)
        elif kind in ("move", "copy"):
            src = _pointer_parts(op.get("from", ""))
            try:
                value = copy.deepcopy(get(src))
            except (KeyError, IndexError, ValueError, TypeError):
                raise ApiError(422, "Invalid", f"jsonpatch {kind} operation does not apply: doc is missing from path")
            if kind == "move":
                remove(src, kind)
            add(parts, value, kind)
        elif kind == "test":
            try:
                actual = get(parts)
            except (KeyError, IndexError, ValueError, TypeError):
                actual = None
            if actual != op.get("value"):
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: testing value {op['path']} failed")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc


def list_info_for(rtype, path):
    """('map', keys) | ('set',) | ('atomic',) for the list at dotted path ('a.b[].c')."""
    if path in META_LIST_INFO:
        return META_LIST_INFO[path]
    if path in rtype.list_info:
        return rtype.list_info[path]
    return ("atomic",)


def strategic_merge_patch(rtype, target, patch, path=""):
    """Strategic merge patch, approximated: maps merge, lists with known merge keys merge by key,
    primitive 'set' lists merge as sets, other lists are replaced. Honours $patch (replace/delete),
    $deleteFromPrimitiveList/<field> and ignores $setElementOrder/$retainKeys."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        child = f"{path}.{key}" if path else key
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            info = list_info_for(rtype, child)
            current = result.get(key) if isinstance(result.get(key), list) else []
            if info[0] == "map":
                merged = copy.deepcopy(current)
                for item in value:
                    if not isinstance(item, dict):
                        continue
                    ident = tuple(item.get(k) for k in info[1])
                    index = next((i for i, c in enumerate(merged)
                                  if isinstance(c, dict) and tuple(c.get(k) for k in info[1]) == ident), None)
                    if item.get("$patch") == "delete":
                        if index is not None:
                            merged.pop(index)
                    elif index is None:
                        merged.append({k: v for k, v in item.items() if k != "$patch"})
                    else:
                        merged[index] = strategic_merge_patch(rtype, merged[index], item, child + "[]")
                result[key] = merged
            elif info[0] == "set":
                merged = list(current)
                for item in value:
                    if item not in merged:
                        merged.append(item)
                result[key] = merged
            else:
                result[key] = copy.deepcopy(value)
        else:
            result[key] = strategic_merge_patch(rtype, result.get(key), value, child)
    return result


# ---------------------------------------------------------------------------------------------
# Structural schemas: defaulting, pruning, validation, list types


class SchemaWalker:
    """Applies a CRD's structural openAPIV3Schema to an object."""

    def __init__(self, schema):
        self.schema = schema or {}

    # -- list types, for apply and strategic merge
    def list_info(self):
        info = {}

        def walk(schema, path):
            if not isinstance(schema, dict):
                return
            if schema.get("type") == "array":
                kind = schema.get("x-kubernetes-list-type", "atomic")
                if kind == "map":
                    info[path] = ("map", list(schema.get("x-kubernetes-list-map-keys", [])))
                elif kind == "set":
                    info[path] = ("set",)
                else:
                    info[path] = ("atomic",)
                walk(schema.get("items"), path + "[]")
            for name, sub in (schema.get("properties") or {}).items():
                walk(sub, f"{path}.{name}" if path else name)

        walk(self.schema, "")
        return info

    # -- defaulting (recursively: a defaulted {} gets its children's defaults)
    def default(self, obj):
        self._default(obj, self.schema)
        return obj

    def _default(self, value, schema):
        if not isinstance(schema, dict):
            return
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            for name, sub in props.items():
                if name not in value and isinstance(sub, dict) and "default" in sub:
                    value[name] = copy.deepcopy(sub["default"])
            for name, child in value.items():
                if name in props:
                    self._default(child, props[name])
                elif isinstance(schema.get("additionalProperties"), dict):
                    self._default(child, schema["additionalProperties"])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                self._default(item, schema["items"])

    # -- pruning: returns the dotted paths of unknown fields it removed
    def prune(self, obj, keep_status=True):
        unknown = []
        self._prune(obj, self.schema, "", unknown, root=True)
        return unknown

    def _prune(self, value, schema, path, unknown, root=False):
        if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        if isinstance(value, dict):
            props = schema.get("properties")
            additional = schema.get("additionalProperties")
            for name in list(value.keys()):
                child_path = f"{path}.{name}" if path else name
                if root and name in ("apiVersion", "kind", "metadata"):
                    continue
                if props is not None and name in props:
                    self._prune(value[name], props[name], child_path, unknown)
                elif isinstance(additional, dict):
                    self._prune(value[name], additional, child_path, unknown)
                elif additional is True:
                    continue
                elif props is not None or schema.get("type") == "object":
                    unknown.append(child_path)
                    del value[name]
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                self._prune(item, schema["items"], f"{path}[{i}]", unknown)

    # -- validation: returns causes [{field, message, reason}]
    def validate(self, obj, only=None):
        causes = []
        props = self.schema.get("properties") or {}
        for name, sub in props.items():
            if name in ("metadata", "apiVersion", "kind"):
                continue
            if only is not None and name not in only:
                continue
            if name in obj:
                self._validate(obj[name], sub, name, causes)
            elif name in (self.schema.get("required") or []):
                causes.append({"field": name, "message": "Required value", "reason": "FieldValueRequired"})
        return causes

    @staticmethod
    def _show(value):
        return json.dumps(value) if isinstance(value, str) else json.dumps(value)

    def _validate(self, value, schema, path, causes):
        if not isinstance(schema, dict):
            return
        if value is None:
            if not schema.get("nullable"):
                causes.append({"field": path, "message": f"Invalid value: \"null\": {path} in body must be of type {schema.get('type', 'object')}: \"null\"",
                               "reason": "FieldValueTypeInvalid"})
            return
        if schema.get("x-kubernetes-int-or-string"):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                causes.append({"field": path, "message": f"Invalid value: {self._show(value)}: {path} in body must be of type integer or string",
                               "reason": "FieldValueTypeInvalid"})
                return
            if isinstance(value, str):
                self._check_string(value, schema, path, causes)
            return
        kind = schema.get("type")
        type_ok = {
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "string": lambda v: isinstance(v, str),
            "boolean": lambda v: isinstance(v, bool),
            "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        }.get(kind)
        if type_ok and not type_ok(value):
            shown = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(value), "unknown")
            causes.append({"field": path, "message": f"Invalid value: \"{shown}\": {path} in body must be of type {kind}: \"{shown}\"",
                           "reason": "FieldValueTypeInvalid"})
            return
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(json.dumps(v) for v in schema["enum"])
            causes.append({"field": path, "message": f"Unsupported value: {self._show(value)}: supported values: {supported}",
                           "reason": "FieldValueNotSupported"})
        if kind in ("integer", "number"):
            if "minimum" in schema and (value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"])):
                causes.append({"field": path, "message": f"Invalid value: {self._show(value)}: {path} in body should be greater than or equal to {schema['minimum']}",
                               "reason": "FieldValueInvalid"})
            if "maximum" in schema and (value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"])):
                causes.append({"field": path, "message": f"Invalid value: {self._show(value)}: {path} in body should be less than or equal to {schema['maximum']}",
                               "reason": "FieldValueInvalid"})
            if kind == "integer" and schema.get("format") == "int32" and not -2**31 <= value < 2**31:
                causes.append({"field": path, "message": f"Invalid value: {value}: {path} in body must be a 32-bit integer", "reason": "FieldValueInvalid"})
        if kind == "string":
            self._check_string(value, schema, path, causes)
        if kind == "object":
            for name in schema.get("required") or []:
                if name not in value:
                    causes.append({"field": f"{path}.{name}", "message": "Required value", "reason": "FieldValueRequired"})
            props = schema.get("properties") or {}
            for name, child in value.items():
                if name in props:
                    self._validate(child, props[name], f"{path}.{name}", causes)
                elif isinstance(schema.get("additionalProperties"), dict):
                    self._validate(child, schema["additionalProperties"], f"{path}.{name}", causes)
        if kind == "array":
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                causes.append({"field": path, "message": f"Too many: {len(value)}: must have at most {schema['maxItems']} items", "reason": "FieldValueTooMany"})
            if "minItems" in schema and len(value) < schema["minItems"]:
                causes.append({"field": path, "message": f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items", "reason": "FieldValueInvalid"})
            if schema.get("x-kubernetes-list-type") == "map":
                keys = schema.get("x-kubernetes-list-map-keys") or []
                seen = set()
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        ident = tuple(json.dumps(item.get(k)) for k in keys)
                        if ident in seen:
                            shown = "{" + ",".join(f'"{k}":{json.dumps(item.get(k))}' for k in keys) + "}"
                            causes.append({"field": f"{path}[{i}]", "message": f"Duplicate value: {shown}", "reason": "FieldValueDuplicate"})
                        seen.add(ident)
            if isinstance(schema.get("items"), dict):
                for i, item in enumerate(value):
                    self._validate(item, schema["items"], f"{path}[{i}]", causes)

    def _check_string(self, value, schema, path, causes):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append({"field": path, "message": f"Too long: may not be more than {schema['maxLength']} bytes", "reason": "FieldValueTooLong"})
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append({"field": path, "message": f"Invalid value: {json.dumps(value)}: {path} in body should be at least {schema['minLength']} chars long",
                           "reason": "FieldValueInvalid"})
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append({"field": path, "message": f"Invalid value: {json.dumps(value)}: {path} in body should match '{schema['pattern']}'",
                           "reason": "FieldValueInvalid"})
        if schema.get("format") == "date-time" and parse_rfc3339(value) is None:
            causes.append({"field": path, "message": f"Invalid value: {json.dumps(value)}: {path} in body must be of type date-time: {json.dumps(value)}",
                           "reason": "FieldValueInvalid"})


# ---------------------------------------------------------------------------------------------
# Server-side apply: field sets


def _key_element(item, keys):
    return "k:" + json.dumps({k: item.get(k) for k in keys if k in item}, separators=(",", ":"), sort_keys=True)


def field_set(rtype, value, path="", prefix=()):
    """Leaf paths (tuples of 'f:name' / 'k:{...}' / 'v:value' / '.') of an applied configuration."""
    result = set()
    if isinstance(value, dict):
        if not value and prefix:
            result.add(prefix)
        for name, child in value.items():
            child_path = f"{path}.{name}" if path else name
            element = prefix + ("f:" + name,)
            if isinstance(child, dict):
                if child:
                    result |= field_set(rtype, child, child_path, element)
                else:
                    result.add(element)
            elif isinstance(child, list):
                info = list_info_for(rtype, child_path)
                if info[0] == "map":
                    for item in child:
                        if isinstance(item, dict):
                            item_prefix = element + (_key_element(item, info[1]),)
                            result.add(item_prefix + (".",))
                            result |= field_set(rtype, item, child_path + "[]", item_prefix)
                elif info[0] == "set":
                    for item in child:
                        result.add(element + ("v:" + json.dumps(item, separators=(",", ":")),))
                else:
                    result.add(element)
            else:
                result.add(element)
    return result


SERVER_OWNED_META = ("name", "namespace", "generateName", "uid", "resourceVersion", "generation",
                     "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink")


def object_fields(rtype, obj):
    """Field set of a whole object, without apiVersion/kind and server-owned metadata."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if isinstance(body.get("metadata"), dict):
        meta = {k: v for k, v in body["metadata"].items() if k not in SERVER_OWNED_META}
        if meta:
            body["metadata"] = meta
        else:
            body.pop("metadata")
    return field_set(rtype, body)


def fields_to_v1(paths):
    tree = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return tree


def fields_from_v1(tree, prefix=()):
    paths = set()
    if not isinstance(tree, dict):
        return paths
    for key, sub in tree.items():
        if key == ".":
            paths.add(prefix + (".",))
            continue
        if isinstance(sub, dict) and sub and set(sub.keys()) != {"."}:
            paths |= fields_from_v1(sub, prefix + (key,))
            if "." in sub:
                paths.add(prefix + (key, "."))
        elif isinstance(sub, dict) and sub.get("."):
            paths.add(prefix + (key, "."))
        else:
            paths.add(prefix + (key,))
    return paths


def _find_item(items, element):
    keys = json.loads(element[2:])
    for i, item in enumerate(items):
        if isinstance(item, dict) and all(item.get(k) == v for k, v in keys.items()):
            return i
    return None


def get_at(obj, path):
    """(found, value) at a field-set path."""
    cur = obj
    for element in path:
        if element == ".":
            return True, cur
        if element.startswith("f:"):
            if not isinstance(cur, dict) or element[2:] not in cur:
                return False, None
            cur = cur[element[2:]]
        elif element.startswith("k:"):
            if not isinstance(cur, list):
                return False, None
            index = _find_item(cur, element)
            if index is None:
                return False, None
            cur = cur[index]
        elif element.startswith("v:"):
            value = json.loads(element[2:])
            return (isinstance(cur, list) and value in cur), value
    return True, cur


def remove_at(obj, path):
    """Removes the field at a field-set path; prunes maps and items emptied by it."""
    if not path:
        return
    chain = [obj]
    cur = obj
    for element in path[:-1]:
        if element.startswith("f:"):
            if not isinstance(cur, dict) or element[2:] not in cur:
                return
            cur = cur[element[2:]]
        elif element.startswith("k:"):
            if not isinstance(cur, list):
                return
            index = _find_item(cur, element)
            if index is None:
                return
            cur = cur[index]
        chain.append(cur)
    last = path[-1]
    parent = chain[-1]
    if last == ".":
        # The list item itself: remove it from its list.
        container = chain[-2] if len(chain) >= 2 else None
        if isinstance(container, list):
            index = _find_item(container, path[-2])
            if index is not None:
                container.pop(index)
        return
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("v:") and isinstance(parent, list):
        value = json.loads(last[2:])
        if value in parent:
            parent.remove(value)


def prune_emptied(obj, path, owned):
    """After removing `path`, removes the maps on its way up that it left empty, unless a manager
    owns that map itself (an applied `{}`). Top-level sections (spec, status, metadata) stay."""
    for depth in range(len(path) - 1, 1, -1):
        ancestor = path[:depth]
        if not ancestor[-1].startswith("f:") or ancestor in owned:
            return
        found, value = get_at(obj, ancestor)
        if not found or not isinstance(value, dict) or value:
            return
        remove_at(obj, ancestor)


def apply_merge(rtype, current, applied, path=""):
    """Merges an applied configuration into the live object: maps recursively, map-lists by key,
    set-lists as unions, atomic lists and scalars replaced."""
    if not isinstance(applied, dict) or not isinstance(current, dict):
        return copy.deepcopy(applied)
    result = copy.deepcopy(current)
    for key, value in applied.items():
        child = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            result[key] = apply_merge(rtype, result.get(key), value, child) if isinstance(result.get(key), dict) else copy.deepcopy(value)
        elif isinstance(value, list):
            info = list_info_for(rtype, child)
            existing = result.get(key) if isinstance(result.get(key), list) else []
            if info[0] == "map":
                merged = copy.deepcopy(existing)
                for item in value:
                    if not isinstance(item, dict):
                        continue
                    index = _find_item(merged, _key_element(item, info[1]))
                    if index is None:
                        merged.append(copy.deepcopy(item))
                    else:
                        merged[index] = apply_merge(rtype, merged[index], item, child + "[]")
                result[key] = merged
            elif info[0] == "set":
                merged = list(existing)
                for item in value:
                    if item not in merged:
                        merged.append(item)
                result[key] = merged
            else:
                result[key] = copy.deepcopy(value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def changed_paths(rtype, old, new):
    """Leaf field paths whose value differs between two objects (for Update ownership)."""
    old_fields = {p: get_at(old, p)[1] for p in object_fields(rtype, old)}
    new_fields = object_fields(rtype, new)
    return {p for p in new_fields if p not in old_fields or old_fields[p] != get_at(new, p)[1]}


# ---------------------------------------------------------------------------------------------
# Selectors


def split_requirements(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parse_label_selector(text):
    requirements = []
    for req in split_requirements(text or ""):
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", req)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            requirements.append((m.group(1), m.group(2), values))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", req)
        if m:
            requirements.append((m.group(1), {"==": "=", "=": "=", "!=": "!="}[m.group(2)], {m.group(3)}))
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", req)
        if m:
            requirements.append((m.group(2), "!exists" if m.group(1) else "exists", set()))
            continue
        raise bad_request(f"unable to parse requirement: {req!r}")
    return requirements


def labels_match(requirements, labels):
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and (not present or labels[key] not in values):
            return False
        if op == "!=" and present and labels[key] in values:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def parse_field_selector(text):
    requirements = []
    for req in split_requirements(text or ""):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", req)
        if not m:
            raise bad_request(f"invalid field selector: {req!r}")
        requirements.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return requirements


def fields_match(requirements, obj):
    for path, equal, value in requirements:
        actual = get_path(obj, path)
        actual = "" if actual is None else str(actual)
        if (actual == value) != equal:
            return False
    return True


def selector_string(label_selector):
    """String form of a metav1.LabelSelector (for scale.status.selector)."""
    parts = [f"{k}={v}" for k, v in sorted((label_selector or {}).get("matchLabels", {}).items())]
    for expr in (label_selector or {}).get("matchExpressions", []):
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{expr['key']} {op.lower()} ({','.join(sorted(expr.get('values', [])))})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------
# The store


class Watcher:
    def __init__(self, rtype, namespace, labels, fields, bookmarks):
        self.rtype = rtype
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.bookmarks = bookmarks
        self.closed = False
        self.bookmark_requested = False


class Store:
    """All objects, the global resourceVersion counter and the event history. One lock."""

    def __init__(self, history_limit=10000):
        self.cond = threading.Condition()
        self.rv = 0
        self.types = {}          # (group, version, plural) -> ResourceType
        self.objects = {}        # (group, plural) -> {(namespace, name): object}
        self.events = []         # [(rv, store_key, type, object, previous)]
        self.compacted_rv = 0    # watches from a resourceVersion below this get 410
        self.history_limit = history_limit
        self.watchers = set()
        self.stalled = False
        self.gone_mode = "stream"  # or "http": how a too-old watch resourceVersion is answered
        self.config = {"bookmarkIntervalSeconds": 1.0, "watchChunkBytes": 0}
        self.injections = []     # [{code, method, path, times, message, retryAfter}]
        self.requests = []       # request log
        self.timers = []
        for rtype in builtin_types():
            self.register(rtype)
        with self.cond:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self._create_raw(self.types[("", "v1", "namespaces")], {
                    "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})

    # -- types
    def register(self, rtype):
        self.types[(rtype.group, rtype.version, rtype.plural)] = rtype
        self.objects.setdefault(rtype.store_key, {})

    def unregister_crd(self, crd):
        group = crd["spec"]["group"]
        plural = crd["spec"]["names"]["plural"]
        for key in [k for k in self.types if k[0] == group and k[2] == plural]:
            del self.types[key]
        self.objects.pop((group, plural), None)

    def find_type(self, group, version, plural):
        rtype = self.types.get((group, version, plural))
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {"group": group, "kind": plural})
        return rtype

    def groups(self):
        result = {}
        for (group, version, _), rtype in sorted(self.types.items()):
            result.setdefault(group, [])
            if version not in result[group]:
                result[group].append(version)
        return result

    # -- helpers
    def next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, rtype, event_type, obj, previous=None):
        self.events.append((int(obj["metadata"]["resourceVersion"]), rtype.store_key, event_type,
                            copy.deepcopy(obj), copy.deepcopy(previous)))
        if len(self.events) > self.history_limit:
            drop = len(self.events) - self.history_limit
            self.compacted_rv = self.events[drop - 1][0]
            del self.events[:drop]
        self.cond.notify_all()

    def compact(self, upto=None):
        """Drops watch history up to `upto`. Without it, the resourceVersion moves on (as other
        writes to etcd make it do) and all history goes: every client's resourceVersion is then
        too old, open watches end (ERROR 410 in stream mode, a closed stream in http mode) and
        re-watches get 410 until the client relists."""
        with self.cond:
            if upto is None:
                upto = self.next_rv()
            upto = int(upto)
            self.events = [e for e in self.events if e[0] > upto]
            self.compacted_rv = max(self.compacted_rv, upto)
            self.cond.notify_all()
            return self.compacted_rv

    def _create_raw(self, rtype, obj):
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta["resourceVersion"] = str(self.next_rv())
        key = (meta.get("namespace", ""), meta["name"])
        self.objects[rtype.store_key][key] = obj
        self._record(rtype, "ADDED", obj)
        return obj

    def namespace_exists(self, namespace):
        return ("", namespace) in self.objects[("", "namespaces")]


# ---------------------------------------------------------------------------------------------
# API semantics on top of the store


class Api:
    def __init__(self, store):
        self.store = store

    # -- object normalisation
    def _schema(self, rtype):
        return SchemaWalker(rtype.schema) if rtype.schema else None

    def _prepare(self, rtype, obj, validation, warnings, name_for_errors):
        """Defaulting, pruning (with fieldValidation) and schema validation of a full object."""
        walker = self._schema(rtype)
        if walker is None:
            return obj
        unknown = walker.prune(obj)
        if unknown:
            if validation == "Strict":
                raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
            if validation != "Ignore":
                warnings.extend(f'unknown field "{u}"' for u in unknown)
        walker.default(obj)
        causes = walker.validate(obj)
        if causes:
            raise invalid(rtype, name_for_errors, causes)
        return obj

    def _check_type(self, rtype, obj):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rtype.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version ({rtype.api_version})")
        if kind and kind != rtype.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})")
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind

    @staticmethod
    def _spec_part(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    def _validate_builtin(self, rtype, obj):
        name = obj["metadata"].get("name", "")
        if rtype.kind == "Event":
            causes = []
            for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
                if not obj.get(field):
                    causes.append({"field": field, "message": "Required value", "reason": "FieldValueRequired"})
            if obj.get("type") not in ("Normal", "Warning"):
                causes.append({"field": "type", "message": f'Unsupported value: {json.dumps(obj.get("type"))}: supported values: "Normal", "Warning"',
                               "reason": "FieldValueNotSupported"})
            if len(obj.get("note", "")) > 1024:
                causes.append({"field": "note", "message": "Too long: may not be more than 1024 bytes", "reason": "FieldValueTooLong"})
            if causes:
                raise invalid(rtype, name, causes)
        if rtype.kind == "Lease":
            spec = obj.get("spec") or {}
            if "leaseDurationSeconds" in spec and (not isinstance(spec["leaseDurationSeconds"], int) or spec["leaseDurationSeconds"] <= 0):
                raise invalid(rtype, name, [{"field": "spec.leaseDurationSeconds", "message": "Invalid value: must be greater than 0"}])
        if rtype.kind == "Pod":
            containers = (obj.get("spec") or {}).get("containers")
            if not containers:
                raise invalid(rtype, name, [{"field": "spec.containers", "message": "Required value", "reason": "FieldValueRequired"}])
        if rtype.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            storage = [v for v in spec.get("versions", []) if v.get("storage")]
            if len(storage) != 1:
                raise invalid(rtype, name, [{"field": "spec.versions", "message": "Invalid value: must have exactly one version marked as storage version"}])
            if name != f"{spec.get('names', {}).get('plural')}.{spec.get('group')}":
                raise invalid(rtype, name, [{"field": "metadata.name", "message": "Invalid value: must be spec.names.plural+\".\"+spec.group"}])

    @staticmethod
    def _check_immutable(rtype, old, new):
        """Pods and StatefulSets allow only a few spec changes, as the real API server does."""
        name = old["metadata"]["name"]
        if rtype.kind == "Pod":
            def mutable_masked(spec):
                spec = copy.deepcopy(spec or {})
                for key in ("containers", "initContainers"):
                    for container in spec.get(key) or []:
                        container.pop("image", None)
                for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                    spec.pop(key, None)
                return spec
            if mutable_masked(old.get("spec")) != mutable_masked(new.get("spec")):
                raise invalid(rtype, name, [{"field": "spec", "reason": "FieldValueForbidden", "message":
                              "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                              "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                              "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds`"}])
        if rtype.kind == "StatefulSet":
            mutable = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
            strip = lambda spec: {k: v for k, v in (spec or {}).items() if k not in mutable}
            if strip(old.get("spec")) != strip(new.get("spec")):
                raise invalid(rtype, name, [{"field": "spec", "reason": "FieldValueForbidden", "message":
                              "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                              "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"}])

    def _validate_name(self, rtype, name):
        if not name or len(name) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
            raise invalid(rtype, name or "", [{"field": "metadata.name", "message":
                          f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"}])

    def _validate_owner_refs(self, rtype, obj):
        for ref in obj["metadata"].get("ownerReferences") or []:
            for field in ("apiVersion", "kind", "name", "uid"):
                if not ref.get(field):
                    raise invalid(rtype, obj["metadata"]["name"], [{"field": f"metadata.ownerReferences.{field}", "message": "Required value"}])
        if sum(1 for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")) > 1:
            raise invalid(rtype, obj["metadata"]["name"], [{"field": "metadata.ownerReferences", "message": "Invalid value: Only one reference can have Controller set to true"}])

    # -- managed fields
    def _set_managed(self, obj, manager, operation, api_version, paths, subresource=None, replace=True):
        entries = obj["metadata"].get("managedFields") or []
        kept = []
        target = None
        for entry in entries:
            if entry.get("manager") == manager and entry.get("operation") == operation and entry.get("subresource") == subresource:
                target = entry
            else:
                kept.append(entry)
        existing = fields_from_v1(target.get("fieldsV1", {})) if target and not replace else set()
        paths = set(paths) | existing
        if paths:
            entry = {"manager": manager, "operation": operation, "apiVersion": api_version,
                     "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": fields_to_v1(paths)}
            if subresource:
                entry["subresource"] = subresource
            kept.append(entry)
        obj["metadata"]["managedFields"] = kept

    def _take_ownership(self, obj, paths, except_manager=None, subresource=None):
        """Other managers lose the given fields (an Update or a forced Apply took them)."""
        result = []
        for entry in obj["metadata"].get("managedFields") or []:
            if entry.get("manager") == except_manager[0] and entry.get("operation") == except_manager[1] and entry.get("subresource") == subresource:
                result.append(entry)
                continue
            owned = fields_from_v1(entry.get("fieldsV1", {}))
            remaining = owned - paths
            if remaining != owned:
                if not remaining:
                    continue
                entry = dict(entry, fieldsV1=fields_to_v1(remaining))
            result.append(entry)
        obj["metadata"]["managedFields"] = result

    # -- reads
    def get(self, rtype, namespace, name):
        with self.store.cond:
            obj = self.store.objects[rtype.store_key].get((namespace or "", name))
            if obj is None:
                raise not_found(rtype, name)
            return copy.deepcopy(obj)

    def list(self, rtype, namespace, query):
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        limit = int(query.get("limit", "0") or 0)
        token = query.get("continue")
        with self.store.cond:
            list_rv = self.store.rv
            start = None
            if token:
                try:
                    decoded = json.loads(base64.b64decode(token))
                    list_rv, start = int(decoded["rv"]), decoded["start"]
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid")
                if list_rv < self.store.compacted_rv:
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list result. "
                                   "You can start a new list without the continue parameter, or use the continue token in this response "
                                   "to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list "
                                   "- objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            items = []
            for key in sorted(self.store.objects[rtype.store_key]):
                if namespace and key[0] != namespace:
                    continue
                if start is not None and "/".join(key) <= start:
                    continue
                obj = self.store.objects[rtype.store_key][key]
                if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj):
                    items.append((key, obj))
            meta = {"resourceVersion": str(list_rv)}
            if limit and len(items) > limit:
                last = items[limit - 1][0]
                meta["continue"] = base64.b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": list_rv, "start": "/".join(last)}).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            result = []
            for _, obj in items:
                item = copy.deepcopy(obj)
                if not rtype.custom:
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                result.append(item)
        return {"apiVersion": rtype.api_version, "kind": rtype.kind + "List", "metadata": meta, "items": result}

    # -- writes
    def create(self, rtype, namespace, obj, query, warnings, manager, operation="Update", managed_paths=None):
        self._check_type(rtype, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        self._validate_name(rtype, meta.get("name", ""))
        for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "selfLink"):
            meta.pop(field, None)
        if rtype.status and rtype.custom:
            obj.pop("status", None)
        if rtype.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        self._prepare(rtype, obj, query.get("fieldValidation", "Warn"), warnings, meta["name"])
        self._validate_builtin(rtype, obj)
        self._validate_owner_refs(rtype, obj)
        meta.pop("managedFields", None)
        self._set_managed(obj, manager or "unknown", operation, rtype.api_version,
                          object_fields(rtype, obj) if managed_paths is None else managed_paths)
        if query.get("dryRun") == "All":
            return obj
        with self.store.cond:
            if rtype.namespaced and not self.store.namespace_exists(namespace):
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})
            key = (meta.get("namespace", ""), meta["name"])
            if key in self.store.objects[rtype.store_key]:
                raise ApiError(409, "AlreadyExists", f'{rtype.qualified} "{meta["name"]}" already exists',
                               {"name": meta["name"], "group": rtype.group, "kind": rtype.plural})
            if rtype.has_generation:
                meta["generation"] = 1
            created = self.store._create_raw(rtype, obj)
            self._after_create(rtype, created)
            return copy.deepcopy(created)

    def _after_create(self, rtype, obj):
        if rtype.kind == "CustomResourceDefinition":
            self._serve_crd(obj)

    def _serve_crd(self, crd):
        spec = crd["spec"]
        names = spec["names"]
        self.store.unregister_crd(crd)
        for version in spec.get("versions", []):
            if not version.get("served"):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            subresources = version.get("subresources") or {}
            rtype = ResourceType(spec["group"], version["name"], names["kind"], names["plural"],
                                 spec.get("scope", "Namespaced") == "Namespaced", singular=names.get("singular"),
                                 short_names=names.get("shortNames", []), categories=names.get("categories", []),
                                 status="status" in subresources, scale=subresources.get("scale"), schema=schema,
                                 printer_columns=version.get("additionalPrinterColumns"), custom=True,
                                 unconditional_update=False)
            rtype.list_info = SchemaWalker(schema).list_info() if schema else {}
            self.store.register(rtype)
        accepted = dict(names)
        accepted.setdefault("singular", names["kind"].lower())
        accepted.setdefault("listKind", names["kind"] + "List")
        crd["status"] = {
            "acceptedNames": accepted,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
                 "lastTransitionTime": now_rfc3339()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now_rfc3339()},
            ],
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
        }

    def _commit_update(self, rtype, old, new, subresource, warnings, query, manager, operation="Update",
                       apply_paths=None, managed=None):
        """Common tail of update/patch/apply: subresource rules, generation, conflicts, no-op detection."""
        name = old["metadata"]["name"]
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        new_meta = new.setdefault("metadata", {})
        if not isinstance(new_meta, dict):
            raise bad_request("metadata must be an object")
        if new_meta.get("name", name) != name:
            raise bad_request(f'the name of the object ({new_meta.get("name")}) does not match the name on the URL ({name})')
        if rtype.namespaced and new_meta.get("namespace", old["metadata"]["namespace"]) != old["metadata"]["namespace"]:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        sent_rv = new_meta.get("resourceVersion")
        if sent_rv not in (None, "") and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype, name)
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            # Status writes keep spec and metadata, except managedFields bookkeeping.
            new = merged
        else:
            if rtype.status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            meta = copy.deepcopy(old["metadata"])
            for field in ("labels", "annotations", "finalizers", "ownerReferences"):
                if field in new_meta and new_meta[field] not in (None, {}, []):
                    meta[field] = new_meta[field]
                else:
                    meta.pop(field, None)
            if meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise invalid(rtype, name, [{"field": "metadata.finalizers", "message":
                                  "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers " + json.dumps(sorted(added))}])
            new["metadata"] = meta
        self._prepare(rtype, new, query.get("fieldValidation", "Warn"), warnings, name)
        self._validate_builtin(rtype, new)
        self._validate_owner_refs(rtype, new)
        if subresource is None:
            self._check_immutable(rtype, old, new)
        for field in ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if field in old["metadata"]:
                new["metadata"][field] = old["metadata"][field]
            else:
                new["metadata"].pop(field, None)
        # managedFields bookkeeping
        new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"].get("managedFields") or [] if managed is None else managed)
        sub = "status" if subresource == "status" else None
        if operation == "Apply":
            self._set_managed(new, manager, "Apply", rtype.api_version, apply_paths, subresource=sub)
        else:
            paths = changed_paths(rtype, old, new)
            if paths:
                self._take_ownership(new, paths, except_manager=(manager, "Update"), subresource=sub)
                self._set_managed(new, manager or "unknown", "Update", rtype.api_version, paths, subresource=sub, replace=False)
        if rtype.has_generation and self._spec_part(old) != self._spec_part(new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if rtype.kind == "CustomResourceDefinition" and subresource != "status":
            new["status"] = copy.deepcopy(old.get("status"))
        if query.get("dryRun") == "All":
            return new
        comparable_old = copy.deepcopy(old)
        comparable_new = copy.deepcopy(new)
        for o in (comparable_old, comparable_new):
            for entry in o["metadata"].get("managedFields") or []:
                entry.pop("time", None)
        if comparable_old == comparable_new:
            return copy.deepcopy(old)  # a no-op write changes nothing, not even the resourceVersion
        with self.store.cond:
            current = self.store.objects[rtype.store_key].get((old["metadata"].get("namespace", ""), name))
            if current is None:
                raise not_found(rtype, name)
            if current["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            new["metadata"]["resourceVersion"] = str(self.store.next_rv())
            key = (new["metadata"].get("namespace", ""), name)
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                del self.store.objects[rtype.store_key][key]
                self.store._record(rtype, "DELETED", new, old)
                self._collect_garbage(new["metadata"]["uid"], "Background")
                return copy.deepcopy(new)
            self.store.objects[rtype.store_key][key] = new
            self.store._record(rtype, "MODIFIED", new, old)
            if rtype.kind == "CustomResourceDefinition":
                self._serve_crd(new)
            return copy.deepcopy(new)

    def update(self, rtype, namespace, name, obj, subresource, query, warnings, manager):
        self._check_type(rtype, obj)
        old = self.get(rtype, namespace, name)
        sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if not sent_rv and not rtype.unconditional_update and subresource != "status":
            raise invalid(rtype, name, [{"field": "metadata.resourceVersion", "message": "Invalid value: 0x0: must be specified for an update"}])
        return self._commit_update(rtype, old, obj, subresource, warnings, query, manager)

    def patch(self, rtype, namespace, name, subresource, content_type, body, query, warnings, manager):
        content_type = (content_type or "").split(";")[0].strip()
        if content_type == "application/apply-patch+yaml":
            return self.apply(rtype, namespace, name, subresource, body, query, warnings)
        try:
            patch = json.loads(body or b"null")
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}")
        for attempt in range(3):
            old = self.get(rtype, namespace, name)
            base = copy.deepcopy(old)
            if content_type == "application/merge-patch+json":
                new = merge_patch(base, patch)
            elif content_type == "application/json-patch+json":
                new = json_patch(base, patch)
            elif content_type == "application/strategic-merge-patch+json":
                if rtype.custom:
                    raise ApiError(415, "UnsupportedMediaType",
                                   f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
                new = strategic_merge_patch(rtype, base, patch)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}")
            if not isinstance(new, dict):
                raise bad_request("the patch did not produce an object")
            # A resourceVersion in the patch is a precondition (checked in _commit_update); without
            # one the patch applies to the latest object, re-read when another writer raced us.
            if not isinstance(new.get("metadata"), dict):
                raise bad_request("metadata must be an object")
            if not new["metadata"].get("resourceVersion"):
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            try:
                return self._commit_update(rtype, old, new, subresource, warnings, query, manager)
            except ApiError as e:
                if e.code == 409 and attempt < 2:
                    continue
                raise

    def apply(self, rtype, namespace, name, subresource, body, query, warnings):
        manager = query.get("fieldManager")
        if not manager:
            raise bad_request("PATCH /apply requires a non-empty fieldManager query parameter")
        force = query.get("force", "false").lower() == "true"
        applied = parse_apply_body(body)
        if not isinstance(applied, dict):
            raise bad_request("the apply configuration must be an object")
        if applied.get("apiVersion") != rtype.api_version or applied.get("kind") != rtype.kind:
            raise bad_request(f"apply configuration must set apiVersion {rtype.api_version} and kind {rtype.kind}, "
                              f"got {applied.get('apiVersion')!r} and {applied.get('kind')!r}")
        meta = applied.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise bad_request(f"the name of the applied object ({meta.get('name')}) does not match the name on the URL ({name})")
        if rtype.namespaced and meta.get("namespace") not in (None, namespace):
            raise bad_request("the namespace of the applied object does not match the namespace sent on the request")
        for field in ("managedFields", "uid", "creationTimestamp", "generation", "resourceVersion"):
            if field in meta and field != "resourceVersion":
                meta.pop(field)
        applied["metadata"] = meta
        walker = self._schema(rtype)
        if walker:
            unknown = walker.prune(applied)
            if unknown:
                if query.get("fieldValidation") == "Strict":
                    raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
                if query.get("fieldValidation") != "Ignore":
                    warnings.extend(f'unknown field "{u}"' for u in unknown)
        sub = "status" if subresource == "status" else None
        section = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
        if subresource == "status":
            section = {"status": section["status"]} if "status" in section else {}
        elif rtype.status:
            section.pop("status", None)
        section_meta = section.get("metadata")
        if isinstance(section_meta, dict):
            section_meta = {k: v for k, v in section_meta.items() if k in ("labels", "annotations", "finalizers", "ownerReferences")}
            if section_meta:
                section["metadata"] = section_meta
            else:
                section.pop("metadata", None)
        new_paths = field_set(rtype, section)

        for attempt in range(3):
            try:
                old = self.get(rtype, namespace, name)
            except ApiError as e:
                if e.code != 404 or subresource:
                    raise
                obj = {"apiVersion": rtype.api_version, "kind": rtype.kind}
                obj.update(copy.deepcopy(section))
                obj.setdefault("metadata", {})["name"] = name
                try:
                    created = self.create(rtype, namespace, obj, query, warnings, manager,
                                          operation="Apply", managed_paths=new_paths)
                except ApiError as e:
                    if e.code == 409 and e.reason == "AlreadyExists" and attempt < 2:
                        continue  # raced with a creator: apply onto it
                    raise
                created["__created__"] = True
                return created
            sent_rv = meta.get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            entries = old["metadata"].get("managedFields") or []
            own_old = set()
            others = {}
            for entry in entries:
                if entry.get("subresource") != sub:
                    continue
                paths = fields_from_v1(entry.get("fieldsV1", {}))
                if entry.get("manager") == manager and entry.get("operation") == "Apply":
                    own_old = paths
                else:
                    others[(entry.get("manager"), entry.get("operation"))] = paths
            conflicts = []
            for (other, operation), paths in others.items():
                for path in new_paths & paths:
                    if path[-1] == ".":
                        continue
                    found, current = get_at(old, path)
                    if found and current != get_at(section, path)[1]:
                        conflicts.append((other, path))
            if conflicts and not force:
                causes = [{"reason": "FieldManagerConflict", "field": "." + ".".join(p[2:] for p in path),
                           "message": f'conflict with "{other}": ' + "." + ".".join(p[2:] for p in path)} for other, path in conflicts]
                message = "Apply failed with %d conflict%s: %s" % (len(causes), "s" if len(causes) > 1 else "",
                                                                   "; ".join(c["message"] for c in causes))
                raise ApiError(409, "Conflict", message, {"causes": causes})
            new = copy.deepcopy(old)
            # Fields this manager applied before and no longer applies go, unless someone else owns them.
            owned_by_others = set().union(*others.values()) if others else set()
            for path in sorted(own_old - new_paths, key=len, reverse=True):
                if path in owned_by_others:
                    continue
                if path[-1] == "." and any(p[:len(path) - 1] == path[:-1] for p in owned_by_others | new_paths):
                    continue
                remove_at(new, path)
                prune_emptied(new, path, owned_by_others | new_paths)
            new = apply_merge(rtype, new, section)
            if force and conflicts:
                self._take_ownership(new, {p for _, p in conflicts}, except_manager=(manager, "Apply"), subresource=sub)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            try:
                return self._commit_update(rtype, old, new, subresource, warnings, query, manager, operation="Apply",
                                           apply_paths=new_paths, managed=new["metadata"].get("managedFields") or [])
            except ApiError as e:
                if e.code == 409 and not sent_rv and attempt < 2:
                    continue
                raise

    def delete(self, rtype, namespace, name, options, query):
        options = options or {}
        propagation = options.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
        preconditions = options.get("preconditions") or {}
        with self.store.cond:
            key = (namespace or "", name)
            obj = self.store.objects[rtype.store_key].get(key)
            if obj is None:
                raise not_found(rtype, name)
            if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
                raise conflict(rtype, name, f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {obj['metadata']['uid']}")
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise conflict(rtype, name, f"Precondition failed: ResourceVersion in precondition: {preconditions['resourceVersion']}, ResourceVersion in object meta: {obj['metadata']['resourceVersion']}")
            if query.get("dryRun") == "All":
                return copy.deepcopy(obj)
            if obj["metadata"].get("finalizers"):
                if obj["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(obj)
                old = copy.deepcopy(obj)
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if propagation == "Foreground":
                    new["metadata"]["finalizers"] = list(new["metadata"].get("finalizers") or []) + ["foregroundDeletion"]
                new["metadata"]["resourceVersion"] = str(self.store.next_rv())
                self.store.objects[rtype.store_key][key] = new
                self.store._record(rtype, "MODIFIED", new, old)
                if propagation == "Foreground":
                    self._collect_garbage(new["metadata"]["uid"], "Background", finish_owner=(rtype, key))
                return copy.deepcopy(new)
            self._remove(rtype, key, propagation)
            return copy.deepcopy(obj)

    def _remove(self, rtype, key, propagation):
        obj = self.store.objects[rtype.store_key].pop(key)
        old = copy.deepcopy(obj)
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store._record(rtype, "DELETED", obj, old)
        if rtype.kind == "CustomResourceDefinition":
            self.store.unregister_crd(obj)
        if rtype.kind == "Namespace":
            for other in list(self.store.types.values()):
                if other.namespaced:
                    for k in [k for k in self.store.objects.get(other.store_key, {}) if k[0] == key[1]]:
                        self._remove(other, k, "Background")
        self._collect_garbage(obj["metadata"]["uid"], propagation)

    def _collect_garbage(self, owner_uid, propagation, finish_owner=None):
        """Garbage collector: dependents whose owners are all gone are deleted (Background/Foreground);
        with Orphan the reference is dropped. Runs synchronously (the real one is asynchronous)."""
        live_uids = {o["metadata"]["uid"] for objs in self.store.objects.values() for o in objs.values()}
        for rtype in list({t.store_key: t for t in self.store.types.values()}.values()):
            for key, obj in list(self.store.objects.get(rtype.store_key, {}).items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                if propagation == "Orphan":
                    old = copy.deepcopy(obj)
                    obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                    obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
                    self.store._record(rtype, "MODIFIED", obj, old)
                    continue
                if finish_owner is None and any(r.get("uid") in live_uids for r in refs if r.get("uid") != owner_uid):
                    continue
                if obj["metadata"].get("finalizers"):
                    if not obj["metadata"].get("deletionTimestamp"):
                        old = copy.deepcopy(obj)
                        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
                        self.store._record(rtype, "MODIFIED", obj, old)
                    continue
                self._remove(rtype, key, "Background")
        if finish_owner is not None:
            rtype, key = finish_owner
            obj = self.store.objects[rtype.store_key].get(key)
            if obj is not None:
                old = copy.deepcopy(obj)
                obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers", []) if f != "foregroundDeletion"]
                if not obj["metadata"]["finalizers"]:
                    self._remove(rtype, key, "Background")
                else:
                    obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
                    self.store._record(rtype, "MODIFIED", obj, old)

    # -- scale subresource
    def scale_of(self, rtype, obj):
        paths = rtype.scale
        spec_replicas = get_path(obj, paths["specReplicasPath"])
        if spec_replicas is None:
            raise ApiError(500, "InternalError", f"Internal error occurred: the spec replicas field {paths['specReplicasPath']!r} does not exist")
        selector = ""
        if paths.get("labelSelectorPath"):
            selector = get_path(obj, paths["labelSelectorPath"]) or ""
        elif rtype.kind == "StatefulSet":
            selector = selector_string((obj.get("spec") or {}).get("selector"))
        status = {"replicas": get_path(obj, paths["statusReplicasPath"]) or 0}
        if selector:
            status["selector"] = selector
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                             "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
                "spec": {"replicas": spec_replicas}, "status": status}

    def write_scale(self, rtype, namespace, name, method, content_type, body, query, warnings, manager):
        for attempt in range(3):
            old = self.get(rtype, namespace, name)
            scale = self.scale_of(rtype, old)
            try:
                data = json.loads(body or b"null")
            except ValueError as e:
                raise bad_request(f"error decoding body: {e}")
            ctype = (content_type or "").split(";")[0].strip()
            if method == "PUT":
                new_scale = data
            elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                new_scale = merge_patch(scale, data)
            elif ctype == "application/json-patch+json":
                new_scale = json_patch(scale, data)
            elif ctype == "application/apply-patch+yaml":
                new_scale = merge_patch(scale, parse_apply_body(body))
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {ctype!r}")
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0')
            sent_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            new = copy.deepcopy(old)
            set_path(new, rtype.scale["specReplicasPath"], replicas)
            try:
                updated = self._commit_update(rtype, old, new, None, warnings, query, manager)
            except ApiError as e:
                if e.code == 409 and not sent_rv and attempt < 2:
                    continue
                raise
            return self.scale_of(rtype, updated)

    # -- pods


def parse_apply_body(body):
    text = (body or b"").decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # optional: YAML apply bodies need PyYAML; JSON ones (what clients send) do not
    except ImportError:
        raise ApiError(415, "UnsupportedMediaType", "this fake API server accepts JSON apply bodies only (PyYAML not installed)")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise bad_request(f"error decoding YAML: {e}")


# ---------------------------------------------------------------------------------------------
# Tables (server-side printing)


def table_for(rtype, objects, include_object, list_meta=None):
    now = datetime.datetime.now(datetime.timezone.utc)

    def age(obj):
        created = parse_rfc3339(obj["metadata"].get("creationTimestamp", ""))
        return human_duration((now - created).total_seconds()) if created else "<unknown>"

    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}]
    if rtype.printer_columns is not None:
        for col in rtype.printer_columns:
            columns.append({"name": col["name"], "type": col["type"], "format": col.get("format", ""),
                            "description": col.get("description", f"Custom resource definition column (in JSONPath format): {col['jsonPath']}"),
                            "priority": col.get("priority", 0)})

        def cells(obj):
            row = [obj["metadata"]["name"]]
            for col in rtype.printer_columns:
                value = get_path(obj, col["jsonPath"])
                if value is None:
                    row.append(None)
                elif col["type"] == "date":
                    created = parse_rfc3339(value) if isinstance(value, str) else None
                    row.append(human_duration((now - created).total_seconds()) if created else "<invalid>")
                elif col["type"] == "integer":
                    row.append(int(value) if isinstance(value, (int, float)) else None)
                elif col["type"] == "string":
                    row.append(value if isinstance(value, str) else json.dumps(value))
                else:
                    row.append(value)
            return row
    elif rtype.kind == "Pod":
        columns += [{"name": "Ready", "type": "string", "format": "", "description": "", "priority": 0},
                    {"name": "Status", "type": "string", "format": "", "description": "", "priority": 0},
                    {"name": "Restarts", "type": "string", "format": "", "description": "", "priority": 0},
                    {"name": "Age", "type": "string", "format": "", "description": "", "priority": 0},
                    {"name": "IP", "type": "string", "format": "", "description": "", "priority": 1}]

        def cells(obj):
            status = obj.get("status") or {}
            statuses = status.get("containerStatuses") or []
            total = len((obj.get("spec") or {}).get("containers") or [])
            ready = sum(1 for s in statuses if s.get("ready"))
            phase = "Terminating" if obj["metadata"].get("deletionTimestamp") else status.get("phase", "Pending")
            restarts = sum(s.get("restartCount", 0) for s in statuses)
            return [obj["metadata"]["name"], f"{ready}/{total}", phase, str(restarts), age(obj), status.get("podIP", "<none>")]
    else:
        columns.append({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0})

        def cells(obj):
            return [obj["metadata"]["name"], age(obj)]

    rows = []
    for obj in objects:
        row = {"cells": cells(obj)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append(row)
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {}, "columnDefinitions": columns, "rows": rows}
    return table


# ---------------------------------------------------------------------------------------------
# Discovery and OpenAPI


def discovery_resources(store, group, version):
    resources = []
    for (g, v, _), rtype in sorted(store.types.items()):
        if g != group or v != version:
            continue
        entry = {"name": rtype.plural, "singularName": rtype.singular, "namespaced": rtype.namespaced,
                 "kind": rtype.kind, "verbs": rtype.verbs()}
        if rtype.short_names:
            entry["shortNames"] = rtype.short_names
        if rtype.categories:
            entry["categories"] = rtype.categories
        resources.append(entry)
        if rtype.status:
            resources.append({"name": f"{rtype.plural}/status", "singularName": "", "namespaced": rtype.namespaced,
                              "kind": rtype.kind, "verbs": ["get", "patch", "update"]})
        if rtype.scale:
            resources.append({"name": f"{rtype.plural}/scale", "singularName": "", "namespaced": rtype.namespaced,
                              "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources}


def openapi_v3_doc(store, group, version):
    """Enough OpenAPI v3 for kubectl: PATCH operations that declare fieldValidation (so kubectl
    validates on the server), GVK extensions and the CRDs' schemas."""
    paths = {}
    schemas = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    query_params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                    for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    for (g, v, _), rtype in sorted(store.types.items()):
        if g != group or v != version:
            continue
        gvk = [{"group": group, "version": version, "kind": rtype.kind}]
        schema_name = ".".join(reversed(group.split("."))) + f".{version}.{rtype.kind}" if group else f"io.k8s.api.core.{version}.{rtype.kind}"
        schema = copy.deepcopy(rtype.schema) if rtype.schema else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["x-kubernetes-group-version-kind"] = gvk
        schemas[schema_name] = schema
        ref = {"$ref": f"#/components/schemas/{schema_name}"}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        patch_body = {"content": {t: {"schema": {"type": "object"}} for t in
                                  ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")}}
        base = f"{prefix}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else f"{prefix}/{rtype.plural}"
        collection = {
            "get": {"operationId": f"list{rtype.kind}", "responses": ok, "x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk[0]},
            "post": {"operationId": f"create{rtype.kind}", "requestBody": {"content": {"application/json": {"schema": ref}}},
                     "parameters": query_params[:3], "responses": ok, "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk[0]},
        }
        item = {
            "get": {"operationId": f"read{rtype.kind}", "responses": ok, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk[0]},
            "put": {"operationId": f"replace{rtype.kind}", "requestBody": {"content": {"application/json": {"schema": ref}}},
                    "parameters": query_params[:3], "responses": ok, "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk[0]},
            "patch": {"operationId": f"patch{rtype.kind}", "requestBody": patch_body, "parameters": query_params,
                      "responses": ok, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk[0]},
            "delete": {"operationId": f"delete{rtype.kind}", "responses": ok, "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk[0]},
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        }
        paths[base] = collection
        paths[base + "/{name}"] = item
        if rtype.status:
            paths[base + "/{name}/status"] = {k: v for k, v in item.items() if k in ("get", "put", "patch", "parameters")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (ringlb fake)", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


# ---------------------------------------------------------------------------------------------
# HTTP


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ringlb-fake-apiserver"

    # set on the class by make_server
    store = None
    api = None
    token_file = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    # -- plumbing
    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, code, body, headers=None):
        self.status_sent = code
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.status_sent = code

    def _send_error(self, error):
        headers = dict(error.headers)
        self._send_json(error.code, error.status(), headers)

    def _log_request(self):
        """Logs the request before it is answered, so a client that has its answer sees it counted.
        Returns the entry (its code is filled in once known) or None for test hooks."""
        parsed = urllib.parse.urlparse(self.path)
        if parsed.path.startswith("/_fake"):
            return None
        query = dict(urllib.parse.parse_qsl(parsed.query))
        with self.store.cond:
            entry = {
                "seq": len(self.store.requests) + 1, "time": time.time(), "method": self.command,
                "path": parsed.path, "query": query, "code": None,
                "write": self.command in WRITE_METHODS, "watch": query.get("watch") in ("1", "true"),
                "userAgent": self.headers.get("User-Agent", ""), "fieldManager": query.get("fieldManager"),
                "contentType": self.headers.get("Content-Type"),
            }
            self.store.requests.append(entry)
            return entry

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        self.status_sent = 0
        entry = self._log_request()
        parsed = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        try:
            body = self._body() if self.command in WRITE_METHODS else b""
            if parsed.path.startswith("/_fake/"):
                self._fake_hooks(parsed.path, query, body)
                return
            self._authenticate()
            self._inject(parsed.path)
            self._route(parsed.path, query, body)
        except ApiError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: answer 500 and say so
            import traceback
            traceback.print_exc()
            self._send_error(ApiError(500, "InternalError", f"fake apiserver bug: {e!r}"))
        finally:
            if entry is not None:
                entry["code"] = self.status_sent

    def _authenticate(self):
        if not self.token_file:
            return
        try:
            with open(self.token_file) as f:
                expected = f.read().strip()
        except OSError:
            expected = None
        got = self.headers.get("Authorization", "")
        if not expected or got != f"Bearer {expected}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _inject(self, path):
        with self.store.cond:
            for rule in self.store.injections:
                if rule["times"] == 0:
                    continue
                if rule.get("method", "*") not in ("*", self.command):
                    continue
                if not re.search(rule.get("path", ""), path):
                    continue
                rule["times"] -= 1
                rule["hits"] = rule.get("hits", 0) + 1
                code = int(rule["code"])
                reason = {409: "Conflict", 410: "Expired", 429: "TooManyRequests", 500: "InternalError",
                          503: "ServiceUnavailable", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(code, "Unknown")
                headers = {"Retry-After": str(rule["retryAfter"])} if rule.get("retryAfter") is not None else {}
                message = rule.get("message") or (
                    "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again"
                    if code == 409 else f"injected {code}")
                raise ApiError(code, reason, message, headers=headers)

    # -- routing
    def _route(self, path, query, body):
        parts = [p for p in path.split("/") if p]
        method = self.command
        if method == "GET":
            if path in ("/healthz", "/readyz", "/livez"):
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.status_sent = 200
                return
            if path == "/version":
                return self._send_json(200, SERVER_VERSION)
            if path == "/api":
                host = self.server.server_address
                return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host[0]}:{host[1]}"}]})
            if path == "/apis":
                with self.store.cond:
                    groups = [self._group_doc(g, vs) for g, vs in self.store.groups().items() if g]
                return self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            if len(parts) == 2 and parts[0] == "apis":
                with self.store.cond:
                    versions = self.store.groups().get(parts[1])
                if not versions:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                doc = self._group_doc(parts[1], versions)
                doc.update({"kind": "APIGroup", "apiVersion": "v1"})
                return self._send_json(200, doc)
            if path == "/api/v1" or (len(parts) == 3 and parts[0] == "apis"):
                group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
                with self.store.cond:
                    if version not in self.store.groups().get(group, []):
                        raise ApiError(404, "NotFound", "the server could not find the requested resource")
                    return self._send_json(200, discovery_resources(self.store, group, version))
            if path == "/openapi/v2":
                raise ApiError(404, "NotFound", "the server could not find the requested resource (OpenAPI v2 is not served; use /openapi/v3)")
            if path == "/openapi/v3":
                with self.store.cond:
                    entries = {}
                    for group, versions in self.store.groups().items():
                        for version in versions:
                            key = f"apis/{group}/{version}" if group else f"api/{version}"
                            doc = json.dumps(openapi_v3_doc(self.store, group, version), sort_keys=True).encode()
                            digest = hashlib.sha256(doc).hexdigest()[:32].upper()
                            entries[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                return self._send_json(200, {"paths": entries})
            if parts[:2] == ["openapi", "v3"]:
                rest = parts[2:]
                group, version = ("", rest[1]) if rest and rest[0] == "api" and len(rest) == 2 else (
                    (rest[1], rest[2]) if len(rest) == 3 and rest[0] == "apis" else (None, None))
                with self.store.cond:
                    if group is None or version not in self.store.groups().get(group, []):
                        raise ApiError(404, "NotFound", "the server could not find the requested resource")
                    return self._send_json(200, openapi_v3_doc(self.store, group, version))
        self._resource(parts, query, body)

    @staticmethod
    def _group_doc(group, versions):
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def _resource(self, parts, query, body):
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        with self.store.cond:
            if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in self.store.types:
                namespace, rest = rest[1], rest[2:]
            if not rest:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            rtype = self.store.find_type(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (subresource and subresource not in ("status", "scale")) \
                or (subresource == "status" and not rtype.status) or (subresource == "scale" and not rtype.scale):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rtype.namespaced and name is not None and namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rtype.namespaced and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        warnings = []
        manager = query.get("fieldManager") or self._default_manager()
        method = self.command
        accept = self.headers.get("Accept", "")
        as_table = "as=Table" in accept

        if method == "GET" and name is None:
            if query.get("watch") in ("1", "true"):
                return self._watch(rtype, namespace, query, as_table)
            result = self.api.list(rtype, namespace, query)
            if as_table:
                result = table_for(rtype, [self._with_type(rtype, i) for i in result["items"]],
                                   query.get("includeObject", "Metadata"), result["metadata"])
            return self._send_json(200, result)
        if method == "GET":
            obj = self.api.get(rtype, namespace, name)
            if subresource == "scale":
                return self._send_json(200, self.api.scale_of(rtype, obj))
            if as_table:
                return self._send_json(200, table_for(rtype, [obj], query.get("includeObject", "Metadata"),
                                                      {"resourceVersion": obj["metadata"]["resourceVersion"]}))
            return self._send_json(200, obj)
        if method == "POST" and name is None:
            obj = self._json(body)
            created = self.api.create(rtype, namespace, obj, query, warnings, manager)
            return self._send_json(201, created, self._warning_headers(warnings))
        if subresource == "scale" and method in ("PUT", "PATCH"):
            result = self.api.write_scale(rtype, namespace, name, method, self.headers.get("Content-Type"), body, query, warnings, manager)
            return self._send_json(200, result, self._warning_headers(warnings))
        if method == "PUT" and name is not None:
            obj = self._json(body)
            result = self.api.update(rtype, namespace, name, obj, subresource, query, warnings, manager)
            return self._send_json(200, result, self._warning_headers(warnings))
        if method == "PATCH" and name is not None:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            result = self.api.patch(rtype, namespace, name, subresource, ctype, body, query, warnings, manager)
            code = 201 if result.pop("__created__", False) else 200  # server-side apply created it
            return self._send_json(code, result, self._warning_headers(warnings))
        if method == "DELETE" and name is not None and subresource is None:
            options = self._json(body) if body else {}
            result = self.api.delete(rtype, namespace, name, options, query)
            return self._send_json(200, result)
        if method == "DELETE" and name is None:
            listed = self.api.list(rtype, namespace, query)
            for item in listed["items"]:
                self.api.delete(rtype, item["metadata"].get("namespace"), item["metadata"]["name"], {}, query)
            return self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    @staticmethod
    def _with_type(rtype, obj):
        obj = dict(obj)
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        return obj

    def _default_manager(self):
        agent = self.headers.get("User-Agent", "unknown")
        return agent.split("/")[0] or "unknown"

    @staticmethod
    def _warning_headers(warnings):
        if not warnings:
            return {}
        return {"Warning": ", ".join(f'299 - "{w.replace(chr(34), chr(39))}"' for w in warnings)}

    @staticmethod
    def _json(body):
        try:
            return json.loads(body or b"null")
        except ValueError as e:
            raise bad_request(f"error decoding request body: {e}")

    # -- watch
    def _watch(self, rtype, namespace, query, as_table):
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        start_rv = query.get("resourceVersion", "")
        send_initial = query.get("sendInitialEvents") == "true"
        include_object = query.get("includeObject", "Metadata")
        watcher = Watcher(rtype, namespace, labels, fields, bookmarks)

        def matches(obj):
            if obj is None:
                return False
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)

        with self.store.cond:
            initial = []
            if start_rv in ("", "0") or send_initial:
                for key in sorted(self.store.objects[rtype.store_key]):
                    obj = self.store.objects[rtype.store_key][key]
                    if matches(obj):
                        initial.append(("ADDED", copy.deepcopy(obj)))
                since = self.store.rv
            else:
                try:
                    since = int(start_rv)
                except ValueError:
                    raise bad_request(f"invalid resource version {start_rv!r}")
                if since < self.store.compacted_rv:
                    message = f"too old resource version: {since} ({self.store.compacted_rv})"
                    if self.store.gone_mode == "http":
                        raise ApiError(410, "Expired", message)
                    gone = ApiError(410, "Expired", message).status()
                    initial = None
            self.store.watchers.add(watcher)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.status_sent = 200
            if initial is None:
                self._chunk({"type": "ERROR", "object": gone})
                return
            for event_type, obj in initial:
                self._emit(rtype, event_type, obj, as_table, include_object)
            if send_initial and bookmarks:
                self._chunk({"type": "BOOKMARK", "object": self._bookmark(rtype, since, initial_end=True)})
            last_bookmark = time.monotonic()
            while True:
                pending = []
                with self.store.cond:
                    while True:
                        if watcher.closed:
                            return
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return
                        if since < self.store.compacted_rv:
                            if self.store.gone_mode == "http":
                                return  # the client learns of 410 when it re-watches
                            gone = ApiError(410, "Expired", f"too old resource version: {since} ({self.store.compacted_rv})").status()
                            pending = [("ERROR", gone)]
                            break
                        if not self.store.stalled:
                            for rv, key, event_type, obj, previous in self.store.events:
                                if rv <= since or key != rtype.store_key:
                                    continue
                                now_match, was_match = matches(obj), matches(previous)
                                if event_type == "MODIFIED" and now_match and not was_match:
                                    pending.append(("ADDED", obj))
                                elif event_type == "MODIFIED" and was_match and not now_match:
                                    pending.append(("DELETED", obj))
                                elif (event_type == "DELETED" and (was_match or now_match)) or (event_type != "DELETED" and now_match):
                                    pending.append((event_type, obj))
                            since = self.store.rv  # every event up to here was scanned
                            interval = self.store.config["bookmarkIntervalSeconds"]
                            if bookmarks and (watcher.bookmark_requested or time.monotonic() - last_bookmark >= interval):
                                watcher.bookmark_requested = False
                                last_bookmark = time.monotonic()
                                pending.append(("BOOKMARK", self._bookmark(rtype, self.store.rv)))
                                since = max(since, self.store.rv)
                        if pending:
                            break
                        wait = min(remaining, 0.25)
                        self.store.cond.wait(wait)
                for event_type, obj in pending:
                    if event_type == "ERROR":
                        self._chunk({"type": "ERROR", "object": obj})
                        return
                    if event_type == "BOOKMARK":
                        self._chunk({"type": "BOOKMARK", "object": obj})
                    else:
                        self._emit(rtype, event_type, copy.deepcopy(obj), as_table, include_object)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with self.store.cond:
                self.store.watchers.discard(watcher)
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True

    @staticmethod
    def _bookmark(rtype, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}

    def _emit(self, rtype, event_type, obj, as_table, include_object):
        if as_table:
            obj = table_for(rtype, [obj], include_object, {"resourceVersion": obj["metadata"]["resourceVersion"]})
        self._chunk({"type": event_type, "object": obj})

    def _chunk(self, event):
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        size = int(self.store.config.get("watchChunkBytes") or 0)
        pieces = [data[i:i + size] for i in range(0, len(data), size)] if size > 0 else [data]
        for piece in pieces:
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()

    # -- test hooks
    def _fake_hooks(self, path, query, body):
        """POST /_fake/compact            {resourceVersion?, mode?: stream|http}: drop history up to RV
                                           (default: all); later watches from older RVs get 410
           POST /_fake/gone-mode          {mode: stream|http}: how a too-old watch RV is answered
           POST /_fake/inject             {code, method='*', path=regex, times=1, message?, retryAfter?}
           POST /_fake/inject/clear
           GET  /_fake/requests?since=SEQ list of requests (method, path, query, code, write, watch,
                                           userAgent, fieldManager); {"count", "writes", "requests"}
           POST /_fake/requests/reset
           POST /_fake/watches/close      end every open watch cleanly
           POST /_fake/watches/stall      {stalled: bool}: watches go silent (no events, no bookmarks)
           POST /_fake/bookmark           every bookmark-enabled watch gets a BOOKMARK now
           POST /_fake/config             {bookmarkIntervalSeconds, watchChunkBytes}
           GET  /_fake/state              {resourceVersion, compactedResourceVersion, watches, counts}"""
        data = self._json(body) if body else {}
        if not isinstance(data, dict):
            raise bad_request("hook bodies are JSON objects")
        store = self.store
        if path == "/_fake/compact" and self.command == "POST":
            if data.get("mode"):
                self._set_gone_mode(data["mode"])
            compacted = store.compact(data.get("resourceVersion"))
            return self._send_json(200, {"compactedResourceVersion": compacted})
        if path == "/_fake/gone-mode" and self.command == "POST":
            self._set_gone_mode(data.get("mode"))
            return self._send_json(200, {"mode": store.gone_mode})
        if path == "/_fake/inject" and self.command == "POST":
            if "code" not in data:
                raise bad_request("/_fake/inject needs 'code'")
            rule = {"code": int(data["code"]), "method": data.get("method", "*"), "path": data.get("path", ""),
                    "times": int(data.get("times", 1)), "message": data.get("message"), "retryAfter": data.get("retryAfter")}
            re.compile(rule["path"])
            with store.cond:
                store.injections.append(rule)
            return self._send_json(200, rule)
        if path == "/_fake/inject/clear" and self.command == "POST":
            with store.cond:
                store.injections = []
            return self._send_json(200, {})
        if path == "/_fake/requests" and self.command == "GET":
            since = int(query.get("since", "0") or 0)
            with store.cond:
                items = [r for r in store.requests if r["seq"] > since]
            return self._send_json(200, {"count": len(items), "writes": sum(1 for r in items if r["write"]), "requests": items,
                                         "lastSeq": store.requests[-1]["seq"] if store.requests else 0})
        if path == "/_fake/requests/reset" and self.command == "POST":
            with store.cond:
                store.requests = []
            return self._send_json(200, {})
        if path == "/_fake/watches/close" and self.command == "POST":
            with store.cond:
                for watcher in store.watchers:
                    watcher.closed = True
                count = len(store.watchers)
                store.cond.notify_all()
            return self._send_json(200, {"closed": count})
        if path == "/_fake/watches/stall" and self.command == "POST":
            with store.cond:
                store.stalled = bool(data.get("stalled", True))
                store.cond.notify_all()
            return self._send_json(200, {"stalled": store.stalled})
        if path == "/_fake/bookmark" and self.command == "POST":
            with store.cond:
                for watcher in store.watchers:
                    watcher.bookmark_requested = True
                store.cond.notify_all()
            return self._send_json(200, {"watches": len(store.watchers)})
        if path == "/_fake/config" and self.command == "POST":
            with store.cond:
                for key, value in data.items():
                    if key not in store.config:
                        raise bad_request(f"unknown config key {key!r}; known: {sorted(store.config)}")
                    store.config[key] = value
                return self._send_json(200, dict(store.config))
        if path == "/_fake/state" and self.command == "GET":
            with store.cond:
                counts = {"/".join(filter(None, k)): len(v) for k, v in store.objects.items()}
                return self._send_json(200, {"resourceVersion": store.rv, "compactedResourceVersion": store.compacted_rv,
                                             "watches": len(store.watchers), "objects": counts, "goneMode": store.gone_mode})
        raise ApiError(404, "NotFound", f"no test hook {self.command} {path}")

    def _set_gone_mode(self, mode):
        if mode not in ("stream", "http"):
            raise bad_request("mode must be 'stream' (ERROR event with code 410) or 'http' (HTTP 410)")
        with self.store.cond:
            self.store.gone_mode = mode


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def make_self_signed_cert(directory):
    """Generates a self-signed certificate for 127.0.0.1/localhost with the openssl CLI."""
    cert = os.path.join(directory, "apiserver.crt")
    key = os.path.join(directory, "apiserver.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", "/CN=ringlb-fake-apiserver",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def write_kubeconfig(path, url, ca_file=None, token=None, namespace="default"):
    cluster = {"server": url}
    if ca_file:
        with open(ca_file, "rb") as f:
            cluster["certificate-authority-data"] = base64.b64encode(f.read()).decode()
    # Always a token: with no credentials for an https server kubectl prompts for a password.
    user = {"token": token or "ringlb-fake-token"}
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": cluster}],
        "users": [{"name": "fake", "user": user}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)  # JSON is valid YAML, so kubectl reads it


def make_server(host="127.0.0.1", port=0, tls_dir=None, token_file=None, verbose=False, history=10000):
    """Builds (does not start) a fake API server. Returns (server, url, ca_file or None)."""
    store = Store(history_limit=history)
    handler = type("Handler", (FakeHandler,), {"store": store, "api": Api(store), "token_file": token_file, "verbose": verbose})
    server = FakeServer((host, port), handler)
    server.store = store
    ca_file = None
    scheme = "http"
    if tls_dir is not None:
        cert, key = make_self_signed_cert(tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        ca_file, scheme = cert, "https"
    url = f"{scheme}://{host}:{server.server_address[1]}"
    return server, url, ca_file


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Kubernetes API server for ringlb tests.")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only in tests)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one (printed)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate (openssl CLI)")
    parser.add_argument("--cert-dir", help="where --tls writes apiserver.crt/.key (default: a temporary directory)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this server to this path")
    parser.add_argument("--token-file", help="require 'Authorization: Bearer <contents>' (re-read on every request)")
    parser.add_argument("--history", type=int, default=10000, help="watch events kept before compaction")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    tls_dir = None
    if args.tls:
        tls_dir = args.cert_dir or tempfile.mkdtemp(prefix="fake-apiserver-")
    server, url, ca_file = make_server(args.host, args.port, tls_dir, args.token_file, args.verbose, args.history)
    if args.kubeconfig:
        token = None
        if args.token_file:
            with open(args.token_file) as f:
                token = f.read().strip()
        write_kubeconfig(args.kubeconfig, url, ca_file, token)
    print(json.dumps({"url": url, "port": server.server_address[1], "caFile": ca_file, "kubeconfig": args.kubeconfig}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
