#!/usr/bin/env python3
"""The plugin's CPU by phase, from a profile of the plugin process.

Reads the output of

    perf script -i PERF_DATA -F comm,tid,period,ip,sym,dso --no-inline

for a `perf record --call-graph dwarf -p PLUGIN_PID` of `sqs-connector serve` during a benchmark
part, and prints a Markdown table: each phase's share of the samples, and its microseconds per
message when the plugin's CPU per message is given (--cpu-us-per-msg).

Each sample goes to a phase twice:
- "with callees": walking from the sampled function towards its callers, the first frame that
  belongs to a phase; the allocator, memory copies, the kernel and generic library code on the
  way count for that phase (a memcpy under the JSON writer is the writer's);
- "self": the sampled function alone; the allocator, memory copies and the kernel are rows of
  their own.
A sample whose frames name no phase (its stack cut short by perf's copy of the stack, or only
runtime and library code) stays in "runtime and other".

With --split-listen, samples whose stack shows the LISTEN operation are counted apart from the
others (RECEIVE), since one benchmark part runs both through the same plugin.

It also reads `perf report --no-children --sort symbol --stdio` output (recognised by its
`NN.NN%  [.] symbol` lines): that has no stacks, so only the "self" column is given.

Usage: perf_phases.py PERF_OUTPUT [--cpu-us-per-msg N] [--split-listen] [--unclassified N]
"""

import argparse
import collections
import re
import sys

# (phase, pattern), checked in this order on each frame; the first match names the frame's phase.
PHASES = [
    ("parse", r"connector_sdk::protocol::(json_in|input|lines)|serve_execute_line|"
              r"IncomingExecuteParams|serde_json::de::|tokio::io::stdio|tokio::io::util::buf_reader|"
              r"std::io::stdio::StdinRaw|read_until"),
    ("write", r"connector_sdk::protocol::(json_out|buffers)|write_responses|response_line|"
              r"tokio::io::stdout|std::io::stdio::StdoutRaw|tokio::io::util::write_all"),
    ("validate", r"sqs_connector::message::(check_|allowed_char|may_hold_forbidden|"
                 r"attribute_name_problem|check_attribute_name|is_number|attributes_from_properties|"
                 r"to_sqs|MessageAttribute)|sqs_connector::operations::send::.*prepare|"
                 r"connector_sdk::validate"),
    ("sign", r"aws_sigv4|aws_runtime::auth|hmac|sha2::|[Ss]ha256|aws_smithy_runtime::client::identity|"
             r"aws_smithy_runtime_api::client::identity|sqs_connector::auth|aws_credential_types"),
    ("decode", r"protocol_serde::[a-z_]+::de_|aws_smithy_json::deserialize|"
               r"aws_smithy_json::escape::unescape|aws_smithy_xml|aws_smithy_query|[Mm]d5|"
               r"sqs_connector::operations::receive::.*verify|aws_smithy_types::date_time::format"),
    ("request", r"protocol_serde::[a-z_]+::ser_|aws_smithy_json::serialize|"
                r"aws_smithy_json::escape::escape_string|RequestSerializer|"
                r"_input::ser_|::builders::|InputBuilder|SendMessageBatchRequestEntry|DeleteMessageBatchRequestEntry"),
    ("build results", r"sqs_connector::operations::send::.*success|sqs_connector::operations::batching|"
                      r"sqs_connector::message::(attributes_into_properties|prefixed|from_sqs|"
                      r"attributes_from_sqs)|sqs_connector::operations::receive::.*(message_document|"
                      r"system_property|add)|connector_sdk::document|connector_sdk::connector::Outcome|"
                      r"DocumentResult"),
    ("send", r"hyper|h2::|mio::|tokio::net|tokio::runtime::io|socket|aws_smithy_http_client"),
    ("SDK calls", r"http::|http_body|tower|aws_smithy_runtime::client::(orchestrator|http|timeout|"
                  r"interceptors|retries|metrics|endpoint|auth::|stalled_stream)|"
                  r"aws_smithy_runtime_api|aws_smithy_types::(body|config_bag|byte_stream|"
                  r"type_erasure)|aws_runtime::|aws_sdk_sqs::(operation|config|client)|"
                  r"aws_smithy_observability|aws_smithy_http::|aws_types::"),
]
PHASE_NAMES = [name for name, _ in PHASES]
COMPILED = [(name, re.compile(pattern)) for name, pattern in PHASES]

