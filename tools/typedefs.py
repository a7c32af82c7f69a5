#!/usr/bin/env python3
"""Prints the typedef names pgindent must know for pipeline's sources, beyond
PostgreSQL 15's own list (tools/pgindent/typedefs.pg15): one name a line,
sorted.  `make format` writes this to typedefs.list; `make format-check`
fails when typedefs.list differs from it.

Two sources of names:
  * every typedef (and the tag of every typedef'd struct, union or enum)
    declared in src/, used or not;
  * typedefs declared in the headers src/ includes (PostgreSQL's, libcurl's,
    the C library's: found with the preprocessor's dependency list), but
    only the names src/ uses and PostgreSQL's list lacks, e.g. libcurl's
    CURLcode or Form_pg_db_role_setting (a catalog added after the list
    was made).

Declarations are found by reading C, not by compiling: comments, strings
and preprocessor lines are blanked, then each `typedef ... ;` is split into
its declarators.  PostgreSQL's catalog headers declare FormData_* through
the CATALOG() macro, so a `} Name;` closing a block at column 0 of a header
counts as well.

Usage: tools/typedefs.py [--pg-config PATH] [--output FILE]"""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PG_LIST = os.path.join(ROOT, "tools", "pgindent", "typedefs.pg15")

# names pgindent itself refuses to treat as typedefs (see tools/pgindent.py)
EXCLUDED = set("""ANY FD_SET U abs allocfunc boolean date digit ilist interval
    iterator other pointer printfunc reference string timestamp type wrap""".split())

IDENT = re.compile(r"[A-Za-z_]\w*")
C_TOKENS = re.compile(r"""
      (?P<comment>/\*.*?\*/|//[^\n]*)
    | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    | (?P<pp>^[ \t]*\#(?:\\\n|[^\n])*)
""", re.S | re.M | re.X)
KEYWORDS = set("""struct union enum const volatile unsigned signed int long short
    char float double void typedef extern static inline register restrict
    _Bool bool""".split())


def blank_noise(text):
    """Comments, literals and preprocessor lines become spaces (newlines are
    kept, so column 0 stays column 0)."""
    return C_TOKENS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def split_top(text, sep=","):
    """Splits at sep where no bracket is open."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def declarator_name(decl):
    """The name a typedef declarator introduces: `*Foo`, `Foo[3]`,
    `(*Foo) (int)` or `Foo (int)` (a function type)."""
    m = re.search(r"\(\s*\*+\s*(?:const\s+)?([A-Za-z_]\w*)\s*\)", decl)
    if m:
        return m.group(1)
    if "(" in decl:
        names = IDENT.findall(decl[:decl.index("(")])
    else:
        names = IDENT.findall(re.sub(r"\[[^]]*\]", " ", decl))
    names = [n for n in names if n not in KEYWORDS]
    return names[-1] if names else None


def typedef_names(text, header):
    text = blank_noise(text)
    names = set()
    for m in re.finditer(r"\btypedef\b", text):
        depth, i = 0, m.end()
        while i < len(text) and not (text[i] == ";" and depth == 0):
            if text[i] in "([{":
                depth += 1
            elif text[i] in ")]}":
                depth -= 1
            i += 1
        body = text[m.end():i]
        tag = re.match(r"\s*(?:struct|union|enum)\s+([A-Za-z_]\w*)", body)
        if tag:
            names.add(tag.group(1))
        if "{" in body:
            # the declarators follow the block's closing brace
            depth, j = 0, body.index("{")
            for j in range(body.index("{"), len(body)):
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                if depth == 0:
                    break
            body = body[j + 1:]
        else:
            body = re.sub(r"^\s*(?:struct|union|enum)\s+[A-Za-z_]\w*", " ", body)
        for decl in split_top(body):
            name = declarator_name(decl)
            if name:
                names.add(name)
    if header:
        names.update(re.findall(r"^\}\s*([A-Za-z_]\w*)\s*;", text, re.M))
    return names


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def included_headers(sources, pg_config):
    """Every header the sources include, by the preprocessor's -M list."""
    def conf(opt):
        return subprocess.run([pg_config, opt], check=True, capture_output=True,
                              text=True).stdout.strip()
    server = conf("--includedir-server")
    if not os.path.exists(os.path.join(server, "postgres.h")):
        sys.exit(f"typedefs.py: no postgres.h in {server}: give the pg_config of "
                 "an installation with its server headers (--pg-config or PG_CONFIG)")
    cmd = ["cc", "-M", "-D_GNU_SOURCE", "-DPIPELINE_VERSION=\"0\"",
           "-I" + os.path.join(ROOT, "src"),
           "-I" + server, "-I" + conf("--includedir")]
    headers = set()
    for src in sources:
        out = subprocess.run(cmd + [src], check=True, capture_output=True,
                             text=True).stdout
        for word in out.replace("\\\n", " ").split()[1:]:
            if word.endswith(".h"):
                headers.add(os.path.normpath(word))
    return headers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg-config", default=os.environ.get("PG_CONFIG", "pg_config"))
    ap.add_argument("--output", help="write here (only once complete), not to stdout")
    args = ap.parse_args()

    src = os.path.join(ROOT, "src")
    own_files = sorted(glob.glob(os.path.join(src, "**", "*.[ch]"), recursive=True))
    own = set()
    used = set()
    for path in own_files:
        text = read(path)
        own |= typedef_names(text, path.endswith(".h"))
        used |= set(IDENT.findall(blank_noise(text)))

    pg_list = set(read(PG_LIST).split())
    foreign = set()
    own_paths = {os.path.normpath(p) for p in own_files}
    c_files = [p for p in own_files if p.endswith(".c")]
    for header in sorted(included_headers(c_files, args.pg_config) - own_paths):
        foreign |= typedef_names(read(header), True)
    foreign = {n for n in foreign & used if n not in pg_list}

    text = "".join(name + "\n" for name in sorted((own | foreign) - EXCLUDED))
    if args.output:
        with open(args.output + ".new", "w") as f:
            f.write(text)
        os.replace(args.output + ".new", args.output)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    sys.exit(main())
