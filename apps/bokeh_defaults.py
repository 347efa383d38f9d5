"""Bokeh's walks of a session's models without re-making the properties' defaults each time.

Every change of a session's page ends with Bokeh recomputing the document's set of models
(``DocumentModelManager.recompute``: a walk from the roots through every property that can
hold a model) and serializing what changed. Both read every property of every model, and a
property left at its default makes its default again on each read: the class default,
overridden, copied and validated (``PropertyDescriptor.instance_default``). With a session's
page of 800-odd models this re-making was most of the walk: a watched server's event loop
spent 54 % of its time in ``recompute`` during 10 sessions (py-spy, 250 Hz, 2 workers).

A default that Bokeh calls *stable* (not made by a function, not a container: Bokeh keeps no
copy of it per model) is the same value for every model of a class unless a theme sets it,
so :func:`install` makes Bokeh keep it once per class and property, when it is a plain value
(``None``, a number, a string or a tuple of them). The walk for models then skips such a
property outright (a plain value holds no model) and reads set values, themed values and the
per-model defaults Bokeh keeps directly. What the walk finds and what is serialized are
unchanged (``tests/test_dashboard_server_state.py`` compares them with Bokeh's own on a whole
page).
"""

from __future__ import annotations

from typing import Any

#: Types of a default kept once per class and property (values that hold no model).
PLAIN = (type(None), bool, int, float, str)

_installed = False


def is_plain(value: Any) -> bool:
    """Whether ``value`` is a plain value (:data:`PLAIN`, or a tuple of them)."""
    if type(value) is tuple:
        return all(type(v) in PLAIN for v in value)
    return type(value) in PLAIN


def install() -> None:
    """Make this process's Bokeh keep plain stable defaults once per class and property, and
    walk for models past them (see the module's text). Idempotent."""
    global _installed
    if _installed:
        return
    from bokeh.core.has_props import HasProps
    from bokeh.core.property.descriptors import PropertyDescriptor
    from bokeh.model import util

    made = PropertyDescriptor._get_default
    kept: dict[tuple[type, str], Any] = {}  # (class, property) -> plain stable default
    missing = object()

    def _get_default(self, obj):
        themed = obj.themed_values()
        if themed is not None and self.name in themed:
            return made(self, obj)
        key = (type(obj), self.name)
        value = kept.get(key, missing)
        if value is not missing:
            return value
        value = made(self, obj)
        if not self.has_unstable_default(obj) and is_plain(value):
            kept[key] = value
        return value

    walk_one = util.visit_value_and_its_immediate_references

    def visit_immediate_value_references(value, visitor) -> None:
        if not isinstance(value, HasProps):
            walk_one(value, visitor)
            return
        values, themed = value._property_values, value.themed_values() or {}
        unstable = value._unstable_default_values
        cls = type(value)
        for attr in value.properties_with_refs():
            if attr in values:
                child = values[attr]
            elif attr in themed:
                child = getattr(value, attr)
            elif attr in unstable:
                child = unstable[attr]
            elif (cls, attr) in kept:
                continue  # a plain value: no model in it
            else:
                child = getattr(value, attr)  # made (and kept) as Bokeh does
            walk_one(child, visitor)

    PropertyDescriptor._get_default = _get_default
    util.visit_immediate_value_references = visit_immediate_value_references
    _installed = True
