#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every restartable sequence with an output operand (an asm goto that returns a value) is
followed by SLABD_ASM_GOTO_OUTPUT_FENCE(): GCC before 11.5, 12.4 and 13.3 (Debian 12 has
12.2) can lose such an output on the fall-through path (GCC bug 113921; <slabd/fast.h>
says how it showed). A new sequence written without the fence fails here, not in a
user's program. TAP output; argument: the source root."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
files = sorted(list((root / "include/slabd").glob("*.h")) + list((root / "lib").glob("*.[ch]")) +
               list((root / "bench/experiments").glob("*.c")))
results = []
for f in files:
    text = f.read_text()
    for m in re.finditer(r"__asm__\s+volatile\s+goto\s*\(", text):
        end = text.index(");", text.index(": slow", m.start())) + 2
        stmt = text[m.start():end]
        # outputs: the first operand list (after the template) holds a "=..." constraint
        if not re.search(r'"=[&a-z@]*"\s*\(', stmt):
            continue
        line = text.count("\n", 0, m.start()) + 1
        after = text[end:end + 300]
        # the fence must be the next statement (a macro body may continue the line with '\')
        ok = re.match(r"[\s\\]*SLABD_ASM_GOTO_OUTPUT_FENCE\(\)", after) is not None
        results.append((ok, "%s:%d" % (f.relative_to(root), line)))
if not results:
    print("1..1\nnot ok 1 - no asm goto with outputs found: the scan is broken")
    sys.exit(0)
print("1..%d" % len(results))
for i, (ok, where) in enumerate(results, 1):
    print("%s %d - %s: an asm goto with outputs %s followed by SLABD_ASM_GOTO_OUTPUT_FENCE()" %
          ("ok" if ok else "not ok", i, where, "is" if ok else "is not"))