ALLOCATOR = re.compile(r"^_?mi_|^mi_|malloc|^free$|realloc|calloc|__rust_(alloc|dealloc|realloc)|"
                       r"alloc::alloc::|alloc::raw_vec|RawVec|__libc_free|cfree")
COPIES = re.compile(r"mem(move|cpy|set|cmp)|__memmove|__memset|__memcpy")
RUNTIME = re.compile(r"tokio::runtime::(scheduler|task|context|park|time|blocking|coop)|"
                     r"tokio::sync|futures_util|futures_core|tokio::task|std::thread|"
                     r"parking_lot|tracing::")
LISTEN = re.compile(r"sqs_connector::operations::listen|connector_sdk::protocol::listeners|"
                    r"connector_sdk::listen")

OTHER = "runtime and other"
ROWS = ["parse", "validate", "sign", "request", "send", "SDK calls", "decode", "build results",
        "write"]
SELF_EXTRA = ["allocator", "memory copies", "kernel", OTHER]

DESCRIPTION = {
    "parse": "reading execute requests: stdin, the JSON of the line, documents built",
    "validate": "the connector's document checks and each entry's preparation",
    "sign": "SigV4 signing (aws-sigv4, HMAC, SHA-256), credentials",
    "request": "building and serializing SQS requests (aws-smithy-json)",
    "send": "HTTP: hyper, the connection pool, sockets and the kernel's network stack under them",
    "SDK calls": "the SDK's orchestration of each call: interceptors, config bag, endpoint, retries, "
                 "timeouts, headers",
    "decode": "parsing SQS responses and the MD5 checks",
    "build results": "outcomes and output documents",
    "write": "writing results as JSON lines to stdout",
    "allocator": "mimalloc (self only)",
    "memory copies": "memcpy/memmove/memset (self only)",
    "kernel": "kernel code (self only): system calls, page faults, the network stack",
    OTHER: "the Tokio scheduler, futures, tracing, and stacks that name no phase",
}


def parse_samples(text):
    """(thread name, period, [(symbol, dso)] from the sampled function up) per sample."""
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        head = lines[0].split()
        numbers = [field for field in head[1:] if field.isdigit()]
        period = int(numbers[-1]) if len(numbers) > 1 else 1
        frames = []
        for line in lines[1:]:
            line = line.strip()
            parts = line.split(" ", 1)
            if len(parts) < 2:
                continue
            rest = parts[1]
            symbol, _, dso = rest.rpartition(" (")
            frames.append((symbol or rest, dso.rstrip(")")))
        yield head[0] if head else "?", period, frames


def frame_phase(symbol):
    for name, pattern in COMPILED:
        if pattern.search(symbol):
            return name
    return None


def is_kernel(symbol, dso):
    return "kernel" in dso or symbol.startswith(("entry_SYSCALL", "do_syscall", "__x64_sys"))


def self_phase(symbol, dso):
    if is_kernel(symbol, dso):
        return "kernel"
    if COPIES.search(symbol):
        return "memory copies"
    if ALLOCATOR.search(symbol):
        return "allocator"
    return frame_phase(symbol) or OTHER


def with_callees(frames):
    for symbol, dso in frames:
        if is_kernel(symbol, dso):
            continue
        phase = frame_phase(symbol)
        if phase:
            return phase
    return OTHER


