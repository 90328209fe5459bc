"""REST input serializers take JSON values of the types the OpenAPI schema names, and no others.

DRF's fields coerce: a CharField takes `0` as "0", a BooleanField takes `0`, `"no"` or `"on"`,
an IntegerField takes `"5"`. That suits HTML forms, whose values are all strings; the API reads
JSON only (settings: DEFAULT_PARSER_CLASSES), where a client that sends `{"all": 0}` or
`{"topic": 0}` has a bug it should hear about, as the schema says: 400 with the field's message.
"""

from collections.abc import Mapping

from rest_framework import serializers

# Checked in this order: a BooleanField is no IntegerField, but bool is an int in Python.
_JSON_TYPES: list[tuple[type[serializers.Field], tuple[type, ...], str]] = [
    (serializers.BooleanField, (bool,), "Must be true or false."),
    (serializers.IntegerField, (int,), "Must be a whole number."),
    (serializers.ChoiceField, (str,), "Must be text."),
    (serializers.CharField, (str,), "Must be text."),
    (serializers.ListField, (list,), "Must be a list."),
]


def _type_error(field: serializers.Field, value) -> str | None:
    for cls, types, message in _JSON_TYPES:
        if isinstance(field, cls):
            wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            return message if wrong else None
    return None


class JsonInput:
    """Mixin for an input serializer (before `serializers.Serializer` or `ModelSerializer` in its bases)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data or data[name] is None:
                    continue  # absent and null are the field's own business (required, allow_null)
                message = _type_error(field, data[name])
                if message is None and isinstance(field, serializers.ListField) and field.child is not None:
                    items = [(i, _type_error(field.child, v)) for i, v in enumerate(data[name]) if v is not None]
                    if bad := {i: [m] for i, m in items if m}:
                        errors[name] = bad
                        continue
                if message:
                    errors[name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
