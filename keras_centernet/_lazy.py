"""Package exports imported on first use (PEP 562), so a package's `__init__` imports none of its modules: a
package can then list names whose modules need TensorFlow and still import without it."""

import importlib
import sys


def lazy_exports(package, exports):
    """`(__getattr__, __dir__)` for `package` (its `__name__`) exporting `exports` = {name: module}: a name is
    imported from its module when first read, then cached in the package."""

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
