#!/usr/bin/env python3
"""Formats C files the way PostgreSQL 15's pgindent does.

Debian ships the indenter pgindent drives (pg_bsd_indent 2.1.1, package
pg-bsd-indent) but not the pgindent script itself.  This does what that
script does to one file:
  1. before indenting, turns `//` comments into `/* */`, protects block
     comments that start with `/* ---` (pg_bsd_indent would refill them),
     hides the braces of `extern "C"` blocks and `CATALOG(` lines;
     beyond pgindent, dresses PostgreSQL's loop macros (foreach(lc, list)
     on a line of its own) as `while (...)`, so that a body without braces
     is indented as a loop body: pg_bsd_indent knows no foreach and would
     put an `if`'s statement at the `if`'s own column (PostgreSQL's
     sources avoid that by always bracing such bodies);
  2. runs pg_bsd_indent with pgindent's options and a typedefs list made of
     PostgreSQL 15's (tools/pgindent/typedefs.pg15) and ours (typedefs.list),
     plus `bool`, minus the names pgindent refuses (see EXCLUDED);
  3. undoes the protections, puts a tab between two comments run together
     on one line, and writes `type *` (one space) for a return type on a line
     of its own.

Usage: tools/pgindent.py [--check] [--diff] [--typedefs FILE] [FILE|DIR]...
  (default: src)
  --check     change nothing; list the files that would change and exit 2
  --diff      with --check, also print the changes as a unified diff
  --typedefs  our own list, instead of typedefs.list
Exits 3 if pg_bsd_indent failed on a file."""
import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PG_TYPEDEFS = os.path.join(ROOT, "tools", "pgindent", "typedefs.pg15")
OUR_TYPEDEFS = os.path.join(ROOT, "typedefs.list")
INDENT = os.environ.get("PGINDENT", "pg_bsd_indent")
INDENT_VERSION = "2.1.1"
# PostgreSQL 15's pgindent options, unchanged
INDENT_OPTIONS = ("-bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0 -di12 -nfc1 "
                  "-i4 -l79 -lp -lpl -nip -npro -sac -tpg -ts4").split()
# pgindent adds `bool` (a macro in <stdbool.h>) and drops these names, which
# some platform's headers make typedefs but which are variables elsewhere
ADDED = {"bool"}
EXCLUDED = set("""ANY FD_SET U abs allocfunc boolean date digit ilist interval
    iterator other pointer printfunc reference string timestamp type wrap""".split())

# list and dlist/slist iteration macros of PostgreSQL 15
LOOP_MACROS = ("foreach|forboth|forthree|forfour|forfive|for_each_cell|"
               "for_each_from|for_both_cell|dlist_foreach|dlist_foreach_modify|"
               "dlist_reverse_foreach|slist_foreach|slist_foreach_modify")
LOOP_START = re.compile(r"^([ \t]*)(?:%s)\(" % LOOP_MACROS)
LOOP_DRESSED = re.compile(r"^([ \t]*)while \(((?:%s)\(.*\))\)$" % LOOP_MACROS, re.M)

EXTERN_C_OPEN = '/* Open extern "C" */'
EXTERN_C_CLOSE = '/* Close extern "C" */'


def before_indent(text):
    # // comments become /* */ (pg_bsd_indent handles only block comments)
    text = re.sub(r"^([ \t]*)//(.*)$", r"\1/* \2 */", text, flags=re.M)
    # `/* ---` marks a comment whose layout is kept: hide it from refilling
    text = re.sub(r"/\* +---", "/*---X_X", text)
    # braces of extern "C" blocks would indent the whole block
    text = re.sub(r'(^#ifdef[ \t]+__cplusplus.*\nextern[ \t]+"C"[ \t]*\n)\{[ \t]*$',
                  lambda m: m.group(1) + EXTERN_C_OPEN, text, flags=re.M)
    text = re.sub(r"(^#ifdef[ \t]+__cplusplus.*\n)\}[ \t]*$",
                  lambda m: m.group(1) + EXTERN_C_CLOSE, text, flags=re.M)
    # CATALOG(...) lines are macros the indenter would wrap
    text = re.sub(r"^(CATALOG\(.*)$", r"/*\1*/", text, flags=re.M)
    return "".join(dress_loop(line) for line in text.splitlines(True))


def dress_loop(line):
    """`foreach(...)` alone on its line becomes `while (foreach(...))`."""
    m = LOOP_START.match(line)
    if not m:
        return line
    depth, end = 0, None
    for i in range(m.end() - 1, len(line)):
        depth += {"(": 1, ")": -1}.get(line[i], 0)
        if depth == 0:
            end = i + 1
            break
    if end is None or line[end:].strip():
        return line
    indent = m.group(1)
    return indent + "while (" + line[len(indent):end] + ")" + line[end:].lstrip(" \t")


