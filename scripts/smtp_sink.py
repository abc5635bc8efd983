"""A real SMTP server for tests: stores every message as DIR/<n>.eml.

Recipients starting with "reject" get a permanent 550; everything else is
accepted. Usage: python3 smtp_sink.py PORT DIR [--ids-only]  (runs until killed)

--ids-only (benchmarks) appends just each message's Message-ID to
DIR/received.log instead of storing the message.
"""
import asyncio
import itertools
import pathlib
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder, ids_only=False):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.counter = itertools.count(1)
        self.log = open(self.folder / "received.log", "a", buffering=1) if ids_only else None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.log is not None:
            content = envelope.original_content or envelope.content
            head = content.split(b"\r\n\r\n", 1)[0]
            ids = [l for l in head.split(b"\r\n") if l.lower().startswith(b"message-id:")]
            self.log.write((ids[0].decode() if ids else "Message-ID: none") + "\n")
            return "250 Message accepted for delivery"
        path = self.folder / f"{next(self.counter)}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


async def main(port, folder, ids_only):
    controller = Controller(Sink(folder, ids_only), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"smtp sink on 127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], "--ids-only" in sys.argv[3:]))
