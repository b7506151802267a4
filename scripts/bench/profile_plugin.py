#!/usr/bin/env python3
"""Profiles the plugin process during one part of the benchmark and prints its CPU by phase.

Runs `bench --only PART ...` (the other arguments go to it), finds the plugin it starts
(`sqs-connector`, a child of the benchmark), records it with `perf record --call-graph dwarf`
on CLOCK_MONOTONIC, and timestamps every progress line of the benchmark on the same clock. A
contender's runs are the spans between the line before each of its result lines and that line,
so the samples of one contender (for instance the plugin's RECEIVE, not the LISTEN that runs in
the same process) can be told apart; the warm-up and the other contenders are left out. Prints
one table per contender (see perf_phases.py), with microseconds per message from the plugin's
CPU per message that the benchmark printed for those runs (their mean).

Usage (fauxqs running, as scripts/bench.sh starts it):
  scripts/bench/profile_plugin.py --out DIR --contender Plugin --contender Listen -- \\
      target/release/bench --endpoint URL --server-pid PID --only receive --repetitions 2

Needs `perf` (Debian: linux-perf) and the rights to record another process.
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perf_phases  # noqa: E402


def child_named(parent, name):
    """The pid of a running child of `parent` whose command name is `name`, if any."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        comm = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        if comm == name and len(fields) > 1 and int(fields[1]) == parent:
            return int(entry)
    return None


def windows(lines, contender):
    """(start, end, plugin CPU µs/msg) of each run of `contender` from the timestamped lines."""
    pattern = re.compile(r"^bench:\s+(?:" + contender + r"): .*plugin ([0-9.]+)")
    found = []
    for i, (stamp, line) in enumerate(lines):
        match = pattern.search(line)
        if match and i > 0:
            found.append((lines[i - 1][0], stamp, float(match.group(1))))
    return found


def samples_in(text, spans):
    """The samples of `perf script` text (with the time field) inside any of the spans."""
    kept = []
    for block in text.split("\n\n"):
        head = block.strip().split("\n", 1)[0].split()
        stamp = next((float(f.rstrip(":")) for f in head if re.fullmatch(r"\d+\.\d+:?", f)), None)
        if stamp is not None and any(start <= stamp <= end for start, end, _ in spans):
            kept.append(block)
    return "\n\n".join(kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for perf.data and the logs")
    parser.add_argument("--contender", action="append", default=[],
                        help="a contender as the benchmark prints it (Plugin, Listen), a regular expression")
    parser.add_argument("--frequency", default="499")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the bench command")
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no bench command after --")
    os.makedirs(args.out, exist_ok=True)
    data = os.path.join(args.out, "perf.data")

    bench = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    plugin = None
    deadline = time.monotonic() + 30
    while plugin is None and time.monotonic() < deadline and bench.poll() is None:
        plugin = child_named(bench.pid, "sqs-connector")
        time.sleep(0.02)
    if plugin is None:
        bench.kill()
        sys.exit("error: the benchmark started no sqs-connector process")
    perf = subprocess.Popen(
        ["perf", "record", "-k", "CLOCK_MONOTONIC", "-F", args.frequency,
         "--call-graph", "dwarf,65528", "-p", str(plugin), "-o", data],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.out, "perf.log"), "w"))
    lines = []
    for line in bench.stderr:
        lines.append((time.monotonic(), line.rstrip("\n")))
        print(line, end="", file=sys.stderr)
    bench.wait()
    perf.wait()
    with open(os.path.join(args.out, "bench.log"), "w", encoding="utf-8") as log:
        for stamp, line in lines:
            log.write(f"{stamp:.6f} {line}\n")
    if bench.returncode != 0:
        sys.exit(f"error: the benchmark failed ({bench.returncode})")

    script = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,tid,time,period,ip,sym,dso", "--no-inline"],
        capture_output=True, text=True, check=True).stdout
    for contender in args.contender:
        spans = windows(lines, contender)
        if not spans:
            print(f"no runs of {contender} in the benchmark's output", file=sys.stderr)
            continue
        text = samples_in(script, spans)
        with open(os.path.join(args.out, re.sub(r"\W+", "-", contender) + ".script"), "w", encoding="utf-8") as out:
            out.write(text)
        samples = list(perf_phases.parse_samples(text))
        cpu = sum(cpu for _, _, cpu in spans) / len(spans)
        print(perf_phases.table(
            samples, cpu,
            f"{contender}: {len(spans)} run(s), plugin CPU {cpu:.1f} µs/msg (mean of the runs)"))


if __name__ == "__main__":
    main()