def table(samples, cpu_us, title):
    total = sum(period for _, period, _ in samples) or 1
    inclusive = collections.Counter()
    own = collections.Counter()
    for _, period, frames in samples:
        inclusive[with_callees(frames)] += period
        own[self_phase(*frames[0]) if frames else OTHER] += period
    out = [f"**{title}** ({len(samples):,} samples)", ""]
    head = "| phase | what | % of plugin CPU (with callees) | % self |"
    rule = "|---|---|---|---|"
    if cpu_us is not None:
        head += " µs/msg (with callees) |"
        rule += "---|"
    out += [head, rule]
    for name in ROWS + SELF_EXTRA:
        share = 100.0 * inclusive[name] / total
        self_share = 100.0 * own[name] / total
        if name in SELF_EXTRA and name != OTHER:
            cells = f"| {name} | {DESCRIPTION[name]} | (in the rows above) | {self_share:.1f} |"
            if cpu_us is not None:
                cells += " |"
        else:
            cells = f"| {name} | {DESCRIPTION[name]} | {share:.1f} | {self_share:.1f} |"
            if cpu_us is not None:
                cells += f" {share * cpu_us / 100.0:.1f} |"
        out.append(cells)
    return "\n".join(out) + "\n"


REPORT_LINE = re.compile(r"^\s*([0-9.]+)%\s+\[([.k])\]\s+(.+?)\s*(?:-\s+-\s*)?$")


def parse_report(text):
    """(percent, symbol, kernel) per line of `perf report --no-children --sort symbol` output."""
    for line in text.splitlines():
        match = REPORT_LINE.match(line)
        if match:
            yield float(match.group(1)), match.group(3).strip(), match.group(2) == "k"


def report_table(entries, cpu_us, title):
    """The "self" table from `perf report` lines."""
    own = collections.Counter()
    for percent, symbol, kernel in entries:
        own[self_phase(symbol, "[kernel.kallsyms]" if kernel else "")] += percent
    total = sum(own.values()) or 1.0
    out = [f"**{title}** (from perf report: the sampled function alone)", ""]
    head = "| phase | what | % self |" + (" µs/msg (self) |" if cpu_us is not None else "")
    out += [head, "|---|---|---|" + ("---|" if cpu_us is not None else "")]
    for name in ROWS + SELF_EXTRA:
        share = 100.0 * own[name] / total
        cells = f"| {name} | {DESCRIPTION[name]} | {share:.1f} |"
        if cpu_us is not None:
            cells += f" {share * cpu_us / 100.0:.1f} |"
        out.append(cells)
    return "\n".join(out) + "\n"


def unclassified(samples, count):
    """The sampled functions of the samples left in OTHER, most frequent first."""
    seen = collections.Counter()
    for _, period, frames in samples:
        if frames and with_callees(frames) == OTHER:
            seen[frames[0][0][:140]] += period
    total = sum(period for _, period, _ in samples) or 1
    return "\n".join(f"{100.0 * n / total:5.1f}%  {symbol}" for symbol, n in seen.most_common(count))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("script", help="perf script output (see above); - for stdin")
    parser.add_argument("--cpu-us-per-msg", type=float, default=None,
                        help="the plugin's CPU per message in the profiled runs")
    parser.add_argument("--listen-cpu-us-per-msg", type=float, default=None,
                        help="the same for the LISTEN samples (with --split-listen)")
    parser.add_argument("--split-listen", action="store_true",
                        help="count samples with LISTEN frames apart")
    parser.add_argument("--title", default="Plugin CPU by phase")
    parser.add_argument("--unclassified", type=int, default=0,
                        help="also list the N most frequent functions left unclassified")
    args = parser.parse_args()
    text = sys.stdin.read() if args.script == "-" else open(args.script, encoding="utf-8",
                                                             errors="replace").read()
    if not text.lstrip().startswith(("sqs-connector", "tokio")) and any(
            REPORT_LINE.match(line) for line in text.splitlines()[:200]):
        print(report_table(list(parse_report(text)), args.cpu_us_per_msg, args.title))
        return
    samples = list(parse_samples(text))
    groups = [(args.title, samples, args.cpu_us_per_msg)]
    if args.split_listen:
        listen = [s for s in samples if any(LISTEN.search(sym) for sym, _ in s[2])]
        rest = [s for s in samples if not any(LISTEN.search(sym) for sym, _ in s[2])]
        groups = [(args.title + " (no LISTEN frame)", rest, args.cpu_us_per_msg),
                  (args.title + " (LISTEN frames)", listen, args.listen_cpu_us_per_msg)]
    for title, group, cpu_us in groups:
        print(table(group, cpu_us, title))
        if args.unclassified:
            print(unclassified(group, args.unclassified))
            print()


if __name__ == "__main__":
    main()
