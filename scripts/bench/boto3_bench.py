"""The boto3 contender of the benchmark suite (run by the bench binary, not by people).

    boto3_bench.py send  --endpoint URL --queue-url URL --messages FILE --count N [--concurrency C]
    boto3_bench.py drain --endpoint URL --queue-url URL --messages FILE --count N [--concurrency C]

send: send_message_batch of 10 in a loop, one call after the other, the first N messages of FILE
(JSON lines: {"body": ..., "attributes": {name: [type, value]}}).
drain: receive_message (10, every attribute, no wait) and delete_message_batch in a loop, until two
empty answers in a row.
With --concurrency C above 1 (the latency-bound scenario), C threads share one client: send
hands the batches out to them, drain runs C such loops.

The client is warmed up first (one GetQueueAttributes call); only the loop is timed. Prints one
JSON line: {"seconds": ..., "messages": ..., "cpu_seconds": ...} (wall and CPU time of the loop).
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def client(endpoint, concurrency):
    return boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="bench-secret-key",
        config=Config(
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=max(10, concurrency),
        ),
    )


def load(path, count):
    entries = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if len(entries) == count:
                break
            message = json.loads(line)
            attributes = {
                name: {"DataType": kind, "StringValue": value}
                for name, (kind, value) in message["attributes"].items()
            }
            entries.append((message["body"], attributes))
    if len(entries) != count:
        sys.exit(f"{path} holds {len(entries)} messages, fewer than {count}")
    return entries


def send_batch(sqs, queue_url, messages):
    batch = [
        {"Id": str(i), "MessageBody": body, "MessageAttributes": attributes}
        for i, (body, attributes) in enumerate(messages)
    ]
    answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
    if answer.get("Failed"):
        raise RuntimeError(f"send_message_batch failed entries: {answer['Failed']}")
    return len(answer.get("Successful", []))


def send(sqs, queue_url, messages, concurrency):
    batches = [messages[start : start + 10] for start in range(0, len(messages), 10)]
    if concurrency <= 1:
        return sum(send_batch(sqs, queue_url, batch) for batch in batches)
    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(lambda batch: send_batch(sqs, queue_url, batch), batches))


def drain(sqs, queue_url, concurrency):
    if concurrency <= 1:
        return drain_loop(sqs, queue_url)
    with ThreadPoolExecutor(concurrency) as pool:
        loops = [pool.submit(drain_loop, sqs, queue_url) for _ in range(concurrency)]
        return sum(loop.result() for loop in loops)


def drain_loop(sqs, queue_url):
    deleted = 0
    empty = 0
    while empty < 2:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        result = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        if result.get("Failed"):
            raise RuntimeError(f"delete_message_batch failed entries: {result['Failed']}")
        deleted += len(result.get("Successful", []))
    return deleted


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["send", "drain"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--messages", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    sqs = client(args.endpoint, args.concurrency)
    sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])
    messages = load(args.messages, args.count) if args.mode == "send" else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    if args.mode == "send":
        done = send(sqs, args.queue_url, messages, args.concurrency)
    else:
        done = drain(sqs, args.queue_url, args.concurrency)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    print(json.dumps({"seconds": seconds, "messages": done, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main()
