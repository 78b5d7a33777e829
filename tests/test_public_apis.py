"""Public APIs only: no code in stations/ reaches into another library's private attributes."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stations"
# Documented API of named tuples (collections.namedtuple), underscored so as not to clash.
NAMED_TUPLE_API = {"_asdict", "_fields", "_field_defaults", "_make", "_replace"}
# Private attributes of folium in rider/folium_map.py, known and not yet replaced ("public APIs
# only"): (file, attribute). Nothing may be added here.
NOT_YET_REPLACED = {("folium_map.py", "_id"), ("folium_map.py", "_children")}
MANGLED = re.compile(r"^_[A-Za-z]\w*__\w+$")  # _Class__name: another class's private, by force
_DUNDER = re.compile(r"^__\w+__$")


def _sources():
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py")}


def _own_private_names(trees):
    """Underscored names this package defines: functions, classes, attributes it assigns."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
    return {name for name in names if name.startswith("_")}


def private_accesses(trees):
    """(file, line, attribute) of each access to an underscored attribute not of our own."""
    own = _own_private_names(trees.values())
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and MANGLED.match(node.name):
                found.append((path.name, node.lineno, node.name))  # overrides another's private
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            name = node.attr
            if _DUNDER.match(name) and name != "__wrapped__":
                continue  # the language's own (__init__, __table__); __wrapped__ unwraps a library
            if not MANGLED.match(name) and (name in own or name in NAMED_TUPLE_API):
                continue
            if (path.name, name) in NOT_YET_REPLACED:
                continue
            found.append((path.name, node.lineno, name))
    return found


def test_no_private_attributes_of_other_libraries():
    assert private_accesses(_sources()) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("limiter._Limiter__inject_headers(response)", ["_Limiter__inject_headers"]),
        ("limiter._storage_dead", ["_storage_dead"]),
        ("get = MemoryStorage.get.__wrapped__", ["__wrapped__"]),
        ("storage._get_sliding_window_info(a, b)", ["_get_sliding_window_info"]),
        ("class A:\n    def _own(self):\n        return self._own()", []),
        ("self._cache = {}\nself._cache.clear()", []),
        ("row._replace(name='x')", []),
        ("super().__init__()", []),
        ("self._Own__mangled = 1", ["_Own__mangled"]),
        (
            "class S(MemoryStorage):\n    def _MemoryStorage__expire(self): ...",
            ["_MemoryStorage__expire"],
        ),
    ],
)
def test_the_check_finds_private_access(source, found):
    tree = ast.parse(source)
    accesses = private_accesses({Path("example.py"): tree})
    assert [name for _, _, name in accesses] == found