def after_indent(text):
    text = LOOP_DRESSED.sub(r"\1\2", text)
    text = re.sub(r"^/\*(CATALOG\(.*)\*/$", r"\1", text, flags=re.M)
    text = re.sub("^" + re.escape(EXTERN_C_OPEN) + "$", "{", text, flags=re.M)
    text = re.sub("^" + re.escape(EXTERN_C_CLOSE) + "$", "}", text, flags=re.M)
    text = text.replace("/*---X_X", "/* ---")
    # two comments run together on a line get a tab between them
    text = re.sub(r"\*/(/\*.*\*/)$", "*/\t\\1", text, flags=re.M)
    # a return type alone on its line: one space before the `*`
    text = re.sub(r"^([A-Za-z_]\S*)[ \t]+\*$", r"\1 *", text, flags=re.M)
    return text


def typedef_names(ours):
    names = set()
    for path in (PG_TYPEDEFS, ours):
        with open(path) as f:
            names.update(f.read().split())
    return (names | ADDED) - EXCLUDED


def typedefs_file(names, tmpdir):
    path = os.path.join(tmpdir, "typedefs")
    with open(path, "w") as f:
        f.write("".join(n + "\n" for n in sorted(names)))
    return path


NOISE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
DECLARED = re.compile(r"\b[A-Za-z_]\w*[ \t]*[ \t*][ \t]*\b([A-Za-z_]\w*)[ \t]*(?=[=;,)\[])")
NOT_TYPES = {"return", "sizeof", "case", "goto", "else", "do"}


def variables_named_as_types(text, names):
    """(line, name) of each variable, parameter or field declared with a
    typedef's name: the indenter reads a statement that starts with it as a
    declaration (`text[--len]` comes out as `text[	  --len]`)."""
    text = NOISE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    found = []
    for m in DECLARED.finditer(text):
        before = text[m.start():m.start(1)].split()[0].rstrip("*")
        if m.group(1) in names and before not in NOT_TYPES:
            found.append((text.count("\n", 0, m.start(1)) + 1, m.group(1)))
    return found


def check_indent():
    try:
        out = subprocess.run([INDENT, "--version"], capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"{INDENT} not found: install the Debian package pg-bsd-indent "
                 "(test/install-deps does)")
    if f" {INDENT_VERSION} " not in out.stdout:
        sys.exit(f"{INDENT} is not version {INDENT_VERSION}, the one "
                 f"PostgreSQL 15's pgindent uses: {out.stdout.strip()}")


def indent(text, typedefs, tmpdir):
    """The whole pipeline for one file's text; None if the indenter failed."""
    path = os.path.join(tmpdir, "source.c")
    with open(path, "w") as f:
        f.write(before_indent(text))
    # like pgindent, anything the indenter prints is a failure
    # in tmpdir: the indenter leaves a backup copy in its working directory
    run = subprocess.run([INDENT] + INDENT_OPTIONS + ["-U" + typedefs, path],
                         capture_output=True, text=True, cwd=tmpdir)
    if run.returncode != 0 or run.stdout or run.stderr:
        return None, (run.stdout + run.stderr).strip()
    with open(path) as f:
        return after_indent(f.read()), None


def c_files(args):
    for arg in args:
        if os.path.isdir(arg):
            for dirpath, dirnames, names in os.walk(arg):
                dirnames.sort()
                for name in sorted(names):
                    if name.endswith((".c", ".h")):
                        yield os.path.join(dirpath, name)
        else:
            yield arg


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[-1])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--diff", action="store_true")
    ap.add_argument("--typedefs", default=OUR_TYPEDEFS)
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    check_indent()

    changed, failed = [], []
    with tempfile.TemporaryDirectory(prefix="pgindent.") as tmpdir:
        names = typedef_names(args.typedefs)
        typedefs = typedefs_file(names, tmpdir)
        for path in c_files(args.paths or [os.path.join(ROOT, "src")]):
            with open(path) as f:
                before = f.read()
            for line, name in variables_named_as_types(before, names):
                print(f"{path}:{line}: warning: \"{name}\" is a type's name; "
                      "the indenter may lay out its uses as declarations: rename it",
                      file=sys.stderr)
            after, error = indent(before, typedefs, tmpdir)
            if after is None:
                failed.append(path)
                print(f"{path}: pg_bsd_indent failed: {error}", file=sys.stderr)
                continue
            if after == before:
                continue
            changed.append(path)
            if not args.check:
                with open(path, "w") as f:
                    f.write(after)
            elif args.diff:
                sys.stdout.writelines(difflib.unified_diff(
                    before.splitlines(True), after.splitlines(True),
                    path, path + " (formatted)"))
    if args.check and changed:
        print("not formatted as pgindent would: " + " ".join(changed), file=sys.stderr)
        return 2
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
