"""TF Object Detection API label maps (``.pbtxt``): read and write.

A label map lists the dataset's categories::

    item {
      name: "person"
      id: 1
      display_name: "person"
    }

Ids are the dataset's own category ids (COCO: 80 ids in 1..90). Inside the model classes are contiguous: the
contiguous label of a category is its position in the sorted id list (see ``class_ids``).
"""

import os
import re

_ITEM = re.compile(r"item\s*\{(.*?)\}", re.DOTALL)
_COMMENT = re.compile(r"#[^\"'\n]*$")
_FIELD = re.compile(r"""(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s}]+))""")


def _unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def read_label_map(path):
    """Read a label map: returns ``{id: name}`` sorted by id (name = display_name, else name, else str(id)).

    Raises ValueError naming the file when it has no items, an item without an integer id, or a repeated id.
    """
    with open(path, encoding="utf-8") as file:
        text = "\n".join(_COMMENT.sub("", line) for line in file)
    categories = {}
    for number, match in enumerate(_ITEM.finditer(text), start=1):
        fields = {}
        for key, double, single, bare in _FIELD.findall(match.group(1)):
            fields[key] = _unescape(double or single) if (double or single) else bare
        try:
            category_id = int(fields["id"])
        except (KeyError, ValueError):
            raise ValueError(f"{path}: item {number} has no integer id: {match.group(0)!r}") from None
        if category_id in categories:
            raise ValueError(f"{path}: id {category_id} appears twice")
        categories[category_id] = fields.get("display_name") or fields.get("name") or str(category_id)
    if not categories:
        raise ValueError(f"{path}: no 'item {{ ... }}' entries: not a label map")
    return dict(sorted(categories.items()))


def _as_items(categories):
    if isinstance(categories, dict):
        return [(int(k), str(v)) for k, v in categories.items()]
    items = []
    for category in categories:
        if isinstance(category, dict):
            items.append((int(category["id"]), str(category["name"])))
        else:
            category_id, name = category
            items.append((int(category_id), str(name)))
    return items


def write_label_map(path, categories):
    """Write a label map. ``categories``: ``{id: name}``, COCO-style ``[{"id", "name"}, ...]`` or
    ``[(id, name), ...]``. Items are written sorted by id; returns the path."""
    items = sorted(_as_items(categories))
    ids = [category_id for category_id, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"label map for {path}: repeated ids in {ids}")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        for category_id, name in items:
            file.write(
                f'item {{\n  name: "{_escape(name)}"\n  id: {category_id}\n  display_name: "{_escape(name)}"\n}}\n'
            )
    return path


def class_ids(label_map):
    """Sorted category ids of a label map (``{id: name}``, a path, or an iterable of ids): the contiguous
    label of a category is its index in this list."""
    if isinstance(label_map, (str, os.PathLike)):
        label_map = read_label_map(label_map)
    return sorted(int(category_id) for category_id in label_map)
