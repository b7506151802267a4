"""The tests' SQS server: moto's server, with one fix to its queues.

moto 5.2.5 serves requests on several threads, and its queue deletes a message by building a new
list of the queue's messages and assigning it. Two deletes at once (two DeleteMessageBatch calls,
as the connector makes them) each build from the same list, and the later assignment puts the
other's deleted messages back: they stay in flight and come back after their visibility timeout,
which real SQS never does. A send at the same time can be dropped the same way.

Here a delete takes the queue's own lock (the one moto's send takes to append) and removes the
message from the list in place. Everything else is moto as installed. Started as moto_server is:
`python scripts/sqs_server.py -H 127.0.0.1 -p PORT`.
"""

import sys

from moto.server import main
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs.models import Queue


def delete_message(queue: Queue, receipt_handle: str) -> None:
    """Deletes the message that was given `receipt_handle`; a second delete is not an error."""
    with queue._messages_lock:
        if receipt_handle in queue.deleted_messages:
            return
        matching = [m for m in queue._messages if m.had_receipt_handle(receipt_handle)]
        if not matching:
            raise ReceiptHandleIsInvalid()
        for message in matching:
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(message.all_receipt_handles)
            queue._messages.remove(message)


Queue.delete_message = delete_message

if __name__ == "__main__":
    sys.exit(main())
