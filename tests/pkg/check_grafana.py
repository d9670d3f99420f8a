#!/usr/bin/env python3
"""Checks a Grafana dashboard provider file and the dashboards it points at.

  check_grafana.py --provider FILE --root DIR
      the provider as installed in the root DIR (a package installed with
      dpkg --root): its options.path is looked up under DIR.
  check_grafana.py --provider FILE --install-map debian/migshaper.install
      the provider in the source tree: its options.path is mapped back to a
      source folder through the package's install list ("SRC/* DEST" lines).

The provider must be what Grafana's file provisioning loads (apiVersion 1, a
list of providers of type "file" with an absolute options.path), and the
folder it names must hold at least one dashboard. Each dashboard must be
loadable by provisioning: a JSON object with a uid and a title, no numeric id
(Grafana assigns it) and no "__inputs" (the export-for-sharing form, whose
inputs only the import dialog fills), and every data source it names must be
a variable of type datasource (or Grafana's built-in one), since a fixed
uid exists on no other Grafana.
Exit 0 when all holds, 1 with the reasons otherwise.
"""
import argparse
import glob
import json
import os
import re
import sys

import yaml

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VAR_RE = re.compile(r"^\$\{?([A-Za-z0-9_]+)\}?$")


def load_providers(path, errors):
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        errors.append(f"{path}: not a YAML mapping")
        return []
    if doc.get("apiVersion") != 1:
        errors.append(f"{path}: apiVersion is {doc.get('apiVersion')!r}, Grafana wants 1")
    providers = doc.get("providers")
    if not isinstance(providers, list) or not providers:
        errors.append(f"{path}: no providers list")
        return []
    paths = []
    for i, p in enumerate(providers):
        where = f"{path}: providers[{i}]"
        if not isinstance(p, dict):
            errors.append(f"{where}: not a mapping")
            continue
        if not isinstance(p.get("name"), str) or not p["name"]:
            errors.append(f"{where}: no name")
        if p.get("type", "file") != "file":
            errors.append(f"{where}: type {p.get('type')!r}, not file")
        if "orgId" in p and not isinstance(p["orgId"], int):
            errors.append(f"{where}: orgId {p['orgId']!r} is not a number")
        opts = p.get("options")
        dash_path = opts.get("path") if isinstance(opts, dict) else None
        if not isinstance(dash_path, str) or not os.path.isabs(dash_path):
            errors.append(f"{where}: options.path {dash_path!r} is not an absolute path")
            continue
        paths.append(os.path.normpath(dash_path))
    return paths


def map_through_install(dash_path, install_list, errors):
    """The source folder that the package installs as dash_path."""
    with open(install_list) as f:
        for line in f:
            fields = line.split()
            if len(fields) != 2 or not fields[0].endswith("/*"):
                continue
            src, dest = fields[0][:-2], "/" + fields[1].strip("/")
            if dash_path == dest or dash_path.startswith(dest + "/"):
                return src + dash_path[len(dest):]
    errors.append(f"{install_list}: no line installs a folder holding {dash_path}")
    return None


def datasource_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)


def check_dashboard(path, errors):
    where = path
    try:
        with open(path) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        errors.append(f"{where}: {e}")
        return None
    if not isinstance(dash, dict):
        errors.append(f"{where}: not a JSON object")
        return None
    uid, title = dash.get("uid"), dash.get("title")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        errors.append(f"{where}: uid {uid!r} is not 1-40 of [A-Za-z0-9_-]")
    if not isinstance(title, str) or not title.strip():
        errors.append(f"{where}: no title")
    if dash.get("id") is not None:
        errors.append(f"{where}: has id {dash['id']!r}; provisioned dashboards leave it to Grafana")
    if "__inputs" in dash:
        errors.append(f"{where}: has __inputs (exported for sharing): provisioning cannot fill them")
    if not isinstance(dash.get("panels"), list) or not dash["panels"]:
        errors.append(f"{where}: no panels")
    templating = dash.get("templating", {}).get("list", [])
    ds_vars = {v.get("name") for v in templating if isinstance(v, dict) and v.get("type") == "datasource"}
    for ref in datasource_refs(dash):
        name = ref.get("uid") if isinstance(ref, dict) else ref
        # None: the panel's default; "-- Grafana --": Grafana's built-in one.
        if name is None or name == "-- Grafana --":
            continue
        m = VAR_RE.match(name) if isinstance(name, str) else None
        if not m or m.group(1) not in ds_vars:
            errors.append(f"{where}: data source {ref!r} is not a datasource variable ({sorted(ds_vars)})")
            break
    return uid, title


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--provider", required=True)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--root")
    where.add_argument("--install-map")
    args = ap.parse_args()

    errors = []
    dashboards = {}
    for dash_path in load_providers(args.provider, errors):
        if args.root:
            folder = os.path.join(args.root, dash_path.lstrip("/"))
        else:
            folder = map_through_install(dash_path, args.install_map, errors)
            if folder is None:
                continue
        files = sorted(glob.glob(os.path.join(folder, "*.json")))
        if not files:
            errors.append(f"provider path {dash_path} ({folder}): no dashboard there")
        for f in files:
            got = check_dashboard(f, errors)
            if got is None:
                continue
            if got[0] in dashboards:
                errors.append(f"{f}: uid {got[0]!r} also used by {dashboards[got[0]]}")
            dashboards[got[0]] = f
            print(f"dashboard {f}: uid={got[0]!r} title={got[1]!r} (provider path {dash_path})")
    for e in errors:
        print("error: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
