"""The public API of a crate as a sorted list of lines, from rustdoc's JSON output.

Usage: public_api.py CRATE.json > LISTING

Each line names one thing a user of the crate can reach: a module, a type, a function, a
constant (an item of this crate re-exported is listed where it is reached, as if defined
there; another crate's re-export as `use path = source`), a public field or variant, an inherent method, a
trait's method, and the traits a type implements (`impl Trait for Type`; auto traits and
blanket impls are left out). Names only, no signatures: the listing changes when something is
added, removed, renamed or moved, which is what must be deliberate. scripts/api.sh makes the
JSON and compares the listing with the checked-in one.
"""

import json
import sys

KINDS = {
    "module": "mod",
    "struct": "struct",
    "enum": "enum",
    "trait": "trait",
    "function": "fn",
    "constant": "const",
    "static": "static",
    "type_alias": "type",
    "macro": "macro",
    "union": "union",
}


def type_name(ty) -> str:
    """A short name of a rustdoc type (the last path segment of a resolved path)."""
    if isinstance(ty, dict) and "resolved_path" in ty:
        path = ty["resolved_path"]
        return (path.get("path") or path.get("name") or "?").split("::")[-1]
    return "?"


class Listing:
    def __init__(self, crate):
        self.index = crate["index"]
        self.root = str(crate["root"])
        self.lines = set()

    def item(self, item_id):
        return self.index.get(str(item_id))

    def walk_module(self, module_id, path):
        module = self.item(module_id)
        for child_id in module["inner"]["module"]["items"]:
            child = self.item(child_id)
            if child is None or child.get("visibility") != "public":
                continue
            kind, inner = next(iter(child["inner"].items()))
            if kind == "use":
                self.reexport(inner, path)
                continue
            self.entry(child_id, child, f"{path}::{child['name']}")

    def reexport(self, inner, path):
        """A `pub use`: an item of this crate is listed where it can be reached, as if it were
        defined there (with its fields, variants, methods and impls); a glob of a module lists
        the module's public items; another crate's item is listed as a `use` line."""
        target = self.item(inner.get("id")) if inner.get("id") is not None else None
        local = target is not None and target.get("crate_id") == 0
        if not local:
            source = f"{inner['source']}::*" if inner["is_glob"] else inner["source"]
            name = "*" if inner["is_glob"] else inner["name"]
            self.lines.add(f"use {path}::{name} = {source}")
        elif inner["is_glob"]:
            self.walk_module(inner["id"], path)
        else:
            self.entry(inner["id"], target, f"{path}::{inner['name']}")

    def entry(self, item_id, item, full):
        kind, inner = next(iter(item["inner"].items()))
        self.lines.add(f"{KINDS.get(kind, kind)} {full}")
        if kind == "module":
            self.walk_module(item_id, full)
        elif kind in ("struct", "enum", "union"):
            self.members(item, kind, inner, full)
        elif kind == "trait":
            for method_id in inner.get("items", []):
                method = self.item(method_id)
                if method is not None:
                    self.lines.add(f"trait-item {full}::{method['name']}")

    def members(self, item, kind, inner, full):
        if kind == "struct":
            fields = inner.get("kind", {})
            plain = fields.get("plain", {}) if isinstance(fields, dict) else {}
            for field_id in plain.get("fields", []):
                field = self.item(field_id)
                if field is not None and field.get("visibility") == "public":
                    self.lines.add(f"field {full}.{field['name']}")
        if kind == "enum":
            for variant_id in inner.get("variants", []):
                variant = self.item(variant_id)
                if variant is not None:
                    self.lines.add(f"variant {full}::{variant['name']}")
        for impl_id in inner.get("impls", []):
            impl = self.item(impl_id)
            if impl is None:
                continue
            details = impl["inner"]["impl"]
            if details.get("is_synthetic") or details.get("blanket_impl"):
                continue
            trait = details.get("trait")
            if trait is not None:
                self.lines.add(f"impl {trait.get('path', trait.get('name', '?'))} for {full}")
                continue
            for method_id in details.get("items", []):
                method = self.item(method_id)
                if method is not None and method.get("visibility") == "public":
                    self.lines.add(f"method {full}::{method['name']}")

    def run(self):
        name = self.item(self.root)["name"]
        self.lines.add(f"crate {name}")
        self.walk_module(self.root, name)
        return sorted(self.lines)


def main():
    with open(sys.argv[1]) as file:
        crate = json.load(file)
    for line in Listing(crate).run():
        print(line)


if __name__ == "__main__":
    main()
