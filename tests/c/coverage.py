"""Fails unless the C tests call every function the header declares and
check every status it defines.

A status counts as checked when it is the expected status of a CHECK_STATUS
(or, for STURDY_STATUS_OK, a CHECK_OK / REQUIRE_OK). The few statuses no C
input can produce are listed below with the Rust test that covers them.

usage: python3 coverage.py include/sturdycache.h tests/c/test_*.c
"""

import re
import sys

COVERED_IN_RUST = {
    "STURDY_STATUS_PANIC": "ffi/src/boundary.rs: a_panic_becomes_a_status_and_a_message",
    "STURDY_STATUS_DISK_TIMED_OUT": "ffi/src/status.rs: every_disk_kind_has_its_own_status "
    "(the chaos API has no timeout errno)",
    "STURDY_STATUS_OTHER": "ffi/src/status.rs (no core error maps to it today; it stands for future kinds)",
}

header = open(sys.argv[1], encoding="utf-8").read()
tests = "\n".join(open(p, encoding="utf-8").read() for p in sys.argv[2:])

functions = sorted(set(re.findall(r"^[A-Za-z_][\w \*]*?\b(sturdy_\w+)\(", header, re.M)))
statuses = sorted(set(re.findall(r"\b(STURDY_STATUS_[A-Z_]+)\s*=", header)))

checked = set(re.findall(r"CHECK_STATUS\((?:[^;]|\n)*?,\s*(STURDY_STATUS_[A-Z_]+)\)\s*;", tests))
if re.search(r"\b(CHECK_OK|REQUIRE_OK)\(", tests):
    checked.add("STURDY_STATUS_OK")

missing_functions = [f for f in functions if not re.search(r"\b%s\s*\(" % re.escape(f), tests)]
missing_statuses = [s for s in statuses if s not in checked and s not in COVERED_IN_RUST]

print(f"header: {len(functions)} functions, {len(statuses)} statuses")
for status, where in COVERED_IN_RUST.items():
    print(f"  {status}: not producible from C; covered by {where}")
if missing_functions or missing_statuses:
    for f in missing_functions:
        print(f"NOT CALLED by any C test: {f}")
    for s in missing_statuses:
        print(f"NOT CHECKED by any C test: {s}")
    sys.exit(1)
print(f"every function is called and every status checked by the C tests")
