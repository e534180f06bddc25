"""Make public names look public: ``torouter.KeyExpired``, not ``torouter._errors.KeyExpired``.

Each private module that defines public names calls :func:`publish` at its bottom, so tracebacks,
reprs and pickles name the public path whichever way the class was first reached (``import
torouter`` is lazy: a class may be raised before anyone touched ``torouter.KeyExpired``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable


def publish(module_name: str, names: Iterable[str] | None = None, *, to: str | None = None) -> None:
    """Set ``__module__`` to the public package on the names of ``module_name`` it exports.

    The package is the parent of ``module_name`` (``torouter`` for ``torouter._errors``,
    ``torouter.testing`` for ``torouter.testing._gateway``) unless ``to`` says otherwise.
    ``names`` defaults to the names the package's lazy table (``_LAZY`` in ``torouter``,
    ``_WHERE`` in ``torouter.testing``) maps to ``module_name``, so a class added to that table
    is published without touching this call.
    """
    module = sys.modules[module_name]
    package_name, _, short = module_name.rpartition(".")
    to = to or package_name
    if names is None:
        package = sys.modules[package_name]
        table: dict[str, str] = getattr(package, "_LAZY", None) or getattr(package, "_WHERE", {})
        names = [name for name, where in table.items() if where.lstrip(".") == short]
    namespace = module.__dict__
    for name in names:
        obj = namespace.get(name)
        if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
            with contextlib.suppress(AttributeError, TypeError):  # a builtin or an alias
                obj.__module__ = to


def publish_package(package_name: str) -> None:
    """For a package that imports its names eagerly (``torouter.types``): every class of its
    ``__all__`` defined in one of its modules (``torouter.types.chat``) gets the package's name,
    so ``torouter.types.ChatCompletion`` is what reprs, tracebacks and pickles say."""
    package = sys.modules[package_name]
    names = [
        name for name in getattr(package, "__all__", ())
        if isinstance(package.__dict__.get(name), type)
        and str(package.__dict__[name].__module__).startswith(package_name + ".")
    ]
    for name in names:
        obj = package.__dict__[name]
        with contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = package_name
