#!/usr/bin/env python3
"""Receive one agency's referrals from Sedulur over AMQP, with plain pika and nothing else.

An agency (OPD) gets a RabbitMQ user that may only read its own queue
`agency.<kab/kota code>.<AGENCY>`; Sedulur declares that queue and binds it to the topic
exchange `agency.referrals` with routing key `<kab/kota code>.<AGENCY>` before publishing the
first referral, so nothing is lost while the agency is offline. Each message is a CloudEvents
1.0 JSON document (see docs/asyncapi.yaml). This script prints each one as a JSON line and
acknowledges it after printing.

    python examples/agency_subscriber.py \\
        --url amqp://dinkes-3325:secret@rabbit.example.go.id:5672/sedulur \\
        --kabupaten 3325 --agency DINKES

--idle-timeout N stops after N seconds without a message; --bind KEY tries to bind the queue
to another routing key too (an agency user is refused: it may read, never bind).
Exit status: 0 done, 3 access refused by the broker, 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import sys

import pika
import pika.exceptions

EXCHANGE = "agency.referrals"


def queue_name(kabupaten: str, agency: str) -> str:
    return f"agency.{kabupaten}.{agency}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="amqp://user:password@host:port/vhost")
    parser.add_argument("--kabupaten", required=True, help="kab/kota code, e.g. 3325")
    parser.add_argument("--agency", required=True, help="agency code, e.g. DINKES")
    parser.add_argument("--bind", action="append", default=[],
                        help="also bind the queue to this routing key (refused for agencies)")
    parser.add_argument("--idle-timeout", type=float, default=None,
                        help="stop after this many seconds without a message")
    parser.add_argument("--max-messages", type=int, default=None)
    args = parser.parse_args(argv)

    queue = queue_name(args.kabupaten, args.agency)
    received = 0
    try:
        connection = pika.BlockingConnection(pika.URLParameters(args.url))
        channel = connection.channel()
        for key in args.bind:
            channel.queue_bind(queue=queue, exchange=EXCHANGE, routing_key=key)
        channel.basic_qos(prefetch_count=50)
        for method, _properties, body in channel.consume(
                queue, inactivity_timeout=args.idle_timeout):
            if method is None:  # idle timeout
                break
            event = json.loads(body)
            print(json.dumps({"routing_key": method.routing_key, **event}, ensure_ascii=False),
                  flush=True)
            channel.basic_ack(method.delivery_tag)
            received += 1
            if args.max_messages is not None and received >= args.max_messages:
                break
        channel.cancel()
        connection.close()
    except (pika.exceptions.ChannelClosedByBroker,
            pika.exceptions.ProbableAccessDeniedError) as exc:
        refused = "ACCESS_REFUSED" in str(exc) or isinstance(
            exc, pika.exceptions.ProbableAccessDeniedError) or getattr(
            exc, "reply_code", None) == 403
        print(f"broker refused: {exc}", file=sys.stderr)
        return 3 if refused else 1
    except pika.exceptions.AMQPError as exc:
        print(f"AMQP failure: {exc!r}", file=sys.stderr)
        return 1
    print(f"received {received} referral(s) on {queue}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
