#!/usr/bin/env python3
"""Reads callgrind output files (the format of valgrind's docs/callgrind-format): the exclusive Ir (instructions
executed) of each function and object, and the inclusive Ir of each function (its own plus what its calls cost).

    callgrind_costs.py SHORT.out LONG.out REQUESTS [TOP]

SHORT and LONG are dumps of two load runs over the same number of connections that differ only in their request
count, by REQUESTS: the difference is what the extra requests cost, without the handshakes and connection set-up both
runs pay. Prints Ir per request by object, then the TOP functions by inclusive and by exclusive Ir per request.
Names are demangled with `swift demangle` when it is on PATH."""
import collections
import re
import shutil
import subprocess
import sys


def read(path):
    """(exclusive Ir by (object, function), inclusive Ir of calls by (caller, callee))."""
    names = {"ob": {}, "fn": {}, "fl": {}}

    def name(kind, value):
        # Compressed names: "(id) name" defines an id, "(id)" refers to one.
        match = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not match:
            return value
        if match.group(2) is not None:
            names[kind][match.group(1)] = match.group(2)
        return names[kind].get(match.group(1), value)

    exclusive = collections.Counter()
    calls = collections.Counter()
    obj = function = callee = ""
    call_cost_next = False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        key, _, value = line.partition("=")
        if key == "ob":
            obj = name("ob", value).rsplit("/", 1)[-1]
        elif key == "cob":
            name("ob", value)
        elif key in ("fl", "fi", "fe", "cfi", "cfl"):
            name("fl", value)
        elif key == "fn":
            function = name("fn", value)
        elif key == "cfn":
            callee = name("fn", value)
        elif key == "calls":
            call_cost_next = True  # the next cost line is the call's inclusive cost
        elif line[0].isdigit() or line[0] in "+-*":
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if call_cost_next:
                if callee != function:
                    calls[(function, callee)] += cost
                call_cost_next = False
            else:
                exclusive[(obj, function)] += cost
    return exclusive, calls


def main():
    short, long_, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    (ex1, calls1), (ex2, calls2) = read(short), read(long_)
    exclusive = collections.Counter(ex2)
    exclusive.subtract(ex1)
    calls = collections.Counter(calls2)
    calls.subtract(calls1)
    by_object = collections.Counter()
    by_function = collections.Counter()
    objects_of = {}
    for (obj, function), cost in exclusive.items():
        by_object[obj] += cost
        by_function[function] += cost
        objects_of[function] = obj
    inclusive = collections.Counter(by_function)
    for (caller, _), cost in calls.items():
        inclusive[caller] += cost
    total = sum(by_object.values())
    # valgrind counts each iteration of `rep movsb` as an instruction: glibc's memcpy and memset count about one per
    # byte (100 MB copied counted 105 M Ir here) where the CPU moves tens of bytes per cycle. The total without them
    # is the better guide to time.
    copies = sum(cost for function, cost in by_function.items() if re.match(r"__(memcpy|memmove|memset)_", function))
    print(f"total: {total / requests:.0f} Ir per request; without memcpy and memset: {(total - copies) / requests:.0f}")
    for obj, cost in by_object.most_common():
        if cost / requests >= 1:
            print(f"  {cost / requests:8.0f}  {obj}")
    shown = [f for f, _ in inclusive.most_common(top)] + [f for f, _ in by_function.most_common(top)]
    demangled = dict(zip(shown, shown))
    if shutil.which("swift"):
        out = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(shown), capture_output=True,
                             text=True).stdout.split("\n")
        demangled.update(zip(shown, out))
    for title, table in (("inclusive", inclusive), ("exclusive", by_function)):
        print(f"top {top} by {title} Ir per request:")
        for function, cost in table.most_common(top):
            print(f"  {cost / requests:8.0f}  {objects_of.get(function, '')[:16]:16}  {demangled[function][:120]}")


if __name__ == "__main__":
    main()
